/**
 * Fulcio's code-signing certificate profile (fulcio docs/certificate-specification.md):
 * 10-minute validity, empty subject, one critical SAN, KU digitalSignature (critical), EKU
 * codeSigning, random 160-bit serial, SKID + AKID, and the 1.3.6.1.4.1.57264.1.* extensions.
 * For certificate transparency the same TBS is first issued as a precertificate with the critical
 * poison extension (RFC 6962 §3.1), then with the SCT list in its place.
 */
import { createHash, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { concat, octets, oid, seq, tlv } from '../tsa/encode.js';
import { CaError } from './errors.js';
import type { Principal, San } from './identity.js';

const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
x509.cryptoProvider.set(x509Crypto);

export const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
export const OID_CT_POISON = '1.3.6.1.4.1.11129.2.4.3';
export const OID_CT_SCT_LIST = '1.3.6.1.4.1.11129.2.4.2';
export const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
export const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
export const OID_TOKEN_SUBJECT = '1.3.6.1.4.1.57264.1.24';
export const OID_USERNAME_OTHERNAME = '1.3.6.1.4.1.57264.1.7';

/** Fulcio extension names (ci-issuer-metadata extension-templates keys) → OIDs, all DER UTF8String. */
export const FULCIO_EXTENSIONS: Record<string, string> = {
  'build-signer-uri': '1.3.6.1.4.1.57264.1.9',
  'build-signer-digest': '1.3.6.1.4.1.57264.1.10',
  'runner-environment': '1.3.6.1.4.1.57264.1.11',
  'source-repository-uri': '1.3.6.1.4.1.57264.1.12',
  'source-repository-digest': '1.3.6.1.4.1.57264.1.13',
  'source-repository-ref': '1.3.6.1.4.1.57264.1.14',
  'source-repository-identifier': '1.3.6.1.4.1.57264.1.15',
  'source-repository-owner-uri': '1.3.6.1.4.1.57264.1.16',
  'source-repository-owner-identifier': '1.3.6.1.4.1.57264.1.17',
  'build-config-uri': '1.3.6.1.4.1.57264.1.18',
  'build-config-digest': '1.3.6.1.4.1.57264.1.19',
  'build-trigger': '1.3.6.1.4.1.57264.1.20',
  'run-invocation-uri': '1.3.6.1.4.1.57264.1.21',
  'source-repository-visibility-at-signing': '1.3.6.1.4.1.57264.1.22',
};

export const VALIDITY_MS = 10 * 60 * 1000;

const utf8 = (s: string): Uint8Array => tlv(0x0c, Buffer.from(s, 'utf8'));

/** GeneralNames with exactly one name (RFC 5280 §4.2.1.6). */
function sanDer(san: San): Uint8Array {
  const v = Buffer.from(san.value, 'utf8');
  if (san.type === 'uri') return seq(tlv(0x86, v));
  if (san.type === 'email') return seq(tlv(0x81, v));
  // otherName [0] { type-id, [0] EXPLICIT value } — Fulcio's username SAN.
  return seq(tlv(0xa0, oid(OID_USERNAME_OTHERNAME), tlv(0xa0, utf8(san.value))));
}

export interface IssuingCa {
  /** The CA certificate that signs leaves (an intermediate, or the root). */
  cert: x509.X509Certificate;
  /** PEM chain returned to clients after the leaf: issuing CA first, root last. */
  chainPem: string[];
  signingKey: webcrypto.CryptoKey;
  signingAlgorithm: EcdsaParams;
}

type EcdsaParams = { name: 'ECDSA'; hash: 'SHA-256' | 'SHA-384' };

/** Checks the submitted public key against the profile: P-256/P-384, Ed25519, RSA 2048–4096. */
export function checkKey(key: KeyObject): void {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const c = key.asymmetricKeyDetails?.namedCurve;
    if (c === 'prime256v1' || c === 'secp384r1') return;
    throw new CaError('CA_UNSUPPORTED_KEY', `EC curve ${c} is not accepted (P-256 or P-384)`);
  }
  if (t === 'ed25519') return;
  if (t === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits >= 2048 && bits <= 4096) return;
    throw new CaError('CA_UNSUPPORTED_KEY', `RSA keys must be 2048..4096 bits, not ${bits}`);
  }
  throw new CaError('CA_UNSUPPORTED_KEY', `${t} keys are not accepted (ECDSA P-256/P-384, Ed25519, RSA 2048-4096)`);
}

