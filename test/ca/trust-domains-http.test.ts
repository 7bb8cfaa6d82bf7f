/**
 * The http-01 challenge fetch (host/ca/trust-domains.ts) is bounded as a whole: the server
 * answering it is whoever registers the trust domain, and one that trickles the right answer out
 * a few bytes a second must fail at the 5 s bound, not hold the validate request open for as long
 * as it keeps sending (node:http's `timeout` only restarts on every byte).
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TrustDomainRegistry, TrustDomainStore, type Registration } from '../../host/ca/trust-domains.js';

const TD = 'slow.acme.test';
const TOKEN = 'A'.repeat(43);
const ANSWER = `${TOKEN}.request-digest`;
let server: Server;
let port: number;
let chunkEveryMs = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let at = 0;
    const t = setInterval(() => {
      if (at >= ANSWER.length) {
        clearInterval(t);
        res.end();
        return;
      }
      res.write(ANSWER.slice(at, at + 8));
      at += 8;
    }, chunkEveryMs);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function pending(): TrustDomainRegistry {
  const store = new TrustDomainStore(':memory:');
  const r: Registration = { trustDomain: TD, status: 'pending', bundle: '{}', spiffeIds: [`spiffe://${TD}/build`], token: TOKEN, requestDigest: 'request-digest', registeredAt: Date.now() };
  store.put(r);
  return new TrustDomainRegistry(store, { challenge: 'http-01', resolve: { [TD]: `127.0.0.1:${port}` }, audience: 'sigstore', insecureLoopbackIssuers: false });
}

it('accepts the answer sent promptly', async () => {
  chunkEveryMs = 1;
  expect((await pending().validate(TD)).status).toBe('active');
});

it('refuses an answer trickled out past 5 s, at 5 s', async () => {
  chunkEveryMs = 1_000; // 8 chunks: the last arrives after 8 s; no gap reaches the 5 s idle timer
  const t0 = Date.now();
  await expect(pending().validate(TD)).rejects.toMatchObject({ code: 'CA_CHALLENGE_FAILED', message: expect.stringMatching(/timed out/) });
  expect(Date.now() - t0).toBeLessThan(7_000);
}, 15_000);
