/**
 * Hostile requests that reach past the request schemas into the CA's parsers: each is a coded
 * 4xx, never a 500. A PKCS#10 request whose key does not parse (@peculiar/x509 decodes the key
 * only when it is first read) or that is not one strict DER TLV; a trust-domain registration
 * whose JSON has no RFC 8785 form (1e400 parses to Infinity).
 */
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { exportJWK } from 'jose';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodeSigningCa } from '../../host/ca/core.js';
import { TokenVerifier } from '../../host/ca/oidc.js';
import { build } from '../../host/ca/plugin.js';
import { parseTrustDomainsConfig, TrustDomainRegistry, TrustDomainStore } from '../../host/ca/trust-domains.js';
import { issuerConfigDoc, post, startCa, TestIssuer, type RunningCa } from './fixtures.js';

const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];
x509.cryptoProvider.set(crypto);

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

async function csrDer(alg: 'ec' | 'rsa'): Promise<Buffer> {
  const keys = alg === 'ec'
    ? await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
    : await webcrypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: 'SHA-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: keys as never, signingAlgorithm: alg === 'ec' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' } });
  return Buffer.from(csr.rawData);
}

describe('PKCS#10 requests on /api/v2/signingCert', () => {
  const V2 = (): string => `${ca.url}/api/v2/signingCert`;
  const send = async (der: Buffer) => post(V2(), { credentials: { oidcIdentityToken: await iss.mint('spiffe', { sub: 'spiffe://example.org/csr' }) }, certificateSigningRequest: der.toString('base64') });

  it('a well-formed request still gets its certificate', async () => {
    const r = await send(await csrDer('ec'));
    expect(r.status, r.text).toBe(200);
  });

  it('a request whose key does not decode is a coded 400, not a 500', async () => {
    // RSA: the RSAPublicKey SEQUENCE inside the key's BIT STRING retagged as a SET.
    const rsa = await csrDer('rsa');
    const at = rsa.indexOf(Buffer.from('0382010f003082010a', 'hex'));
    expect(at).toBeGreaterThan(0);
    rsa[at + 5] = 0x31;
    // EC: the namedCurve OID in the key's AlgorithmIdentifier retagged as a SEQUENCE.
    const ec = await csrDer('ec');
    const curve = ec.indexOf(Buffer.from('06082a8648ce3d030107', 'hex'));
    expect(curve).toBeGreaterThan(0);
    ec[curve] = 0x30;
    for (const der of [rsa, ec]) {
      const r = await send(der);
      expect(r.status, r.text.slice(0, 200)).toBe(400);
      expect(r.json.error).toBe('CA_BAD_REQUEST');
    }
  });

  it('a request that is not one strict DER TLV (trailing bytes) is refused, as Go\'s x509 parser refuses it', async () => {
    const der = await csrDer('ec');
    for (const bad of [Buffer.concat([der, Uint8Array.of(0)]), Buffer.concat([der, Uint8Array.of(0x30, 0)])]) {
      const r = await send(bad);
      expect(r.status, r.text.slice(0, 200)).toBe(400);
      expect(r.json.error).toBe('CA_BAD_REQUEST');
    }
  });
});

describe('trust-domain registration over HTTP', () => {
  let app: FastifyInstance;
  let store: TrustDomainStore;
  beforeAll(async () => {
    store = new TrustDomainStore(':memory:');
    const trustDomains = new TrustDomainRegistry(store, parseTrustDomainsConfig({ challenge: 'none' }));
    const signer = new CodeSigningCa({ issuers: ca.issuers, verifier: new TokenVerifier(ca.issuers), ca: ca.issuing });
    app = await build({ ca: signer, issuers: ca.issuers, trustDomains });
  });
  afterAll(async () => {
    await app?.close();
    store?.close();
  });

  it('a number that parses to Infinity (no RFC 8785 form) is CA_BAD_REQUEST, on register and on update', async () => {
    const jwk = JSON.stringify({ ...(await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)), use: 'jwt-svid', kid: 'k1' });
    const register = await app.inject({ method: 'POST', url: '/cairn/v1/trust-domains', headers: { 'content-type': 'application/json' }, payload: `{"trustDomain":"inf.example","bundle":{"keys":[${jwk}],"spiffe_refresh_hint":300,"x":1e400},"spiffeIds":["spiffe://inf.example/build"],"proof":"x"}` });
    expect(register.statusCode, register.body).toBe(400);
    expect(register.json().error).toBe('CA_BAD_REQUEST');
    store.put({ trustDomain: 'inf.example', status: 'active', bundle: `{"keys":[${jwk}]}`, spiffeIds: ['spiffe://inf.example/build'], requestDigest: 'd', registeredAt: 1, activatedAt: 1 });
    const update = await app.inject({ method: 'PUT', url: '/cairn/v1/trust-domains/inf.example', headers: { 'content-type': 'application/json' }, payload: `{"bundle":{"keys":[${jwk}]},"spiffeIds":["spiffe://inf.example/build"],"oidcIssuer":"https://inf.example","proof":"x","extra":[-1e999]}` });
    // The extra field is not part of the request digest; a number inside the bundle is.
    const update2 = await app.inject({ method: 'PUT', url: '/cairn/v1/trust-domains/inf.example', headers: { 'content-type': 'application/json' }, payload: `{"bundle":{"keys":[${jwk}],"n":-1e999},"spiffeIds":["spiffe://inf.example/build"],"proof":"x"}` });
    expect(update.statusCode, update.body).toBeLessThan(500);
    expect(update2.statusCode, update2.body).toBe(400);
    expect(update2.json().error).toBe('CA_BAD_REQUEST');
  });
});
