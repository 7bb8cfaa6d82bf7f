/**
 * Hostile input to the SPIFFE server's unauthenticated routes that gets past the request schemas
 * into the parsers: each answer is a coded 4xx, never a 500.
 *   - the agent API: an x5c certificate that OpenSSL parses but whose key it cannot decode
 *     (X509Certificate decodes the key only when it is first read);
 *   - TPM node attestation, run here with a software "TPM" (an RSA key presented as the EK and a
 *     P-256 AK; the server cannot tell them from a TPM's, see tpm-attestor.ts): an EK whose
 *     modulus is zero, short or even, an EK certificate or EK chain certificate whose key does not
 *     decode, and an EK public area too short to name (with credential activation off).
 */
import { constants, createDecipheriv, createHash, generateKeyPairSync, KeyObject, privateDecrypt, sign, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceQuoteChecker } from '../../host/core/tpm.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { build } from '../../host/spiffe/plugin.js';
import { SpiffeStore } from '../../host/spiffe/store.js';
import { akQualifiedName, parseAkPublic, TpmAttestor } from '../../host/spiffe/tpm-attestor.js';
import { kdfa } from '../../host/spiffe/tpm-credential.js';

const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];
x509.cryptoProvider.set(crypto);
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const TD = 'example.org';

const u16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const tpm2b = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const b64u = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A certificate's DER with its EC point's format octet (04, uncompressed) made 05, which no decoder takes. */
function breakKey(cert: x509.X509Certificate): Buffer {
  const der = Buffer.from(new Uint8Array(cert.rawData));
  const at = der.indexOf(Buffer.from(cert.publicKey.rawData));
  expect(der[at + 26]).toBe(0x04);
  der[at + 26] = 0x05;
  return der;
}

async function selfSigned(name: string, ca: boolean): Promise<{ cert: x509.X509Certificate; keys: { publicKey: never; privateKey: never } }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name, keys, signingAlgorithm: EC, notBefore: new Date(Date.now() - 6e4), notAfter: new Date(Date.now() + 6e6), extensions: ca ? [new x509.BasicConstraintsExtension(true, 1, true)] : [] });
  return { cert, keys };
}

describe('agent API', () => {
  let ca: TrustDomainCa;
  let store: SpiffeStore;
  let app: FastifyInstance;
  beforeAll(async () => {
    ca = await TrustDomainCa.open({ trustDomain: TD });
    store = new SpiffeStore({ path: ':memory:' });
    app = await build({ ca, store, issuer: () => 'http://127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    store?.close();
  });

  it('an x5c certificate whose key does not decode is 401 SPIFFE_UNAUTHENTICATED, not a 500', async () => {
    const { cert } = await selfSigned('CN=agent', false);
    const authorization = `SVID ${b64u({ alg: 'ES256', x5c: [breakKey(cert).toString('base64')] })}.${b64u({ htm: 'GET', htu: '/agent/v1/entries' })}.${Buffer.alloc(64, 1).toString('base64url')}`;
    const res = await app.inject({ method: 'GET', url: '/agent/v1/entries', headers: { authorization } });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ error: 'SPIFFE_UNAUTHENTICATED' });
  });
});

// ---------------------------------------------------------------------------------------------
// TPM 2.0 structures (Part 2 §12.2.4 TPMT_PUBLIC, §10.12.12 TPMS_ATTEST, §11.3.4 TPMT_SIGNATURE)

/** A P-256 AK: restricted signing key with fixedTPM, fixedParent, sensitiveDataOrigin. */
function softwareAk(): { pub: Buffer; key: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const attrs = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 18);
  const pub = Buffer.concat([u16(0x0023), u16(0x000b), u32(attrs), u16(0), u16(0x0010), u16(0x0018), u16(0x000b), u16(0x0003), u16(0x0010), tpm2b(Buffer.from(jwk.x!, 'base64url')), tpm2b(Buffer.from(jwk.y!, 'base64url'))]);
  return { pub, key: privateKey };
}

/** An RSA-2048 storage EK (the TCG default template's shape) with modulus `n`. */
function ekPublic(n: Buffer): Buffer {
  const attrs = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 17);
  return Buffer.concat([u16(0x0001), u16(0x000b), u32(attrs), u16(0), u16(0x0006), u16(128), u16(0x0043), u16(0x0010), u16(2048), u32(0), tpm2b(n)]);
}

