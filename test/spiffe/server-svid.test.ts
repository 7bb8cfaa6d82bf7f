/**
 * The server's own X509-SVID (tls: { spiffe: true }) is re-minted at half its lifetime. With a
 * long x509SvidTtl, half of it is past setTimeout's 2^31-1 ms limit, where Node fires at once:
 * the wait must be taken in steps, not turned into a re-mint loop.
 */
import { connect } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type Server } from './helpers.js';

let s: Server;
beforeAll(async () => {
  // 365-day CA, 100-day SVIDs: the renewal is 50 days away.
  s = await startServer('example.org', 'tls: { spiffe: true }\ncaTtl: 31536000\nx509SvidTtl: 8640000\n');
});
afterAll(async () => {
  await s.close();
});

function servedSerial(): Promise<string> {
  const u = new URL(s.admin);
  return new Promise((resolve, reject) => {
    const c = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      resolve(c.getPeerCertificate().serialNumber);
      c.end();
    });
    c.on('error', reject);
  });
}

it('keeps its SVID until half of a lifetime longer than 24.8 days has passed', async () => {
  const first = await servedSerial();
  await new Promise((r) => setTimeout(r, 200));
  expect(await servedSerial()).toBe(first);
});
