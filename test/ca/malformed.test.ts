/** Hostile input for every CA parser: issuer config, request bodies, tokens, keys, CSRs — coded 4xx, never a 500. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseIssuersConfig } from '../../host/ca/config.js';
import { parseSpki } from '../../host/ca/core.js';
import { clientKey, issuerConfigDoc, post, startCa, TestIssuer, type RunningCa } from './fixtures.js';

let iss: TestIssuer;
let ca: RunningCa;
beforeAll(async () => {
  iss = await TestIssuer.start();
  ca = await startCa(issuerConfigDoc(iss));
});
afterAll(async () => {
  await ca?.close();
  await iss?.close();
});

it('issuer config: every malformed document is CA_BAD_CONFIG', () => {
  const good = { 'client-id': 'sigstore', type: 'email' };
  const bad: unknown[] = [
    { 'oidc-issuers': [] },
    { 'oidc-issuers': 'x' },
    { 'oidc-issuers': { 'https://a': null } },
    { 'oidc-issuers': { 'https://a': { type: 'email' } } },
    { 'oidc-issuers': { 'https://a': { ...good, type: 'nope' } } },
    { 'oidc-issuers': { 'https://a': { ...good, extra: 1 } } },
    { 'oidc-issuers': { 'not a url': good } },
    { 'oidc-issuers': { 'ftp://a': good } },
    { 'oidc-issuers': { 'https://a': { ...good, type: 'spiffe' } } },
    { 'oidc-issuers': { 'https://a': { ...good, type: 'spiffe', 'spiffe-trust-domain': 'Bad TD' } } },
    { 'oidc-issuers': { 'https://a': { ...good, type: 'uri' } } },
    { 'oidc-issuers': { 'https://a': { ...good, type: 'ci-provider', 'ci-provider': 'unknown' } } },
    { 'meta-issuers': { 'http://*.example': good } },
    { 'meta-issuers': [1] },
    { 'ci-issuer-metadata': 'x' },
  ];
  for (const doc of bad) expect(() => parseIssuersConfig(doc as Record<string, unknown>), JSON.stringify(doc)).toThrow(expect.objectContaining({ code: 'CA_BAD_CONFIG' }));
});

it('public keys: garbage PEM/DER is CA_UNSUPPORTED_KEY', () => {
  const inputs = ['', '-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'AAAA', randomBytes(91).toString('base64'), '%%%'];
  for (const s of inputs) expect(() => parseSpki(s), s).toThrow(expect.objectContaining({ code: 'CA_UNSUPPORTED_KEY' }));
  expect(parseSpki(clientKey().pem).spki).toHaveLength(91);
});

it('HTTP: random and type-confused bodies get a 4xx with a code', async () => {
  const token = await iss.mint('spiffe', { sub: 'spiffe://example.org/m' });
  const key = clientKey();
  const bodies: unknown[] = [
    {},
    [],
    'null',
    '"string"',
    '123',
    { credentials: 'x' },
    { credentials: { oidcIdentityToken: 5 } },
    { credentials: { oidcIdentityToken: token } },
    { credentials: { oidcIdentityToken: token }, publicKeyRequest: null },
    { credentials: { oidcIdentityToken: token }, publicKeyRequest: 'x' },
    { credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: 'x' } },
    { credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: { content: 7 } } },
    { credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: { content: key.pem }, proofOfPossession: 7 } },
    { credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: { content: key.pem } } },
    { credentials: { oidcIdentityToken: token }, certificateSigningRequest: 5 },
    { credentials: { oidcIdentityToken: token }, certificateSigningRequest: randomBytes(300).toString('base64') },
    { credentials: { oidcIdentityToken: token }, certificateSigningRequest: Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----').toString('base64') },
    { credentials: { oidcIdentityToken: `${'a'.repeat(10)}.${'b'.repeat(10)}.${'c'.repeat(10)}` }, publicKeyRequest: { publicKey: { content: key.pem }, proofOfPossession: key.prove('x') } },
    { credentials: { oidcIdentityToken: `eyJhbGciOiJFUzI1NiJ9.${Buffer.from('[1,2]').toString('base64url')}.AAAA` }, publicKeyRequest: { publicKey: { content: key.pem }, proofOfPossession: key.prove('x') } },
  ];
  for (const b of bodies) {
    const r = await post(`${ca.url}/api/v2/signingCert`, typeof b === 'string' ? b : b);
    expect(r.status, `${JSON.stringify(b)} -> ${r.text}`).toBeGreaterThanOrEqual(400);
    expect(r.status, `${JSON.stringify(b)} -> ${r.text}`).toBeLessThan(500);
    expect(typeof r.json.error).toBe('string');
  }
  for (let i = 0; i < 50; i++) {
    const r = await post(`${ca.url}/api/v2/signingCert`, randomBytes(64 + i).toString('latin1'));
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
  }
  const v1 = await post(`${ca.url}/api/v1/signingCert`, { publicKey: { content: 'AAAA' }, signedEmailAddress: 'AAAA' }, { authorization: `Bearer ${token}` });
  expect(v1.status).toBeGreaterThanOrEqual(400);
  expect(v1.status).toBeLessThan(500);
  const nobearer = await post(`${ca.url}/api/v1/signingCert`, { publicKey: { content: 'AAAA' }, signedEmailAddress: 'AAAA' }, { authorization: 'Basic abc' });
  expect(nobearer.json.error).toBe('CA_MISSING_TOKEN');
});
