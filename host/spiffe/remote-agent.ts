/**
 * A SPIFFE agent on another node (SPIRE's agent): it attests the node to the server (join token
 * or TPM), keeps its agent X509-SVID renewed, and serves the Workload API on a local UNIX socket
 * for the entries the server lets it serve (host/spiffe/agent-api.ts), minting each workload's
 * key itself and having the server certify it. The Workload API, workload attestation and SVID
 * caching are the same code the server's in-process agent runs (workload.ts, agent.ts); only the
 * CA and the entry source are the server's agent API here.
 *
 * Files in `workDir` (mode 0600 for keys): agent-key.pem and agent-svid.pem. A restart reuses a
 * still-valid agent SVID instead of attesting again, as SPIRE agents do; a join token works once.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { Agent, type AgentCa, type EntrySource } from './agent.js';
import { bodyHash } from './agent-api.js';
import { parseBundle } from './bundle.js';
import type { JwtSvid, X509Svid } from './ca.js';
import { SpiffeError } from './errors.js';
import type { RegistrationEntry } from './store.js';
import { attestWithTpm, type TpmAgentOptions } from './tpm-agent.js';
import { startWorkloadApi, type WorkloadApi } from './workload.js';

export interface RemoteAgentOptions {
  /** The SPIFFE server's base URL. */
  server: string;
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

/** Signs agent API requests with the agent SVID's key (agent-api.ts describes the proof). */
class AgentClient {
  constructor(private readonly base: string, public creds: Credentials) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const header = { alg: 'ES256', typ: 'svid-proof+jwt', x5c: this.creds.chain.map((c) => c.toString('base64')) };
    const claims = { htm: method, htu: path, iat: Math.floor(Date.now() / 1000), jti: randomBytes(16).toString('base64url'), bh: bodyHash(body) };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const sig = cryptoSign('sha256', Buffer.from(input), { key: this.creds.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `SVID ${input}.${sig}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    const j = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
    if (!res.ok) throw new SpiffeError(res.status === 403 ? 'SPIFFE_PERMISSION_DENIED' : res.status === 401 ? 'SPIFFE_UNAUTHENTICATED' : 'SPIFFE_UNAVAILABLE', `${method} ${path}: ${res.status} ${j.error ?? ''} ${j.message ?? ''}`.trim());
    return j;
  }
}

/** The CA as the agent sees it: the server's bundle, and SVIDs minted through the agent API. */
class RemoteCa extends EventEmitter<{ bundle: []; activated: [] }> implements AgentCa {
  private authorities: Uint8Array[] = [];
  private jwtKeys: JWK[] = [];
  private authorityId = '';

  constructor(readonly trustDomain: string, private readonly client: AgentClient, private readonly bundleUrl: string) {
    super();
    this.setMaxListeners(0);
  }

  /** Fetches the bundle; emits 'bundle' (and 'activated') when it changed. */
  async refresh(): Promise<void> {
    const res = await fetch(this.bundleUrl, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new SpiffeError('SPIFFE_UNAVAILABLE', `${this.bundleUrl} answered ${res.status}`);
    const b = parseBundle(this.trustDomain, await res.text());
    const id = createHash('sha256').update(Buffer.concat(b.x509Authorities.map((c) => Buffer.from(c)))).update(JSON.stringify(b.jwtKeys)).digest('hex');
    if (id === this.authorityId) return;
    const first = this.authorityId === '';
    this.authorities = b.x509Authorities;
    this.jwtKeys = b.jwtKeys;
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
    const r = await this.client.call<{ entries: RegistrationEntry[] }>('GET', '/agent/v1/entries');
    const key = JSON.stringify(r.entries);
    if (key === this.key) return;
    this.entries = r.entries;
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

function credentialsFrom(agentId: string, key: KeyObject, chain: Buffer[]): Credentials {
  const leaf = new X509Certificate(chain[0]!);
  return { agentId, key, chain, notBefore: new Date(leaf.validFrom).getTime(), notAfter: new Date(leaf.validTo).getTime() };
}

async function store(workDir: string, c: Credentials): Promise<void> {
  await writeFile(join(workDir, 'agent-key.pem'), c.key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await chmod(join(workDir, 'agent-key.pem'), 0o600);
  await writeFile(join(workDir, 'agent-svid.pem'), c.chain.map((d) => pem('CERTIFICATE', d)).join(''));
}

async function stored(workDir: string): Promise<Credentials | undefined> {
  try {
    const key = createPrivateKey(await readFile(join(workDir, 'agent-key.pem')));
    const chain = pemBlocks(await readFile(join(workDir, 'agent-svid.pem'), 'utf8'));
    const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(new X509Certificate(chain[0]!).subjectAltName ?? '')?.[1];
    if (!uri) return undefined;
    const c = credentialsFrom(uri, key, chain);
    return Date.now() < c.notAfter - 60_000 ? c : undefined;
  } catch {
    return undefined;
  }
}

async function attest(o: RemoteAgentOptions): Promise<Credentials> {
  const base = o.server.replace(/\/$/, '');
  if (o.joinToken) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const res = await fetch(`${base}/node/v1/attest/join_token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: o.joinToken, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) }) });
    const j = (await res.json()) as { spiffeId: string; svid: string[]; error?: string; message?: string };
    if (!res.ok) throw new SpiffeError('SPIFFE_BAD_JOIN_TOKEN', `join-token attestation refused: ${j.error ?? res.status} ${j.message ?? ''}`.trim());
    return credentialsFrom(j.spiffeId, privateKey, j.svid.map((c) => Buffer.from(c, 'base64')));
  }
  if (o.tpm) {
    const r = await attestWithTpm({ ...o.tpm, server: base, workDir: join(o.workDir, 'tpm') });
    return credentialsFrom(r.spiffeId, createPrivateKey(await readFile(r.files.key)), pemBlocks(await readFile(r.files.svid, 'utf8')));
  }
  throw new SpiffeError('SPIFFE_BAD_CONFIG', 'no stored agent SVID: give a join token or use the TPM to attest');
}

