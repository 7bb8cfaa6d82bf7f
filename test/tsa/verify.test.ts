import { constants, createHash, createPrivateKey, sign, X509Certificate } from 'node:crypto';
import type { KeySigner } from '../../host/keys/types.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata';
import { SubjectKeyIdentifierExtension, X509Certificate as X509CertificatePeculiar } from '@peculiar/x509';
import { RFC3161Timestamp } from '@sigstore/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { failureResponse, messageImprintDer, TimestampAuthority } from '../../host/tsa/core.js';
import { integer, oid, seq, set } from '../../host/tsa/encode.js';
import { TsaError } from '../../host/tsa/errors.js';
import { createTsaIdentity } from '../../host/tsa/keys.js';
import { OID_ATTR_CONTENT_TYPE, OID_KP_TIMESTAMPING } from '../../host/tsa/oids.js';
import { verifyTimestampToken, type VerifyTimestampOptions } from '../../host/tsa/verify.js';
import { forgeToken, makePki, tstInfo, type TestPki } from './helpers.js';

const FIX = join(import.meta.dirname, '../../conformance/vectors/rfc3161-client/test/fixtures');
const fixture = (p: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, p)));
/** ts_chain.pem files: PEM [leaf, (intermediate,) root]; identrust's is one DER cert (INDEX.txt). */
function chain(p: string): Uint8Array[] {
  const raw = readFileSync(join(FIX, p));
  const pems = raw.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  return pems ? pems.map((x) => new Uint8Array(new X509Certificate(x).raw)) : [new Uint8Array(raw)];
}
const hello = new TextEncoder().encode('hello');
const cn = (der: Uint8Array): string => new X509Certificate(der).subject;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof TsaError) return e.code;
    throw e;
  }
  return 'OK';
}

/** INDEX.txt: trust root = last cert of the chain; the others are supplied as untrusted extras. */
function opts(chainFile: string, extra: Partial<VerifyTimestampOptions> = {}): VerifyTimestampOptions {
  const c = chain(chainFile);
  return { trustedCerts: [c[c.length - 1]!], tsaCertificates: c.slice(0, -1), data: hello, ...extra };
}

describe('parsed-certificate caching', () => {
  it('a trusted certificate array rewritten in place after a check is parsed again, not served from the cache', () => {
    const o = opts('sigstage/ts_chain.pem');
    const root = o.trustedCerts[0]!;
    expect(code(() => verifyTimestampToken(fixture('sigstage/response-sha256.tsr'), o))).toBe('OK');
    const saved = Uint8Array.from(root);
    // One letter of the root's subject CN changed (still DER): the leaf's issuer no longer names it.
    const cnText = /CN=([^\n]+)/.exec(cn(root))![1]!;
    const at = Buffer.from(root).lastIndexOf(Buffer.from(cnText, 'latin1'));
    expect(at).toBeGreaterThan(0);
    root[at] = root[at] === 0x58 ? 0x59 : 0x58; // 'X' or 'Y'
    try {
      expect(code(() => verifyTimestampToken(fixture('sigstage/response-sha256.tsr'), o))).toBe('TSA_UNTRUSTED_CHAIN');
    } finally {
      root.set(saved);
    }
    expect(code(() => verifyTimestampToken(fixture('sigstage/response-sha256.tsr'), o))).toBe('OK');
  });
});

