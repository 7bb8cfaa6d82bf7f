/**
 * host/http/deadline.ts: a whole-request deadline, where node:http's `timeout` only measures idle
 * time. A loopback server trickles its answer a byte at a time, never idle for long.
 */
import { createServer, request, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deadline } from '../../host/http/deadline.js';

let server: Server;
let port = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/fast') return res.end('ok');
    res.writeHead(200);
    const t = setInterval(() => res.write('.'), 50);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => {
  server.close(() => r());
  server.closeAllConnections(); // the unbounded request below is still trickling
}));

function get(path: string, withDeadline: boolean): Promise<{ body?: string; error?: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 1_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ body, ms: Date.now() - t0 }));
      res.on('error', (e) => resolve({ error: e.message, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('idle')));
    if (withDeadline) deadline(req, 400, () => new Error('deadline'));
    req.on('error', (e) => resolve({ error: e.message, ms: Date.now() - t0 }));
    req.end();
  });
}

it('ends a trickling answer at the deadline, which the idle timeout alone never does', async () => {
  const bounded = await get('/slow', true);
  expect(bounded.error).toBe('deadline');
  expect(bounded.ms).toBeGreaterThanOrEqual(380);
  expect(bounded.ms).toBeLessThan(1_000);
  // Without it, 1.5 s later the request is still open: the idle timer keeps being reset.
  const unbounded = await Promise.race([get('/slow', false), new Promise<'open'>((r) => setTimeout(() => r('open'), 1_500))]);
  expect(unbounded).toBe('open');
});

it('leaves a prompt answer alone', async () => {
  expect(await get('/fast', true)).toMatchObject({ body: 'ok' });
});