export async function startRemoteAgent(o: RemoteAgentOptions): Promise<RemoteAgent> {
  await mkdir(o.workDir, { recursive: true, mode: 0o700 });
  const base = o.server.replace(/\/$/, '');
  let creds = await stored(o.workDir);
  if (!creds) {
    creds = await attest(o);
    await store(o.workDir, creds);
  }
  const trustDomain = /^spiffe:\/\/([^/]+)\//.exec(creds.agentId)?.[1];
  if (!trustDomain) throw new SpiffeError('SPIFFE_BAD_ID', `the agent ID ${creds.agentId} names no trust domain`);
  const client = new AgentClient(base, creds);
  const ca = new RemoteCa(trustDomain, client, `${base}/bundle`);
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
  let renewTimer: NodeJS.Timeout | undefined;
  const scheduleRenew = (): void => {
    const c = client.creds;
    const at = c.notBefore + (c.notAfter - c.notBefore) / 2;
    renewTimer = setTimeout(() => void renew(), Math.min(Math.max(at - Date.now(), 1_000), 2 ** 31 - 1));
    renewTimer.unref();
  };
  const renewNow = async (): Promise<void> => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const r = await client.call<{ spiffeId: string; svid: string[] }>('POST', '/agent/v1/renew', { publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') });
    const next = credentialsFrom(r.spiffeId, privateKey, r.svid.map((c) => Buffer.from(c, 'base64')));
    if (next.agentId !== client.creds.agentId) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'the server renewed another agent ID');
    client.creds = next;
    await store(o.workDir, next);
  };
  const renew = async (): Promise<void> => {
    try {
      await renewNow();
    } catch (e) {
      log('agent: SVID renewal failed; retrying', { error: (e as Error).message });
    }
    scheduleRenew();
  };
  scheduleRenew();
  return {
    agentId: creds.agentId,
    socketPath: o.socketPath,
    renewSvid: async () => {
      await renewNow();
      clearTimeout(renewTimer);
      scheduleRenew();
    },
    close: async () => {
      clearInterval(poll);
      clearTimeout(renewTimer);
      await workload.close();
      agent.close();
    },
  };
}