describe('rfc3161-client fixtures: expected PASS', () => {
  it.each([
    ['sigstage/response-sha256.tsr', 'sha256', '2025-05-09T11:58:55.000Z'],
    ['sigstage/response-sha384.tsr', 'sha384', '2025-05-09T11:58:55.000Z'],
    ['sigstage/response-sha512.tsr', 'sha512', '2025-05-09T11:58:56.000Z'],
  ])('%s', (file, alg, time) => {
    const v = verifyTimestampToken(fixture(file), opts('sigstage/ts_chain.pem'));
    expect(v.hashAlgorithm).toBe(alg);
    expect(v.genTime.toISOString()).toBe(time);
    expect(v.policy).toBe('1.3.6.1.4.1.57264.2');
    expect(cn(v.signerCertificate)).toContain('CN=sigstore-tsa');
    expect(v.chain).toHaveLength(2);
  });

  it('sigstage/response-no-embedded-cert.tsr with the chain supplied from outside', () => {
    const v = verifyTimestampToken(fixture('sigstage/response-no-embedded-cert.tsr'), opts('sigstage/ts_chain.pem'));
    expect(v.genTime.toISOString()).toBe('2025-06-18T08:13:02.000Z');
  });

  it('test_tsa/response.tsr: nonce, serial, accuracy, 3-cert chain', () => {
    const v = verifyTimestampToken(fixture('test_tsa/response.tsr'), opts('test_tsa/ts_chain.pem', { nonce: 3937359519792308179n, policy: '1.3.6.1.4.1.57264.2' }));
    expect(v.serialNumber).toBe(693290210947147715387173185458430793885588677084n);
    expect(v.nonce).toBe(0x36a44f9f4a391fd3n);
    expect(v.accuracyMicros).toBe(1_000_000);
    expect(v.genTime.toISOString()).toBe('2024-10-08T15:40:32.000Z');
    expect(v.chain).toHaveLength(3);
  });

  it('test_tsa/response-injected-certs.tsr: the signer is chosen by sid, not by bag position', () => {
    const v = verifyTimestampToken(fixture('test_tsa/response-injected-certs.tsr'), opts('test_tsa/ts_chain.pem'));
    expect(cn(v.signerCertificate)).toContain('CN=Test TSA Timestamping');
    expect(cn(v.signerCertificate)).not.toContain('Spoofed');
  });

  it('sigstore.mock/response-expired.tsr verifies at genTime although the TSA cert has expired', () => {
    const v = verifyTimestampToken(fixture('sigstore.mock/response-expired.tsr'), opts('sigstore.mock/ts_chain.pem', { data: fixture('sigstore.mock/payload') }));
    expect(v.genTime.toISOString()).toBe('2023-02-01T00:00:00.000Z');
  });

  it('identrust/issue-104.tsr: commercial TSA, leaf not first in the bag, DER root', () => {
    const v = verifyTimestampToken(fixture('identrust/issue-104.tsr'), opts('identrust/ts_chain.pem'));
    expect(cn(v.signerCertificate)).toContain('TrustID Timestamp Authority');
    expect(v.chain).toHaveLength(3);
  });

  it('accepts a digest instead of the data', () => {
    const value = createHash('sha256').update(hello).digest();
    const o = opts('sigstage/ts_chain.pem');
    delete o.data;
    expect(code(() => verifyTimestampToken(fixture('sigstage/response-sha256.tsr'), { ...o, digest: { algorithm: 'sha256', value } }))).toBe('OK');
  });
});

