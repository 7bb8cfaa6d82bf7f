/**
 * What a token's issuer can make the CA hold (host/ca/oidc.ts):
 * - a meta-issuer pattern admits as many issuers as a client cares to name in the (unverified)
 *   `iss` of its tokens; the JWKS fetched for them are kept in a bounded cache, and a flood of
 *   them never pushes out the configured issuers';
 * - a discovery document or JWKS is refused as soon as it passes the size cap, not after the
 *   whole of it was read into memory.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
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

/**
 * A fetch stub: `answer` decides each request; 'hang' keeps it open (as an issuer that accepts the
 * connection and never answers) until the test fails it with `hung.shift()!(error)`.
 */
function stubFetch(answer: (url: URL) => Response | 'hang'): { calls: string[]; hung: ((e: Error) => void)[] } {
  const calls: string[] = [];
  const hung: ((e: Error) => void)[] = [];
  vi.stubGlobal('fetch', (u: URL | string) => {
    const url = new URL(String(u));
    calls.push(url.href);
    const a = answer(url);
    if (a !== 'hang') return Promise.resolve(a);
    return new Promise<Response>((_resolve, reject) => hung.push(reject));
  });
  return { calls, hung };
}
/** Lets every promise that can settle without I/O settle. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
/** Runs `n` verifications and counts, as they settle, how they ended. */
function burst(v: TokenVerifier, n: number, tok: (i: number) => string): { ok: number; errors: Record<string, unknown>[]; done: Promise<unknown> } {
  const out = { ok: 0, errors: [] as Record<string, unknown>[], done: Promise.resolve() as Promise<unknown> };
  out.done = Promise.all(Array.from({ length: n }, (_, i) => v.verify(tok(i)).then(() => void out.ok++, (e: Record<string, unknown>) => void out.errors.push(e))));
  return out;
}

it('an issuer that does not answer costs one wait: then 503 with Retry-After at once, one fetch per cooldown', async () => {
  const ISS = 'https://hangs.example.test';
  const { calls, hung } = stubFetch(() => 'hang');
  let now = Date.now();
  const v = new TokenVerifier(parseIssuersConfig({ 'oidc-issuers': { [ISS]: { 'client-id': 'sigstore', type: 'email' } } }), () => now);
  const first = burst(v, 100, () => token(ISS));
  await settle();
  expect(calls).toHaveLength(1); // one discovery request for the whole burst
  hung.shift()!(new Error('timed out')); // what the fetch timeout does
  await first.done;
  expect(first.errors).toHaveLength(100);
  for (const e of first.errors) expect(e).toMatchObject({ code: 'CA_ISSUER_UNREACHABLE', status: 503, retryAfter: expect.any(Number) });
  // Within the cooldown: answered at once, and the issuer is not asked again.
  const second = burst(v, 100, () => token(ISS));
  await settle();
  expect(second.errors).toHaveLength(100);
  for (const e of second.errors) expect(e).toMatchObject({ code: 'CA_ISSUER_UNREACHABLE', status: 503, retryAfter: expect.any(Number) });
  expect(calls).toHaveLength(1);
  // After it, one request asks the issuer again.
  now += 11_000;
  const third = burst(v, 10, () => token(ISS));
  await settle();
  expect(calls).toHaveLength(2);
  hung.shift()!(new Error('timed out'));
  await third.done;
  expect(third.errors).toHaveLength(10);
});

it('a stale JWKS is used at once while its issuer does not answer, not after a wait per request', async () => {
  const ISS = 'https://stale.example.test';
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  let hang = false;
  const { calls, hung } = stubFetch((url) => {
    if (hang) return 'hang';
    if (url.pathname === '/.well-known/openid-configuration') return new Response(JSON.stringify({ issuer: ISS, jwks_uri: `${ISS}/keys` }));
    return new Response(JSON.stringify({ keys: [jwk] }));
  });
  let now = Date.now();
  const v = new TokenVerifier(parseIssuersConfig({ 'oidc-issuers': { [ISS]: { 'client-id': 'sigstore', type: 'email' } } }), () => now);
  const tok = await new SignJWT({ email: 'a@example.test', email_verified: true }).setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISS).setAudience('sigstore').setSubject('a').setIssuedAt(Math.floor(now / 1000)).setExpirationTime(Math.floor(now / 1000) + 7200).sign(privateKey);
  await v.verify(tok);
  expect(calls).toHaveLength(2);
  // The JWKS is past its TTL and the issuer stops answering: the refresh fails once...
  now += 11 * 60_000;
  hang = true;
  const first = burst(v, 50, () => tok);
  await settle();
  expect(calls).toHaveLength(3);
  hung.shift()!(new Error('timed out'));
  await first.done;
  expect(first.ok).toBe(50);
  // ... and then the stale JWKS serves every request without waiting on the issuer again.
  // (The signatures are checked on the thread pool: wait for them, with a bound for the old
  // behaviour, where every request waited on a new fetch that never ended.)
  const second = burst(v, 50, () => tok);
  await Promise.race([second.done, new Promise((r) => setTimeout(r, 5_000))]);
  expect(second.ok).toBe(50);
  expect(calls).toHaveLength(3);
});

it('a flood of tokens naming new meta issuers that do not answer holds a bounded number of fetches; the rest are 503 CA_OVERLOADED', async () => {
  const configured = 'https://accounts.example.test';
  const { calls } = stubFetch(() => 'hang');
  const v = new TokenVerifier(parseIssuersConfig({
    'oidc-issuers': { [configured]: { 'client-id': 'sigstore', type: 'email' } },
    'meta-issuers': { 'https://*.ci.example.test': { 'client-id': 'sigstore', type: 'uri', 'subject-domain': 'ci.example.test' } },
  }));
  const flood = burst(v, 500, (i) => token(`https://f${i}.ci.example.test`));
  await settle();
  const pending = 500 - flood.errors.length;
  expect(pending).toBeLessThanOrEqual(64);
  expect(calls.length).toBe(pending);
  for (const e of flood.errors) expect(e).toMatchObject({ code: 'CA_OVERLOADED', status: 503, retryAfter: expect.any(Number) });
  // A configured issuer is still fetched while the meta issuers' share is used up.
  void v.verify(token(configured)).catch(() => undefined);
  await settle();
  expect(calls.at(-1)).toBe(`${configured}/.well-known/openid-configuration`);
});
