/**
 * The agent role: which identities a caller with given selectors is entitled to, their SVIDs
 * (cached, re-minted at half-life or when the signing authority changes), and the bundles it may
 * trust. Transport-free: workload.ts puts the Workload API in front of it.
 *
 * Entitlement follows SPIRE: an entry is served by this agent when its parent ID is the agent's
 * SPIFFE ID (the ID the agent obtained by node attestation, or the local agent's ID) and every one
 * of the entry's selectors is among the caller's.
 */
import { EventEmitter } from 'node:events';
import type { JWK } from 'jose';
import type { JwtSvid, X509Svid } from './ca.js';
import { concatDer, type ParsedBundle } from './bundle.js';
import { trustDomainId } from './id.js';
import { selectorsMatch } from './selectors.js';
import type { RegistrationEntry } from './store.js';

export interface EntrySource {
  listEntries(filter: { parentId?: string }): RegistrationEntry[];
  onEntriesChanged(fn: () => void): () => void;
}

/** Federated bundles, kept per trust domain (never merged: Federation §4.1.3). */
export interface FederatedBundleSource {
  bundles(): Map<string, ParsedBundle>;
  on(event: 'update', fn: () => void): unknown;
  off(event: 'update', fn: () => void): unknown;
}

interface CachedSvid {
  svid: X509Svid;
  authorityId: string;
  mintedAt: number;
}

/**
 * What the agent needs from the trust domain's CA: the CA itself for the server's in-process agent,
 * or remote-agent.ts's client of the server's agent API for an agent on another node.
 */
export interface AgentCa {
  readonly trustDomain: string;
  on(event: 'bundle' | 'activated', fn: () => void): unknown;
  off(event: 'bundle' | 'activated', fn: () => void): unknown;
  activeAuthorityId(): string;
  mintX509Svid(spiffeId: string, opts?: { ttlMs?: number; dnsNames?: string[] }): Promise<X509Svid>;
  mintJwtSvid(spiffeId: string, audience: string[], opts?: { ttlMs?: number }): Promise<JwtSvid>;
  x509Authorities(): Uint8Array[];
  jwtAuthorities(): JWK[];
  jwtJwks(): { keys: JWK[] };
}

export interface AgentOptions {
  agentId: string;
  ca: AgentCa;
  entries: EntrySource;
  federation?: FederatedBundleSource;
  now?: () => number;
}

export class Agent extends EventEmitter<{ update: [] }> {
  readonly agentId: string;
  readonly ca: AgentCa;
  private readonly entries: EntrySource;
  private readonly federation: FederatedBundleSource | undefined;
  private readonly now: () => number;
  private readonly cache = new Map<string, CachedSvid>();
  /**
   * Mints in flight, per entry ID: concurrent callers (every stream rebuilds on each update) share
   * one, so they all get the SVID the cache holds and nextRefresh knows its half-life.
   */
  private readonly minting = new Map<string, { authorityId: string; svid: Promise<CachedSvid> }>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(opts: AgentOptions) {
    super();
    this.setMaxListeners(0);
    this.agentId = opts.agentId;
    this.ca = opts.ca;
    this.entries = opts.entries;
    this.federation = opts.federation;
    this.now = opts.now ?? Date.now;
    const fire = (): void => {
      this.emit('update');
    };
    const entriesChanged = (): void => {
      // Forget SVIDs of deleted entries (their keys must not outlive the entitlement in memory).
      const live = new Set(this.entries.listEntries({ parentId: this.agentId }).map((e) => e.id));
      for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
      for (const id of this.minting.keys()) if (!live.has(id)) this.minting.delete(id);
      fire();
    };
    this.ca.on('bundle', fire);
    this.ca.on('activated', fire);
    this.unsubscribe.push(() => this.ca.off('bundle', fire), () => this.ca.off('activated', fire));
    this.unsubscribe.push(this.entries.onEntriesChanged(entriesChanged));
    if (this.federation) {
      this.federation.on('update', fire);
      this.unsubscribe.push(() => this.federation!.off('update', fire));
    }
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.removeAllListeners();
  }

  /** Entries this caller is entitled to (possibly none). */
  entitledEntries(selectors: ReadonlySet<string>): RegistrationEntry[] {
    return this.entries.listEntries({ parentId: this.agentId }).filter((e) => selectorsMatch(e.selectors, selectors));
  }

