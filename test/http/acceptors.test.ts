/**
 * host/http/acceptors.ts: duplicate descriptors on a listening socket accept more than one new
 * connection per event-loop iteration, serve requests with the server's own handler, and stop
 * with the server. Skipped, with the reason printed, when the listenfd addon is not built (it
 * is built by `npm install` wherever a C toolchain is; CI has one).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import Fastify from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { addAcceptors } from '../../host/http/acceptors.js';
import { acceptorCount, LISTEN_BACKLOG, listenService } from '../../host/http/ops.js';
import { NODE_SERVER_TIMEOUTS, SERVER_TIMEOUTS } from '../../host/http/timeouts.js';

const probe = Fastify();
await probe.listen({ port: 0, host: '127.0.0.1' });
const available = addAcceptors(probe.server, 1, LISTEN_BACKLOG);
available.stop();
await probe.close();
if (available.count === 0) console.warn(`test/http/acceptors.test.ts skipped: ${available.reason}`);

const open: Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

/** listenService with CAIRN_ACCEPTORS set to `n` for the call (the variable is restored after). */
async function listenWithAcceptors(app: ReturnType<typeof Fastify>, n: string): Promise<void> {
  const env = process.env.CAIRN_ACCEPTORS;
  process.env.CAIRN_ACCEPTORS = n;
  try {
    await listenService(app, { port: 0, host: '127.0.0.1' });
  } finally {
    if (env === undefined) delete process.env.CAIRN_ACCEPTORS;
    else process.env.CAIRN_ACCEPTORS = env;
  }
}

/**
 * Opens `n` connections while the event loop is blocked (the kernel completes the handshakes and
 * queues them), then counts how many the server accepted in the first iteration after it.
 */
async function acceptedInOneIteration(extra: string): Promise<{ first: number; total: number }> {
  const app = Fastify();
  app.get('/', async () => ({ ok: true }));
  let accepted = 0;
  // Before listening: the duplicates get copies of the server's listeners, this one included.
  app.server.on('connection', () => void accepted++);
  await listenWithAcceptors(app, extra);
  const port = (app.server.address() as { port: number }).port;
  const sockets = Array.from({ length: 64 }, () => connect(port, '127.0.0.1'));
  open.push(...sockets);
  await new Promise((r) => process.nextTick(r)); // the connect(2) calls are issued on the next tick
  // In a check phase: block the loop (every handshake completes meanwhile, none is accepted), then
  // read the count in the next iteration's check phase, which follows exactly one poll phase.
  const first = await new Promise<number>((r) =>
    setImmediate(() => {
      const until = Date.now() + 150;
      while (Date.now() < until);
      const before = accepted;
      setImmediate(() => r(accepted - before));
    }),
  );
  await new Promise((r) => setTimeout(r, 200));
  const total = accepted;
  for (const s of sockets) s.destroy();
  await app.close();
  return { first, total };
}

it.skipIf(available.count === 0)('accepts up to 1 + n queued connections per iteration, and stops with the app', async () => {
  expect(acceptorCount({})).toBe(32);
  expect(acceptorCount({ CAIRN_ACCEPTORS: '0' })).toBe(0);
  expect(() => acceptorCount({ CAIRN_ACCEPTORS: 'many' })).toThrow(/CAIRN_ACCEPTORS/);
  const one = await acceptedInOneIteration('0');
  const many = await acceptedInOneIteration('16');
  // libuv accepts once per handle per iteration: one handle takes 1, seventeen take 17.
  expect(one.first).toBe(1);
  expect(many.first).toBe(17);
  expect(one.total).toBe(64);
  expect(many.total).toBe(64);
});

it.skipIf(available.count === 0)('serves every connection with the same handler, and nothing accepts once the app is closed', async () => {
  const app = Fastify();
  let hits = 0;
  app.get('/n', async () => ({ n: ++hits }));
  const acc = await listenService(app, { port: 0, host: '127.0.0.1' });
  expect(acc.count).toBe(32);
  const port = (app.server.address() as { port: number }).port;
  // Fresh connections (no keep-alive reuse), so they land on many descriptors.
  const rs = await Promise.all(Array.from({ length: 200 }, () => fetch(`http://127.0.0.1:${port}/n`, { headers: { connection: 'close' } })));
  expect(rs.every((r) => r.status === 200)).toBe(true);
  expect(hits).toBe(200);
  await app.close();
  await expect(fetch(`http://127.0.0.1:${port}/n`)).rejects.toThrow();
});

