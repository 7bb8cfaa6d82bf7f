/**
 * A SPIFFE agent on another node (SPIRE's agent): it attests the node to the server (join token
 * or TPM), keeps its agent X509-SVID renewed, and serves the Workload API on a local UNIX socket
 * for the entries the server lets it serve (host/spiffe/agent-api.ts), minting each workload's
 * key itself and having the server certify it. The Workload API, workload attestation and SVID
 * caching are the same code the server's in-process agent runs (workload.ts, agent.ts); only the
 * CA and the entry source are the server's agent API here.
 *
 * Files in `workDir` (mode 0600 for keys): agent-key.pem, agent-svid.pem and bundle.json, the
 * last trust bundle fetched from the server. A restart reuses a still-valid agent SVID instead of
 * attesting again, as SPIRE agents do; a join token works once.
 *
 * The server is authenticated as SPIRE agents do it: over https, its X509-SVID
 * (spiffe://td/spire/server, `tls: { spiffe: true }` in the server config) must chain to the
 * trust bundle the agent holds, the bootstrap bundle given at first (SPIRE's trust_bundle_path),
 * then each bundle it fetched through that authenticated channel, kept in bundle.json so that a
 * restart after a CA rotation still recognises the server. Every bundle, every SVID it is
 * handed, and so every bundle it serves to workloads depends on this. Plain http is refused
 * unless `insecureBootstrap` says otherwise (SPIRE's insecure_bootstrap), for loopback tests and
 * labs: then a network attacker could hand the agent a bundle of its own.
 */
import { readSecretFile, writeFileDurably, writeSecretFile } from '../keys/file.js';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { Agent, type AgentCa, type EntrySource } from './agent.js';
import { bodyHash } from './agent-api.js';
import { MAX_BUNDLE_BYTES, parseBundle } from './bundle.js';
import { spiffeTls } from './federation.js';
import type { JwtSvid, X509Svid } from './ca.js';
import { SpiffeError } from './errors.js';
import type { RegistrationEntry } from './store.js';
import { attestWithTpm, type TpmAgentOptions } from './tpm-agent.js';
import { startWorkloadApi, type WorkloadApi } from './workload.js';
import { deadline } from '../http/deadline.js';

export interface RemoteAgentOptions {
  /** The SPIFFE server's base URL: https (its SVID is checked against the trust bundle), or http with insecureBootstrap. */
  server: string;
  /** The trust domain's bundle to authenticate the server with at first: a SPIFFE bundle (JSON) or PEM certificates. */
  trustBundle?: string;
  /** The server's trust domain (required with https). */
  trustDomain?: string;
  /** Accept a plain-http server without authenticating it. */
  insecureBootstrap?: boolean;
  /** Where to serve the Workload API. */
  socketPath: string;
  /** The agent's key and SVID (and TPM work files). */
  workDir: string;
  joinToken?: string;
  tpm?: Omit<TpmAgentOptions, 'server' | 'workDir'>;
  /** How often to fetch entries and the bundle (default 5 s). */
  pollMs?: number;
  allowUnauthenticatedVerifiers?: boolean;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface RemoteAgent {
  agentId: string;
  socketPath: string;
  /** Renews the agent SVID now (it also happens on its own at half the lifetime). */
  renewSvid(): Promise<void>;
  close(): Promise<void>;
}

const pem = (label: string, der: Uint8Array): string => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
const pemBlocks = (text: string): Buffer[] => [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));

interface Credentials {
  agentId: string;
  key: KeyObject;
  chain: Buffer[];
  notAfter: number;
  notBefore: number;
}

/**
 * HTTP(S) to the server. With https the server must present spiffe://td/spire/server chained to
 * `authorities` (spiffeTls, as for https_spiffe federation); the authorities follow each bundle
 * fetched. Responses are JSON.
 */
export class ServerConnection {
  private readonly url: URL;
  constructor(base: string, private readonly serverId: string | undefined, public authorities: readonly Uint8Array[]) {
    this.url = new URL(base.replace(/\/$/, ''));
  }

