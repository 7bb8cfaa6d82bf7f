/**
 * Just enough of an X.509 certificate, read straight from its DER (RFC 5280 §4.1), for the checks
 * that run on every bundle: the exact TBSCertificate bytes the issuer signed, the signature
 * algorithm and value, the subject public key, and the extensions by OID. OpenSSL
 * (X509Certificate) still parses every certificate the verifier accepts; this only avoids a second,
 * much slower ASN.1 decode (asn1js) per bundle, and lets the signature check go through the WASM
 * core with the issuer's registered key.
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity,
 *                                 subject, subjectPublicKeyInfo, [1], [2], [3] extensions OPTIONAL }
 */
import { checkDer, children, decodeOid, readTlv, type Tlv } from '../tsa/der.js';

export interface CertParts {
  /** The TBSCertificate TLV: the signed bytes. */
  tbs: Uint8Array;
  /** DER of signatureAlgorithm (AlgorithmIdentifier), equal to the TBS's own signature field. */
  signatureAlgorithm: Uint8Array;
  /** The signature value (BIT STRING contents without the unused-bits octet). */
  signature: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
  /** Extensions by dotted OID. */
  extensions: Map<string, { critical: boolean; value: Uint8Array }>;
}

function bad(msg: string): never {
  throw new Error(`not a DER X.509 certificate: ${msg}`);
}

export function splitCertificate(der: Uint8Array): CertParts {
  const top = checkDer(der);
  if (top.tag !== 0x30) bad('expected a SEQUENCE');
  const [tbsT, algT, sigT, ...rest] = children(der, top);
  if (!tbsT || tbsT.tag !== 0x30 || !algT || algT.tag !== 0x30 || !sigT || sigT.tag !== 0x03 || rest.length > 0) bad('expected SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }');
  const f = children(der, tbsT);
  let i = f[0]?.tag === 0xa0 ? 1 : 0;
  const take = (tag: number, what: string): Tlv => {
    const t = f[i++];
    if (!t || t.tag !== tag) bad(`TBSCertificate.${what}`);
    return t;
  };
  take(0x02, 'serialNumber');
  const inner = take(0x30, 'signature');
  const issuer = take(0x30, 'issuer');
  take(0x30, 'validity');
  const subject = take(0x30, 'subject');
  const spki = take(0x30, 'subjectPublicKeyInfo');
  const bytes = (t: Tlv): Uint8Array => der.subarray(t.start, t.end);
  const alg = bytes(algT);
  // RFC 5280 §4.1.1.2: signatureAlgorithm MUST equal the TBS signature field.
  if (!Buffer.from(bytes(inner)).equals(Buffer.from(alg))) bad('signatureAlgorithm differs from TBSCertificate.signature');
  if (sigT.end <= sigT.valueStart || der[sigT.valueStart] !== 0) bad('signatureValue has unused bits');
  const extensions = new Map<string, { critical: boolean; value: Uint8Array }>();
  for (; i < f.length; i++) {
    if (f[i]!.tag !== 0xa3) continue;
    const seq = children(der, f[i]!)[0];
    if (!seq || seq.tag !== 0x30) bad('extensions');
    for (const e of children(der, seq)) {
      const x = children(der, e);
      if (x[0]?.tag !== 0x06) bad('extension without an OID');
      const critical = x.length === 3 && x[1]!.tag === 0x01 && der[x[1]!.valueStart] !== 0;
      const val = x[x.length - 1]!;
      if (val.tag !== 0x04) bad('extnValue is not an OCTET STRING');
      const id = decodeOid(der.subarray(x[0].valueStart, x[0].end));
      if (extensions.has(id)) bad(`extension ${id} appears twice`); // RFC 5280 §4.2
      extensions.set(id, { critical, value: der.subarray(val.valueStart, val.end) });
    }
  }
  return { tbs: bytes(tbsT), signatureAlgorithm: alg, signature: der.subarray(sigT.valueStart + 1, sigT.end), issuer: bytes(issuer), subject: bytes(subject), spki: bytes(spki), extensions };
}