it.skipIf(available.count === 0)('a connection accepted on a duplicate is set up once: one clientError per reset connection', async () => {
  const app = Fastify();
  app.get('/', async () => ({ ok: true }));
  let connections = 0;
  let clientErrors = 0;
  app.server.on('connection', () => void connections++);
  app.server.on('clientError', () => void clientErrors++);
  await listenWithAcceptors(app, '16');
  const port = (app.server.address() as { port: number }).port;
  try {
    // Half a request, then a reset: the server's socket errors (ECONNRESET) once. node:http's own
    // connection listener copied onto a duplicate (which has its own) ran twice per socket, so
    // every connection a duplicate accepted emitted clientError twice.
    await Promise.all(Array.from({ length: 64 }, () => new Promise<void>((done) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write('GET / HTTP/1.1\r\nHost: x\r\n');
        setTimeout(() => {
          s.resetAndDestroy();
          done();
        }, 50);
      });
      s.on('error', () => undefined);
    })));
    const until = Date.now() + 2_000;
    while (clientErrors < connections && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    expect(connections).toBe(64);
    expect(clientErrors).toBe(64);
  } finally {
    await app.close();
  }
});

// The kernel caps a listen backlog at net.core.somaxconn (4096 by default since Linux 5.4).
const somaxconn = ((): number => {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  } catch {
    return 0;
  }
})();
const BURST = 900;
if (available.count > 0 && somaxconn < BURST) console.warn(`test/http/acceptors.test.ts: the backlog test is skipped: net.core.somaxconn is ${somaxconn}, below ${BURST}`);

it.skipIf(available.count === 0 || somaxconn < BURST)('the duplicates keep the service\'s backlog: a burst of 900 connections while the loop is busy is all queued', async () => {
  const app = Fastify();
  app.get('/', async () => ({ ok: true }));
  await listenService(app, { port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  try {
    let connected = 0;
    for (let i = 0; i < BURST; i++) {
      const s = connect(port, '127.0.0.1');
      open.push(s);
      s.once('connect', () => void connected++);
      s.on('error', () => undefined);
    }
    await new Promise((r) => process.nextTick(r)); // the connect(2) calls are issued
    // Nothing is accepted meanwhile, and on loopback the kernel completes each handshake as its
    // SYN arrives, while the accept queue has room. With the duplicates' listen(2) at Node's
    // default of 511, the SYNs beyond 512 were dropped (resent 1 s later, RFC 6298 §2.1), so
    // only 512 connections could be ready in the next poll. Counted by readiness, not by time.
    // Blocked in one check phase, counted in the next, which follows exactly one poll phase.
    const ready = await new Promise<number>((r) =>
      setImmediate(() => {
        const until = Date.now() + 200;
        while (Date.now() < until);
        setImmediate(() => r(connected));
      }),
    );
    expect(ready).toBe(BURST);
  } finally {
    for (const s of open.splice(0)) s.destroy(); // close waits for the connections to end
    await app.close();
  }
});

it.skipIf(available.count === 0)('the duplicates enforce the service\'s request timeouts as often as it does: every slow client gets 408', async () => {
  // The service's options (host/http/timeouts.ts) with the limits shortened for the test; how
  // often they are checked is the production setting, which a duplicate can only get when it is
  // created (a duplicate checking at Node's default, every 30 s, let slow clients stay that long).
  const app = Fastify({ ...SERVER_TIMEOUTS, requestTimeout: 300, http: { ...NODE_SERVER_TIMEOUTS, headersTimeout: 300, requestTimeout: 300 } });
  app.post('/', async () => ({ ok: true }));
  await listenWithAcceptors(app, '16');
  const port = (app.server.address() as { port: number }).port;
  try {
    const slow = (): Promise<string> => new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      open.push(s);
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => resolve(got));
      s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    });
    // Fresh connections land on many descriptors.
    const answers = await Promise.race([
      Promise.all(Array.from({ length: 64 }, slow)),
      new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 10_000)),
    ]);
    expect(answers).toHaveLength(64);
    expect(answers.filter((a) => a.startsWith('HTTP/1.1 408 '))).toHaveLength(64);
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await app.close();
  }
}, 30_000);
