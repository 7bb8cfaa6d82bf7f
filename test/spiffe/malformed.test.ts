/** Hostile input to every SPIFFE parser and route: coded errors, never a TypeError or a 500. */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBundle } from '../../host/spiffe/bundle.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { SpiffeError } from '../../host/spiffe/errors.js';
import { parseSpiffeId, parseTrustDomain, parseWorkloadId } from '../../host/spiffe/id.js';
import { validateJwtSvid } from '../../host/spiffe/jwt.js';
import { build } from '../../host/spiffe/plugin.js';
import { parseSelector } from '../../host/spiffe/selectors.js';
import { parseSpiffeConfig } from '../../host/spiffe/standalone.js';
import { MAX_OPEN_CHALLENGES, SpiffeStore } from '../../host/spiffe/store.js';
import { parseAkPublic, verifyTpmSignature } from '../../host/spiffe/tpm-attestor.js';
import { parseEndpointSocket } from '../../host/spiffe/workload.js';
import type { FastifyInstance } from 'fastify';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'OK';
  } catch (e) {
    expect(e).toBeInstanceOf(SpiffeError);
    return (e as SpiffeError).code;
  }
};

describe('SPIFFE IDs (SPIFFE-ID §2)', () => {
  it.each([
    'spiffe://example.org',
    'spiffe://example.org/a',
    'spiffe://example.org/a/b.c-d_e',
    'spiffe://1.2.3.4/x',
    `spiffe://example.org/${'a'.repeat(2048 - 'spiffe://example.org/'.length)}`,
  ])('accepts %s', (id) => {
    expect(codeOf(() => parseSpiffeId(id))).toBe('OK');
  });

  it.each([
    ['', 'empty'],
    ['http://example.org/a', 'scheme'],
    ['SPIFFE://example.org/a', 'upper-case scheme'],
    ['spiffe:/example.org/a', 'missing //'],
    ['spiffe://', 'empty trust domain'],
    ['spiffe:///a', 'empty trust domain'],
    ['spiffe://Example.org/a', 'upper-case trust domain'],
    ['spiffe://example.org:8080/a', 'port'],
    ['spiffe://user@example.org/a', 'userinfo'],
    ['spiffe://exa%41mple.org/a', 'percent-encoding'],
    ['spiffe://example.org/', 'trailing slash'],
    ['spiffe://example.org/a/', 'trailing slash'],
    ['spiffe://example.org//a', 'empty segment'],
    ['spiffe://example.org/./a', 'dot segment'],
    ['spiffe://example.org/a/..', 'dot-dot segment'],
    ['spiffe://example.org/a?b=c', 'query'],
    ['spiffe://example.org/a#b', 'fragment'],
    ['spiffe://example.org/a b', 'space'],
    ['spiffe://example.org/ä', 'non-ASCII'],
    [`spiffe://example.org/${'a'.repeat(2048)}`, 'too long'],
    [`spiffe://${'a'.repeat(256)}/x`, 'trust domain too long'],
  ])('rejects %j (%s)', (id) => {
    expect(codeOf(() => parseSpiffeId(id))).toBe('SPIFFE_BAD_ID');
  });

  it('rejects non-strings and root IDs where a workload ID is needed', () => {
    for (const v of [undefined, null, 1, {}, ['spiffe://a/b']]) expect(codeOf(() => parseSpiffeId(v))).toBe('SPIFFE_BAD_ID');
    expect(codeOf(() => parseWorkloadId('spiffe://example.org'))).toBe('SPIFFE_BAD_ID');
    expect(codeOf(() => parseTrustDomain('Example.org'))).toBe('SPIFFE_BAD_TRUST_DOMAIN');
    expect(parseTrustDomain('spiffe://example.org')).toBe('example.org');
  });
});