describe('rfc3161-client fixtures: expected FAIL', () => {
  it.each<[string, string, string, Partial<VerifyTimestampOptions>]>([
    ['sigstage/response-invalid-signature.tsr', 'sigstage/ts_chain.pem', 'TSA_BAD_SIGNATURE', {}],
    ['sigstage/response-sha256.tsr', 'sigstage/ts_chain.pem', 'TSA_MESSAGE_IMPRINT_MISMATCH', { data: new TextEncoder().encode('hellO') }],
    ['sigstage/response-sha256.tsr', 'sigstage/ts_chain.pem', 'TSA_MESSAGE_IMPRINT_MISMATCH', { digest: { algorithm: 'sha384', value: new Uint8Array(48) } }],
    ['test_tsa/response.tsr', 'test_tsa/ts_chain.pem', 'TSA_NONCE_MISMATCH', { nonce: 0xabcdn }],
    ['test_tsa/response.tsr', 'test_tsa/ts_chain.pem', 'TSA_POLICY_MISMATCH', { policy: '1.1' }],
    ['sigstore.mock/response-expired.tsr', 'sigstore.mock/ts_chain.pem', 'TSA_CERT_EXPIRED', { data: undefined, at: new Date('2025-07-21T00:00:00Z') }],
    ['sigstore.mock/response-expired.tsr', 'sigstore.mock/ts_chain.pem', 'TSA_CERT_NOT_YET_VALID', { data: undefined, at: new Date('2022-01-01T00:00:00Z') }],
  ])('%s with %s -> %s', (file, chainFile, expected, extra) => {
    expect(code(() => verifyTimestampToken(fixture(file), opts(chainFile, extra)))).toBe(expected);
  });

  it('a root that did not issue the TSA is not trusted', () => {
    const other = chain('test_tsa/ts_chain.pem');
    expect(code(() => verifyTimestampToken(fixture('sigstage/response-sha256.tsr'), { trustedCerts: [other[2]!], data: hello }))).toBe('TSA_UNTRUSTED_CHAIN');
  });

  it('without the chain, a certless token has no signer', () => {
    const c = chain('sigstage/ts_chain.pem');
    expect(code(() => verifyTimestampToken(fixture('sigstage/response-no-embedded-cert.tsr'), { trustedCerts: [c[1]!], data: hello }))).toBe('TSA_SIGNER_NOT_FOUND');
  });

  it('an intermediate missing from both token and options breaks the path', () => {
    const c = chain('test_tsa/ts_chain.pem');
    expect(code(() => verifyTimestampToken(fixture('test_tsa/response.tsr'), { trustedCerts: [c[2]!], data: hello }))).toBe('TSA_UNTRUSTED_CHAIN');
  });

  it('a rejection TimeStampResp is TSA_NOT_GRANTED', () => {
    expect(code(() => verifyTimestampToken(failureResponse('badAlg', 'no'), opts('sigstage/ts_chain.pem')))).toBe('TSA_NOT_GRANTED');
  });

  it('a request is not a token', () => {
    expect(code(() => verifyTimestampToken(fixture('sigstage/request.der'), opts('sigstage/ts_chain.pem')))).toBe('TSA_MALFORMED');
  });
});

describe('tokens from our own TimestampAuthority', () => {
  it.each(['ecdsa-p256', 'ecdsa-p384', 'rsa'] as const)('%s: verify, then every tampered byte is detected', async (type) => {
    const { identity } = await createTsaIdentity({ type });
    const tsa = new TimestampAuthority(identity);
    const h = createHash('sha384').update(hello).digest();
    const genTime = new Date(Math.floor(Date.now() / 1000) * 1000 + 678);
    const resp = await tsa.respond({ hashAlgorithm: 'sha384', hashedMessage: h, messageImprintDer: messageImprintDer('sha384', h), certReq: true, nonce: 99n, nonceDer: integer(99n) }, 424242n, genTime);
    const root = identity.certificates[1]!;
    const v = verifyTimestampToken(resp, { data: hello, nonce: 99n, trustedCerts: [root] });
    expect(v).toMatchObject({ serialNumber: 424242n, hashAlgorithm: 'sha384', policy: '1.3.6.1.4.1.57264.2', nonce: 99n, accuracyMicros: 1_000_000 });
    // Whole-second accuracy: genTime carries no fraction (sigstore-js accepts only .sss fractions).
    expect(v.genTime.toISOString()).toBe(new Date(Math.floor(genTime.getTime() / 1000) * 1000).toISOString());
    // With millisecond accuracy the fraction is kept, without trailing zeros (X.690 §11.7.3).
    const fine = new TimestampAuthority({ ...identity, accuracy: { millis: 5 } });
    const resp2 = await fine.respond({ hashAlgorithm: 'sha384', hashedMessage: h, messageImprintDer: messageImprintDer('sha384', h), certReq: true }, 424243n, genTime);
    expect(verifyTimestampToken(resp2, { data: hello, trustedCerts: [root] }).genTime.toISOString()).toBe(genTime.toISOString());
    // Pinning the TSA leaf itself is a valid anchor too.
    expect(code(() => verifyTimestampToken(resp, { data: hello, trustedCerts: [identity.certificates[0]!] }))).toBe('OK');
    // Flip each byte after PKIStatus (0 granted -> 1 grantedWithMods is still a valid token); none may pass.
    let passed = 0;
    const step = type === 'rsa' ? 7 : 3;
    for (let i = 9; i < resp.length; i += step) {
      const t = Uint8Array.from(resp);
      t[i]! ^= 0x01;
      if (code(() => verifyTimestampToken(t, { data: hello, nonce: 99n, trustedCerts: [root] })) === 'OK') passed++;
    }
    expect(passed).toBe(0);
  });
});