  /**
   * X509-SVIDs for the given entries, one per distinct SPIFFE ID + hint. Cached SVIDs are reused
   * until half their lifetime has passed or the CA's active authority changed.
   */
  async x509Svids(entries: RegistrationEntry[]): Promise<{ entry: RegistrationEntry; svid: X509Svid }[]> {
    const out: { entry: RegistrationEntry; svid: X509Svid }[] = [];
    const now = this.now();
    const authorityId = this.ca.activeAuthorityId();
    for (const entry of entries) {
      let c = this.cache.get(entry.id);
      const halfLife = c ? c.mintedAt + (c.svid.notAfter.getTime() - c.mintedAt) / 2 : 0;
      if (!c || c.authorityId !== authorityId || now >= halfLife) c = await this.mint(entry, authorityId, now);
      out.push({ entry, svid: c.svid });
    }
    return out;
  }

  /** One mint for `entry` shared by concurrent callers; cached unless the entry was deleted meanwhile. */
  private mint(entry: RegistrationEntry, authorityId: string, now: number): Promise<CachedSvid> {
    const inFlight = this.minting.get(entry.id);
    if (inFlight && inFlight.authorityId === authorityId) return inFlight.svid;
    const m = {
      authorityId,
      svid: this.ca.mintX509Svid(entry.spiffeId, { ttlMs: entry.x509SvidTtl * 1000, ...(entry.dnsNames.length > 0 ? { dnsNames: entry.dnsNames } : {}) }).then(
        (svid) => {
          const c: CachedSvid = { svid, authorityId, mintedAt: now };
          // Still wanted: entriesChanged drops the mints of deleted entries (and a newer mint replaces this one).
          if (this.minting.get(entry.id) === m) {
            this.minting.delete(entry.id);
            this.cache.set(entry.id, c);
          }
          return c;
        },
        (e: unknown) => {
          if (this.minting.get(entry.id) === m) this.minting.delete(entry.id);
          throw e;
        },
      ),
    };
    this.minting.set(entry.id, m);
    return m.svid;
  }

  /** When the earliest of these SVIDs reaches half-life (the stream re-sends then). */
  nextRefresh(svids: X509Svid[]): number | undefined {
    let t: number | undefined;
    for (const s of svids) {
      const c = [...this.cache.values()].find((x) => x.svid === s);
      if (!c) continue;
      const half = c.mintedAt + (s.notAfter.getTime() - c.mintedAt) / 2;
      t = t === undefined ? half : Math.min(t, half);
    }
    return t;
  }

  /** Own trust domain bundle (DER concatenated). */
  ownX509Bundle(): Buffer {
    return concatDer(this.ca.x509Authorities());
  }

  /**
   * The trust domains a caller holding these entries federates with: the union of their
   * `federatesWith` (SPIRE sends a workload only the federated bundles its entries name).
   */
  federatesWith(entries: readonly RegistrationEntry[]): Set<string> {
    return new Set(entries.flatMap((e) => e.federatesWith));
  }

  /**
   * Federated X.509 bundles keyed by trust domain SPIFFE ID (Workload API §4.6), only those of
   * `federatesWith`: a trust domain no entry of the caller names is not sent.
   */
  federatedX509Bundles(federatesWith: ReadonlySet<string>): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const [td, b] of this.federation?.bundles() ?? []) {
      if (td === this.ca.trustDomain || !federatesWith.has(td)) continue;
      out.set(trustDomainId(td), concatDer(b.x509Authorities));
    }
    return out;
  }

  /** The own X.509 bundle first, then those of `federatesWith` (FetchX509Bundles §5.2.2). */
  allX509Bundles(federatesWith: ReadonlySet<string>): Map<string, Buffer> {
    return new Map([[trustDomainId(this.ca.trustDomain), this.ownX509Bundle()], ...this.federatedX509Bundles(federatesWith)]);
  }

  /** JWT keys per trust domain name: own, or federated and among `federatesWith`. */
  jwtKeysFor(trustDomain: string, federatesWith: ReadonlySet<string>): JWK[] | undefined {
    if (trustDomain === this.ca.trustDomain) return this.ca.jwtAuthorities();
    if (!federatesWith.has(trustDomain)) return undefined;
    return this.federation?.bundles().get(trustDomain)?.jwtKeys;
  }

  /**
   * JWT bundles as JWKS documents keyed by trust domain SPIFFE ID (FetchJWTBundles §6.2.2): own,
   * and the federated ones of `federatesWith`.
   */
  allJwtBundles(federatesWith: ReadonlySet<string>): Map<string, Buffer> {
    const out = new Map<string, Buffer>([[trustDomainId(this.ca.trustDomain), Buffer.from(JSON.stringify(this.ca.jwtJwks()))]]);
    for (const [td, b] of this.federation?.bundles() ?? []) {
      if (td === this.ca.trustDomain || !federatesWith.has(td)) continue;
      out.set(trustDomainId(td), Buffer.from(JSON.stringify({ keys: b.jwtKeys })));
    }
    return out;
  }
}
