/**
 * The CA consumes answers from other systems: a CT log's add-pre-chain SCT and an OIDC issuer's
 * JWKS. A malformed one is the upstream's failure, answered with that upstream's code (503), never
 * a 500: an SCT timestamp that is no uint64 (a fraction, a negative, past 2^53) was a RangeError
 * while encoding the signed struct; a JWKS key whose material WebCrypto refuses to import (an EC
 * point of the wrong length) was a DOMException.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientKey, issuerConfigDoc, post, startCa, startCtLog, TestIssuer, v2Body } from './fixtures.js';

let iss: TestIssuer;
let log: Awaited<ReturnType<typeof startCtLog>>;
beforeAll(async () => {
  iss = await TestIssuer.start();
  log = await startCtLog();
});
afterAll(async () => {
  await log?.close();
  await iss?.close();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

it('an SCT whose timestamp is not a uint64 of milliseconds is CA_CT_FAILED (503), not a 500', async () => {
  let timestamp: unknown;
  // The real log's SCT with only its timestamp replaced (LogID still right).
  const fake = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const real = await fetch(`${log.ct.url}/ct/v1/add-pre-chain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...((await real.json()) as object), timestamp }));
    });
  });
  const ca = await startCa(issuerConfigDoc(iss), { ct: { url: await listen(fake), publicKey: log.ct.publicKey, transport: 'http' } });
  const sub = 'spiffe://example.org/ct-timestamp';
  try {
    for (timestamp of [1.5, -1, 2 ** 64, 1e30]) {
      const r = await post(`${ca.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
      expect(r.status, `${String(timestamp)}: ${r.text}`).toBe(503);
      expect(r.json.error).toBe('CA_CT_FAILED');
    }
  } finally {
    await ca.close();
    await new Promise<void>((r) => fake.close(() => r()));
  }
});

it('a JWKS key that cannot be imported is CA_ISSUER_UNREACHABLE (503), not a 500', async () => {
  let base = '';
  const issuer = createServer((req, res) => {
    const body = req.url === '/keys'
      ? { keys: [{ kty: 'EC', crv: 'P-256', kid: iss.keys[0]!.kid, alg: 'ES256', x: 'AAAA', y: 'AAAA' }] }
      : { issuer: base, jwks_uri: `${base}/keys` };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  base = await listen(issuer);
  const doc = { 'oidc-issuers': { [base]: { 'issuer-url': base, 'client-id': 'sigstore', type: 'email', 'insecure-loopback-http': true } } };
  const ca = await startCa(doc);
  try {
    const now = Math.floor(Date.now() / 1000);
    const { SignJWT } = await import('jose');
    const k = iss.keys[0]!;
    const token = await new SignJWT({ iss: base, sub: 'x', email: 'a@example.com', email_verified: true, aud: 'sigstore', iat: now, exp: now + 300 }).setProtectedHeader({ alg: 'ES256', kid: k.kid }).sign(k.privateKey);
    const r = await post(`${ca.url}/api/v2/signingCert`, v2Body(token, clientKey(), 'a@example.com'));
    expect(r.status, r.text).toBe(503);
    expect(r.json.error).toBe('CA_ISSUER_UNREACHABLE');
  } finally {
    await ca.close();
    await new Promise<void>((r) => issuer.close(() => r()));
  }
});