describe('RSASSA-PSS signer (RFC 4055 parameters)', () => {
  it('tokens verify, and a PKCS#1 v1.5 verifier would not accept them as such', async () => {
    const { identity, keyPem } = await createTsaIdentity({ type: 'rsa' });
    const key = createPrivateKey(keyPem);
    const pss: KeySigner = {
      ...identity.signer,
      algorithm: 'rsa-pss-sha256',
      sign: (d) => Promise.resolve(new Uint8Array(sign('sha256', d, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }))),
    };
    const tsa = new TimestampAuthority({ signer: pss, certificates: identity.certificates });
    const h = createHash('sha256').update(hello).digest();
    const resp = await tsa.respond({ hashAlgorithm: 'sha256', hashedMessage: h, messageImprintDer: messageImprintDer('sha256', h), certReq: true }, 5n, new Date());
    expect(verifyTimestampToken(resp, { data: hello, trustedCerts: [identity.certificates[1]!] }).serialNumber).toBe(5n);
    // Same bytes, signature algorithm relabelled sha256WithRSAEncryption: must now fail.
    const pssOid = Buffer.from('06092a864886f70d01010a', 'hex');
    const at = Buffer.from(resp).indexOf(pssOid);
    expect(at).toBeGreaterThan(0);
    const relabelled = Uint8Array.from(resp);
    relabelled[at + 10] = 0x0b;
    expect(code(() => verifyTimestampToken(relabelled, { data: hello, trustedCerts: [identity.certificates[1]!] }))).toBe('TSA_BAD_SIGNATURE');
  });
});

describe('interop: sigstore-js (@sigstore/core RFC3161Timestamp) accepts our responses', () => {
  it.each(['ecdsa-p256', 'ecdsa-p384', 'rsa'] as const)('%s', async (type) => {
    const { identity } = await createTsaIdentity({ type });
    const tsa = new TimestampAuthority(identity);
    const signature = new TextEncoder().encode('a signature to time-stamp');
    const h = createHash('sha256').update(signature).digest();
    const resp = await tsa.respond({ hashAlgorithm: 'sha256', hashedMessage: h, messageImprintDer: messageImprintDer('sha256', h), certReq: true }, 77n, new Date());
    const ts = RFC3161Timestamp.parse(Buffer.from(resp));
    expect(ts.status).toBe(0n);
    expect(ts.tstInfo.version).toBe(1n);
    expect(ts.tstInfo.messageImprintHashedMessage.equals(h)).toBe(true);
    expect(() => ts.verify(Buffer.from(signature), new X509Certificate(identity.certificates[0]!).publicKey)).not.toThrow();
    expect(() => ts.verify(Buffer.from('other data'), new X509Certificate(identity.certificates[0]!).publicKey)).toThrow();
  });
});

