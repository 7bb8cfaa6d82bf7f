/**
 * CA fixes from a security review: a registered trust domain may not take over one that a
 * configured issuer vouches for; registration refuses IP addresses and deep nesting; a
 * registration that changed while a request was checked is not overwritten; an issuer serving odd
 * documents gives a coded 503, never a 500.
 */
import { createServer, type Server } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIssuersConfig } from '../../host/ca/config.js';
import { CaError } from '../../host/ca/errors.js';
import { TokenVerifier } from '../../host/ca/oidc.js';
import { parseTrustDomainsConfig, TrustDomainRegistry, TrustDomainStore, type Registration } from '../../host/ca/trust-domains.js';

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'OK';
  } catch (e) {
    expect(e).toBeInstanceOf(CaError);
    return (e as CaError).code;
  }
};

describe('registered trust domains', () => {
  const store = new TrustDomainStore(':memory:');
  const registry = new TrustDomainRegistry(store, { ...parseTrustDomainsConfig({ challenge: 'none' }), reserved: ['example.org'] });
  afterAll(() => store.close());

  const request = async (td: string, bundleExtra: Record<string, unknown> = {}) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), use: 'jwt-svid', kid: 'k1' };
    return { trustDomain: td, bundle: { keys: [jwk], ...bundleExtra }, spiffeIds: [`spiffe://${td}/build`], proof: 'x', privateKey };
  };

  it('refuses a trust domain that a configured spiffe issuer vouches for (409), before any proof', async () => {
    expect(await code(registry.register(await request('example.org')))).toBe('CA_CONFLICT');
    // The registry never vouches for it either, whatever the store holds.
    const { privateKey, ...r } = await request('example.org');
    void privateKey;
    store.put({ trustDomain: 'example.org', status: 'active', bundle: JSON.stringify(r.bundle), spiffeIds: r.spiffeIds, requestDigest: 'd', registeredAt: 1, activatedAt: 1 });
    const token = await new SignJWT({ sub: 'spiffe://example.org/prod/deployer', aud: 'sigstore' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('5m').sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    expect(await registry.verify(token)).toBeUndefined();
  });

  it('refuses IP-address trust domains (the http-01 check would probe them) and deeply nested requests', async () => {
    expect(await code(registry.register(await request('169.254.169.254')))).toBe('CA_BAD_REQUEST');
    let deep: unknown = 1;
    for (let i = 0; i < 3000; i++) deep = [deep];
    expect(await code(registry.register(await request('deep.example', { x: deep })))).toBe('CA_BAD_REQUEST');
  });

  it('writes a registration only over the one it read (putIf), so a racing request cannot replace a newer one', () => {
    const base: Registration = { trustDomain: 'race.example', status: 'pending', bundle: '{}', spiffeIds: ['spiffe://race.example/a'], requestDigest: 'one', registeredAt: 1 };
    expect(store.putIf(base, undefined)).toBe(true);
    const active: Registration = { ...base, status: 'active', activatedAt: 2 };
    expect(store.putIf(active, base)).toBe(true);
    // A writer that read the pending registration before it became active loses.
    expect(store.putIf({ ...base, requestDigest: 'two', registeredAt: 3 }, base)).toBe(false);
    expect(store.get('race.example')!.status).toBe('active');
  });
});

describe('an issuer serving odd documents', () => {
  let server: Server;
  let base = '';
  let disco: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') return void res.writeHead(200, { 'content-type': 'application/json' }).end(disco);
      if (req.url === '/keys') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[null]}');
      if (req.url === '/redirect/.well-known/openid-configuration') return void res.writeHead(302, { location: 'http://[' }).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const verifyAt = async (issuerUrl: string) => {
    const cfg = parseIssuersConfig({ 'oidc-issuers': { [issuerUrl]: { 'issuer-url': issuerUrl, 'client-id': 'sigstore', type: 'email', 'insecure-loopback-http': true } } });
    const token = await new SignJWT({ iss: issuerUrl, sub: 'x', aud: 'sigstore' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuedAt().setExpirationTime('5m').sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    return code(new TokenVerifier(cfg).verify(token));
  };

  it('a null discovery document, a JWKS of nulls, a broken redirect: each CA_ISSUER_UNREACHABLE', async () => {
    disco = 'null';
    expect(await verifyAt(base)).toBe('CA_ISSUER_UNREACHABLE');
    disco = JSON.stringify({ issuer: base, jwks_uri: `${base}/keys` });
    expect(await verifyAt(base)).toBe('CA_ISSUER_UNREACHABLE');
    expect(await verifyAt(`${base}/redirect`)).toBe('CA_ISSUER_UNREACHABLE');
  });
});
