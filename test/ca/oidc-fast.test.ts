/**
 * The CA's node:crypto JWT path (host/ca/oidc.ts fastVerify) against jose's jwtVerify: every token
 * below goes through a TokenVerifier with the fast path and one without, and both must reach the
 * same verdict and the same error code. Keys of every allowed algorithm, and the tokens a forger
 * or a broken issuer would send.
 */
import { constants, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIssuersConfig } from '../../host/ca/config.js';
import { TokenVerifier } from '../../host/ca/oidc.js';

interface Key { kid: string; alg: string; priv: KeyObject; jwk: Record<string, unknown> }

function key(kid: string, alg: string, gen: () => { privateKey: KeyObject; publicKey: KeyObject }, jwkAlg: string | undefined = alg): Key {
  const { privateKey, publicKey } = gen();
  return { kid, alg, priv: privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, ...(jwkAlg ? { alg: jwkAlg } : {}), use: 'sig' } };
}

const b64u = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function jws(k: Key, header: Record<string, unknown>, payload: Record<string, unknown> | string): string {
  const input = `${b64u({ alg: k.alg, kid: k.kid, typ: 'JWT', ...header })}.${b64u(payload)}`;
  const alg = String(header.alg ?? k.alg);
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  const sig = alg.startsWith('ES')
    ? sign(hash, Buffer.from(input), { key: k.priv, dsaEncoding: 'ieee-p1363' })
    : alg.startsWith('PS')
      ? sign(hash, Buffer.from(input), { key: k.priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
      : sign(hash, Buffer.from(input), k.priv);
  return `${input}.${sig.toString('base64url')}`;
}

const ec = (namedCurve: string) => () => generateKeyPairSync('ec', { namedCurve });
const rsa = (bits: number) => () => generateKeyPairSync('rsa', { modulusLength: bits });

let server: Server;
let url = '';
const keys: Key[] = [];

beforeAll(async () => {
  keys.push(
    key('es256', 'ES256', ec('P-256')),
    key('es384', 'ES384', ec('P-384')),
    key('es512', 'ES512', ec('P-521')),
    key('rs256', 'RS256', rsa(2048)),
    key('ps256', 'PS256', rsa(2048)),
    key('ps384', 'PS384', rsa(2048), undefined),
    key('ed', 'EdDSA', () => generateKeyPairSync('ed25519')),
    key('rs-small', 'RS256', rsa(1024)),
    key('twin', 'ES256', ec('P-256')),
    key('twin', 'ES256', ec('P-256')),
  );
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/keys` }));
    else res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('JWT verification: node:crypto fast path against jose jwtVerify', () => {
  it('reaches the same verdict and error code on every token', async () => {
    const config = parseIssuersConfig({ 'oidc-issuers': { [url]: { 'issuer-url': url, 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': 'example.org', 'insecure-loopback-http': true } } });
    const fast = new TokenVerifier(config);
    const slow = new TokenVerifier(config, Date.now, { jwtVerifyOnly: true });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: url, aud: 'sigstore', sub: 'spiffe://example.org/w', iat: now, exp: now + 300 };
    const by = (kid: string, i = 0): Key => keys.filter((k) => k.kid === kid)[i]!;
    const cases: [string, string, boolean][] = [];
    for (const k of keys.filter((x) => x.kid !== 'rs-small' && x.kid !== 'twin')) cases.push([`valid ${k.alg}`, jws(k, {}, claims), true]);
    const es = by('es256');
    const flip = (t: string): string => t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1);
    cases.push(
      ['aud array holding the client id', jws(es, {}, { ...claims, aud: ['other', 'sigstore'] }), true],
      ['nbf inside the leeway', jws(es, {}, { ...claims, nbf: now + 30 }), true],
      ['exp inside the leeway', jws(es, {}, { ...claims, exp: now - 30 }), true],
      ['expired', jws(es, {}, { ...claims, exp: now - 120 }), false],
      ['nbf in the future', jws(es, {}, { ...claims, nbf: now + 600 }), false],
      ['wrong aud', jws(es, {}, { ...claims, aud: 'other' }), false],
      ['aud array without the client id', jws(es, {}, { ...claims, aud: ['a', 'b'] }), false],
      ['aud a number', jws(es, {}, { ...claims, aud: 7 }), false],
      ['no aud', jws(es, {}, { ...claims, aud: undefined }), false],
      ['no exp', jws(es, {}, { ...claims, exp: undefined }), false],
      ['no iat', jws(es, {}, { ...claims, iat: undefined }), false],
      ['exp a string', jws(es, {}, { ...claims, exp: String(now + 300) }), false],
      ['iat a string', jws(es, {}, { ...claims, iat: String(now) }), false],
      ['nbf a string', jws(es, {}, { ...claims, nbf: 'soon' }), false],
      ['flipped signature byte', flip(jws(es, {}, claims)), false],
      ['signature cut short', jws(es, {}, claims).slice(0, -4), false],
      ['DER-framed ECDSA signature', `${jws(es, {}, claims).split('.').slice(0, 2).join('.')}.${sign('sha256', Buffer.from(jws(es, {}, claims).split('.').slice(0, 2).join('.')), es.priv).toString('base64url')}`, false],
      ['RS256 header naming the EC key', jws(es, { alg: 'RS256' }, claims), false],
      ['ES384 header naming the P-256 key', jws(es, { alg: 'ES384' }, claims), false],
      ['PS256 signature under RS256', jws({ ...by('ps256'), alg: 'PS256' }, { alg: 'RS256' }, claims), false],
      ['RSA key under 2048 bits', jws(by('rs-small'), {}, claims), false],
      ['two keys with the same kid (signed by the first)', jws(by('twin', 0), {}, claims), true],
      ['two keys with the same kid (signed by the second)', jws(by('twin', 1), {}, claims), true],
      ['unknown kid', jws({ ...es, kid: 'nobody' }, {}, claims), false],
      ['crit header', jws(es, { crit: ['exp'] }, claims), false],
      ['crit b64', jws(es, { crit: ['b64'], b64: false }, claims), false],
    );
    const fastBefore = fast.checks.fast;
    for (const [name, token, ok] of cases) {
      const a = await fast.verify(token).then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));
      const b = await slow.verify(token).then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));
      expect(a, name).toBe(b);
      expect(a === 'ok', `${name}: ${a}`).toBe(ok);
      expect(a === 'ok' || a.startsWith('CA_'), `${name}: ${a}`).toBe(true);
    }
    // The fast path really decided every case but the two crit headers it leaves to jose, and
    // jose really was the only path of the reference verifier.
    expect(fast.checks.fast - fastBefore).toBe(cases.length - 2);
    expect(slow.checks.fast).toBe(0);
  });
});
