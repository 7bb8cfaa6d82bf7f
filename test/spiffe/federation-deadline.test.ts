/**
 * fetchBundle (host/spiffe/federation.ts) bounds the whole fetch by its timeout: a bundle endpoint
 * that trickles a valid bundle out, each gap shorter than the timeout, fails when the timeout is
 * up instead of holding the refresh (and, through FederationClient.start, the server's start) for
 * as long as it keeps sending. node:http's `timeout` option alone restarts on every byte.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchBundle } from '../../host/spiffe/federation.js';

const BUNDLE = JSON.stringify({ keys: [], spiffe_sequence: 7 });
let server: Server;
let url: string;
let chunkEveryMs = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    let at = 0;
    const t = setInterval(() => {
      if (at >= BUNDLE.length) {
        clearInterval(t);
        res.end();
        return;
      }
      res.write(BUNDLE.slice(at, at + 4));
      at += 4;
    }, chunkEveryMs);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/bundle`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('a bundle sent promptly is fetched', async () => {
  chunkEveryMs = 1;
  expect((await fetchBundle({ trustDomain: 'a.test', url, profile: 'https_web' }, 1_000)).sequence).toBe(7);
});

it('a bundle trickled out past the timeout is refused when the timeout is up', async () => {
  chunkEveryMs = 150; // 11 chunks over ~1.7 s; no gap reaches the 500 ms timeout
  const t0 = Date.now();
  await expect(fetchBundle({ trustDomain: 'a.test', url, profile: 'https_web' }, 500)).rejects.toMatchObject({ code: 'SPIFFE_BAD_BUNDLE', message: expect.stringMatching(/timed out/) });
  expect(Date.now() - t0).toBeLessThan(1_200);
});
