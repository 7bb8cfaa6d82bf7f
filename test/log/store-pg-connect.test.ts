/**
 * The log's PostgreSQL store (host/log/store-pg.ts) when the database accepts connections and
 * never answers (a server that hangs, a proxy in front of one that is gone): waiting for a
 * connection is bounded like waiting for the sequencing lock (`postgres.lockWaitMs`), and ends in
 * the coded 503 LOG_STORE_UNAVAILABLE with Retry-After, instead of every read and every batch
 * waiting, and queueing behind each other, for as long as the database stays silent. Needs no
 * PostgreSQL: a TCP server that says nothing stands in for it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresLogStore } from '../../host/log/store-pg.js';

let silent: Server;
const sockets: Socket[] = [];
let url = '';
beforeAll(async () => {
  silent = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  url = `postgres://cairn@127.0.0.1:${(silent.address() as { port: number }).port}/cairn`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
});

it('a database that never answers is 503 LOG_STORE_UNAVAILABLE after postgres.lockWaitMs, not a wait without end', async () => {
  const opened = PostgresLogStore.open({ url, schema: 'silent', lockWaitMs: 300 }).then(
    () => 'opened',
    (e: unknown) => e,
  );
  // The bound (10 s) is only for the old behaviour, which never settled.
  const outcome = await Promise.race([opened, new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
  expect(outcome).toMatchObject({ code: 'LOG_STORE_UNAVAILABLE', status: 503, retryAfter: 1 });
  expect(sockets.length).toBeGreaterThan(0);
}, 20_000);
