/**
 * Fulcio's code-signing certificate profile (fulcio docs/certificate-specification.md):
 * 10-minute validity, empty subject, one critical SAN, KU digitalSignature (critical), EKU
 * codeSigning, random 160-bit serial, SKID + AKID, and the 1.3.6.1.4.1.57264.1.* extensions.
 * For certificate transparency the same TBS is first issued as a precertificate with the critical
 * poison extension (RFC 6962 §3.1), then with the SCT list in its place.
 */
import { createHash, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import type { KeySigner, SigningAlgorithm } from '../keys/types.js';
import { concat, integer, NULL, octets, oid, seq, tlv } from '../tsa/encode.js';
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
  'deployment-environment': '1.3.6.1.4.1.57264.1.23',
};

/**
 * Fulcio's deprecated GitHub extensions (57264.1.2-6): the value as raw bytes, not DER, as 1.1
 * is. Fulcio's production configuration still fills them for GitHub Actions tokens.
 */
export const FULCIO_RAW_EXTENSIONS: Record<string, string> = {
  'github-workflow-trigger': '1.3.6.1.4.1.57264.1.2',
  'github-workflow-sha': '1.3.6.1.4.1.57264.1.3',
  'github-workflow-name': '1.3.6.1.4.1.57264.1.4',
  'github-workflow-repository': '1.3.6.1.4.1.57264.1.5',
  'github-workflow-ref': '1.3.6.1.4.1.57264.1.6',
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
  /** The issuing CA's key, in whichever backend (host/keys: file, PKCS#11). */
  signer: KeySigner;
}

/** AlgorithmIdentifier for the CA's signature (RFC 5758 §3.2, RFC 8410 §3, RFC 4055 §3.1/§5). */
export function signatureAlgorithmDer(alg: SigningAlgorithm): Uint8Array {
  switch (alg) {
    case 'ecdsa-p256-sha256':
      return seq(oid('1.2.840.10045.4.3.2'));
    case 'ecdsa-p384-sha384':
      return seq(oid('1.2.840.10045.4.3.3'));
    case 'ed25519':
      return seq(oid('1.3.101.112'));
    case 'rsa-pkcs1v15-sha256':
      return seq(oid('1.2.840.113549.1.1.11'), NULL);
    case 'rsa-pss-sha256': {
      const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'));
      return seq(oid('1.2.840.113549.1.1.10'), seq(tlv(0xa0, sha256), tlv(0xa1, seq(oid('1.2.840.113549.1.1.8'), sha256)), tlv(0xa2, integer(32n))));
    }
  }
}

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
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** DER Extension SEQUENCEs, in order. */
  extensions: Uint8Array[];
  spki: Uint8Array;
  /** DER Name; absent for leaves, whose subject is empty (Fulcio). A CA certificate needs one (RFC 5280 §4.1.2.6). */
  subject?: Uint8Array;
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (RFC 5280 §4.1). */
export function extensionDer(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), Uint8Array.of(0x01, 0x01, 0xff), octets(value)) : seq(oid(id), octets(value));
}