/** AlgorithmIdentifier DER of ecdsa-with-SHA256 (RFC 5758 §3.2: parameters absent). */
export const ECDSA_WITH_SHA256 = Uint8Array.from([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);

// ---------------------------------------------------------------------------------------------
// The leaf profile read without OpenSSL.
//
// OpenSSL's X509Certificate parse costs about 117 µs per certificate on the 2-core bench machine
// (most of it decoding the public key through OpenSSL 3's provider decoders), and two threads
// parsing at once reach only 1.4× one thread's rate (7,334 and 10,435 parses/s, Node 20 with
// OpenSSL 3.0). A bundle's leaf is parsed once and never reused, so bulk verification paid that on
// every bundle; without it (and with TSA signatures batched) bulk went from 2,100 to 2,342
// bundles/s in the same benchmark (2,000 bundles, 2 worker threads).
//
// `leafProfile` reads what the verifier needs from a leaf in the shape a Sigstore CA issues
// (Fulcio and Cairn both) and returns undefined for anything outside that shape, so the caller
// falls back to OpenSSL and gives exactly the verdict it gave before. Inside the shape, each
// field OpenSSL decodes is checked here too (after splitCertificate's strict DER framing):
// version, serial, names, validity (RFC 5280 §4.1.2.5 forms only), and each extension OpenSSL
// caches (§4.2.1.1–§4.2.1.12: basicConstraints, keyUsage, extKeyUsage, SKI, AKID,
// subjectAltName). Extensions OpenSSL does not decode when it parses (Fulcio's
// 1.3.6.1.4.1.57264.1.*, the RFC 6962 SCT list) are read by the verifier's own checks. Any other
// extension sends the certificate to OpenSSL. test/verify/x509-lite.test.ts holds the result to
// X509Certificate's on every vector certificate, on generated edge cases, and on thousands of
// single-byte mutations of them (none that OpenSSL refuses gets a profile here).

export interface LeafProfile {
  notBefore: number;
  notAfter: number;
  /**
   * What X509Certificate.ca reports (X509_check_ca() == 1): basicConstraints cA TRUE and, when
   * keyUsage is present, keyCertSign in it.
   */
  ca: boolean;
  /** authorityKeyIdentifier keyIdentifier, when present. */
  akid?: Uint8Array;
  /** subjectKeyIdentifier, when present. */
  ski?: Uint8Array;
  /** keyUsage bits (first two octets, bit 0 = digitalSignature as the MSB), when present. */
  keyUsage?: number;
}

const OID_BC = '2.5.29.19';
const OID_KU = '2.5.29.15';
const OID_EKU = '2.5.29.37';
const OID_SKI = '2.5.29.14';
const OID_AKID = '2.5.29.35';
const OID_SAN = '2.5.29.17';
const OID_SCTS = '1.3.6.1.4.1.11129.2.4.2';
const FULCIO_ARC = '1.3.6.1.4.1.57264.1.';

/** "Outside the shape": leafProfile returns undefined and the caller falls back to OpenSSL. */
class OutsideProfile extends Error {}
function outside(): never {
  throw new OutsideProfile();
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value DirectoryString } (RFC 5280 §4.1.2.4). */
function checkName(der: Uint8Array, name: Tlv): void {
  for (const rdn of children(der, name)) {
    if (rdn.tag !== 0x31) outside();
    const atvs = children(der, rdn);
    if (atvs.length === 0) outside();
    for (const atv of atvs) {
      const [type, value, ...more] = atv.tag === 0x30 ? children(der, atv) : outside();
      if (!type || type.tag !== 0x06 || !value || more.length > 0) outside();
      decodeOid(der.subarray(type.valueStart, type.end));
      // UTF8String, PrintableString, IA5String: what CAs write; other string types, and contents
      // outside each type's alphabet (X.680 §41; OpenSSL refuses malformed UTF-8), go to OpenSSL.
      const text = der.subarray(value.valueStart, value.end);
      if (value.tag === 0x0c) {
        try {
          UTF8.decode(text);
        } catch {
          outside();
        }
      } else if (value.tag === 0x13) {
        if (!PRINTABLE.test(Buffer.from(text).toString('latin1'))) outside();
      } else if (value.tag === 0x16) {
        for (const c of text) if (c > 0x7f) outside();
      } else outside();
    }
  }
}

const DIGITS = /^[0-9]+$/;
/** UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.1–2), in ms. */
function readTime(der: Uint8Array, t: Tlv): number {
  const s = Buffer.from(der.subarray(t.valueStart, t.end)).toString('latin1');
  let full: string;
  if (t.tag === 0x17 && s.length === 13) {
    const yy = Number(s.slice(0, 2));
    full = `${yy >= 50 ? 19 : 20}${s}`;
  } else if (t.tag === 0x18 && s.length === 15) {
    full = s;
  } else return outside();
  if (full[14] !== 'Z' || !DIGITS.test(full.slice(0, 14))) outside();
  const n = (a: number, b: number): number => Number(full.slice(a, b));
  const [y, mo, d, h, mi, se] = [n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14)];
  const ms = Date.UTC(y, mo - 1, d, h, mi, se);
  // Date.UTC rolls over (month 13, second 60): a value that does not round-trip is not a time.
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== se) outside();
  return ms;
}

