/** Fulcio v2/v1 API over real HTTP: happy path per issuer type, the certificate profile, and one test per rejection. */
import { createHmac, createPublicKey, generateKeyPairSync, X509Certificate as NodeX509 } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issuerFor, parseIssuersConfig } from '../../host/ca/config.js';
import { TokenVerifier } from '../../host/ca/oidc.js';
import { chainOf, clientKey, issuerConfigDoc, newKey, post, softhsmCa, startCa, TestIssuer, v2Body, type RunningCa } from './fixtures.js';

let iss: TestIssuer;
let ca: RunningCa;

beforeAll(async () => {
  iss = await TestIssuer.start();
});
afterAll(async () => {
  await iss?.close();
});

// The whole API suite runs once per CA key backend: file (encrypted PKCS#8) and PKCS#11 (SoftHSM),
// and once more with P-256 proofs of possession checked by the WASM core on a worker thread (the
// standalone CA's default) instead of OpenSSL on the event loop.
const hsm = await softhsmCa('cairn-fulcio-test');
if ('skip' in hsm) console.log(`SKIP PKCS#11 run of the API suite: ${hsm.skip}`);
afterAll(async () => {
  if (!('skip' in hsm)) await hsm.close();
});
describe.each(['file', 'pkcs11', 'file, PoP on worker threads'] as const)('CA key backend %s', (backend) => {
  const skipped = backend === 'pkcs11' && 'skip' in hsm;
  beforeAll(async () => {
    if (skipped) return;
    ca = await startCa(issuerConfigDoc(iss), { bodyLimit: 32 * 1024, ...(backend === 'pkcs11' && !('skip' in hsm) ? { issuing: hsm.issuing } : {}), ...(backend === 'file, PoP on worker threads' ? { verifyWorkers: 1 } : {}) });
  });
  afterAll(async () => {
    await ca?.close();
  });

  const V2 = (): string => `${ca.url}/api/v2/signingCert`;

  function ext(cert: x509.X509Certificate, id: string): x509.Extension | undefined {
    return cert.extensions.find((e) => e.type === id);
  }
  /** DER UTF8String value of a Fulcio v2 extension. */
  function utf8Ext(cert: x509.X509Certificate, id: string): string | undefined {
    const e = ext(cert, id);
    if (!e) return undefined;
    const v = Buffer.from(e.value);
    expect(v[0]).toBe(0x0c);
    return v.subarray(v[1]! < 0x80 ? 2 : 2 + (v[1]! & 0x7f)).toString('utf8');
  }

  async function issue(name: string, claims: Record<string, unknown>, challenge: string): Promise<x509.X509Certificate> {
    const token = await iss.mint(name, claims);
    const key = clientKey();
    const r = await post(V2(), v2Body(token, key, challenge));
    expect(r.status, r.text).toBe(200);
    // No CT log configured: Fulcio answers the detached shape with an empty SCT.
    expect(r.json.signedCertificateDetachedSct).toBeDefined();
    const chain = chainOf(r.json);
    expect(chain).toHaveLength(3);
    const leaf = new x509.X509Certificate(chain[0]!);
    expect(Buffer.from(leaf.publicKey.rawData).equals(key.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    // The chain links: leaf <- intermediate <- root (self-signed).
    const n = chain.map((p) => new NodeX509(p));
    expect(n[0]!.verify(n[1]!.publicKey)).toBe(true);
    expect(n[1]!.verify(n[2]!.publicKey)).toBe(true);
    expect(n[2]!.verify(n[2]!.publicKey)).toBe(true);
    return leaf;
  }

  function sanOf(leaf: x509.X509Certificate): { type: string; value: string }[] {
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.critical).toBe(true);
    return san.names.toJSON() as { type: string; value: string }[];
  }

  describe.skipIf(skipped)('happy path per issuer type', () => {
    it('email: SAN email, challenge is the email, Fulcio profile', async () => {
      const leaf = await issue('email', { sub: 'u-123', email: 'dev@example.com', email_verified: true }, 'dev@example.com');
      expect(sanOf(leaf)).toEqual([{ type: 'email', value: 'dev@example.com' }]);
      // Profile: 10 minutes, empty subject, 20-byte positive serial, KU/EKU, SKID/AKID.
      expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe(10 * 60 * 1000);
      expect(leaf.subject).toBe('');
      const serial = Buffer.from(leaf.serialNumber, 'hex');
      expect(serial.length).toBe(20);
      expect(serial[0]! & 0x80).toBe(0);
      const ku = leaf.getExtension(x509.KeyUsagesExtension)!;
      expect(ku.critical).toBe(true);
      expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature);
      expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual(['1.3.6.1.5.5.7.3.3']);
      const skid = leaf.getExtension(x509.SubjectKeyIdentifierExtension)!;
      expect(skid.keyId).toMatch(/^[0-9a-f]{40}$/);
      const akid = leaf.getExtension(x509.AuthorityKeyIdentifierExtension)!;
      const caSkid = new x509.X509Certificate(ca.issuing.chainPem[0]!).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
      expect(akid.keyId).toBe(caSkid);
      expect(Buffer.from(ext(leaf, '1.3.6.1.4.1.57264.1.1')!.value).toString('utf8')).toBe(iss.url('email'));
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.8')).toBe(iss.url('email'));
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.24')).toBe('u-123');
      expect(ext(leaf, '1.3.6.1.4.1.11129.2.4.2')).toBeUndefined();
    });

    it('spiffe: the SPIFFE ID is the only URI SAN', async () => {
      const leaf = await issue('spiffe', { sub: 'spiffe://example.org/ns/ci/builder' }, 'spiffe://example.org/ns/ci/builder');
      expect(sanOf(leaf)).toEqual([{ type: 'url', value: 'spiffe://example.org/ns/ci/builder' }]);
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.24')).toBe('spiffe://example.org/ns/ci/builder');
    });

    it('uri: sub under the subject domain', async () => {
      const leaf = await issue('uri', { sub: 'https://example.com/users/alice' }, 'https://example.com/users/alice');
      expect(sanOf(leaf)).toEqual([{ type: 'url', value: 'https://example.com/users/alice' }]);
    });

    it('username: otherName SAN user!domain', async () => {
      const leaf = await issue('username', { sub: 'alice' }, 'alice');
      const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)!;
      expect(san.critical).toBe(true);
      const der = Buffer.from(san.value);
      expect(der.includes(Buffer.from('alice!example.com'))).toBe(true);
      expect(der.includes(Buffer.from('2b0601040183bf300107', 'hex'))).toBe(true); // OID 1.3.6.1.4.1.57264.1.7
    });

    it('kubernetes: service-account URI SAN', async () => {
      const leaf = await issue('kubernetes', { sub: 'system:serviceaccount:prod:builder', 'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'builder' } } }, 'system:serviceaccount:prod:builder');
      expect(sanOf(leaf)).toEqual([{ type: 'url', value: 'https://kubernetes.io/namespaces/prod/serviceaccounts/builder' }]);
    });

    it('ci-provider (GitHub templates): SAN and the 57264 extensions from claims', async () => {
      const claims = {
        sub: 'repo:acme/app:ref:refs/heads/main',
        job_workflow_ref: 'acme/app/.github/workflows/release.yml@refs/heads/main',
        job_workflow_sha: 'a'.repeat(40),
        runner_environment: 'github-hosted',
        repository: 'acme/app',
        sha: 'b'.repeat(40),
        ref: 'refs/heads/main',
        event_name: 'push',
      };
      const leaf = await issue('github', claims, claims.sub);
      expect(sanOf(leaf)).toEqual([{ type: 'url', value: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main' }]);
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.9')).toBe('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main');
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.10')).toBe('a'.repeat(40));
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.11')).toBe('github-hosted');
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.12')).toBe('https://github.com/acme/app');
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.13')).toBe('b'.repeat(40));
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.14')).toBe('refs/heads/main');
      expect(utf8Ext(leaf, '1.3.6.1.4.1.57264.1.20')).toBe('push');
    });

    it('meta-issuers match anchored wildcards only', () => {
      const cfg = parseIssuersConfig(issuerConfigDoc(iss));
      expect(issuerFor(cfg, 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123')?.type).toBe('kubernetes');
      expect(issuerFor(cfg, 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/evil')).toBeUndefined();
      expect(issuerFor(cfg, 'https://evil.example/https://oidc.eks.x.amazonaws.com/id/A')).toBeUndefined();
      expect(issuerFor(cfg, 'https://oidc.eks.a.b.amazonaws.com/id/A')).toBeUndefined();
    });

    it('token in Authorization: Bearer, and a CSR instead of a public key', async () => {
      const token = await iss.mint('spiffe', { sub: 'spiffe://example.org/csr' });
      const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=ignored', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
      const r = await post(V2(), { certificateSigningRequest: Buffer.from(csr.toString('pem')).toString('base64') }, { authorization: `Bearer ${token}` });
      expect(r.status, r.text).toBe(200);
      const leaf = new x509.X509Certificate(chainOf(r.json)[0]!);
      expect(Buffer.from(leaf.publicKey.rawData).equals(Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey)))).toBe(true);
      expect(leaf.subject).toBe('');
    });

    it.each(['p384', 'ed25519', 'rsa2048'] as const)('accepts %s keys', async (kind) => {
      const token = await iss.mint('spiffe', { sub: 'spiffe://example.org/k' });
      const key = clientKey(kind);
      const r = await post(V2(), v2Body(token, key, 'spiffe://example.org/k'));
      expect(r.status, r.text).toBe(200);
    });

    it('legacy v1: 201, application/pem-certificate-chain', async () => {
      const token = await iss.mint('spiffe', { sub: 'spiffe://example.org/v1' });
      const key = clientKey();
      const der = key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
      const r = await post(`${ca.url}/api/v1/signingCert`, { publicKey: { content: der, algorithm: 'ecdsa' }, signedEmailAddress: key.prove('spiffe://example.org/v1') }, { authorization: `Bearer ${token}` });
      expect(r.status, r.text).toBe(201);
      expect(r.headers.get('content-type')).toMatch(/^application\/pem-certificate-chain/);
      expect(r.text.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    });

    it('trustBundle and configuration', async () => {
      const tb = (await (await fetch(`${ca.url}/api/v2/trustBundle`)).json()) as { chains: { certificates: string[] }[] };
      expect(tb.chains[0]!.certificates).toEqual(ca.issuing.chainPem);
      const cfg = (await (await fetch(`${ca.url}/api/v2/configuration`)).json()) as { issuers: Record<string, string>[] };
      expect(cfg.issuers).toContainEqual({ issuerUrl: iss.url('spiffe'), audience: 'sigstore', challengeClaim: 'sub', spiffeTrustDomain: 'example.org' });
      expect(cfg.issuers).toContainEqual({ issuerUrl: iss.url('email'), audience: 'sigstore', challengeClaim: 'email' });
      expect(cfg.issuers).toContainEqual({ wildcardIssuerUrl: 'https://oidc.eks.*.amazonaws.com/id/*', audience: 'sigstore', challengeClaim: 'sub' });
    });
  });

  describe.skipIf(skipped)('rejections', () => {
    const SUB = 'spiffe://example.org/w';
    async function reject(body: unknown, status: number, code: string, headers: Record<string, string> = {}): Promise<void> {
      const r = await post(V2(), body, headers);
      expect(r.status, r.text).toBe(status);
      expect(r.json.error).toBe(code);
    }
    const b64u = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

    it('expired token', async () => {
      const now = Math.floor(Date.now() / 1000);
      await reject(v2Body(await iss.mint('spiffe', { sub: SUB, iat: now - 900, nbf: now - 900, exp: now - 600 }), clientKey(), SUB), 401, 'CA_INVALID_TOKEN');
    });
    it('wrong aud', async () => {
      await reject(v2Body(await iss.mint('spiffe', { sub: SUB, aud: 'other' }), clientKey(), SUB), 401, 'CA_INVALID_TOKEN');
    });
    it('wrong iss', async () => {
      await reject(v2Body(await iss.mint('spiffe', { sub: SUB, iss: `${iss.base}/nobody` }), clientKey(), SUB), 401, 'CA_UNKNOWN_ISSUER');
    });
    it('iss of another configured issuer than the discovery that published the key is still checked exactly', async () => {
      // A token claiming the uri issuer but carrying spiffe claims must satisfy the uri rules.
      await reject(v2Body(await iss.mint('uri', { sub: SUB }), clientKey(), SUB), 401, 'CA_BAD_IDENTITY');
    });
    it('alg none', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u({ iss: iss.url('spiffe'), aud: 'sigstore', sub: SUB, iat: now, exp: now + 300 })}.`;
      await reject(v2Body(token, clientKey(), SUB), 401, 'CA_INVALID_TOKEN');
    });
    it('HS256 with the public key as the secret', async () => {
      const now = Math.floor(Date.now() / 1000);
      const jwk = iss.keys[0]!.jwk;
      const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ format: 'pem', type: 'spki' }) as string;
      const input = `${b64u({ alg: 'HS256', typ: 'JWT', kid: jwk.kid })}.${b64u({ iss: iss.url('spiffe'), aud: 'sigstore', sub: SUB, iat: now, exp: now + 300 })}`;
      const token = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      await reject(v2Body(token, clientKey(), SUB), 401, 'CA_INVALID_TOKEN');
    });
    it('unknown kid', async () => {
      const stranger = await newKey('stranger');
      await reject(v2Body(await iss.mint('spiffe', { sub: SUB }, stranger), clientKey(), SUB), 401, 'CA_UNKNOWN_KEY');
    });
    it('wrong trust domain', async () => {
      await reject(v2Body(await iss.mint('spiffe', { sub: 'spiffe://evil.org/w' }), clientKey(), 'spiffe://evil.org/w'), 401, 'CA_BAD_SPIFFE_ID');
    });
    it('malformed SPIFFE ID', async () => {
      for (const sub of ['spiffe://example.org/a/../b', 'spiffe://Example.org/w', 'https://example.org/w', 'spiffe://example.org/a//b']) {
        await reject(v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub), 401, 'CA_BAD_SPIFFE_ID');
      }
    });
    it('email not verified', async () => {
      await reject(v2Body(await iss.mint('email', { sub: 'x', email: 'a@example.com', email_verified: false }), clientKey(), 'a@example.com'), 401, 'CA_BAD_IDENTITY');
    });
    it('bad proof of possession', async () => {
      await reject(v2Body(await iss.mint('spiffe', { sub: SUB }), clientKey(), 'spiffe://example.org/other'), 400, 'CA_BAD_PROOF');
      // A valid signature over the challenge, but by another key.
      const token = await iss.mint('spiffe', { sub: SUB });
      const a = clientKey();
      const b = clientKey();
      await reject({ credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: { content: a.pem }, proofOfPossession: b.prove(SUB) } }, 400, 'CA_BAD_PROOF');
      // The right signature in IEEE P1363 form (r‖s) instead of DER: Fulcio wants ASN.1.
      const { sign } = await import('node:crypto');
      const raw = sign('sha256', Buffer.from(SUB), { key: a.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64');
      await reject({ credentials: { oidcIdentityToken: await iss.mint('spiffe', { sub: SUB }) }, publicKeyRequest: { publicKey: { content: a.pem }, proofOfPossession: raw } }, 400, 'CA_BAD_PROOF');
    });
    it('a P-256 key whose point is not on the curve is CA_UNSUPPORTED_KEY, not a bad proof', async () => {
      const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), Buffer.from([4]), Buffer.alloc(31), Buffer.from([1]), Buffer.alloc(31), Buffer.from([2])]);
      const pem = `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64')}\n-----END PUBLIC KEY-----\n`;
      await reject({ credentials: { oidcIdentityToken: await iss.mint('spiffe', { sub: SUB }) }, publicKeyRequest: { publicKey: { content: pem }, proofOfPossession: clientKey().prove(SUB) } }, 400, 'CA_UNSUPPORTED_KEY');
    });
    it('CSR mismatch: CSR key differs from publicKeyRequest, and a CSR with a broken signature', async () => {
      const token = await iss.mint('spiffe', { sub: SUB });
      const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
      const other = clientKey();
      await reject({ credentials: { oidcIdentityToken: token }, certificateSigningRequest: Buffer.from(csr.toString('pem')).toString('base64'), publicKeyRequest: { publicKey: { content: other.pem }, proofOfPossession: other.prove(SUB) } }, 400, 'CA_BAD_PROOF');
      const der = Buffer.from(csr.rawData);
      der[der.length - 5]! ^= 0x01; // inside the signature
      await reject({ credentials: { oidcIdentityToken: token }, certificateSigningRequest: der.toString('base64') }, 400, 'CA_BAD_PROOF');
    });
    it('unsupported keys: P-521, RSA-1024, X25519', async () => {
      const token = await iss.mint('spiffe', { sub: SUB });
      for (const kind of ['p521', 'rsa1024'] as const) await reject(v2Body(token, clientKey(kind), SUB), 400, 'CA_UNSUPPORTED_KEY');
      const x = generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }) as string;
      await reject({ credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: { content: x }, proofOfPossession: 'AAAA' } }, 400, 'CA_UNSUPPORTED_KEY');
    });
    it('a P-256 point that is not on the curve', async () => {
      const der = clientKey().publicKey.export({ format: 'der', type: 'spki' });
      der[der.length - 1]! ^= 0x01;
      const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
      await reject({ credentials: { oidcIdentityToken: await iss.mint('spiffe', { sub: SUB }) }, publicKeyRequest: { publicKey: { content: pem }, proofOfPossession: 'AAAA' } }, 400, 'CA_UNSUPPORTED_KEY');
    });
    it('oversized body', async () => {
      const r = await post(V2(), { credentials: { oidcIdentityToken: 'x'.repeat(40 * 1024) } });
      expect(r.status).toBe(413);
    });
    it('missing token, malformed token, malformed JSON', async () => {
      await reject(v2Body(undefined, clientKey(), SUB), 401, 'CA_MISSING_TOKEN');
      await reject(v2Body('not-a-jwt', clientKey(), SUB), 401, 'CA_MALFORMED_TOKEN');
      const r = await post(V2(), '{"credentials":');
      expect(r.status).toBe(400);
      await reject({ credentials: { oidcIdentityToken: await iss.mint('spiffe', { sub: SUB }) }, publicKeyRequest: { publicKey: { content: 'not a key' }, proofOfPossession: 'AAAA' } }, 400, 'CA_UNSUPPORTED_KEY');
      await reject({ credentials: { oidcIdentityToken: await iss.mint('spiffe', { sub: SUB }) }, publicKeyRequest: { publicKey: { content: clientKey().pem }, proofOfPossession: '!!' } }, 400, 'CA_BAD_REQUEST');
    });
  });

  describe.skipIf(skipped)('JWKS cache', () => {
    it('refreshes on an unknown kid (rotation), rate-limited', async () => {
      const cfg = parseIssuersConfig(issuerConfigDoc(iss));
      let now = Date.now();
      const v = new TokenVerifier(cfg, () => now);
      await v.verify(await iss.mint('spiffe', { sub: SUB2 }));
      const fetchesBefore = iss.fetches;
      const rotated = await iss.addKey(`k-${iss.keys.length + 1}`);
      const token = await iss.mint('spiffe', { sub: SUB2 }, rotated);
      // Within the cooldown the cached JWKS is used, so the new kid is unknown.
      await expect(v.verify(token)).rejects.toMatchObject({ code: 'CA_UNKNOWN_KEY' });
      expect(iss.fetches).toBe(fetchesBefore);
      now += 11_000;
      const ok = await v.verify(token);
      expect(ok.claims.sub).toBe(SUB2);
      expect(iss.fetches).toBe(fetchesBefore + 2); // discovery + JWKS
    });
    it('re-fetches the JWKS after its TTL, so a withdrawn key stops verifying', async () => {
      const cfg = parseIssuersConfig(issuerConfigDoc(iss));
      let now = Date.now();
      const v = new TokenVerifier(cfg, () => now);
      const k = await iss.addKey(`withdrawn-${iss.keys.length}`);
      const token = await iss.mint('spiffe', { sub: SUB2, exp: Math.floor(Date.now() / 1000) + 3600 }, k);
      await v.verify(token);
      iss.keys.splice(iss.keys.indexOf(k), 1);
      now += 60_000;
      await v.verify(token); // still cached
      now += 10 * 60_000;
      await expect(v.verify(token)).rejects.toMatchObject({ code: 'CA_UNKNOWN_KEY' });
    });
    it('http issuers need insecure-loopback-http, and only on loopback', () => {
      expect(() => parseIssuersConfig({ 'oidc-issuers': { 'http://127.0.0.1:1/x': { 'client-id': 'sigstore', type: 'uri', 'subject-domain': 'https://a' } } })).toThrow(/https/);
      expect(() => parseIssuersConfig({ 'oidc-issuers': { 'http://example.com/x': { 'client-id': 'sigstore', type: 'uri', 'subject-domain': 'https://a', 'insecure-loopback-http': true } } })).toThrow(/https/);
    });
  });
});
const SUB2 = 'spiffe://example.org/rotate';