const PCR_VALUES = [0, 1, 7].map((i) => createHash('sha256').update(`pcr${i}`).digest());

function quote(nonce: Buffer, signer: Buffer): Buffer {
  return Buffer.concat([
    u32(0xff544347), u16(0x8018), tpm2b(signer), tpm2b(nonce),
    Buffer.alloc(8, 0x11), u32(7), u32(3), Buffer.from([1]), Buffer.alloc(8, 0x22),
    u32(1), u16(0x000b), Buffer.from([3, 0b10000011, 0, 0]),
    tpm2b(createHash('sha256').update(Buffer.concat(PCR_VALUES)).digest()),
  ]);
}

/** TPM2_ActivateCredential in software (Part 1 §24), for the EK private key we hold. */
function activate(blob: Buffer, ekKey: KeyObject, akName: Uint8Array): Buffer {
  let p = 8;
  const take = (): Buffer => { const n = blob.readUInt16BE(p); p += 2 + n; return blob.subarray(p - n, p); };
  const idObject = take();
  const seed = privateDecrypt({ key: ekKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('IDENTITY\0', 'latin1') }, take());
  const encIdentity = idObject.subarray(2 + idObject.readUInt16BE(0));
  const d = createDecipheriv('aes-128-cfb', kdfa(seed, 'STORAGE', akName, new Uint8Array(), 128), Buffer.alloc(16));
  const plain = Buffer.concat([d.update(encIdentity), d.final()]);
  return plain.subarray(2, 2 + plain.readUInt16BE(0));
}

