/**
 * Peer credentials of UNIX socket callers, by both methods (the SO_PEERCRED addon and the `ss`
 * fallback), and workload attestation of a process running under another uid (root only).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
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
    // The connection to the agent is made by a child running as nobody: it only relays bytes
    // between the agent socket and its stdio (Node built-ins, so it needs no read access to this
    // checkout's node_modules, which may sit in a 0700 directory). Our gRPC client talks through a
    // relay socket of our own, so the agent's peer is the nobody process and nothing else.
    const relayCode = `const c = require('net').connect(${JSON.stringify(srv.socket)}); process.stdin.pipe(c); c.pipe(process.stdout); c.on('close', () => process.exit(0));`;
    const relaySock = join(socketDir, 'relay.sock');
    const children: ReturnType<typeof spawn>[] = [];
    const relay = net.createServer((conn) => {
      const child = spawn(process.execPath, ['-e', relayCode], { uid: 65534, gid: 65534, stdio: ['pipe', 'pipe', 'inherit'], cwd: socketDir });
      children.push(child);
      conn.pipe(child.stdin!);
      child.stdout!.pipe(conn);
      conn.on('close', () => child.kill());
      // Teardown races (the client closes while bytes are in flight) are not test failures.
      const ignore = (): void => {};
      conn.on('error', ignore);
      child.stdin!.on('error', ignore);
      child.stdout!.on('error', ignore);
    });
    await new Promise<void>((r) => relay.listen(relaySock, r));
    const asNobody = workloadClient(relaySock);
    try {
      const viaNobody = await unary<{ svids: { spiffe_id: string }[] }>(asNobody, 'FetchJWTSVID', { audience: ['x'] });
      expect(viaNobody.svids.map((x) => x.spiffe_id)).toEqual(['spiffe://example.org/nobody']);
    } finally {
      asNobody.close();
      for (const c of children) c.kill();
      await new Promise((r) => relay.close(r));
    }
    const res = await unary<{ svids: { spiffe_id: string }[] }>(mine, 'FetchJWTSVID', { audience: ['x'] });
    expect(res.svids.map((s) => s.spiffe_id)).toEqual(['spiffe://example.org/root']);
  } finally {
    mine.close();
    await srv.close();
    await rm(socketDir, { recursive: true, force: true });
  }
});
