/**
 * SQLite store of the identity provider: registration entries, join tokens, TPM attestation
 * challenges and attested agents. Single-use things (join tokens, nonces) are consumed with one
 * conditional UPDATE, so two concurrent attempts can never both succeed.
 * Secrets are stored only as SHA-256 hashes: a copy of this file cannot attest a node.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { SpiffeError } from './errors.js';
import { parseSpiffeId, parseTrustDomain, parseWorkloadId } from './id.js';
import { parseSelector } from './selectors.js';

export interface RegistrationEntry {
  id: string;
  spiffeId: string;
  parentId: string;
  selectors: string[];
  /** Workload API hint (unique among a caller's SVIDs; Workload API §5.2.1). */
  hint: string;
  x509SvidTtl: number;
  jwtSvidTtl: number;
  /**
   * Trust domain names (SPIRE `-federatesWith`) whose bundles the entry's workloads receive as
   * federated bundles (Workload API §5.2: X509SVIDResponse.federated_bundles, FetchX509Bundles,
   * FetchJWTBundles); sorted, possibly empty.
   */
  federatesWith: string[];
  /** DNS SANs (SPIRE `-dns`) of the entry's X509-SVIDs, after the URI SAN (X509-SVID §2); in order. */
  dnsNames: string[];
  createdAt: number;
}

export interface NewEntry {
  spiffeId: string;
  parentId: string;
  selectors: string[];
  hint?: string;
  x509SvidTtl?: number;
  jwtSvidTtl?: number;
  federatesWith?: string[];
  dnsNames?: string[];
}

export interface AgentRecord {
  spiffeId: string;
  attestationType: 'join_token' | 'tpm' | 'local';
  selectors: string[];
  attestedAt: number;
  /**
   * Serial numbers (hex) of the agent's current X509-SVID and of the one before it (renewal
   * overlap): the agent API accepts only these, as SPIRE checks an agent's SVID serial against
   * its attested-node record, so an SVID from before a re-attestation or two renewals, or after
   * an eviction, is dead even while it has not expired.
   */
  svidSerial?: string;
  previousSerial?: string;
}

export interface TpmChallenge {
  nonce: Uint8Array;
  akHash: string;
  /** PCR indices (sha256 bank) the quote must cover. */
  pcrs: number[];
  expiresAt: number;
  /** With credential activation: the EK's SPKI hash and SHA-256 of the credential sent to it. */
  ekHash?: string;
  credentialHash?: string;
}

interface EntryRow {
  id: string;
  spiffe_id: string;
  parent_id: string;
  selectors: string;
  hint: string;
  x509_ttl: number;
  jwt_ttl: number;
  federates_with: string;
  dns_names: string;
  created_at: number;
}

const sha256hex = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

function toEntry(r: EntryRow): RegistrationEntry {
  return {
    id: r.id,
    spiffeId: r.spiffe_id,
    parentId: r.parent_id,
    selectors: JSON.parse(r.selectors) as string[],
    hint: r.hint,
    x509SvidTtl: r.x509_ttl,
    jwtSvidTtl: r.jwt_ttl,
    federatesWith: JSON.parse(r.federates_with) as string[],
    dnsNames: JSON.parse(r.dns_names) as string[],
    createdAt: r.created_at,
  };
}

/** At most this many DNS names per entry, and this many federated trust domains. */
export const MAX_DNS_NAMES = 32;
export const MAX_FEDERATES_WITH = 64;

/**
 * `federatesWith`: trust domain names (SPIFFE-ID §2.1; a `spiffe://` prefix is accepted and
 * dropped, as SPIRE's CLI does), de-duplicated and sorted. Whether a federation relationship
 * exists for each is the server's check (plugin.ts checkFederatesWith), not the store's.
 */
export function parseFederatesWith(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_FEDERATES_WITH) throw new SpiffeError('SPIFFE_BAD_TRUST_DOMAIN', `federatesWith must be a list of at most ${MAX_FEDERATES_WITH} trust domain names`);
  return [...new Set(v.map((td) => parseTrustDomain(td)))].sort();
}

/**
 * `dnsNames`: each a DNS name of lower-case LDH labels (RFC 1123 §2.1: 1..63 characters, letters,
 * digits and inner hyphens), 253 characters at most in all. No wildcard: SPIRE's `*.` leftmost
 * label rule is not implemented. De-duplicated in order: the first is the subject CN, as in SPIRE.
 */