/** The value of a primitive TLV that must fill `v` exactly. */
function only(v: Uint8Array, tag: number): Tlv {
  const t = readTlv(v, 0);
  if (t.tag !== tag || t.end !== v.length) outside();
  return t;
}

function readExtensions(der: Uint8Array, tbsFields: Tlv[], from: number, p: LeafProfile): void {
  const rest = tbsFields.slice(from);
  // issuerUniqueID [1] / subjectUniqueID [2] (§4.1.2.8) are not issued by Sigstore CAs.
  if (rest.length > 1 || (rest.length === 1 && rest[0]!.tag !== 0xa3)) outside();
  if (rest.length === 0) return;
  const [seq, ...more] = children(der, rest[0]!);
  if (!seq || seq.tag !== 0x30 || more.length > 0) outside();
  const exts = children(der, seq);
  if (exts.length === 0) outside();
  for (const e of exts) {
    if (e.tag !== 0x30) outside();
    const x = children(der, e);
    // DER: critical is present only when TRUE (X.690 §11.5, DEFAULT FALSE).
    if (!(x.length === 2 || (x.length === 3 && x[1]!.tag === 0x01 && x[1]!.end - x[1]!.valueStart === 1 && der[x[1]!.valueStart] === 0xff))) outside();
    const id = decodeOid(der.subarray(x[0]!.valueStart, x[0]!.end));
    const v = der.subarray(x[x.length - 1]!.valueStart, x[x.length - 1]!.end);
    if (id === OID_BC) {
      // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
      const s = only(v, 0x30);
      const f = children(v, s);
      if (f.length > 2) outside();
      let i = 0;
      if (f[0]?.tag === 0x01) {
        if (f[0].end - f[0].valueStart !== 1 || v[f[0].valueStart] !== 0xff) outside();
        p.ca = true;
        i = 1;
      }
      if (i < f.length && (f[i]!.tag !== 0x02 || !p.ca)) outside();
      if (f.length - i > 1) outside();
    } else if (id === OID_KU) {
      // KeyUsage ::= BIT STRING (§4.2.1.3), at most 9 named bits.
      const t = only(v, 0x03);
      const len = t.end - t.valueStart;
      if (len < 2 || len > 3 || v[t.valueStart]! > 7) outside();
      p.keyUsage = (v[t.valueStart + 1]! << 8) | (len === 3 ? v[t.valueStart + 2]! : 0);
    } else if (id === OID_EKU) {
      // ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (§4.2.1.12)
      const s = only(v, 0x30);
      const ids = children(v, s);
      if (ids.length === 0) outside();
      for (const k of ids) {
        if (k.tag !== 0x06) outside();
        decodeOid(v.subarray(k.valueStart, k.end));
      }
    } else if (id === OID_SKI) {
      const t = only(v, 0x04);
      p.ski = v.subarray(t.valueStart, t.end);
    } else if (id === OID_AKID) {
      // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OPTIONAL, authorityCertIssuer [1]
      // OPTIONAL, authorityCertSerialNumber [2] OPTIONAL } (§4.2.1.1): only keyIdentifier here,
      // since OpenSSL's issuer match also compares the other two.
      const s = only(v, 0x30);
      const f = children(v, s);
      if (f.length !== 1 || f[0]!.tag !== 0x80) outside();
      p.akid = v.subarray(f[0]!.valueStart, f[0]!.end);
    } else if (id === OID_SAN) {
      // GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName (§4.2.1.6): rfc822Name [1],
      // dNSName [2], URI [6] as IA5 text; otherName [0] as { type-id OID, [0] EXPLICIT value }.
      const s = only(v, 0x30);
      const names = children(v, s);
      if (names.length === 0) outside();
      for (const g of names) {
        if (g.tag === 0x81 || g.tag === 0x82 || g.tag === 0x86) {
          for (let i = g.valueStart; i < g.end; i++) if (v[i]! > 0x7e || v[i]! < 0x20) outside();
        } else if (g.tag === 0xa0) {
          const [typeId, val, ...more] = children(v, g);
          if (!typeId || typeId.tag !== 0x06 || !val || val.tag !== 0xa0 || more.length > 0) outside();
          decodeOid(v.subarray(typeId.valueStart, typeId.end));
          checkDer(v.subarray(val.valueStart, val.end));
        } else outside();
      }
    } else if (id !== OID_SCTS && !id.startsWith(FULCIO_ARC)) {
      outside();
    }
  }
}