export interface LeafRequest {
  publicKeySpki: Uint8Array;
  principal: Principal;
  issuerUrl: string;
  subject: string;
  now?: Date;
}

export interface LeafTemplate {
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  extensions: x509.Extension[];
  publicKey: x509.PublicKey;
}

/** Everything but the CT extension; the same template makes the precertificate and the final cert. */
export async function leafTemplate(ca: IssuingCa, r: LeafRequest): Promise<LeafTemplate> {
  const now = r.now ?? new Date();
  // RFC 5280 §4.1.2.2: positive, at most 20 octets; Fulcio uses 20 random bytes.
  const serial = randomBytes(20);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const publicKey = new x509.PublicKey(r.publicKeySpki);
  const skid = createHash('sha1').update(spkiKeyBits(r.publicKeySpki)).digest();
  const akid = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const ext = (id: string, critical: boolean, value: Uint8Array): x509.Extension => new x509.Extension(id, critical, value);
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([OID_CODE_SIGNING], false),
    ext('2.5.29.14', false, octets(skid)),
    ext('2.5.29.35', false, seq(tlv(0x80, akid ? Buffer.from(akid, 'hex') : createHash('sha1').update(spkiKeyBits(new Uint8Array(ca.cert.publicKey.rawData))).digest()))),
    ext('2.5.29.17', true, sanDer(r.principal.san)),
    // 57264.1.1 holds the issuer URL as raw bytes (deprecated, kept for old verifiers); .1.8 as UTF8String.
    ext(OID_ISSUER_V1, false, Buffer.from(r.issuerUrl, 'utf8')),
    ext(OID_ISSUER_V2, false, utf8(r.issuerUrl)),
    ext(OID_TOKEN_SUBJECT, false, utf8(r.subject)),
  ];
  for (const [name, value] of Object.entries(r.principal.extensions)) {
    const id = FULCIO_EXTENSIONS[name];
    if (!id) throw new CaError('CA_BAD_CONFIG', `unknown Fulcio extension ${name}`);
    extensions.push(ext(id, false, utf8(value)));
  }
  return { serialNumber: serial.toString('hex'), notBefore: now, notAfter: new Date(now.getTime() + VALIDITY_MS), extensions, publicKey };
}

/** The BIT STRING contents of an SPKI (RFC 5280 §4.2.1.2 method 1 hashes exactly these bytes). */
export function spkiKeyBits(spki: Uint8Array): Uint8Array {
  // SEQUENCE { AlgorithmIdentifier, BIT STRING } — skip the outer header and the algorithm.
  let p = 1;
  const len = (): number => {
    let l = spki[p++]!;
    if (l & 0x80) {
      const n = l & 0x7f;
      l = 0;
      for (let i = 0; i < n; i++) l = l * 256 + spki[p++]!;
    }
    return l;
  };
  len();
  p++; // algorithm SEQUENCE tag
  const algLen = len();
  p += algLen;
  p++; // BIT STRING tag
  const bl = len();
  return spki.subarray(p + 1, p + bl); // drop the unused-bits octet
}

export async function issue(ca: IssuingCa, t: LeafTemplate, ctExtension?: x509.Extension): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: t.serialNumber,
      subject: '',
      issuer: ca.cert.subject,
      notBefore: t.notBefore,
      notAfter: t.notAfter,
      publicKey: t.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ca.signingAlgorithm as Parameters<typeof x509.X509CertificateGenerator.create>[0]['signingAlgorithm'],
      extensions: ctExtension ? [...t.extensions, ctExtension] : t.extensions,
    },
    x509Crypto,
  );
}

export function poisonExtension(): x509.Extension {
  return new x509.Extension(OID_CT_POISON, true, Uint8Array.of(0x05, 0x00));
}

/** SignedCertificateTimestampList (RFC 6962 §3.3) as the X.509 extension: an OCTET STRING holding the TLS bytes. */
export function sctListExtension(scts: Uint8Array[]): x509.Extension {
  const items = scts.map((s) => concat([Uint8Array.of(s.length >> 8, s.length & 0xff), s]));
  const body = concat(items);
  const list = concat([Uint8Array.of(body.length >> 8, body.length & 0xff), body]);
  return new x509.Extension(OID_CT_SCT_LIST, false, octets(list));
}
