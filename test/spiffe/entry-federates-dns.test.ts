/**
 * Registration entry fields `federatesWith` (SPIRE -federatesWith) and `dnsNames` (SPIRE -dns), end
 * to end: the store (and its migration of older databases), the admin API's checks, the CLI flags,
 * the Workload API (only the federated bundles an entry names; DNS SANs after the URI SAN, the first
 * one as subject CN) and a remote agent, which gets entries and SVIDs over the agent API.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, type FederatedBundleSource } from '../../host/spiffe/agent.js';
import type { ParsedBundle } from '../../host/spiffe/bundle.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { build } from '../../host/spiffe/plugin.js';
import { entryList, startRemoteAgent } from '../../host/spiffe/remote-agent.js';
import { SpiffeStore, type RegistrationEntry } from '../../host/spiffe/store.js';
import { startWorkloadApi, type WorkloadApi } from '../../host/spiffe/workload.js';
import { header, splitDer, startServer, streamReader, unary, workloadClient, type WorkloadClient } from './helpers.js';

const TD = 'example.org';
const LOCAL = `spiffe://${TD}/spire/agent/local`;
const uid = process.getuid!();
const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spiffe-entry-fields-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('store', () => {
  it('migrates a database from before the two fields: old entries read as none, new ones store them', () => {
    const path = join(dir, 'old.db');
    const db = new Database(path);
    db.exec(`CREATE TABLE entries (id TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL, parent_id TEXT NOT NULL, selectors TEXT NOT NULL,
      hint TEXT NOT NULL DEFAULT '', x509_ttl INTEGER NOT NULL, jwt_ttl INTEGER NOT NULL, created_at INTEGER NOT NULL, UNIQUE (spiffe_id, parent_id, selectors));`);
    db.prepare('INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('00000000-0000-0000-0000-000000000001', `spiffe://${TD}/old`, LOCAL, '["unix:uid:1"]', '', 3600, 300, 1);
    db.close();
    const store = new SpiffeStore({ path });
    try {
      const [old] = store.listEntries();
      expect(old).toMatchObject({ spiffeId: `spiffe://${TD}/old`, federatesWith: [], dnsNames: [] });
      const e = store.createEntry({ spiffeId: `spiffe://${TD}/new`, parentId: LOCAL, selectors: ['unix:uid:1'], federatesWith: ['spiffe://b.test', 'a.test', 'a.test'], dnsNames: ['web.example.org', 'a.example', 'web.example.org'] });
      // Trust domains de-duplicated and sorted (a spiffe:// prefix dropped); DNS names in order.
      expect(e.federatesWith).toEqual(['a.test', 'b.test']);
      expect(e.dnsNames).toEqual(['web.example.org', 'a.example']);
      expect(store.getEntry(e.id)).toEqual(e);
    } finally {
      store.close();
    }
    // Opening the migrated store again changes nothing.
    const again = new SpiffeStore({ path });
    expect(again.listEntries().map((x) => x.dnsNames)).toEqual([[], ['web.example.org', 'a.example']]);
    again.close();
  });

  it('refuses malformed DNS names and trust domains with coded errors', () => {
    const store = new SpiffeStore({ path: ':memory:' });
    const create = (extra: Partial<RegistrationEntry>) => () => store.createEntry({ spiffeId: `spiffe://${TD}/x`, parentId: LOCAL, selectors: ['unix:uid:1'], ...extra });
    for (const bad of ['Web.example.org', '*.example.org', 'a..b', '-a.example', 'a-.example', 'a.example.', '', 'a_b.example', `${'a'.repeat(64)}.example`, `${'abcdefghi.'.repeat(25)}example`, 'é.example']) {
      expect(codeOf(create({ dnsNames: [bad] })), bad).toBe('SPIFFE_BAD_REQUEST');
    }
    expect(codeOf(create({ dnsNames: Array.from({ length: 33 }, (_, i) => `n${i}.example`) }))).toBe('SPIFFE_BAD_REQUEST');
    expect(codeOf(create({ dnsNames: 'a.example' as unknown as string[] }))).toBe('SPIFFE_BAD_REQUEST');
    expect(codeOf(create({ federatesWith: ['Bad_TD'] }))).toBe('SPIFFE_BAD_TRUST_DOMAIN');
    expect(codeOf(create({ federatesWith: [7 as unknown as string] }))).toBe('SPIFFE_BAD_TRUST_DOMAIN');
    expect(store.listEntries()).toEqual([]);
    expect(create({ dnsNames: Array.from({ length: 32 }, (_, i) => `n${i}.example`) })().dnsNames).toHaveLength(32);
    store.close();
  });
});

describe('admin API and CLI', () => {
  let ca: TrustDomainCa;
  let store: SpiffeStore;
  let app: Awaited<ReturnType<typeof build>>;
  beforeAll(async () => {
    ca = await TrustDomainCa.open({ trustDomain: TD });
    store = new SpiffeStore({ path: ':memory:' });
    app = await build({ ca, store, adminToken: 'admin-token-for-tests', issuer: () => 'http://127.0.0.1', federatedTrustDomains: ['a.test'] });
  });
  afterAll(async () => {
    await app?.close();
    store?.close();
  });
  const post = async (body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> => {
    const r = await app.inject({ method: 'POST', url: '/admin/v1/entries', headers: { authorization: 'Bearer admin-token-for-tests' }, payload: { spiffeId: `spiffe://${TD}/api`, parentId: LOCAL, selectors: ['unix:uid:1'], ...body } });
    return { status: r.statusCode, json: r.json() };
  };

  it('accepts federatesWith of a configured federation relationship and refuses others with coded 4xx', async () => {
    expect((await post({ federatesWith: ['c.test'] })).json).toMatchObject({ code: 400, error: 'SPIFFE_UNKNOWN_TRUST_DOMAIN' });
    expect((await post({ federatesWith: [TD] })).json).toMatchObject({ code: 400, error: 'SPIFFE_BAD_TRUST_DOMAIN' });
    expect((await post({ federatesWith: ['not a td'] })).json).toMatchObject({ code: 400, error: 'SPIFFE_BAD_TRUST_DOMAIN' });
    expect((await post({ dnsNames: ['*.example.org'] })).json).toMatchObject({ code: 400, error: 'SPIFFE_BAD_REQUEST' });
    expect((await post({ dnsNames: Array.from({ length: 33 }, (_, i) => `n${i}.example`) })).status).toBe(400);
    expect(store.listEntries()).toEqual([]);
    const ok = await post({ federatesWith: ['a.test'], dnsNames: ['api.example.org'] });
    expect(ok.status).toBe(201);
    expect(ok.json).toMatchObject({ federatesWith: ['a.test'], dnsNames: ['api.example.org'] });
    const list = await app.inject({ method: 'GET', url: '/admin/v1/entries', headers: { authorization: 'Bearer admin-token-for-tests' } });
    expect(list.json()).toMatchObject({ entries: [{ federatesWith: ['a.test'], dnsNames: ['api.example.org'] }] });
  });

  it('cairn spiffe entry create --federates-with --dns', async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address() as { port: number };
    const tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, 'admin-token-for-tests\n', { mode: 0o600 });
    const main = pathToFileURL(join(import.meta.dirname, '../../host/cli/main.ts')).href;
    const args = ['spiffe', '--server', `http://127.0.0.1:${addr.port}`, '--admin-token-file', tokenFile, 'entry', 'create', '--spiffe-id', `spiffe://${TD}/cli`, '--parent-id', LOCAL,
      '--selector', 'unix:uid:2', '--federates-with', 'a.test', '--dns', 'cli.example.org', '--dns', 'alt.example.org'];
    const script = `const m = await import(${JSON.stringify(main)}); await m.main(${JSON.stringify(['node', 'cairn', ...args])});`;
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    expect(store.listEntries({ spiffeId: `spiffe://${TD}/cli` })).toMatchObject([{ federatesWith: ['a.test'], dnsNames: ['cli.example.org', 'alt.example.org'] }]);
  }, 30_000);
});

describe('Workload API', () => {
  let ca: TrustDomainCa;
  let store: SpiffeStore;
  let agent: Agent;
  let api: WorkloadApi;
  let client: WorkloadClient;
  let foreign: Record<string, TrustDomainCa>;

  beforeAll(async () => {
    ca = await TrustDomainCa.open({ trustDomain: TD });
    foreign = { 'a.test': await TrustDomainCa.open({ trustDomain: 'a.test' }), 'c.test': await TrustDomainCa.open({ trustDomain: 'c.test' }) };
    const bundles = new Map<string, ParsedBundle>(Object.entries(foreign).map(([td, f]) => [td, { trustDomain: td, x509Authorities: f.x509Authorities(), jwtKeys: f.jwtAuthorities() }]));
    const federation = Object.assign(new EventEmitter(), { bundles: () => bundles }) as unknown as FederatedBundleSource;
    store = new SpiffeStore({ path: ':memory:' });
    agent = new Agent({ agentId: LOCAL, ca, entries: store, federation });
    api = await startWorkloadApi({ agent, socketPath: join(dir, 'workload.sock') });
    client = workloadClient(api.socketPath);
  });
  afterAll(async () => {
    client?.close();
    await api?.close();
    agent?.close();
    store?.close();
  });

  const first = async <T>(method: string): Promise<T> => {
    const r = streamReader<T>(client[method]!({}, header()) as grpc.ClientReadableStream<T>);
    try {
      return await r.next();
    } finally {
      r.cancel();
    }
  };
  type SvidResponse = { svids: { x509_svid: Buffer }[]; federated_bundles: Record<string, Buffer> };

  it('sends only the federated bundles the entry federates with, and DNS SANs after the URI SAN', async () => {
    const e = store.createEntry({ spiffeId: `spiffe://${TD}/web`, parentId: LOCAL, selectors: [`unix:uid:${uid}`], federatesWith: ['a.test'], dnsNames: ['web.example.org', 'www.example.org'] });
    const m = await first<SvidResponse>('FetchX509SVID');
    expect(Object.keys(m.federated_bundles)).toEqual(['spiffe://a.test']);
    expect(splitDer(m.federated_bundles['spiffe://a.test']!)).toHaveLength(foreign['a.test']!.x509Authorities().length);
    const leaf = new X509Certificate(splitDer(m.svids[0]!.x509_svid)[0]!);
    expect(leaf.subjectAltName).toBe(`URI:spiffe://${TD}/web, DNS:web.example.org, DNS:www.example.org`);
    expect(leaf.subject).toMatch(/^CN=web\.example\.org$/m);

    expect(Object.keys((await first<{ bundles: Record<string, Buffer> }>('FetchX509Bundles')).bundles).sort()).toEqual([`spiffe://${TD}`, 'spiffe://a.test'].sort());
    expect(Object.keys((await first<{ bundles: Record<string, Buffer> }>('FetchJWTBundles')).bundles).sort()).toEqual([`spiffe://${TD}`, 'spiffe://a.test'].sort());

    // JWT-SVIDs of a.test validate; those of c.test (federated with the server, not this entry) do not.
    const tokA = (await foreign['a.test']!.mintJwtSvid('spiffe://a.test/client', ['me'])).token;
    const tokC = (await foreign['c.test']!.mintJwtSvid('spiffe://c.test/client', ['me'])).token;
    expect((await unary<{ spiffe_id: string }>(client, 'ValidateJWTSVID', { audience: 'me', svid: tokA })).spiffe_id).toBe('spiffe://a.test/client');
    await expect(unary(client, 'ValidateJWTSVID', { audience: 'me', svid: tokC })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    store.deleteEntry(e.id);
  });

  it('an entry without federatesWith gets no federated bundle; an unconfigured trust domain is never sent', async () => {
    const e = store.createEntry({ spiffeId: `spiffe://${TD}/plain`, parentId: LOCAL, selectors: [`unix:uid:${uid}`] });
    const m = await first<SvidResponse>('FetchX509SVID');
    expect(m.federated_bundles).toEqual({});
    const leaf = new X509Certificate(splitDer(m.svids[0]!.x509_svid)[0]!);
    expect(leaf.subjectAltName).toBe(`URI:spiffe://${TD}/plain`);
    expect(leaf.subject).toBe('O=Cairn');
    expect(Object.keys((await first<{ bundles: Record<string, Buffer> }>('FetchX509Bundles')).bundles)).toEqual([`spiffe://${TD}`]);
    expect(Object.keys((await first<{ bundles: Record<string, Buffer> }>('FetchJWTBundles')).bundles)).toEqual([`spiffe://${TD}`]);
    store.deleteEntry(e.id);

    // The store takes any well-formed trust domain (the admin API checks relationships); one the
    // agent holds no bundle for is simply not there.
    store.createEntry({ spiffeId: `spiffe://${TD}/other`, parentId: LOCAL, selectors: [`unix:uid:${uid}`], federatesWith: ['c.test', 'z.test'] });
    expect(Object.keys((await first<SvidResponse>('FetchX509SVID')).federated_bundles)).toEqual(['spiffe://c.test']);
  });
});

it('a remote agent receives the fields with its entries and mints SVIDs with the DNS SANs', async () => {
  const server = await startServer(TD);
  const agentDir = await mkdtemp(join(tmpdir(), 'spiffe-entry-fields-agent-'));
  const t = (await server.api('POST', '/admin/v1/jointokens', {})).json as { token: string };
  const agent = await startRemoteAgent({ server: server.admin, socketPath: join(agentDir, 'agent.sock'), workDir: join(agentDir, 'agent'), joinToken: t.token, pollMs: 100, insecureBootstrap: true });
  const c = workloadClient(agent.socketPath);
  try {
    expect((await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/remote/web`, parentId: agent.agentId, selectors: [`unix:uid:${uid}`], dnsNames: ['remote.example.org'] })).status).toBe(201);
    let leaf: X509Certificate | undefined;
    for (let i = 0; i < 200 && !leaf; i++) {
      const r = streamReader<{ svids: { x509_svid: Buffer }[] }>(c.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<{ svids: { x509_svid: Buffer }[] }>);
      const m = await r.next().catch(() => undefined);
      r.cancel();
      if (m) leaf = new X509Certificate(splitDer(m.svids[0]!.x509_svid)[0]!);
      else await new Promise((res) => setTimeout(res, 50));
    }
    expect(leaf!.subjectAltName).toBe(`URI:spiffe://${TD}/remote/web, DNS:remote.example.org`);
    expect(leaf!.subject).toMatch(/^CN=remote\.example\.org$/m);
  } finally {
    c.close();
    await agent.close();
    await server.close();
    await rm(agentDir, { recursive: true, force: true });
  }
}, 30_000);

it("a remote agent reads an older server's entries (without the fields) as having none, and refuses malformed ones", () => {
  const old = { id: 'x', spiffeId: `spiffe://${TD}/a`, parentId: LOCAL, selectors: ['unix:uid:1'], hint: '', x509SvidTtl: 3600, jwtSvidTtl: 300, createdAt: 1 };
  expect(entryList({ entries: [old] })).toEqual([{ ...old, federatesWith: [], dnsNames: [] }]);
  expect(entryList({ entries: [{ ...old, federatesWith: ['a.test'], dnsNames: ['a.example'] }] })[0]).toMatchObject({ federatesWith: ['a.test'], dnsNames: ['a.example'] });
  expect(codeOf(() => entryList({ entries: [{ ...old, dnsNames: 'a.example' }] }))).toBe('SPIFFE_UNAVAILABLE');
  expect(codeOf(() => entryList({ entries: [{ ...old, federatesWith: [1] }] }))).toBe('SPIFFE_UNAVAILABLE');
});

it('config-file entries take dnsNames (replaced when they change) and a federatesWith needs a federation relationship', async () => {
  const { startStandalone } = await import('../../host/spiffe/standalone.js');
  const dir = await mkdtemp(join(tmpdir(), 'spiffe-config-entries-'));
  try {
    const cfg = join(dir, 'spiffe.yaml');
    const start = async (entry: string) => {
      await writeFile(cfg, `entries:\n  - ${entry}\n`);
      return startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', trustDomain: 'cfg.test', config: cfg });
    };
    const listed = async (s: { ready: Record<string, string> }) => {
      const { readFile } = await import('node:fs/promises');
      const token = (await readFile(s.ready.adminTokenFile!, 'utf8')).trim();
      const r = await fetch(`${s.ready.admin}/admin/v1/entries`, { headers: { authorization: `Bearer ${token}` } });
      return ((await r.json()) as { entries: RegistrationEntry[] }).entries.filter((e) => e.spiffeId === 'spiffe://cfg.test/web');
    };
    let s = await start('{ spiffeId: spiffe://cfg.test/web, selectors: [unix:uid:33], dnsNames: [web.cfg.test] }');
    expect((await listed(s)).map((e) => e.dnsNames)).toEqual([['web.cfg.test']]);
    await s.close();
    // The same again: left alone. Another DNS name: replaced, not added beside it.
    s = await start('{ spiffeId: spiffe://cfg.test/web, selectors: [unix:uid:33], dnsNames: [web.cfg.test] }');
    const first = (await listed(s))[0]!.id;
    await s.close();
    s = await start('{ spiffeId: spiffe://cfg.test/web, selectors: [unix:uid:33], dnsNames: [www.cfg.test] }');
    expect((await listed(s)).map((e) => [e.id === first, e.dnsNames])).toEqual([[false, ['www.cfg.test']]]);
    await s.close();
    await expect(start('{ spiffeId: spiffe://cfg.test/web, selectors: [unix:uid:33], federatesWith: [partner.test] }')).rejects.toMatchObject({ code: 'SPIFFE_BAD_CONFIG', message: expect.stringMatching(/partner\.test/) });
    await expect(start('{ spiffeId: spiffe://cfg.test/web, selectors: [unix:uid:33], dnsNames: web.cfg.test }')).rejects.toMatchObject({ code: 'SPIFFE_BAD_CONFIG' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
