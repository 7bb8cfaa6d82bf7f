/**
 * Peer credentials of UNIX socket callers, by both methods (the SO_PEERCRED addon and the `ss`
 * fallback), and workload attestation of a process running under another uid (root only).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSsUnix, peerCredentials, unixSelectors, type PeerCredMethod } from '../../host/spiffe/peercred.js';
import { startServer, unary, workloadClient } from './helpers.js';

const nativeBuilt = existsSync(join(import.meta.dirname, '../../host/spiffe/native/build/Release/peercred.node'));
const hasSs = (() => {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!nativeBuilt) console.warn('peercred: native addon not built (cd host/spiffe/native && npx node-gyp rebuild); testing the ss fallback only');
if (!hasSs) console.warn('peercred: `ss` (iproute2) missing; skipping the ss fallback test');

let dir: string;
let server: net.Server;
let sock: string;
const accepted: net.Socket[] = [];
const waiting: ((s: net.Socket) => void)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peercred-'));
  await chmod(dir, 0o755);
  sock = join(dir, 's.sock');
  server = net.createServer((s) => {
    const w = waiting.shift();
    if (w) w(s);
    else accepted.push(s);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  await chmod(sock, 0o777);
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

const nextAccepted = (): Promise<net.Socket> => (accepted.length ? Promise.resolve(accepted.shift()!) : new Promise((r) => waiting.push(r)));

const methods: PeerCredMethod[] = [...(nativeBuilt ? (['native'] as const) : []), ...(hasSs ? (['ss'] as const) : [])];

describe.each(methods)('peer credentials via %s', (method) => {
  it('identifies this process', async () => {
    const c = net.connect(sock);
    const s = await nextAccepted();
    const creds = await peerCredentials(s, method);
    expect(creds).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    expect(await unixSelectors(creds)).toEqual([`unix:uid:${creds.uid}`, `unix:gid:${creds.gid}`, `unix:path:${process.execPath}`]);
    c.destroy();
    s.destroy();
  });

  it('identifies another process (its pid, not ours)', async () => {
    const child = spawn(process.execPath, ['-e', `require('net').connect(${JSON.stringify(sock)}); setTimeout(() => {}, 5000)`], { stdio: 'ignore' });
    try {
      const s = await nextAccepted();
      const creds = await peerCredentials(s, method);
      expect(creds.pid).toBe(child.pid);
      s.destroy();
    } finally {
      child.kill();
    }
  });

  it.skipIf(process.getuid!() !== 0)('reports the uid/gid of a process running as nobody (root only)', async () => {
    const child = spawn(process.execPath, ['-e', `require('net').connect(${JSON.stringify(sock)}); setTimeout(() => {}, 5000)`], { stdio: 'ignore', uid: 65534, gid: 65534 });
    try {
      const s = await nextAccepted();
      expect(await peerCredentials(s, method)).toEqual({ pid: child.pid, uid: 65534, gid: 65534 });
      s.destroy();
    } finally {
      child.kill();
    }
  });
});

it('parses ss -xpn output', () => {
  const out = [
    'u_str ESTAB 0 0 /tmp/a.sock 1001 * 1002 users:(("node",pid=10,fd=20))',
    'u_str ESTAB 0 0 * 1002 * 1001 users:(("client",pid=11,fd=3),("client",pid=11,fd=4))',
    'garbage line',
  ].join('\n');
  const t = parseSsUnix(out);
  expect(t.get(1001)).toEqual({ peer: 1002, pids: [10] });
  expect(t.get(1002)).toEqual({ peer: 1001, pids: [11] });
});

it.skipIf(process.getuid!() !== 0)('Workload API: a process running as another uid gets only that uid\'s identity (root only)', async () => {
  const socketDir = await mkdtemp(join(tmpdir(), 'spiffe-sock-'));
  await chmod(socketDir, 0o755);
  const srv = await startServer('example.org', `socket: ${join(socketDir, 'agent.sock')}\n`);
  const mine = workloadClient(srv.socket);
  try {
    const parent = 'spiffe://example.org/spire/agent/local';
    expect((await srv.api('POST', '/admin/v1/entries', { spiffeId: 'spiffe://example.org/nobody', parentId: parent, selectors: ['unix:uid:65534'] })).status).toBe(201);
    expect((await srv.api('POST', '/admin/v1/entries', { spiffeId: 'spiffe://example.org/root', parentId: parent, selectors: [`unix:uid:${process.getuid!()}`] })).status).toBe(201);
    // The child is a plain gRPC client built from the public proto, running as nobody.
    const require = createRequire(import.meta.url);
    const grpcPath = require.resolve('@grpc/grpc-js');
    const loaderPath = require.resolve('@grpc/proto-loader');
    const proto = join(import.meta.dirname, '../../host/spiffe/proto/workload.proto');
    const code = `
      const grpc = require(${JSON.stringify(grpcPath)}); const pl = require(${JSON.stringify(loaderPath)});
      const pkg = grpc.loadPackageDefinition(pl.loadSync(${JSON.stringify(proto)}, { keepCase: true, defaults: true }));
      const c = new pkg.SpiffeWorkloadAPI('unix://${srv.socket}', grpc.credentials.createInsecure());
      const md = new grpc.Metadata(); md.set('workload.spiffe.io', 'true');
      c.FetchJWTSVID({ audience: ['x'] }, md, (err, res) => { console.log(JSON.stringify(err ? { code: err.code } : res.svids.map((s) => s.spiffe_id))); process.exit(0); });`;
    const child = spawn(process.execPath, ['-e', code], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'], cwd: socketDir });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.once('exit', r));
    expect(JSON.parse(out)).toEqual(['spiffe://example.org/nobody']);
    const res = await unary<{ svids: { spiffe_id: string }[] }>(mine, 'FetchJWTSVID', { audience: ['x'] });
    expect(res.svids.map((s) => s.spiffe_id)).toEqual(['spiffe://example.org/root']);
  } finally {
    mine.close();
    await srv.close();
    await rm(socketDir, { recursive: true, force: true });
  }
});