/**
 * The profile of a certificate that splitCertificate accepted, or undefined when it is outside the
 * shape read here (the caller then parses it with OpenSSL).
 */
export function leafProfile(der: Uint8Array): LeafProfile | undefined {
  try {
    const [tbsT] = children(der, readTlv(der, 0));
    const f = children(der, tbsT!);
    // version [0] EXPLICIT INTEGER v3 (2): extensions require v3 (§4.1.2.1).
    const ver = f[0];
    if (!ver || ver.tag !== 0xa0) outside();
    const [vi, ...vmore] = children(der, ver);
    if (!vi || vi.tag !== 0x02 || vi.end - vi.valueStart !== 1 || der[vi.valueStart] !== 2 || vmore.length > 0) outside();
    // serialNumber: a positive INTEGER of at most 20 octets (§4.1.2.2), minimally encoded.
    const serial = f[1]!;
    const sl = serial.end - serial.valueStart;
    if (serial.tag !== 0x02 || sl < 1 || sl > 21 || der[serial.valueStart]! & 0x80) outside();
    if (sl > 1 && der[serial.valueStart] === 0 && !(der[serial.valueStart + 1]! & 0x80)) outside();
    if (!f[3] || !f[4] || !f[5] || !f[6]) outside();
    checkName(der, f[3]);
    checkName(der, f[5]);
    const validity = children(der, f[4]);
    if (validity.length !== 2) outside();
    const p: LeafProfile = { notBefore: readTime(der, validity[0]!), notAfter: readTime(der, validity[1]!), ca: false };
    readExtensions(der, f, 7, p);
    // X509_check_ca: a keyUsage without keyCertSign makes it not a CA, whatever cA says.
    if (p.keyUsage !== undefined && !(p.keyUsage & KU_KEY_CERT_SIGN)) p.ca = false;
    return p;
  } catch {
    // Outside the shape, or a field this reader refuses: OpenSSL decides, as it always did.
    return undefined;
  }
}

/** RFC 5280 §4.2.1.3 keyCertSign is bit 5: 0x0400 in leafProfile's 16-bit form. */
const KU_KEY_CERT_SIGN = 0x0400;

/** What issuedByLite needs of a CA certificate (read once per trusted CA). */
export interface IssuerFacts {
  subject: Uint8Array;
  ski?: Uint8Array;
  keyUsage?: number;
  /** The CA's key is an EC key (so ecdsa-with-SHA256 fits it). */
  ec: boolean;
}

/** The facts of a CA certificate in the lite profile's shape, else undefined. */
export function issuerFacts(der: Uint8Array, ec: boolean): IssuerFacts | undefined {
  try {
    const p = leafProfile(der);
    return p && { subject: splitCertificate(der).subject, ski: p.ski, keyUsage: p.keyUsage, ec };
  } catch {
    return undefined;
  }
}

/**
 * X509_check_issued(ca, leaf) for a leaf in the lite profile, or undefined when OpenSSL must
 * decide. Decided here: the leaf's issuer name is byte-for-byte the CA's subject (OpenSSL compares
 * canonical forms, which byte equality implies), the leaf's signature algorithm is
 * ecdsa-with-SHA256 and the CA key is EC (OpenSSL 3 checks the two fit), the CA's keyUsage, if
 * present, allows keyCertSign (§4.2.1.3), and the leaf's AKID keyIdentifier, if any, equals the
 * CA's SKI, if any (§4.2.1.1). Names equal only after canonicalisation, other algorithms: OpenSSL.
 */
export function issuedByLite(leaf: CertParts, profile: LeafProfile, ca: IssuerFacts): boolean | undefined {
  if (!ca.ec || !bytesEq(leaf.signatureAlgorithm, ECDSA_WITH_SHA256) || !bytesEq(leaf.issuer, ca.subject)) return undefined;
  if (ca.keyUsage !== undefined && !(ca.keyUsage & KU_KEY_CERT_SIGN)) return false;
  if (profile.akid && ca.ski && !bytesEq(profile.akid, ca.ski)) return false;
  return true;
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
