/**
 * What a token's issuer can make the CA hold (host/ca/oidc.ts):
 * - a meta-issuer pattern admits as many issuers as a client cares to name in the (unverified)
 *   `iss` of its tokens; the JWKS fetched for them are kept in a bounded cache, and a flood of
 *   them never pushes out the configured issuers';
 * - a discovery document or JWKS is refused as soon as it passes the size cap, not after the
 *   whole of it was read into memory.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, expect, it, vi } from 'vitest';
import { parseIssuersConfig } from '../../host/ca/config.js';
import { TokenVerifier } from '../../host/ca/oidc.js';

const b64u = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A token that names `iss` (its signature never gets checked: no key in the JWKS fits). */
const token = (iss: string): string => `${b64u({ alg: 'ES256', kid: 'k' })}.${b64u({ iss, sub: 'x', aud: 'sigstore' })}.AAAA`;

afterEach(() => {
  vi.unstubAllGlobals();
});

it('keeps a bounded number of meta-issuer JWKS, and the configured issuers\' through a flood of them', async () => {
  const discoveries = new Map<string, number>();
  vi.stubGlobal('fetch', async (u: URL | string) => {
    const url = new URL(String(u));
    if (url.pathname === '/.well-known/openid-configuration') {
      discoveries.set(url.origin, (discoveries.get(url.origin) ?? 0) + 1);
      return new Response(JSON.stringify({ issuer: url.origin, jwks_uri: `${url.origin}/keys` }));
    }
    return new Response(JSON.stringify({ keys: [] }));
  });
  const cfg = parseIssuersConfig({
    'oidc-issuers': { 'https://accounts.example.test': { 'client-id': 'sigstore', type: 'email' } },
    'meta-issuers': { 'https://*.ci.example.test': { 'client-id': 'sigstore', type: 'uri', 'subject-domain': 'ci.example.test' } },
  });
  const v = new TokenVerifier(cfg);
  const configured = 'https://accounts.example.test';
  await expect(v.verify(token(configured))).rejects.toMatchObject({ code: 'CA_UNKNOWN_KEY' });
  for (let i = 0; i < 1_000; i++) await expect(v.verify(token(`https://t${i}.ci.example.test`))).rejects.toMatchObject({ code: 'CA_UNKNOWN_KEY' });
  expect(discoveries.get('https://t0.ci.example.test')).toBe(1);
  // The first meta issuer's JWKS was let go (it is fetched again), the configured one's was not.
  await expect(v.verify(token('https://t0.ci.example.test'))).rejects.toMatchObject({ code: 'CA_UNKNOWN_KEY' });
  expect(discoveries.get('https://t0.ci.example.test')).toBe(2);
  await expect(v.verify(token(configured))).rejects.toMatchObject({ code: 'CA_UNKNOWN_KEY' });
  expect(discoveries.get(configured)).toBe(1);
  // The most recent ones are still cached.
  await expect(v.verify(token('https://t999.ci.example.test'))).rejects.toMatchObject({ code: 'CA_UNKNOWN_KEY' });
  expect(discoveries.get('https://t999.ci.example.test')).toBe(1);
});

it('refuses an oversized discovery document as soon as the cap is passed, without reading the rest', async () => {
  let sent = 0;
  const LIMIT = 64 << 20; // the server gives up here; it never ends the body
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = (): void => {
      while (sent < LIMIT && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const v = new TokenVerifier(parseIssuersConfig({ 'oidc-issuers': { [url]: { 'client-id': 'sigstore', type: 'email', 'insecure-loopback-http': true } } }));
    const t0 = Date.now();
    await expect(v.verify(token(url))).rejects.toMatchObject({ code: 'CA_ISSUER_UNREACHABLE', message: expect.stringMatching(/too large/) });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(sent).toBeLessThan(16 << 20);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}, 15_000);

it('refuses a declared oversized JWKS before reading it', async () => {
  let url = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: url, jwks_uri: `${url}/keys` }));
      return;
    }
    // Declares 1 GiB, sends a little and then nothing.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1 << 30) });
    res.write('{"keys":[');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const v = new TokenVerifier(parseIssuersConfig({ 'oidc-issuers': { [url]: { 'client-id': 'sigstore', type: 'email', 'insecure-loopback-http': true } } }));
    const t0 = Date.now();
    await expect(v.verify(token(url))).rejects.toMatchObject({ code: 'CA_ISSUER_UNREACHABLE', message: expect.stringMatching(/too large/) });
    expect(Date.now() - t0).toBeLessThan(2_000);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}, 15_000);
