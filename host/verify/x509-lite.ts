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
import { checkDer, children, decodeOid, type Tlv } from '../tsa/der.js';

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