describe('each signed-attribute and certificate check on its own (forged tokens)', () => {
  let pki: TestPki;
  const trust = (p: TestPki): VerifyTimestampOptions => ({ trustedCerts: [p.rootDer], data: hello, at: new Date() });
  beforeAll(async () => {
    pki = await makePki();
  });

  it('the forge itself produces a valid token', () => {
    expect(code(() => verifyTimestampToken(forgeToken(pki), trust(pki)))).toBe('OK');
  });
  it.each<[string, Parameters<typeof forgeToken>[1], string]>([
    ['message-digest of other content', { messageDigest: new Uint8Array(32) }, 'TSA_CONTENT_DIGEST_MISMATCH'],
    ['no message-digest', { messageDigest: null }, 'TSA_MALFORMED'],
    ['no content-type', { contentType: null }, 'TSA_MALFORMED'],
    ['content-type id-data', { contentType: oid('1.2.840.113549.1.7.1') }, 'TSA_MALFORMED'],
    ['no ESS signing-certificate', { essV2: null }, 'TSA_ESS_MISMATCH'],
    ['ESS hash of another cert', { essV2: new Uint8Array(32).fill(7) }, 'TSA_ESS_MISMATCH'],
    ['duplicate content-type', { extraAttrs: [seq(oid(OID_ATTR_CONTENT_TYPE), set(oid('1.2.840.113549.1.9.16.1.4')))] }, 'TSA_MALFORMED'],
    ['TSTInfo with a sha1 imprint', { tst: seq(integer(1n), oid('1.2.3'), seq(seq(oid('1.3.14.3.2.26')), new Uint8Array([4, 20, ...new Uint8Array(20)])), integer(1n), new Uint8Array([0x18, 15, ...new TextEncoder().encode('20250101000000Z')])) }, 'TSA_UNSUPPORTED_ALGORITHM'],
  ])('%s -> %s', (_name, o, expected) => {
    expect(code(() => verifyTimestampToken(forgeToken(pki, o), trust(pki)))).toBe(expected);
  });

  it('ESS signingCertificate v1 (SHA-1 ESSCertID) and an explicit-hash ESSCertIDv2 are accepted', () => {
    expect(code(() => verifyTimestampToken(forgeToken(pki, { essV1: true }), trust(pki)))).toBe('OK');
    expect(code(() => verifyTimestampToken(forgeToken(pki, { essV2Hash: 'sha384' }), trust(pki)))).toBe('OK');
    expect(code(() => verifyTimestampToken(forgeToken(pki, { essV1: true, essV2: new Uint8Array(20) }), trust(pki)))).toBe('TSA_ESS_MISMATCH');
  });

  it('a subjectKeyIdentifier sid finds the signer; a wrong one does not', () => {
    const ski = new X509CertificatePeculiar(pki.leafDer).getExtension(SubjectKeyIdentifierExtension)!.keyId;
    expect(code(() => verifyTimestampToken(forgeToken(pki, { sidSki: new Uint8Array(Buffer.from(ski, 'hex')) }), trust(pki)))).toBe('OK');
    expect(code(() => verifyTimestampToken(forgeToken(pki, { sidSki: new Uint8Array(20) }), trust(pki)))).toBe('TSA_SIGNER_NOT_FOUND');
  });

  it('genTime/at outside the leaf validity -> TSA_CERT_EXPIRED', () => {
    const token = forgeToken(pki, { tst: tstInfo({ genTime: '20990101000000Z' }) });
    expect(code(() => verifyTimestampToken(token, { trustedCerts: [pki.rootDer], data: hello }))).toBe('TSA_CERT_EXPIRED');
  });

  it.each<[string, Parameters<typeof makePki>[0]]>([
    ['non-critical EKU', { ekuCritical: false }],
    ['no EKU', { noEku: true }],
    ['EKU with codeSigning too', { ekus: [OID_KP_TIMESTAMPING, '1.3.6.1.5.5.7.3.3'] }],
    ['EKU codeSigning only', { ekus: ['1.3.6.1.5.5.7.3.3'] }],
    // keyUsage, when present, may allow signing only (OpenSSL's timestamp-signing purpose).
    // (@peculiar/x509 KeyUsageFlags: digitalSignature 1, nonRepudiation 2, keyEncipherment 4, keyCertSign 32)
    ['keyUsage keyEncipherment only', { keyUsage: 4 }],
    ['keyUsage digitalSignature and keyCertSign', { keyUsage: 1 | 32 }],
  ])('%s -> TSA_BAD_EKU', async (_name, p) => {
    const bad = await makePki(p);
    expect(code(() => verifyTimestampToken(forgeToken(bad), trust(bad)))).toBe('TSA_BAD_EKU');
  });

  it('keyUsage digitalSignature (with nonRepudiation or not) is accepted', async () => {
    for (const keyUsage of [1, 1 | 2]) {
      const ok = await makePki({ keyUsage });
      expect(code(() => verifyTimestampToken(forgeToken(ok), trust(ok)))).toBe('OK');
    }
  });

  it('a cert appended to the bag cannot stand in for the signer', async () => {
    const other = await makePki();
    // Token signed by `other`, carrying pki's leaf too; the sid still names other's leaf.
    const token = forgeToken(other, { extraCerts: [pki.leafDer] });
    expect(code(() => verifyTimestampToken(token, trust(pki)))).toBe('TSA_UNTRUSTED_CHAIN');
  });
});