  request(method: string, path: string, o: { headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
    const secure = this.url.protocol === 'https:';
    const tls = secure ? spiffeTls(this.serverId!, this.authorities) : {};
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(new URL(`${this.url.pathname.replace(/\/$/, '')}${path}`, this.url), {
        method,
        timeout: 10_000,
        ...tls,
        headers: { ...(o.headers ?? {}), ...(o.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(o.body) } : {}) },
      }, (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > MAX_BUNDLE_BYTES) req.destroy(new SpiffeError('SPIFFE_UNAVAILABLE', 'answer too large'));
          else parts.push(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new SpiffeError('SPIFFE_UNAVAILABLE', `${method} ${path}: timed out`)));
      deadline(req, 10_000, () => new SpiffeError('SPIFFE_UNAVAILABLE', `${method} ${path}: timed out`));
      req.on('error', (e) => reject(e instanceof SpiffeError ? e : new SpiffeError('SPIFFE_UNAVAILABLE', `${method} ${path}: the server is unreachable or not authenticated (${e.message})`, { cause: e })));
      req.end(o.body);
    });
  }

  async json<T>(method: string, path: string, o: { headers?: Record<string, string>; body?: unknown } = {}): Promise<T> {
    const r = await this.request(method, path, { ...(o.headers ? { headers: o.headers } : {}), ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}) });
    let j: T & { error?: string; message?: string };
    try {
      j = JSON.parse(r.text) as typeof j;
    } catch {
      j = {} as typeof j;
    }
    if (r.status < 200 || r.status >= 300) {
      const code = r.status === 403 ? 'SPIFFE_PERMISSION_DENIED' : r.status === 401 ? 'SPIFFE_UNAUTHENTICATED' : 'SPIFFE_UNAVAILABLE';
      throw new SpiffeError(code, `${method} ${path}: ${r.status} ${j.error ?? ''} ${j.message ?? ''}`.trim());
    }
    return j;
  }
}

/** Signs agent API requests with the agent SVID's key (agent-api.ts describes the proof). */
class AgentClient {
  constructor(private readonly conn: ServerConnection, public creds: Credentials) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const header = { alg: 'ES256', typ: 'svid-proof+jwt', x5c: this.creds.chain.map((c) => c.toString('base64')) };
    const claims = { htm: method, htu: path, iat: Math.floor(Date.now() / 1000), jti: randomBytes(16).toString('base64url'), bh: bodyHash(body) };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const sig = cryptoSign('sha256', Buffer.from(input), { key: this.creds.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return this.conn.json<T>(method, path, { headers: { authorization: `SVID ${input}.${sig}` }, ...(body !== undefined ? { body } : {}) });
  }
}

/** The CA as the agent sees it: the server's bundle, and SVIDs minted through the agent API. */
class RemoteCa extends EventEmitter<{ bundle: []; activated: [] }> implements AgentCa {
  private authorities: Uint8Array[] = [];
  private jwtKeys: JWK[] = [];
  private authorityId = '';

  constructor(readonly trustDomain: string, private readonly client: AgentClient, private readonly conn: ServerConnection, private readonly keep: (bundle: string) => Promise<void>) {
    super();
    this.setMaxListeners(0);
  }

  /** Fetches the bundle (over the authenticated channel); emits 'bundle' (and 'activated') when it changed. */
  async refresh(): Promise<void> {
    const res = await this.conn.request('GET', '/bundle');
    if (res.status !== 200) throw new SpiffeError('SPIFFE_UNAVAILABLE', `GET /bundle answered ${res.status}`);
    const b = parseBundle(this.trustDomain, res.text);
    if (b.x509Authorities.length === 0) throw new SpiffeError('SPIFFE_BAD_BUNDLE', 'the server sent a bundle without X.509 authorities');
    const id = createHash('sha256').update(Buffer.concat(b.x509Authorities.map((c) => Buffer.from(c)))).update(JSON.stringify(b.jwtKeys)).digest('hex');
    if (id === this.authorityId) return;
    // Kept first: a bundle adopted but not on disk would be missing after a restart (a failed
    // write is retried by the next poll, since the bundle then still counts as new).
    await this.keep(res.text);
    const first = this.authorityId === '';
    this.authorities = b.x509Authorities;
    this.jwtKeys = b.jwtKeys;
    // The next connections authenticate the server against what it just published.
    this.conn.authorities = b.x509Authorities;
    this.authorityId = id;
    if (!first) {
      this.emit('bundle');
      this.emit('activated');
    }
  }

