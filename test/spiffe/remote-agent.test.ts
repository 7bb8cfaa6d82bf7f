/**
 * An agent on another node (host/spiffe/remote-agent.ts) against a real SPIFFE server on loopback:
 * it attests with a join token, serves the Workload API on its own socket for the entries
 * parented to it (or to a node alias its attestation matches), and nothing else; the server's
 * agent API (host/spiffe/agent-api.ts) refuses unsigned, forged, replayed, non-agent and
 * evicted callers; a restarted agent re-uses its stored SVID.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bodyHash } from '../../host/spiffe/agent-api.js';
import { startRemoteAgent, type RemoteAgent } from '../../host/spiffe/remote-agent.js';
import { header, splitDer, startServer, streamReader, unary, workloadClient, type Server } from './helpers.js';

const TD = 'nodes.example';
let server: Server;
let dir: string;
let agent: RemoteAgent;
const uid = process.getuid!();

interface X509SvidResponse {
  svids: { spiffe_id: string; x509_svid: Buffer; x509_svid_key: Buffer; bundle: Buffer }[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-remote-agent-'));
  server = await startServer(TD);
  const t = (await server.api('POST', '/admin/v1/jointokens', {})).json as { token: string };
  agent = await startRemoteAgent({ server: server.admin, socketPath: join(dir, 'agent.sock'), workDir: join(dir, 'agent'), joinToken: t.token, pollMs: 100, insecureBootstrap: true });
}, 30_000);

afterAll(async () => {
  await agent?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function svids(socket: string): Promise<X509SvidResponse['svids']> {
  const c = workloadClient(socket);
  try {
    const r = streamReader<X509SvidResponse>(c.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<X509SvidResponse>);
    const m = await r.next();
    r.cancel();
    return m.svids;
  } finally {
    c.close();
  }
}

const until = async (f: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 400; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached in 20 s');
};

it('attests with a join token and serves its own entries on its own socket', async () => {
  expect(agent.agentId).toMatch(new RegExp(`^spiffe://${TD}/spire/agent/join_token/[0-9a-f]+$`));
  expect((await stat(join(dir, 'agent', 'agent-key.pem'))).mode & 0o777).toBe(0o600);
  expect((await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/remote/app`, parentId: agent.agentId, selectors: [`unix:uid:${uid}`] })).status).toBe(201);
  // Parented to the server's local agent: served on the server's socket, never on this one.
  expect((await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/local/app`, parentId: `spiffe://${TD}/spire/agent/local`, selectors: [`unix:uid:${uid}`] })).status).toBe(201);
  await until(async () => (await svids(agent.socketPath).catch(() => [])).length > 0);
  const got = await svids(agent.socketPath);
  expect(got.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/remote/app`]);
  const [leaf] = splitDer(got[0]!.x509_svid);
  const [root] = splitDer(got[0]!.bundle);
  const cert = new X509Certificate(leaf!);
  expect(cert.subjectAltName).toBe(`URI:spiffe://${TD}/remote/app`);
  expect(cert.verify(new X509Certificate(root!).publicKey)).toBe(true);
  expect(cert.checkPrivateKey(createPrivateKey({ key: got[0]!.x509_svid_key, format: 'der', type: 'pkcs8' }))).toBe(true);
  // A JWT-SVID from the remote agent validates at the server's own Workload API.
  const c = workloadClient(agent.socketPath);
  const jwt = await unary<{ svids: { svid: string }[] }>(c, 'FetchJWTSVID', { audience: ['db'] });
  c.close();
  const s = workloadClient(server.socket);
  const v = await unary<{ spiffe_id: string }>(s, 'ValidateJWTSVID', { audience: 'db', svid: jwt.svids[0]!.svid });
  s.close();
  expect(v.spiffe_id).toBe(`spiffe://${TD}/remote/app`);
});

it('serves workloads parented to a node alias that its attestation selectors match', async () => {
  const me = ((await server.api('GET', '/admin/v1/agents')).json as { agents: { spiffeId: string; selectors: string[] }[] }).agents.find((a) => a.spiffeId === agent.agentId)!;
  const alias = `spiffe://${TD}/node/build-pool`;
  expect((await server.api('POST', '/admin/v1/entries', { spiffeId: alias, parentId: `spiffe://${TD}/spire/server`, selectors: me.selectors })).status).toBe(201);
  expect((await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/pool/worker`, parentId: alias, selectors: [`unix:uid:${uid}`] })).status).toBe(201);
  await until(async () => (await svids(agent.socketPath)).some((x) => x.spiffe_id === `spiffe://${TD}/pool/worker`));
});

it('the agent API refuses unsigned, forged, replayed and non-agent requests', async () => {
  const url = `${server.admin}/agent/v1/entries`;
  expect((await fetch(url)).status).toBe(401);
  const chain = splitDer(Buffer.concat((await readFile(join(dir, 'agent', 'agent-svid.pem'), 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p).raw)));
  const realKey = createPrivateKey(await readFile(join(dir, 'agent', 'agent-key.pem')));
  const proof = (key: ReturnType<typeof createPrivateKey>, x5c: Uint8Array[], claims: Record<string, unknown> = {}): string => {
    const h = Buffer.from(JSON.stringify({ alg: 'ES256', x5c: x5c.map((c) => Buffer.from(c).toString('base64')) })).toString('base64url');
    const p = Buffer.from(JSON.stringify({ htm: 'GET', htu: '/agent/v1/entries', iat: Math.floor(Date.now() / 1000), jti: randomBytes(16).toString('base64url'), bh: bodyHash(undefined), ...claims })).toString('base64url');
    return `SVID ${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  const ok = proof(realKey, chain);
  expect((await fetch(url, { headers: { authorization: ok } })).status).toBe(200);
  expect((await fetch(url, { headers: { authorization: ok } })).status).toBe(401); // replay
  // Another key with the agent's certificate: the signature does not verify.
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  expect((await fetch(url, { headers: { authorization: proof(other, chain) } })).status).toBe(401);
  // A self-made certificate naming the agent: signed correctly, but not by the trust domain.
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const self = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=impostor', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000), extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: agent.agentId }])] });
  const selfKey = createPrivateKey({ key: Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' });
  expect((await fetch(url, { headers: { authorization: proof(selfKey, [new Uint8Array(self.rawData)]) } })).status).toBe(401);
  // Stale, or for another path.
  expect((await fetch(url, { headers: { authorization: proof(realKey, chain, { iat: Math.floor(Date.now() / 1000) - 600 }) } })).status).toBe(401);
  expect((await fetch(url, { headers: { authorization: proof(realKey, chain, { htu: '/agent/v1/renew' }) } })).status).toBe(401);
  // A workload SVID is not an agent SVID.
  const got = await svids(agent.socketPath);
  const w = got.find((x) => x.spiffe_id === `spiffe://${TD}/remote/app`)!;
  const wk = createPrivateKey({ key: w.x509_svid_key, format: 'der', type: 'pkcs8' });
  const denied = await fetch(url, { headers: { authorization: proof(wk, splitDer(w.x509_svid)) } });
  expect(denied.status).toBe(403);
  // SVIDs only for entitled IDs.
  const body = { spiffeId: `spiffe://${TD}/local/app`, audience: ['x'] };
  const h = Buffer.from(JSON.stringify({ alg: 'ES256', x5c: chain.map((c) => Buffer.from(c).toString('base64')) })).toString('base64url');
  const p = Buffer.from(JSON.stringify({ htm: 'POST', htu: '/agent/v1/svid/jwt', iat: Math.floor(Date.now() / 1000), jti: randomBytes(16).toString('base64url'), bh: bodyHash(body) })).toString('base64url');
  const auth = `SVID ${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), { key: realKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  const notMine = await fetch(`${server.admin}/agent/v1/svid/jwt`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(notMine.status).toBe(403);
});

it('renews its SVID with a fresh key and keeps serving', async () => {
  const before = new X509Certificate(await readFile(join(dir, 'agent', 'agent-svid.pem')));
  const keyBefore = await readFile(join(dir, 'agent', 'agent-key.pem'), 'utf8');
  await agent.renewSvid();
  const after = new X509Certificate(await readFile(join(dir, 'agent', 'agent-svid.pem')));
  expect(after.serialNumber).not.toBe(before.serialNumber);
  expect(after.subjectAltName).toBe(before.subjectAltName);
  expect(await readFile(join(dir, 'agent', 'agent-key.pem'), 'utf8')).not.toBe(keyBefore);
  expect(after.checkPrivateKey(createPrivateKey(await readFile(join(dir, 'agent', 'agent-key.pem'))))).toBe(true);
  // The SVID before the renewal still works (overlap); after one more renewal it is dead, though unexpired.
  const oldChain = splitDer(Buffer.concat([before.raw]));
  const oldProof = async (): Promise<number> => {
    const h = Buffer.from(JSON.stringify({ alg: 'ES256', x5c: oldChain.map((c) => Buffer.from(c).toString('base64')) })).toString('base64url');
    const p = Buffer.from(JSON.stringify({ htm: 'GET', htu: '/agent/v1/entries', iat: Math.floor(Date.now() / 1000), jti: randomBytes(16).toString('base64url'), bh: bodyHash(undefined) })).toString('base64url');
    const auth = `SVID ${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), { key: createPrivateKey(keyBefore), dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    return (await fetch(`${server.admin}/agent/v1/entries`, { headers: { authorization: auth } })).status;
  };
  expect(await oldProof()).toBe(200);
  await agent.renewSvid();
  expect(await oldProof()).toBe(403);
  // The next entry change reaches the workload through the renewed credentials.
  expect((await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/remote/after-renewal`, parentId: agent.agentId, selectors: [`unix:uid:${uid}`] })).status).toBe(201);
  await until(async () => (await svids(agent.socketPath)).some((x) => x.spiffe_id === `spiffe://${TD}/remote/after-renewal`));
});

it('a restarted agent re-uses its stored SVID; an evicted one is refused', async () => {
  await agent.close();
  // No join token this time (it was single-use): the stored SVID is enough.
  agent = await startRemoteAgent({ server: server.admin, socketPath: join(dir, 'agent.sock'), workDir: join(dir, 'agent'), pollMs: 100, insecureBootstrap: true });
  await until(async () => (await svids(agent.socketPath).catch(() => [])).length >= 3);
  const del = await fetch(`${server.admin}/admin/v1/agents/${encodeURIComponent(agent.agentId)}`, { method: 'DELETE', headers: { authorization: `Bearer ${server.adminToken}` } });
  expect(del.status).toBe(204);
  await agent.close();
  await expect(startRemoteAgent({ server: server.admin, socketPath: join(dir, 'agent.sock'), workDir: join(dir, 'agent'), pollMs: 100, insecureBootstrap: true })).rejects.toMatchObject({ code: 'SPIFFE_PERMISSION_DENIED' });
  agent = { agentId: '', socketPath: '', renewSvid: async () => undefined, close: async () => undefined };
});

it('`cairn spiffe agent` runs the same agent from the command line, with its join token from a 0600 file', async () => {
  const { spawn } = await import('node:child_process');
  const t = (await server.api('POST', '/admin/v1/jointokens', {})).json as { token: string };
  const socket = join(dir, 'cli-agent.sock');
  const cli = join(import.meta.dirname, '../../bin/cairn.js');
  // The token from a file, kept out of the process list; a file others can read is refused first.
  const tokenFile = join(dir, 'join-token');
  const { chmod, writeFile } = await import('node:fs/promises');
  const { spawnSync } = await import('node:child_process');
  await writeFile(tokenFile, `${t.token}\n`, { mode: 0o644 });
  await chmod(tokenFile, 0o644);
  const loose = spawnSync(process.execPath, [cli, 'spiffe', 'agent', '--data-dir', join(dir, 'cli-agent-loose'), '--socket', join(dir, 'loose.sock'), '--join-token-file', tokenFile, '--insecure-bootstrap'], { env: { ...process.env, CAIRN_SPIFFE_SERVER: server.admin }, encoding: 'utf8', timeout: 20_000 });
  expect(loose.status).toBe(2);
  expect(loose.stderr).toMatch(/chmod 600/);
  await chmod(tokenFile, 0o600);
  const child = spawn(process.execPath, [cli, 'spiffe', 'agent', '--data-dir', join(dir, 'cli-agent'), '--socket', socket, '--join-token-file', tokenFile, '--poll', '0.1', '--insecure-bootstrap'], { env: { ...process.env, CAIRN_SPIFFE_SERVER: server.admin }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const ready = JSON.parse(await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
      });
      child.once('exit', (c) => reject(new Error(`cairn spiffe agent exited with ${c}`)));
    })) as { ready: boolean; agentId: string; socket: string };
    expect(ready.ready).toBe(true);
    expect(ready.socket).toBe(socket);
    expect((await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/cli/app`, parentId: ready.agentId, selectors: [`unix:uid:${uid}`] })).status).toBe(201);
    await until(async () => (await svids(socket).catch(() => [])).some((x) => x.spiffe_id === `spiffe://${TD}/cli/app`));
  } finally {
    await new Promise<void>((r) => {
      child.once('exit', () => r());
      child.kill('SIGTERM');
    });
  }
}, 30_000);

it('refuses a plain-http server unless told to bootstrap insecurely', async () => {
  await expect(startRemoteAgent({ server: server.admin, socketPath: join(dir, 'x.sock'), workDir: join(dir, 'x') })).rejects.toMatchObject({ code: 'SPIFFE_BAD_CONFIG' });
});

it('over https, authenticates the server by its SVID against the bootstrap bundle', async () => {
  const https = await import('node:https');
  const { writeFile } = await import('node:fs/promises');
  const insecure = <T>(url: string, method = 'GET', body?: unknown, token?: string): Promise<{ status: number; json: T }> => new Promise((resolve, reject) => {
    // Test-only admin access to the https server; the agent itself never skips verification.
    const req = https.request(url, { method, rejectUnauthorized: false, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let t = '';
      res.on('data', (d: Buffer) => (t += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: (t ? JSON.parse(t) : undefined) as T }));
    });
    req.on('error', reject);
    req.end(body !== undefined ? JSON.stringify(body) : undefined);
  });
  const TLS_TD = 'secure.example';
  const secure = await startServer(TLS_TD, 'tls: { spiffe: true }\n');
  const impostor = await startServer(TLS_TD, 'tls: { spiffe: true }\n'); // the same name, another CA
  try {
    const bundleFile = join(dir, 'secure-bundle.json');
    await writeFile(bundleFile, JSON.stringify((await insecure<unknown>(`${secure.admin}/bundle`)).json));
    const token = (await insecure<{ token: string }>(`${secure.admin}/admin/v1/jointokens`, 'POST', {}, secure.adminToken)).json.token;
    // The impostor cannot be mistaken for the server: its SVID does not chain to the bundle.
    await expect(startRemoteAgent({ server: impostor.admin, trustDomain: TLS_TD, trustBundle: bundleFile, socketPath: join(dir, 'imp.sock'), workDir: join(dir, 'imp'), joinToken: token })).rejects.toMatchObject({ code: 'SPIFFE_UNAVAILABLE' });
    const a = await startRemoteAgent({ server: secure.admin, trustDomain: TLS_TD, trustBundle: bundleFile, socketPath: join(dir, 'secure.sock'), workDir: join(dir, 'secure-agent'), joinToken: token, pollMs: 100 });
    try {
      expect((await insecure(`${secure.admin}/admin/v1/entries`, 'POST', { spiffeId: `spiffe://${TLS_TD}/app`, parentId: a.agentId, selectors: [`unix:uid:${uid}`] }, secure.adminToken)).status).toBe(201);
      await until(async () => (await svids(a.socketPath).catch(() => [])).some((x) => x.spiffe_id === `spiffe://${TLS_TD}/app`));
    } finally {
      await a.close();
    }
  } finally {
    await impostor.close();
    await secure.close();
  }
}, 30_000);
