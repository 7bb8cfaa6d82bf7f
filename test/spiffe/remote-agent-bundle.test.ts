/**
 * A remote agent (host/spiffe/remote-agent.ts) authenticates its https server by the server's
 * X509-SVID against the trust bundle it holds. After the server's CA rotated, the server's SVID
 * chains only to the new authority, which the operator's bootstrap bundle lacks: a restarted agent
 * must start from the last bundle it fetched over the authenticated channel (as a SPIRE agent
 * reads its cached bundle before trust_bundle_path), or it can never reach its server again.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import { expect, it } from 'vitest';
import { startRemoteAgent, type RemoteAgent } from '../../host/spiffe/remote-agent.js';
import { header, splitDer, startServer, streamReader, workloadClient } from './helpers.js';

const TD = 'rotating.example';

/** Test-only access to the https server; the agent itself never skips verification. */
const insecure = <T>(url: string, method = 'GET', body?: unknown, token?: string): Promise<T> => new Promise((resolve, reject) => {
  const req = https.request(url, { method, rejectUnauthorized: false, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
    let t = '';
    res.on('data', (d: Buffer) => (t += d.toString()));
    res.on('end', () => resolve((t ? JSON.parse(t) : undefined) as T));
  });
  req.on('error', reject);
  req.end(body !== undefined ? JSON.stringify(body) : undefined);
});

/** The certificate the server presents now. */
const serverCert = (url: string): Promise<X509Certificate> => new Promise((resolve, reject) => {
  const u = new URL(url);
  const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
    const raw = s.getPeerCertificate().raw;
    s.end();
    resolve(new X509Certificate(raw));
  });
  s.on('error', reject);
});

const until = async (f: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 300; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached in 15 s');
};

async function bundleSize(socket: string): Promise<number> {
  const c = workloadClient(socket);
  try {
    const r = streamReader<{ bundles: Record<string, Buffer> }>(c.FetchX509Bundles!({}, header()) as grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>);
    const m = await r.next();
    r.cancel();
    return splitDer(m.bundles[`spiffe://${TD}`]!).length;
  } finally {
    c.close();
  }
}

it('a restarted agent still authenticates its server after a CA rotation, with the bundle it fetched last', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-agent-bundle-'));
  // The server's own SVID lives 4 s, so it is re-minted (from the active authority) every 2 s.
  const server = await startServer(TD, 'tls: { spiffe: true }\nx509SvidTtl: 4\n');
  let agent: RemoteAgent | undefined;
  try {
    const bootstrap = join(dir, 'bootstrap.json');
    const doc = await insecure<{ keys: { use: string; x5c?: string[] }[] }>(`${server.admin}/bundle`);
    await writeFile(bootstrap, JSON.stringify(doc));
    const bootstrapCa = new X509Certificate(Buffer.from(doc.keys.find((k) => k.use === 'x509-svid')!.x5c![0]!, 'base64'));
    const token = (await insecure<{ token: string }>(`${server.admin}/admin/v1/jointokens`, 'POST', {}, server.adminToken)).token;
    const opts = { server: server.admin, trustDomain: TD, trustBundle: bootstrap, socketPath: join(dir, 'agent.sock'), workDir: join(dir, 'agent'), pollMs: 100, allowUnauthenticatedVerifiers: true };
    agent = await startRemoteAgent({ ...opts, joinToken: token });
    expect(await bundleSize(agent.socketPath)).toBe(1);

    // Rotate just after the server re-minted its SVID, so that the running agent fetches the new
    // bundle before the server presents an SVID of the new authority.
    const serial = (await serverCert(server.admin)).serialNumber;
    await until(async () => (await serverCert(server.admin)).serialNumber !== serial);
    await insecure(`${server.admin}/admin/v1/rotate`, 'POST', undefined, server.adminToken);
    await until(async () => (await bundleSize(agent!.socketPath)) === 2);
    // Now the server's SVID chains to the new authority only, which the bootstrap bundle lacks.
    await until(async () => !(await serverCert(server.admin)).verify(bootstrapCa.publicKey));

    await agent.close();
    agent = undefined;
    agent = await startRemoteAgent(opts); // its stored SVID, no join token
    expect(await bundleSize(agent.socketPath)).toBe(2);
  } finally {
    await agent?.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);