  activeAuthorityId(): string {
    return this.authorityId;
  }

  x509Authorities(): Uint8Array[] {
    return this.authorities;
  }

  jwtAuthorities(): JWK[] {
    return this.jwtKeys.map((k) => ({ ...k }));
  }

  jwtJwks(): { keys: JWK[] } {
    return { keys: this.jwtAuthorities() };
  }

  async mintX509Svid(spiffeId: string): Promise<X509Svid> {
    // The workload's key is made here, on its node, and never leaves it (the server sees the public key).
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const r = await this.client.call<{ chain: string[]; expiresAt: number }>('POST', '/agent/v1/svid/x509', { spiffeId, publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') });
    const chain = r.chain.map((c) => new Uint8Array(Buffer.from(c, 'base64')));
    const leaf = new X509Certificate(chain[0]!);
    if (!leaf.publicKey.equals(publicKey)) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the server certified another key');
    if (!chainsTo(leaf, this.authorities)) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the SVID the server sent does not chain to the trust bundle');
    return { spiffeId, chain, keyPkcs8: new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' })), notAfter: new Date(r.expiresAt), serial: leaf.serialNumber };
  }

  async mintJwtSvid(spiffeId: string, audience: string[]): Promise<JwtSvid> {
    const r = await this.client.call<{ token: string; expiresAt: number }>('POST', '/agent/v1/svid/jwt', { spiffeId, audience });
    return { spiffeId, token: r.token, expiresAt: r.expiresAt };
  }
}

/** Entries from the agent API, polled; listeners hear about changes. */
class RemoteEntries implements EntrySource {
  private entries: RegistrationEntry[] = [];
  private key = '';
  private readonly listeners = new Set<() => void>();

  constructor(private readonly client: AgentClient) {}

  async refresh(): Promise<void> {
    const entries = entryList(await this.client.call<unknown>('GET', '/agent/v1/entries'));
    const key = JSON.stringify(entries);
    if (key === this.key) return;
    this.entries = entries;
    this.key = key;
    for (const l of this.listeners) l();
  }

  /** Every entry the server lets this agent serve (its own and its node aliases'). */
  listEntries(): RegistrationEntry[] {
    return this.entries;
  }

  onEntriesChanged(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/**
 * The body of GET /agent/v1/entries. What the agent matches and mints from: a malformed list is
 * refused and the last good one kept (stored, it would fail every Workload API call with INTERNAL
 * until the server sent a good one). A server from before federatesWith and DNS names sends
 * neither: its entries get none, as its own store reads them.
 */
export function entryList(r: unknown): RegistrationEntry[] {
  const list = typeof r === 'object' && r !== null ? (r as { entries?: unknown }).entries : undefined;
  if (!Array.isArray(list) || !list.every(isEntry)) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'GET /agent/v1/entries: the server sent a malformed entry list');
  return list.map((e) => ({ ...e, federatesWith: e.federatesWith ?? [], dnsNames: e.dnsNames ?? [] }));
}

function isEntry(e: unknown): e is RegistrationEntry {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return false;
  const o = e as Record<string, unknown>;
  return typeof o.id === 'string' && typeof o.spiffeId === 'string' && typeof o.parentId === 'string' && typeof o.hint === 'string'
    && Array.isArray(o.selectors) && o.selectors.every((x) => typeof x === 'string')
    && (o.federatesWith === undefined || (Array.isArray(o.federatesWith) && o.federatesWith.every((x) => typeof x === 'string')))
    && (o.dnsNames === undefined || (Array.isArray(o.dnsNames) && o.dnsNames.every((x) => typeof x === 'string')))
    && Number.isSafeInteger(o.x509SvidTtl) && (o.x509SvidTtl as number) > 0 && Number.isSafeInteger(o.jwtSvidTtl) && (o.jwtSvidTtl as number) > 0;
}

/**
 * An agent SVID the server handed back (attestation or renewal) must be for the key this agent
 * just made, name the agent's SPIFFE ID, and (over https) chain to the trust bundle: a mixed-up
 * answer stored as-is would leave an agent that can no longer sign a request the server accepts.
 */
function checkAgentSvid(c: Credentials, publicKey: KeyObject, authorities: readonly Uint8Array[] | undefined): void {
  const leaf = new X509Certificate(c.chain[0]!);
  if (!leaf.publicKey.equals(publicKey)) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the server certified another key for the agent');
  if (leaf.subjectAltName !== `URI:${c.agentId}`) throw new SpiffeError('SPIFFE_UNAVAILABLE', `the agent SVID the server sent is not for ${c.agentId}`);
  if (authorities && !chainsTo(leaf, authorities)) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the agent SVID the server sent does not chain to the trust bundle');
}

function chainsTo(leaf: X509Certificate, authorities: readonly Uint8Array[]): boolean {
  return authorities.some((d) => {
    const a = new X509Certificate(d);
    return leaf.checkIssued(a) && leaf.verify(a.publicKey);
  });
}

/** A bootstrap bundle file: a SPIFFE bundle (JSON) or PEM certificates; its X.509 authorities. */
export async function bootstrapAuthorities(file: string, trustDomain: string): Promise<Uint8Array[]> {
  const text = await readFile(file, 'utf8');
  const der = text.includes('-----BEGIN') ? pemBlocks(text).map((b) => new Uint8Array(b)) : parseBundle(trustDomain, text).x509Authorities;
  if (der.length === 0) throw new SpiffeError('SPIFFE_BAD_CONFIG', `${file} holds no X.509 authorities`);
  return der;
}

function credentialsFrom(agentId: string, key: KeyObject, chain: Buffer[]): Credentials {
  const leaf = new X509Certificate(chain[0]!);
  return { agentId, key, chain, notBefore: new Date(leaf.validFrom).getTime(), notAfter: new Date(leaf.validTo).getTime() };
}

/**
 * The key and its SVID change together, but two files cannot be replaced at once: a crash between
 * the two used to leave the new key beside the old SVID, so after the restart every request the
 * agent signed failed the server's proof check, and with its join token spent it could never
 * attest again. So the new key is written aside (agent-key.next.pem), the SVID replaced, and only
 * then the key moved into place; stored() completes or drops a switch a crash interrupted, by
 * which SVID the key aside belongs to. Each file is replaced through an fsynced temp file.
 */
async function store(workDir: string, c: Credentials): Promise<void> {
  const next = join(workDir, 'agent-key.next.pem');
  await writeSecretFile(next, c.key.export({ type: 'pkcs8', format: 'pem' }) as string);
  await writeFileDurably(join(workDir, 'agent-svid.pem'), c.chain.map((d) => pem('CERTIFICATE', d)).join(''));
  await rename(next, join(workDir, 'agent-key.pem'));
}

async function stored(workDir: string): Promise<Credentials | undefined> {
  try {
    const chain = pemBlocks(await readFile(join(workDir, 'agent-svid.pem'), 'utf8'));
    const leaf = new X509Certificate(chain[0]!);
    const next = join(workDir, 'agent-key.next.pem');
    let pending: KeyObject | undefined;
    try {
      pending = createPrivateKey(await readSecretFile(next));
    } catch {
      /* no switch was interrupted */
    }
    if (pending && leaf.publicKey.equals(createPublicKey(pending))) await rename(next, join(workDir, 'agent-key.pem')); // the SVID was replaced: finish
    else if (pending) await rm(next, { force: true }); // it was not: the old pair stands
    const key = createPrivateKey(await readSecretFile(join(workDir, 'agent-key.pem')));
    if (!leaf.publicKey.equals(createPublicKey(key))) return undefined;
    const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(leaf.subjectAltName ?? '')?.[1];
    if (!uri) return undefined;
    const c = credentialsFrom(uri, key, chain);
    return Date.now() < c.notAfter - 60_000 ? c : undefined;
  } catch {
    return undefined;
  }
}

async function attest(o: RemoteAgentOptions, conn: ServerConnection): Promise<Credentials> {
  const base = o.server.replace(/\/$/, '');
  if (o.joinToken) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    let j: { spiffeId: string; svid: string[] } | null;
    try {
      j = await conn.json('POST', '/node/v1/attest/join_token', { body: { token: o.joinToken, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) } });
    } catch (e) {
      if (e instanceof SpiffeError && e.code !== 'SPIFFE_UNAVAILABLE') throw new SpiffeError('SPIFFE_BAD_JOIN_TOKEN', `join-token attestation refused: ${e.message}`, { cause: e });
      throw e;
    }
    let c: Credentials;
    try {
      if (typeof j?.spiffeId !== 'string' || !Array.isArray(j.svid) || j.svid.length === 0 || !j.svid.every((x) => typeof x === 'string')) throw new Error('no spiffeId and svid chain');
      c = credentialsFrom(j.spiffeId, privateKey, j.svid.map((x) => Buffer.from(x, 'base64')));
    } catch (cause) {
      throw new SpiffeError('SPIFFE_UNAVAILABLE', `join-token attestation: the server sent a malformed SVID: ${(cause as Error).message}`, { cause });
    }
    checkAgentSvid(c, publicKey, undefined);
    return c;
  }
  if (o.tpm) {
    const post = async <T>(path: string, body: unknown): Promise<T> => {
      try {
        return await conn.json<T>('POST', path, { body });
      } catch (e) {
        if (e instanceof SpiffeError && e.code !== 'SPIFFE_UNAVAILABLE') throw new SpiffeError('SPIFFE_TPM_REJECTED', e.message, { cause: e });
        throw e;
      }
    };
    const r = await attestWithTpm({ ...o.tpm, server: base, workDir: join(o.workDir, 'tpm'), post });
    return credentialsFrom(r.spiffeId, createPrivateKey(await readFile(r.files.key)), pemBlocks(await readFile(r.files.svid, 'utf8')));
  }
  throw new SpiffeError('SPIFFE_BAD_CONFIG', 'no stored agent SVID: give a join token or use the TPM to attest');
}

/**
 * The connection an agent (or `cairn spiffe attest-tpm`) uses: https authenticated by the
 * server's SVID against the bootstrap bundle, or plain http only with insecureBootstrap.
 */
export async function connectToServer(o: { server: string; trustDomain?: string; trustBundle?: string; insecureBootstrap?: boolean }): Promise<ServerConnection> {
  const base = o.server.replace(/\/$/, '');
  if (new URL(base).protocol === 'https:') {
    if (!o.trustDomain || !o.trustBundle) throw new SpiffeError('SPIFFE_BAD_CONFIG', 'an https server is authenticated with its trust domain and a bootstrap trust bundle (trustDomain, trustBundle)');
    return new ServerConnection(base, `spiffe://${o.trustDomain}/spire/server`, await bootstrapAuthorities(o.trustBundle, o.trustDomain));
  }
  if (!o.insecureBootstrap) throw new SpiffeError('SPIFFE_BAD_CONFIG', 'refusing to trust a server over plain http: use its https URL (server config tls: { spiffe: true }) with a trust bundle, or insecureBootstrap');
  return new ServerConnection(base, undefined, []);
}

/**
 * Milliseconds until the next renewal of the agent SVID: at half its lifetime, or, after `failures`
 * failed attempts in a row, 1 s, 2 s, 4 s, ... up to a minute later. Without the backoff every
 * agent would ask an unavailable server (or one that refuses an SVID that expired meanwhile) once
 * a second for as long as it runs.
 */
export function renewDelay(c: { notBefore: number; notAfter: number }, failures: number, now: number): number {
  const wait = failures > 0 ? Math.min(1_000 * 2 ** (failures - 1), 60_000) : c.notBefore + (c.notAfter - c.notBefore) / 2 - now;
  return Math.min(Math.max(wait, 1_000), 2 ** 31 - 1);
}

export async function startRemoteAgent(o: RemoteAgentOptions): Promise<RemoteAgent> {
  await mkdir(o.workDir, { recursive: true, mode: 0o700 });
  const base = o.server.replace(/\/$/, '');
  const secure = new URL(base).protocol === 'https:';
  // The last bundle fetched over the authenticated channel, not the bootstrap one, authenticates
  // the server after a restart (as a SPIRE agent reads its cached bundle before trust_bundle_path):
  // once the CA rotated, the server's SVID chains only to authorities the bootstrap bundle lacks.
  const keptBundle = join(o.workDir, 'bundle.json');
  const kept = secure && (await stat(keptBundle).then((st) => st.isFile(), () => false));
  const conn = await connectToServer({ ...o, ...(kept ? { trustBundle: keptBundle } : {}) });
  let creds = await stored(o.workDir);
  if (!creds) {
    creds = await attest(o, conn);
    // Over https the answer came from the authenticated server; its SVID must chain to the bundle too.
    if (secure && !chainsTo(new X509Certificate(creds.chain[0]!), conn.authorities)) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the agent SVID the server sent does not chain to the trust bundle');
    await store(o.workDir, creds);
  }
  const trustDomain = /^spiffe:\/\/([^/]+)\//.exec(creds.agentId)?.[1];
  if (!trustDomain) throw new SpiffeError('SPIFFE_BAD_ID', `the agent ID ${creds.agentId} names no trust domain`);
  if (o.trustDomain && trustDomain !== o.trustDomain) throw new SpiffeError('SPIFFE_BAD_ID', `the agent ID ${creds.agentId} is not in ${o.trustDomain}`);
  const client = new AgentClient(conn, creds);
  const ca = new RemoteCa(trustDomain, client, conn, (bundle) => (secure ? writeFileDurably(keptBundle, bundle) : Promise.resolve()));
  const entries = new RemoteEntries(client);
  await ca.refresh();
  await entries.refresh();
  const agent = new Agent({ agentId: creds.agentId, ca, entries });
  let workload: WorkloadApi;
  try {
    workload = await startWorkloadApi({ agent, socketPath: o.socketPath, allowUnauthenticatedVerifiers: o.allowUnauthenticatedVerifiers ?? false, ...(o.log ? { log: o.log } : {}) });
  } catch (e) {
    agent.close();
    throw e;
  }
  const log = o.log ?? (() => undefined);
  // Entries and the bundle are polled; a failure keeps the last good state and is retried.
  const poll = setInterval(() => {
    void Promise.all([ca.refresh(), entries.refresh()]).catch((e: unknown) => log('agent: refresh failed', { error: (e as Error).message }));
  }, o.pollMs ?? 5_000);
  poll.unref();
  // The agent SVID is renewed at half its lifetime with a fresh key (agent-api.ts /renew).
  // Renewals run one at a time (renewSvid and the timer could otherwise interleave their writes
  // of the key and SVID files), and close() waits for the one in flight: nothing is renewed,
  // written or scheduled after it.
  let renewTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;
  let renewing: Promise<unknown> = Promise.resolve();
  const scheduleRenew = (): void => {
    if (closed) return;
    renewTimer = setTimeout(() => void renew(), renewDelay(client.creds, failures, Date.now()));
    renewTimer.unref();
  };
  const renewOnce = async (): Promise<void> => {
    if (closed) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the agent is closed');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const r = await client.call<{ spiffeId: string; svid: string[] } | null>('POST', '/agent/v1/renew', { publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') });
    let next: Credentials;
    try {
      if (typeof r?.spiffeId !== 'string' || !Array.isArray(r.svid) || r.svid.length === 0 || !r.svid.every((c) => typeof c === 'string')) throw new Error('no spiffeId and svid chain');
      next = credentialsFrom(r.spiffeId, privateKey, r.svid.map((c) => Buffer.from(c, 'base64')));
    } catch (cause) {
      throw new SpiffeError('SPIFFE_UNAVAILABLE', `POST /agent/v1/renew: the server sent a malformed SVID: ${(cause as Error).message}`, { cause });
    }
    if (next.agentId !== client.creds.agentId) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the server renewed another agent ID');
    checkAgentSvid(next, publicKey, secure ? ca.x509Authorities() : undefined);
    client.creds = next;
    await store(o.workDir, next);
  };
  const renewNow = (): Promise<void> => {
    const run = renewing.then(renewOnce);
    renewing = run.catch(() => undefined);
    return run;
  };
  const renew = async (): Promise<void> => {
    try {
      await renewNow();
      failures = 0;
    } catch (e) {
      if (closed) return;
      failures++;
      log('agent: SVID renewal failed; retrying', { error: (e as Error).message, failures });
    }
    scheduleRenew();
  };
  scheduleRenew();
  return {
    agentId: creds.agentId,
    socketPath: o.socketPath,
    renewSvid: async () => {
      await renewNow();
      failures = 0;
      clearTimeout(renewTimer);
      scheduleRenew();
    },
    close: async () => {
      closed = true;
      clearInterval(poll);
      clearTimeout(renewTimer);
      await renewing;
      await workload.close();
      agent.close();
    },
  };
}
