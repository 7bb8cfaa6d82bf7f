/**
 * `cairn up`'s /readyz asks each service's /readyz (stackUnready, host/cli/up.ts) under the same
 * /readyz deadline as every service (READY_DEADLINE_MS, host/http/ops.ts). A service whose check
 * hangs must be named in the stack's answer: its own question has to end before the stack's
 * deadline does, or the stack only says that its check did not answer.
 */
import { createServer, type Server } from 'node:http';
import Fastify from 'fastify';
import { afterAll, expect, it } from 'vitest';
import { registerOps } from '../../host/http/ops.js';
import { stackUnready } from '../../host/cli/up.js';
import type { Standalone } from '../../host/cli/serve.js';

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A service whose /readyz never answers (its store's host dropping packets). */
async function hanging(): Promise<string> {
  const s = createServer(() => undefined);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

it('names the service whose readiness check hangs', async () => {
  const base = await hanging();
  const none = async (): Promise<void> => undefined;
  const started: Standalone[] = [{ ready: { log: base, ct: base }, close: none }, { ready: {}, close: none }, { ready: {}, close: none }, { ready: {}, close: none }];
  // As buildStackApp registers it.
  const app = Fastify();
  await registerOps(app, { service: 'stack', ready: () => stackUnready(started) });
  try {
    const r = await app.inject({ method: 'GET', url: '/readyz' });
    expect(r.statusCode).toBe(503);
    expect((r.json() as { reason: string }).reason).toMatch(new RegExp(`^${base}: `));
  } finally {
    await app.close();
  }
}, 30_000);