export function parseDnsNames(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_DNS_NAMES) throw new SpiffeError('SPIFFE_BAD_REQUEST', `dnsNames must be a list of at most ${MAX_DNS_NAMES} DNS names`);
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  for (const d of v) {
    if (typeof d !== 'string' || d.length === 0 || d.length > 253 || !d.split('.').every((l) => label.test(l))) {
      throw new SpiffeError('SPIFFE_BAD_REQUEST', `dnsNames: ${JSON.stringify(d)} is not a DNS name of lower-case letter-digit-hyphen labels (no wildcards)`);
    }
  }
  return [...new Set(v as string[])];
}

/** Open (unused, unexpired) TPM challenges at most; more attestations at once wait (503). */
export const MAX_OPEN_CHALLENGES = 10_000;

export class SpiffeStore {
  private readonly db: Database.Database;
  private readonly now: () => number;
  /** Bumped on every entry change; the agent compares it to re-evaluate callers. */
  revision = 0;
  private readonly listeners = new Set<() => void>();

  constructor(opts: { path: string; now?: () => number }) {
    this.now = opts.now ?? Date.now;
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS entries (
        id TEXT PRIMARY KEY,
        spiffe_id TEXT NOT NULL,
        parent_id TEXT NOT NULL,
        selectors TEXT NOT NULL,
        hint TEXT NOT NULL DEFAULT '',
        x509_ttl INTEGER NOT NULL,
        jwt_ttl INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        federates_with TEXT NOT NULL DEFAULT '[]',
        dns_names TEXT NOT NULL DEFAULT '[]',
        UNIQUE (spiffe_id, parent_id, selectors)
      );
      CREATE INDEX IF NOT EXISTS entries_parent ON entries(parent_id);
      CREATE TABLE IF NOT EXISTS join_tokens (
        token_hash TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      );
      CREATE TABLE IF NOT EXISTS tpm_challenges (
        nonce TEXT PRIMARY KEY,
        ak_hash TEXT NOT NULL,
        pcrs TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER,
        ek_hash TEXT,
        credential_hash TEXT
      );
      CREATE TABLE IF NOT EXISTS agents (
        spiffe_id TEXT PRIMARY KEY,
        attestation_type TEXT NOT NULL,
        selectors TEXT NOT NULL,
        attested_at INTEGER NOT NULL
      );
    `);
    // Stores created before federatesWith and DNS names lack these columns: their entries read as
    // federating with no trust domain and naming no DNS SAN.
    const entryCols = new Set(this.db.prepare<[], { name: string }>('PRAGMA table_info(entries)').all().map((c) => c.name));
    if (!entryCols.has('federates_with')) this.db.exec("ALTER TABLE entries ADD COLUMN federates_with TEXT NOT NULL DEFAULT '[]'; ALTER TABLE entries ADD COLUMN dns_names TEXT NOT NULL DEFAULT '[]';");
    // Stores created before agent SVID serials were tracked lack these columns.
    const agentCols = new Set(this.db.prepare<[], { name: string }>('PRAGMA table_info(agents)').all().map((c) => c.name));
    if (!agentCols.has('svid_serial')) this.db.exec('ALTER TABLE agents ADD COLUMN svid_serial TEXT; ALTER TABLE agents ADD COLUMN previous_serial TEXT;');
    // Stores created before credential activation lack its two columns.
    const cols = new Set(this.db.prepare<[], { name: string }>('PRAGMA table_info(tpm_challenges)').all().map((c) => c.name));
    if (!cols.has('ek_hash')) this.db.exec('ALTER TABLE tpm_challenges ADD COLUMN ek_hash TEXT; ALTER TABLE tpm_challenges ADD COLUMN credential_hash TEXT;');
  }

  close(): void {
    this.db.close();
  }

  onEntriesChanged(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    this.revision++;
    for (const fn of this.listeners) fn();
  }

  // ---------------------------------------------------------------------------------------------
  // Registration entries

  createEntry(input: NewEntry): RegistrationEntry {
    const spiffeId = input.spiffeId;
    parseWorkloadId(spiffeId);
    parseSpiffeId(input.parentId);
    if (!Array.isArray(input.selectors) || input.selectors.length === 0 || input.selectors.length > 64) {
      throw new SpiffeError('SPIFFE_BAD_SELECTOR', 'an entry needs 1..64 selectors');
    }
    const selectors = [...new Set(input.selectors.map(parseSelector))].sort();
    const ttl = (v: number | undefined, def: number): number => {
      if (v === undefined) return def;
      if (!Number.isInteger(v) || v < 10 || v > 86_400 * 30) throw new SpiffeError('SPIFFE_BAD_REQUEST', 'TTL must be 10..2592000 seconds');
      return v;
    };
    const hint = input.hint ?? '';
    if (typeof hint !== 'string' || hint.length > 128) throw new SpiffeError('SPIFFE_BAD_REQUEST', 'hint must be at most 128 characters');
    const federatesWith = parseFederatesWith(input.federatesWith);
    const dnsNames = parseDnsNames(input.dnsNames);
    const row: EntryRow = {
      id: randomUUID(),
      spiffe_id: spiffeId,
      parent_id: input.parentId,
      selectors: JSON.stringify(selectors),
      hint,
      x509_ttl: ttl(input.x509SvidTtl, 3600),
      jwt_ttl: ttl(input.jwtSvidTtl, 300),
      federates_with: JSON.stringify(federatesWith),
      dns_names: JSON.stringify(dnsNames),
      created_at: this.now(),
    };
    try {
      this.db
        .prepare('INSERT INTO entries (id, spiffe_id, parent_id, selectors, hint, x509_ttl, jwt_ttl, federates_with, dns_names, created_at) VALUES (@id, @spiffe_id, @parent_id, @selectors, @hint, @x509_ttl, @jwt_ttl, @federates_with, @dns_names, @created_at)')
        .run(row);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new SpiffeError('SPIFFE_CONFLICT', 'an identical entry already exists');
      throw e;
    }
    this.changed();
    return toEntry(row);
  }

  listEntries(filter: { parentId?: string; spiffeId?: string } = {}): RegistrationEntry[] {
    const rows = this.db
      .prepare<{ parent: string | null; spiffe: string | null }, EntryRow>(
        'SELECT * FROM entries WHERE (@parent IS NULL OR parent_id = @parent) AND (@spiffe IS NULL OR spiffe_id = @spiffe) ORDER BY created_at, id',
      )
      .all({ parent: filter.parentId ?? null, spiffe: filter.spiffeId ?? null });
    return rows.map(toEntry);
  }

  getEntry(id: string): RegistrationEntry {
    const r = this.db.prepare<[string], EntryRow>('SELECT * FROM entries WHERE id = ?').get(id);
    if (!r) throw new SpiffeError('SPIFFE_NOT_FOUND', 'no such entry');
    return toEntry(r);
  }

  deleteEntry(id: string): void {
    const res = this.db.prepare('DELETE FROM entries WHERE id = ?').run(id);
    if (res.changes === 0) throw new SpiffeError('SPIFFE_NOT_FOUND', 'no such entry');
    this.changed();
  }

  // ---------------------------------------------------------------------------------------------
  // Join tokens: single-use, expiring. Only the hash is stored.

  createJoinToken(ttlSeconds: number): { token: string; expiresAt: number } {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400 * 7) throw new SpiffeError('SPIFFE_BAD_REQUEST', 'token TTL must be 1..604800 seconds');
    const token = randomBytes(24).toString('base64url');
    const now = this.now();
    const expiresAt = now + ttlSeconds * 1000;
    // Used and expired tokens are dead, and a deleted one is refused just the same ("unknown,
    // used or expired"): the table keeps the tokens still waiting, not every token ever made.
    this.db.prepare('DELETE FROM join_tokens WHERE used_at IS NOT NULL OR expires_at <= ?').run(now);
    this.db.prepare('INSERT INTO join_tokens (token_hash, expires_at) VALUES (?, ?)').run(sha256hex(token), expiresAt);
    return { token, expiresAt };
  }

  /** Consumes a join token; returns its public id (a hash prefix, never the token itself). */
  consumeJoinToken(token: unknown): string {
    if (typeof token !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(token)) throw new SpiffeError('SPIFFE_BAD_JOIN_TOKEN', 'join token is malformed');
    const hash = sha256hex(token);
    const now = this.now();
    const res = this.db.prepare('UPDATE join_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?').run(now, hash, now);
    // Unknown, used and expired are indistinguishable to the caller on purpose.
    if (res.changes !== 1) throw new SpiffeError('SPIFFE_BAD_JOIN_TOKEN', 'join token is unknown, used or expired');
    return hash.slice(0, 32);
  }

  // ---------------------------------------------------------------------------------------------
  // TPM challenges: one nonce per attestation attempt, bound to the AK and the PCR selection.

  createTpmChallenge(akHash: string, pcrs: number[], ttlMs: number, activation?: { ekHash: string; credentialHash: string }): TpmChallenge {
    const nonce = randomBytes(32);
    const now = this.now();
    const expiresAt = now + ttlMs;
    // Anyone may ask for a challenge (that is how attestation starts), so what they cost is
    // bounded: expired challenges go at once, and past MAX_OPEN_CHALLENGES open ones the server
    // answers 503 until some expire.
    this.db.prepare('DELETE FROM tpm_challenges WHERE expires_at < ?').run(now);
    const open = (this.db.prepare('SELECT COUNT(*) AS n FROM tpm_challenges WHERE used_at IS NULL').get() as { n: number }).n;
    if (open >= MAX_OPEN_CHALLENGES) throw new SpiffeError('SPIFFE_UNAVAILABLE', `${open} TPM attestations are already in progress; retry later`);
    this.db.prepare('INSERT INTO tpm_challenges (nonce, ak_hash, pcrs, expires_at, ek_hash, credential_hash) VALUES (?, ?, ?, ?, ?, ?)')
      .run(nonce.toString('hex'), akHash, JSON.stringify(pcrs), expiresAt, activation?.ekHash ?? null, activation?.credentialHash ?? null);
    return { nonce: new Uint8Array(nonce), akHash, pcrs, expiresAt, ...activation };
  }

  /**
   * Marks the challenge for `nonce` used and returns it; a second call with the same nonce (a
   * replayed quote) finds nothing.
   */
  consumeTpmChallenge(nonce: Uint8Array): TpmChallenge {
    const hex = Buffer.from(nonce).toString('hex');
    const now = this.now();
    return this.db.transaction(() => {
      const row = this.db
        .prepare<[string], { ak_hash: string; pcrs: string; expires_at: number; used_at: number | null; ek_hash: string | null; credential_hash: string | null }>('SELECT * FROM tpm_challenges WHERE nonce = ?')
        .get(hex);
      if (!row || row.used_at !== null || row.expires_at <= now) throw new SpiffeError('SPIFFE_TPM_REJECTED', 'unknown, used or expired attestation nonce');
      this.db.prepare('UPDATE tpm_challenges SET used_at = ? WHERE nonce = ?').run(now, hex);
      return {
        nonce,
        akHash: row.ak_hash,
        pcrs: JSON.parse(row.pcrs) as number[],
        expiresAt: row.expires_at,
        ...(row.ek_hash !== null && row.credential_hash !== null ? { ekHash: row.ek_hash, credentialHash: row.credential_hash } : {}),
      };
    })();
  }

  // ---------------------------------------------------------------------------------------------
  // Agents

  /** An attestation: the record is replaced, and only `svidSerial` is live afterwards. */
  recordAgent(a: AgentRecord): void {
    this.db
      .prepare('INSERT INTO agents (spiffe_id, attestation_type, selectors, attested_at, svid_serial, previous_serial) VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT(spiffe_id) DO UPDATE SET attestation_type = excluded.attestation_type, selectors = excluded.selectors, attested_at = excluded.attested_at, svid_serial = excluded.svid_serial, previous_serial = NULL')
      .run(a.spiffeId, a.attestationType, JSON.stringify(a.selectors), a.attestedAt, a.svidSerial ?? null);
  }

  /**
   * A renewal from the SVID with serial `from`: the new serial becomes current, the current one
   * previous. One conditional UPDATE: false (nothing written) when `from` is no longer live, as
   * after an eviction or a re-attestation that landed while the new SVID was being minted.
   */
  renewAgentSvid(spiffeId: string, from: string, serial: string): boolean {
    return this.db
      .prepare('UPDATE agents SET previous_serial = svid_serial, svid_serial = ? WHERE spiffe_id = ? AND (svid_serial = ? OR previous_serial = ?)')
      .run(serial, spiffeId, from, from).changes === 1;
  }

  getAgent(spiffeId: string): AgentRecord | undefined {
    const r = this.db
      .prepare<[string], { spiffe_id: string; attestation_type: AgentRecord['attestationType']; selectors: string; attested_at: number; svid_serial: string | null; previous_serial: string | null }>('SELECT * FROM agents WHERE spiffe_id = ?')
      .get(spiffeId);
    return r && {
      spiffeId: r.spiffe_id,
      attestationType: r.attestation_type,
      selectors: JSON.parse(r.selectors) as string[],
      attestedAt: r.attested_at,
      ...(r.svid_serial ? { svidSerial: r.svid_serial } : {}),
      ...(r.previous_serial ? { previousSerial: r.previous_serial } : {}),
    };
  }

  /** Evicts an agent; whether there was one. */
  deleteAgent(spiffeId: string): boolean {
    return this.db.prepare('DELETE FROM agents WHERE spiffe_id = ?').run(spiffeId).changes > 0;
  }

  listAgents(): AgentRecord[] {
    return this.db
      .prepare<[], { spiffe_id: string; attestation_type: AgentRecord['attestationType']; selectors: string; attested_at: number }>('SELECT * FROM agents ORDER BY spiffe_id')
      .all()
      .map((r) => ({ spiffeId: r.spiffe_id, attestationType: r.attestation_type, selectors: JSON.parse(r.selectors) as string[], attestedAt: r.attested_at }));
  }
}