/** Everything but the CT extension; the same template makes the precertificate and the final cert. */
export function leafTemplate(ca: IssuingCa, r: LeafRequest): LeafTemplate {
  // Whole seconds: the DER time has no fraction, and the validity must be exactly 10 minutes
  // (less only when the issuing CA ends sooner, below).
  const now = new Date(Math.floor((r.now ?? new Date()).getTime() / 1000) * 1000);
  // RFC 5280 §4.1.2.2: positive, at most 20 octets; Fulcio uses 20 random bytes (160 bits).
  const serial = randomBytes(20);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const skid = createHash('sha1').update(spkiKeyBits(r.publicKeySpki)).digest();
  const { ku, eku, akid } = constants(ca);
  const extensions: Uint8Array[] = [
    ku,
    eku,
    extensionDer('2.5.29.14', false, octets(skid)),
    akid,
    // The subject is empty, so the SAN is critical (RFC 5280 §4.2.1.6).
    extensionDer('2.5.29.17', true, sanDer(r.principal.san)),
    // 57264.1.1 holds the issuer URL as raw bytes (deprecated, kept for old verifiers); .1.8 as UTF8String.
    extensionDer(OID_ISSUER_V1, false, Buffer.from(r.issuerUrl, 'utf8')),
    extensionDer(OID_ISSUER_V2, false, utf8(r.issuerUrl)),
    extensionDer(OID_TOKEN_SUBJECT, false, utf8(r.subject)),
  ];
  for (const [name, value] of Object.entries(r.principal.extensions)) {
    const raw = FULCIO_RAW_EXTENSIONS[name];
    if (raw) {
      extensions.push(extensionDer(raw, false, Buffer.from(value, 'utf8')));
      continue;
    }
    const id = FULCIO_EXTENSIONS[name];
    if (!id) throw new CaError('CA_BAD_CONFIG', `unknown Fulcio extension ${name}`);
    extensions.push(extensionDer(id, false, utf8(value)));
  }
  // Never outlive the issuing CA (as subordinate.ts caps a subordinate at its parent): a leaf
  // whose notAfter passes the CA's claims a validity no chain can give it (RFC 5280 §6.1.3), and
  // a CA outside its own window (a subordinate whose renewals failed) must not issue at all.
  const caFrom = ca.cert.notBefore.getTime();
  const caTo = ca.cert.notAfter.getTime();
  if (now.getTime() < caFrom || now.getTime() > caTo) throw new CaError('CA_BAD_CONFIG', `the issuing CA certificate is not valid now (${ca.cert.notBefore.toISOString()} to ${ca.cert.notAfter.toISOString()})`, { status: 503 });
  return { serial, notBefore: now, notAfter: new Date(Math.min(now.getTime() + VALIDITY_MS, caTo)), extensions, spki: r.publicKeySpki };
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function timeDer(d: Date): Uint8Array {
  const two = (n: number): string => String(n).padStart(2, '0');
  const y = d.getUTCFullYear();
  const rest = two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + 'Z';
  return y < 2050 ? tlv(0x17, Buffer.from(two(y % 100) + rest, 'ascii')) : tlv(0x18, Buffer.from(String(y) + rest, 'ascii'));
}

interface CaConstants {
  /** The signature AlgorithmIdentifier. */
  alg: Uint8Array;
  /** The issuer Name: the CA certificate's subject, byte for byte. */
  issuerName: Uint8Array;
  /** KU digitalSignature: BIT STRING with bit 0 set (RFC 5280 §4.2.1.3), critical. */
  ku: Uint8Array;
  /** EKU codeSigning (RFC 5280 §4.2.1.12). */
  eku: Uint8Array;
  /** AKID keyIdentifier: the CA's SKID, or RFC 5280 §4.2.1.2 method 1 over its key when it has none. */
  akid: Uint8Array;
}

/** Per-CA DER that is the same in every TBS, built once per CA (parsing the CA certificate is not cheap). */
const caConstants = new WeakMap<IssuingCa, CaConstants>();
function constants(ca: IssuingCa): CaConstants {
  let c = caConstants.get(ca);
  if (!c) {
    const parsed = AsnConvert.parse(ca.cert.rawData, Certificate);
    const skid = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const keyId = skid ? Buffer.from(skid, 'hex') : createHash('sha1').update(spkiKeyBits(new Uint8Array(ca.cert.publicKey.rawData))).digest();
    c = {
      alg: signatureAlgorithmDer(ca.signer.algorithm),
      issuerName: new Uint8Array(AsnConvert.serialize(parsed.tbsCertificate.subject)),
      ku: extensionDer('2.5.29.15', true, Uint8Array.of(0x03, 0x02, 0x07, 0x80)),
      eku: extensionDer('2.5.29.37', false, seq(oid(OID_CODE_SIGNING))),
      akid: extensionDer('2.5.29.35', false, seq(tlv(0x80, keyId))),
    };
    caConstants.set(ca, c);
  }
  return c;
}

/** The AKID extension naming `ca` as the issuer (its SKID, or §4.2.1.2 method 1 over its key). */
export function authorityKeyIdExtension(ca: IssuingCa): Uint8Array {
  return constants(ca).akid;
}

/** The DER TBSCertificate (RFC 5280 §4.1): v3, serial, alg, issuer, validity, empty subject, SPKI, extensions. */
export function tbsDer(ca: IssuingCa, t: LeafTemplate, ctExtension?: Uint8Array): Uint8Array {
  const { alg, issuerName } = constants(ca);
  const serial = t.serial[0]! & 0x80 ? concat([Uint8Array.of(0), t.serial]) : t.serial;
  return seq(
    tlv(0xa0, Uint8Array.of(0x02, 0x01, 0x02)),
    tlv(0x02, serial),
    alg,
    issuerName,
    seq(timeDer(t.notBefore), timeDer(t.notAfter)),
    t.subject ?? seq(),
    t.spki,
    tlv(0xa3, seq(...t.extensions, ...(ctExtension ? [ctExtension] : []))),
  );
}

/** Signs the TBS with the CA's KeySigner: Certificate ::= SEQUENCE { tbs, alg, BIT STRING signature }. */
export async function issue(ca: IssuingCa, t: LeafTemplate, ctExtension?: Uint8Array): Promise<Uint8Array> {
  const tbs = tbsDer(ca, t, ctExtension);
  const sig = await ca.signer.sign(tbs);
  return seq(tbs, constants(ca).alg, tlv(0x03, Uint8Array.of(0), sig));
}

/** RFC 7468 §2: base64 in lines of 64 characters. */
export function toPem(der: Uint8Array): string {
  const b = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let body = '';
  for (let i = 0; i < b.length; i += 64) body += b.slice(i, i + 64) + '\n';
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
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

/** RFC 6962 §3.1: critical extension whose value is ASN.1 NULL. */
export function poisonExtension(): Uint8Array {
  return extensionDer(OID_CT_POISON, true, NULL);
}

/** SignedCertificateTimestampList (RFC 6962 §3.3) as the X.509 extension: an OCTET STRING holding the TLS bytes. */
export function sctListExtension(scts: Uint8Array[]): Uint8Array {
  const items = scts.map((s) => concat([Uint8Array.of(s.length >> 8, s.length & 0xff), s]));
  const body = concat(items);
  const list = concat([Uint8Array.of(body.length >> 8, body.length & 0xff), body]);
  return extensionDer(OID_CT_SCT_LIST, false, octets(list));
}