describe('selectors', () => {
  it.each(['unix:uid:0', 'unix:gid:1000', 'unix:path:/usr/bin/node', `tpm:ak:${'a'.repeat(64)}`, `tpm:pcr:sha256:23:${'0'.repeat(64)}`, 'join_token:abc'])('accepts %s', (s) => {
    expect(codeOf(() => parseSelector(s))).toBe('OK');
  });
  it.each(['', 'unix', 'unix:uid:', 'unix:uid:-1', 'unix:uid:01', 'unix:uid:1x', 'unix:path:relative', `tpm:ak:${'A'.repeat(64)}`, `tpm:pcr:sha256:24:${'0'.repeat(64)}`, `tpm:pcr:sha1:7:${'0'.repeat(40)}`, 'k8s:ns:default', 'unix:path:/a\nb'])(
    'rejects %j',
    (s) => {
      expect(codeOf(() => parseSelector(s))).toBe('SPIFFE_BAD_SELECTOR');
    },
  );
});

describe('bundles (Trust Domain and Bundle §4)', () => {
  it.each([
    ['not json', '{'],
    ['array', '[]'],
    ['no keys', '{}'],
    ['keys not array', '{"keys":{}}'],
    ['negative sequence', '{"keys":[],"spiffe_sequence":-1}'],
    ['string refresh hint', '{"keys":[],"spiffe_refresh_hint":"300"}'],
    ['x509-svid without x5c', '{"keys":[{"kty":"EC","use":"x509-svid"}]}'],
    ['x509-svid with two x5c', '{"keys":[{"kty":"EC","use":"x509-svid","x5c":["MIIB","MIIB"]}]}'],
    ['jwt-svid without kid', '{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","use":"jwt-svid"}]}'],
    ['jwt-svid invalid key', '{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","use":"jwt-svid","kid":"k"}]}'],
  ])('rejects %s', (_name, text) => {
    expect(codeOf(() => parseBundle('example.org', text))).toBe('SPIFFE_BAD_BUNDLE');
  });

  it('ignores keys with an unknown kty or use, and refuses private keys', () => {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const b = parseBundle('example.org', JSON.stringify({ keys: [{ kty: 'XYZ', use: 'jwt-svid', kid: 'a' }, { ...jwk, use: 'wit-svid', kid: 'b' }, { ...jwk, use: 'jwt-svid', kid: 'c' }] }));
    expect(b.jwtKeys.map((k) => k.kid)).toEqual(['c']);
    const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    expect(codeOf(() => parseBundle('example.org', JSON.stringify({ keys: [{ ...priv, use: 'jwt-svid', kid: 'p' }] })))).toBe('SPIFFE_BAD_BUNDLE');
  });
});