describe('TPM node attestation', () => {
  let ca: TrustDomainCa;
  let store: SpiffeStore;
  let app: FastifyInstance;
  let lax: FastifyInstance;
  let root: Awaited<ReturnType<typeof selfSigned>>;
  const ek = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ekPub = ekPublic(Buffer.from(ek.publicKey.export({ format: 'jwk' }).n!, 'base64url'));
  const ak = softwareAk();
  const akParsed = parseAkPublic(ak.pub);

  beforeAll(async () => {
    root = await selfSigned('CN=TPM Vendor Root', true);
    ca = await TrustDomainCa.open({ trustDomain: TD });
    store = new SpiffeStore({ path: ':memory:' });
    const ekCas = [new (await import('node:crypto')).X509Certificate(Buffer.from(root.cert.rawData))];
    app = await build({ ca, store, issuer: () => 'http://127.0.0.1', tpm: new TpmAttestor({ trustDomain: TD, store, checker: referenceQuoteChecker, ekCas }) });
    lax = await build({ ca, store, issuer: () => 'http://127.0.0.1', tpm: new TpmAttestor({ trustDomain: TD, store, checker: referenceQuoteChecker, requireCredentialActivation: false }) });
  });
  afterAll(async () => {
    await app?.close();
    await lax?.close();
    store?.close();
  });

  const post = (on: FastifyInstance, path: string, payload: object) => on.inject({ method: 'POST', url: `/node/v1/attest/tpm/${path}`, payload });

  it('an EK whose modulus is zero, short (leading zeros) or even is refused with SPIFFE_TPM_REJECTED, not a 500', async () => {
    const bad = [Buffer.alloc(256), Buffer.concat([Buffer.alloc(255), Buffer.from([1])]), Buffer.concat([Buffer.alloc(200), Buffer.alloc(56, 0xff)]), Buffer.alloc(256, 0xfe)];
    for (const n of bad) {
      const res = await post(app, 'challenge', { akPublic: ak.pub.toString('base64'), ekPublic: ekPublic(n).toString('base64') });
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json()).toMatchObject({ error: 'SPIFFE_TPM_REJECTED' });
    }
    const good = await post(app, 'challenge', { akPublic: ak.pub.toString('base64'), ekPublic: ekPub.toString('base64') });
    expect(good.statusCode, good.body).toBe(200);
  });

  /** Challenge, activation and a quote that all pass; `extra` adds the EK certificate fields. */
  const attest = async (extra: Record<string, unknown>) => {
    const ch = await post(app, 'challenge', { akPublic: ak.pub.toString('base64'), ekPublic: ekPub.toString('base64') });
    expect(ch.statusCode, ch.body).toBe(200);
    const { nonce, credentialBlob } = ch.json() as { nonce: string; credentialBlob: string };
    const credential = activate(Buffer.from(credentialBlob, 'base64'), ek.privateKey, akParsed.name);
    const attestBytes = quote(Buffer.from(nonce, 'hex'), akQualifiedName(ekPub, akParsed));
    const sig = sign('sha256', attestBytes, { key: ak.key, dsaEncoding: 'ieee-p1363' });
    const signature = Buffer.concat([u16(0x0018), u16(0x000b), tpm2b(sig.subarray(0, 32)), tpm2b(sig.subarray(32))]);
    const agentKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string;
    return post(app, 'quote', {
      ekPublic: ekPub.toString('base64'), akPublic: ak.pub.toString('base64'), nonce, credential: credential.toString('hex'),
      attest: attestBytes.toString('base64'), signature: signature.toString('base64'), pcrValues: PCR_VALUES.map((v) => v.toString('hex')), publicKey: agentKey, ...extra,
    });
  };

  it('the software TPM attests (its evidence is good up to the node entry it lacks)', async () => {
    const res = await attest({});
    expect(res.json()).toMatchObject({ error: 'SPIFFE_TPM_REJECTED', message: expect.stringMatching(/^no node entry matches this TPM/) });
    // What an operator enrols (README "Enrolling a machine with its TPM"): the EK hash and PCRs.
    expect(res.json().message).toMatch(/ tpm:ek:[0-9a-f]{64}( |$)/);
    expect(res.json().message).toMatch(/ tpm:pcr:sha256:\d+:[0-9a-f]{64}( |$)/);
  });

  it('an EK certificate, or a certificate of its chain, whose key does not decode is SPIFFE_TPM_REJECTED, not a 500', async () => {
    const { cert: leafWithBadKey } = await selfSigned('CN=EK', false);
    const byCert = await attest({ ekCertificate: breakKey(leafWithBadKey).toString('base64') });
    expect(byCert.statusCode, byCert.body).toBe(401);
    expect(byCert.json()).toMatchObject({ error: 'SPIFFE_TPM_REJECTED' });

    // An EK certificate for the EK, issued by an intermediate whose own key does not decode.
    const inter = await selfSigned('CN=TPM Vendor Intermediate', true);
    const ekCryptoKey = await webcrypto.subtle.importKey('spki', ek.publicKey.export({ format: 'der', type: 'spki' }), { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['encrypt']);
    const ekCert = await x509.X509CertificateGenerator.create({ serialNumber: '05', subject: 'CN=EK', issuer: inter.cert.subject, publicKey: ekCryptoKey as never, signingKey: inter.keys.privateKey, signingAlgorithm: EC, notBefore: new Date(Date.now() - 6e4), notAfter: new Date(Date.now() + 6e6) });
    const byChain = await attest({ ekCertificate: Buffer.from(ekCert.rawData).toString('base64'), ekChain: [breakKey(inter.cert).toString('base64')] });
    expect(byChain.statusCode, byChain.body).toBe(401);
    expect(byChain.json()).toMatchObject({ error: 'SPIFFE_TPM_REJECTED' });
  });

  it('without credential activation, an EK public area too short to name is SPIFFE_TPM_REJECTED, not a 500', async () => {
    const ch = await post(lax, 'challenge', { akPublic: ak.pub.toString('base64') });
    expect(ch.statusCode, ch.body).toBe(200);
    const { nonce } = ch.json() as { nonce: string };
    const attestBytes = quote(Buffer.from(nonce, 'hex'), Buffer.concat([u16(0x000b), Buffer.alloc(32)]));
    const sig = sign('sha256', attestBytes, { key: ak.key, dsaEncoding: 'ieee-p1363' });
    const res = await post(lax, 'quote', {
      // A TPM2B of two bytes: its size field says 2, and what remains has no nameAlg.
      ekPublic: Buffer.from([0, 2, 0, 0]).toString('base64'), akPublic: ak.pub.toString('base64'), nonce,
      attest: attestBytes.toString('base64'), signature: Buffer.concat([u16(0x0018), u16(0x000b), tpm2b(sig.subarray(0, 32)), tpm2b(sig.subarray(32))]).toString('base64'),
      pcrValues: PCR_VALUES.map((v) => v.toString('hex')), publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string,
    });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ error: 'SPIFFE_TPM_REJECTED' });
  });
});