describe('JWT-SVID validation (JWT-SVID §3, §7)', () => {
  let ca: TrustDomainCa;
  const keysFor = (td: string) => (td === 'example.org' ? ca.jwtAuthorities() : undefined);
  beforeAll(async () => {
    ca = await TrustDomainCa.open({ trustDomain: 'example.org', jwtIssuer: 'https://oidc.example.org' });
  });
  const code = async (p: Promise<unknown>) => p.then(() => 'OK', (e: SpiffeError) => e.code);

  it('accepts a fresh token and reports its claims', async () => {
    const t = await ca.mintJwtSvid('spiffe://example.org/w', ['aud1']);
    const v = await validateJwtSvid(t.token, 'aud1', keysFor);
    expect(v.spiffeId).toBe('spiffe://example.org/w');
    expect(v.claims.iss).toBe('https://oidc.example.org');
  });

  it('rejects garbage, alg none/HS256, foreign and malformed subjects, expiry, wrong audience', async () => {
    expect(await code(validateJwtSvid('abc', 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    expect(await code(validateJwtSvid(123, 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    expect(await code(validateJwtSvid('a.b.c', 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    expect(await code(validateJwtSvid('x'.repeat(20_000), 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
    const claims = { sub: 'spiffe://example.org/w', aud: 'a', exp: Math.floor(Date.now() / 1000) + 60 };
    expect(await code(validateJwtSvid(`${enc({ alg: 'none' })}.${enc(claims)}.`, 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32));
    expect(await code(validateJwtSvid(hs, 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: ca.jwtAuthorities()[0]!.kid! }).sign(other);
    expect(await code(validateJwtSvid(forged, 'a', keysFor))).toBe('SPIFFE_TOKEN_INVALID');
    const foreign = await new SignJWT({ ...claims, sub: 'spiffe://evil.org/w' }).setProtectedHeader({ alg: 'ES256' }).sign(other);
    expect(await code(validateJwtSvid(foreign, 'a', keysFor))).toBe('SPIFFE_UNKNOWN_TRUST_DOMAIN');
    const badSub = await new SignJWT({ ...claims, sub: 'spiffe://example.org' }).setProtectedHeader({ alg: 'ES256' }).sign(other);
    expect(await code(validateJwtSvid(badSub, 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    const noExp = await new SignJWT({ sub: claims.sub, aud: 'a' }).setProtectedHeader({ alg: 'ES256' }).sign(other);
    expect(await code(validateJwtSvid(noExp, 'a', keysFor))).toBe('SPIFFE_BAD_TOKEN');
    const t = await ca.mintJwtSvid('spiffe://example.org/w', ['aud1'], { ttlMs: 1000 });
    expect(await code(validateJwtSvid(t.token, 'aud2', keysFor))).toBe('SPIFFE_TOKEN_INVALID');
    expect(await code(validateJwtSvid(t.token, 'aud1', keysFor, { now: () => Date.now() + 120_000 }))).toBe('SPIFFE_TOKEN_INVALID');
    expect(await code(validateJwtSvid(t.token, '', keysFor))).toBe('SPIFFE_BAD_REQUEST');
  });

  it('refuses to mint for other trust domains, root IDs or empty audiences', async () => {
    await expect(ca.mintJwtSvid('spiffe://other.org/w', ['a'])).rejects.toMatchObject({ code: 'SPIFFE_BAD_ID' });
    await expect(ca.mintJwtSvid('spiffe://example.org', ['a'])).rejects.toMatchObject({ code: 'SPIFFE_BAD_ID' });
    await expect(ca.mintJwtSvid('spiffe://example.org/w', [])).rejects.toMatchObject({ code: 'SPIFFE_BAD_REQUEST' });
    await expect(ca.mintX509Svid('spiffe://other.org/w')).rejects.toMatchObject({ code: 'SPIFFE_BAD_ID' });
  });
});

describe('HTTP routes', () => {
  let app: FastifyInstance;
  let store: SpiffeStore;
  const auth = { authorization: 'Bearer test-admin-token-0123456789abcdef' };
  beforeAll(async () => {
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
    store = new SpiffeStore({ path: ':memory:' });
    app = await build({ ca, store, adminToken: 'test-admin-token-0123456789abcdef', issuer: () => 'http://127.0.0.1' });
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  it('admin routes need the exact bearer token', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic dGVzdA==' }, { authorization: `Bearer ${'x'.repeat(600)}` }]) {
      const res = await app.inject({ method: 'GET', url: '/admin/v1/entries', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'SPIFFE_UNAUTHENTICATED' });
    }
  });

  it.each([
    [{}, 'INVALID_REQUEST'],
    [{ spiffeId: 'spiffe://example.org/a', parentId: 'spiffe://example.org/p', selectors: [] }, 'INVALID_REQUEST'],
    [{ spiffeId: 'spiffe://example.org/a', parentId: 'spiffe://example.org/p', selectors: ['unix:uid:1'], extra: 1 }, 'INVALID_REQUEST'],
    [{ spiffeId: 'spiffe://example.org/a/', parentId: 'spiffe://example.org/p', selectors: ['unix:uid:1'] }, 'SPIFFE_BAD_ID'],
    [{ spiffeId: 'spiffe://example.org/a', parentId: 'nope', selectors: ['unix:uid:1'] }, 'SPIFFE_BAD_ID'],
    [{ spiffeId: 'spiffe://example.org/a', parentId: 'spiffe://example.org/p', selectors: ['uid:1'] }, 'SPIFFE_BAD_SELECTOR'],
    [{ spiffeId: 'spiffe://example.org/a', parentId: 'spiffe://example.org/p', selectors: ['unix:uid:1'], x509SvidTtl: 1 }, 'SPIFFE_BAD_REQUEST'],
    // Only this trust domain's IDs, and never the server's or an agent's own.
    [{ spiffeId: 'spiffe://other.org/a', parentId: 'spiffe://example.org/p', selectors: ['unix:uid:1'] }, 'SPIFFE_BAD_REQUEST'],
    [{ spiffeId: 'spiffe://example.org/a', parentId: 'spiffe://other.org/p', selectors: ['unix:uid:1'] }, 'SPIFFE_BAD_REQUEST'],
    [{ spiffeId: 'spiffe://example.org/spire/server', parentId: 'spiffe://example.org/p', selectors: ['unix:uid:1'] }, 'SPIFFE_BAD_REQUEST'],
    [{ spiffeId: 'spiffe://example.org/spire/agent/x', parentId: 'spiffe://example.org/p', selectors: ['unix:uid:1'] }, 'SPIFFE_BAD_REQUEST'],
    // A TPM node alias on PCRs alone: a software key presented as an EK could quote them.
    [{ spiffeId: 'spiffe://example.org/node/pcr-only', parentId: 'spiffe://example.org/spire/server', selectors: [`tpm:pcr:sha256:7:${'ab'.repeat(32)}`] }, 'SPIFFE_BAD_SELECTOR'],
  ])('entry create refuses %j with %s', async (body, error) => {
    const res = await app.inject({ method: 'POST', url: '/admin/v1/entries', headers: auth, payload: body as object });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error });
  });

  it('accepts a TPM node alias that pins the TPM by its EK, AK or EK vendor CA, with PCRs', async () => {
    for (const pin of ['ek', 'ak', 'ek-ca']) {
      const body = { spiffeId: `spiffe://example.org/node/${pin}`, parentId: 'spiffe://example.org/spire/server', selectors: [`tpm:${pin}:${'cd'.repeat(32)}`, `tpm:pcr:sha256:7:${'ab'.repeat(32)}`] };
      expect((await app.inject({ method: 'POST', url: '/admin/v1/entries', headers: auth, payload: body })).statusCode, pin).toBe(201);
    }
  });

  it('the agent API refuses hostile proofs with a code: a null JWS header, a certificate with an Ed25519 key', async () => {
    const x509 = await import('@peculiar/x509');
    await import('reflect-metadata');
    const { webcrypto } = await import('node:crypto');
    const keys = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as unknown as { publicKey: never; privateKey: never };
    const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=x', keys: keys as never, signingAlgorithm: { name: 'Ed25519' }, notBefore: new Date(Date.now() - 6e4), notAfter: new Date(Date.now() + 6e5) });
    const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const authorization of [
      `SVID ${b64u(null)}.${b64u({})}.eA`,
      `SVID ${b64u({ alg: 'ES256', x5c: [Buffer.from(cert.rawData).toString('base64')] })}.${b64u({})}.${Buffer.alloc(64).toString('base64url')}`,
      `SVID ${b64u({ alg: 'ES256', x5c: ['AAAA'] })}.${b64u(null)}.eA`,
    ]) {
      const res = await app.inject({ method: 'GET', url: '/agent/v1/entries', headers: { authorization } });
      expect(res.statusCode, authorization.slice(0, 40)).toBe(401);
      expect(res.json()).toMatchObject({ error: 'SPIFFE_UNAUTHENTICATED' });
    }
  });

  it('the agent API exists without an admin token (agents authenticate with their SVIDs)', async () => {
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
    const s2 = new SpiffeStore({ path: ':memory:' });
    const noAdmin = await build({ ca, store: s2, issuer: () => 'http://127.0.0.1' });
    try {
      expect((await noAdmin.inject({ method: 'GET', url: '/agent/v1/entries' })).json()).toMatchObject({ error: 'SPIFFE_UNAUTHENTICATED' });
      expect((await noAdmin.inject({ method: 'GET', url: '/admin/v1/entries' })).statusCode).toBe(404);
    } finally {
      await noAdmin.close();
      s2.close();
    }
  });

  it('bounds the TPM challenges that anyone may open: expired ones go, and past the limit the answer is 503', () => {
    let now = 1_000_000;
    const s = new SpiffeStore({ path: ':memory:', now: () => now });
    try {
      for (let i = 0; i < MAX_OPEN_CHALLENGES; i++) s.createTpmChallenge('ab'.repeat(32), [7], 60_000);
      expect(codeOf(() => s.createTpmChallenge('ab'.repeat(32), [7], 60_000))).toBe('SPIFFE_UNAVAILABLE');
      now += 61_000; // all expired
      expect(codeOf(() => s.createTpmChallenge('ab'.repeat(32), [7], 60_000))).toBe('OK');
    } finally {
      s.close();
    }
  });

  it('duplicate entries conflict, unknown ids are 404, malformed JSON is 400', async () => {
    const body = { spiffeId: 'spiffe://example.org/dup', parentId: 'spiffe://example.org/p', selectors: ['unix:uid:1', 'unix:gid:2'] };
    expect((await app.inject({ method: 'POST', url: '/admin/v1/entries', headers: auth, payload: body })).statusCode).toBe(201);
    const dup = await app.inject({ method: 'POST', url: '/admin/v1/entries', headers: auth, payload: { ...body, selectors: ['unix:gid:2', 'unix:uid:1'] } });
    expect(dup.statusCode).toBe(409);
    expect((await app.inject({ method: 'DELETE', url: '/admin/v1/entries/00000000-0000-0000-0000-000000000000', headers: auth })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/admin/v1/entries/..%2F..', headers: auth })).statusCode).toBe(400);
    const mal = await app.inject({ method: 'POST', url: '/admin/v1/entries', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"spiffeId":' });
    expect(mal.statusCode).toBe(400);
    expect(mal.json()).toMatchObject({ error: 'MALFORMED_JSON' });
  });

  it('join tokens are single-use, expire, and malformed ones are refused alike', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const { token } = (await app.inject({ method: 'POST', url: '/admin/v1/jointokens', headers: auth, payload: { ttl: 60 } })).json() as { token: string };
    const attest = (t: string, publicKey = key) => app.inject({ method: 'POST', url: '/node/v1/attest/join_token', payload: { token: t, publicKey } });
    const ok = await attest(token);
    expect(ok.statusCode).toBe(200);
    const body = ok.json() as { spiffeId: string };
    expect(body.spiffeId).toMatch(/^spiffe:\/\/example\.org\/spire\/agent\/join_token\/[0-9a-f]{32}$/);
    expect(body.spiffeId).not.toContain(token);
    expect((await attest(token)).json()).toMatchObject({ error: 'SPIFFE_BAD_JOIN_TOKEN' });
    expect((await attest('short')).json()).toMatchObject({ error: 'SPIFFE_BAD_JOIN_TOKEN' });
    expect((await attest('A'.repeat(40))).json()).toMatchObject({ error: 'SPIFFE_BAD_JOIN_TOKEN' });
    const { token: t2 } = (await app.inject({ method: 'POST', url: '/admin/v1/jointokens', headers: auth, payload: {} })).json() as { token: string };
    expect((await attest(t2, 'not a key')).json()).toMatchObject({ error: 'SPIFFE_BAD_REQUEST' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect((await attest(t2, rsa)).json()).toMatchObject({ error: 'SPIFFE_BAD_REQUEST' });
    // A bad key did not burn the token.
    expect((await attest(t2)).statusCode).toBe(200);
    const bad = await app.inject({ method: 'POST', url: '/admin/v1/jointokens', headers: auth, payload: { ttl: 0 } });
    expect(bad.statusCode).toBe(400);
  });

  it('join tokens expire', () => {
    let now = 1_000_000;
    const s = new SpiffeStore({ path: ':memory:', now: () => now });
    const { token } = s.createJoinToken(10);
    now += 10_001;
    expect(codeOf(() => s.consumeJoinToken(token))).toBe('SPIFFE_BAD_JOIN_TOKEN');
    s.close();
  });
});

describe('TPM structures, config and endpoint addresses', () => {
  it('rejects malformed AK public areas and signatures with coded errors', () => {
    for (const b of [Buffer.alloc(0), Buffer.alloc(12), Buffer.from('0004000b00050072', 'hex'), Buffer.alloc(3000)]) {
      expect(codeOf(() => parseAkPublic(b))).toBe('SPIFFE_TPM_REJECTED');
    }
    // A decrypting (non-restricted) ECC key: type ECC, nameAlg sha256, attrs sign|decrypt.
    const attrs = Buffer.from('00230' + '00b' + '00060072', 'hex');
    expect(codeOf(() => parseAkPublic(Buffer.concat([attrs, Buffer.alloc(20)])))).toBe('SPIFFE_TPM_REJECTED');
  });

  it('parses config strictly', () => {
    expect(codeOf(() => parseSpiffeConfig('{'))).toBe('SPIFFE_BAD_CONFIG');
    expect(codeOf(() => parseSpiffeConfig('bogus: 1'))).toBe('SPIFFE_BAD_CONFIG');
    expect(codeOf(() => parseSpiffeConfig('x509SvidTtl: -5'))).toBe('SPIFFE_BAD_CONFIG');
    expect(codeOf(() => parseSpiffeConfig('federation: [{url: 1}]'))).toBe('SPIFFE_BAD_CONFIG');
    expect(parseSpiffeConfig('jwtSvidTtl: 60')).toEqual({ jwtSvidTtl: 60 });
    // tls: a certificate and key, or the server's own X509-SVID (https_spiffe), not a mix.
    expect(parseSpiffeConfig('tls: { spiffe: true }')).toEqual({ tls: { spiffe: true } });
    for (const t of ['tls: { spiffe: false }', 'tls: { spiffe: true, cert: a.pem }', 'tls: { cert: a.pem }', 'tls: 1']) {
      expect(codeOf(() => parseSpiffeConfig(t))).toBe('SPIFFE_BAD_CONFIG');
    }
    // An https_spiffe relationship names the endpoint's SPIFFE ID and a bootstrap bundle file.
    const fed = (extra: string): string => `federation: [{ trustDomain: a.test, url: 'https://a.test/bundle', profile: https_spiffe${extra} }]`;
    expect(codeOf(() => parseSpiffeConfig(fed(', bundle: a.json')))).toBe('SPIFFE_BAD_CONFIG');
    expect(codeOf(() => parseSpiffeConfig(fed(', endpointSpiffeId: spiffe://a.test/spire/server')))).toBe('SPIFFE_BAD_CONFIG');
    expect(parseSpiffeConfig(fed(', endpointSpiffeId: spiffe://a.test/spire/server, bundle: a.json')).federation![0]!.profile).toBe('https_spiffe');
  });

  it('parses SPIFFE_ENDPOINT_SOCKET per Workload Endpoint §4', () => {
    expect(parseEndpointSocket('unix:///run/spire/agent.sock')).toBe('/run/spire/agent.sock');
    for (const v of ['unix://host/path', 'tcp://127.0.0.1:8000', '/run/x.sock', 'unix:///a?b', 'unix:relative']) {
      expect(codeOf(() => parseEndpointSocket(v))).toBe('SPIFFE_BAD_CONFIG');
    }
  });
});

// verifyTpmSignature is exercised with real signatures in tpm.test.ts; here only its refusal paths.
it('verifyTpmSignature refuses unknown algorithms and truncated signatures', () => {
  const ak = { type: 'ecc', key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey } as Parameters<typeof verifyTpmSignature>[0];
  expect(verifyTpmSignature(ak, new Uint8Array(4), Buffer.from('0018000400000000', 'hex'))).toBe(false); // SHA-1
  expect(verifyTpmSignature(ak, new Uint8Array(4), Buffer.from('0014000b00000000', 'hex'))).toBe(false); // RSA sig for ECC key
  expect(codeOf(() => verifyTpmSignature(ak, new Uint8Array(4), Buffer.from('0018000b0020', 'hex')))).toBe('SPIFFE_TPM_REJECTED');
});
