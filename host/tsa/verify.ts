/**
 * RFC 3161 time-stamp token verifier. Pure: node:crypto and ASN.1 only, no I/O, synchronous.
 *
 * Pipeline (every step throws a TsaError with a stable code):
 *   1. strict DER framing (der.ts) of the whole input and of the TSTInfo inside it;
 *   2. TimeStampResp status (if given a response), ContentInfo = SignedData, eContentType = TSTInfo;
 *   3. the signer certificate is chosen ONLY by the SignerInfo sid (RFC 5652 §5.3) — never "first
 *      cert in the bag" (GHSA-3xxc-pwj6-jgrj: an attacker can append certificates);
 *   4. signedAttrs: content-type = id-ct-TSTInfo, message-digest = H(eContent) (RFC 5652 §11),
 *      ESS signing-certificate(-v2) names the signer cert (RFC 3161 §2.4.1, RFC 5035);
 *   5. signature over the DER of signedAttrs re-tagged as SET OF (RFC 5652 §5.4);
 *   6. the signer cert has a critical EKU of exactly id-kp-timeStamping (RFC 3161 §2.3);
 *   7. a path from the signer cert to a trusted cert, every cert valid at `at` (default genTime,
 *      so a token stays verifiable after the TSA cert expires — that is what a timestamp is for);
 *   8. the caller's expectations: messageImprint, nonce, policy.
 */
import { createPublicKey, verify as cryptoVerify, X509Certificate, constants, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, ExtendedKeyUsage, KeyUsage, KeyUsageFlags, SubjectKeyIdentifier } from '@peculiar/asn1-x509';
import {
  bytesEqual, checkDer, children, decodeInteger, decodeOid, expectTag, readTlv, tlvBytes, valueBytes, type Tlv,
} from './der.js';
import { BoundedCache } from '../bounded-cache.js';
import { digest } from '../digest.js';
import { TsaError } from './errors.js';
import { parseTstInfo, type TstInfo } from './tstinfo.js';
import {
  HASH_BY_OID, HASH_LENGTH, OID_ATTR_CONTENT_TYPE, OID_ATTR_MESSAGE_DIGEST, OID_ATTR_SIGNING_CERT,
  OID_ATTR_SIGNING_CERT_V2, OID_EC_PUBLIC_KEY, OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_ECDSA_SHA512, OID_EKU,
  OID_KP_TIMESTAMPING, OID_MGF1, OID_RSA_ENCRYPTION, OID_RSA_PSS, OID_RSA_SHA256, OID_RSA_SHA384, OID_RSA_SHA512,
  OID_SIGNED_DATA, OID_SKI, OID_TST_INFO, WEAK_HASH_OIDS, type HashName,
} from './oids.js';

export type { HashName } from './oids.js';
export { TsaError, type TsaErrorCode } from './errors.js';

/** The signature options signatureScheme passes to crypto.verify. */
export interface VerifyKeyOptions {
  dsaEncoding?: 'der';
  padding?: number;
  saltLength?: number;
}

export interface VerifyTimestampOptions {
  /** The time-stamped data; its hash (with the token's algorithm) must equal the messageImprint. */
  data?: Uint8Array;
  /** Or the digest directly. If neither is given the imprint is not checked (caller's choice). */
  digest?: { algorithm: HashName; value: Uint8Array };
  /** The nonce the request carried; the token must echo it (RFC 3161 §2.4.2). */
  nonce?: bigint;
  /** If given, TSTInfo.policy must equal it. */
  policy?: string;
  /** DER certificates to anchor on: roots and/or intermediates (or the TSA cert itself, pinned). */
  trustedCerts: Uint8Array[];
  /** Extra untrusted certificates from outside the token (e.g. a bundle's chain). */
  tsaCertificates?: Uint8Array[];
  /** Time at which the chain must be valid. Default: the token's genTime. */
  at?: Date;
  /**
   * Checks the SignerInfo signature in place of node:crypto, with crypto.verify's contract and
   * arguments: the Sigstore verifier routes a trusted TSA's signatures through the same cached,
   * batched path as its other trusted-key checks.
   */
  verifySignature?: (hash: string, data: Uint8Array, key: { key: KeyObject } & VerifyKeyOptions, signature: Uint8Array) => boolean;
}

export interface TimestampVerification {
  genTime: Date;
  serialNumber: bigint;
  policy: string;
  hashAlgorithm: HashName;
  messageImprint: Uint8Array;
  nonce?: bigint;
  /** Accuracy in microseconds, if the TSA stated one. */
  accuracyMicros?: number;
  /** DER of the certificate whose key signed the token. */
  signerCertificate: Uint8Array;
  /** DER, signer first, ending with the trusted certificate the path anchored on. */
  chain: Uint8Array[];
}

const fail = (code: ConstructorParameters<typeof TsaError>[0], msg: string, cause?: unknown): never => {
  throw new TsaError(code, msg, cause === undefined ? {} : { cause });
};

interface ParsedCert {
  der: Uint8Array;
  x509: X509Certificate;
  /** Set once checkEku has accepted this certificate. */
  ekuOk?: boolean;
  /** The public key, imported once. */
  key?: KeyObject;
  /** DER (base64) of certificates verified to have issued this one. */
  issuedBy?: Set<string>;
  /** notBefore and notAfter in ms, read once (each X509Certificate getter crosses into C++). */
  validity?: { from: number; to: number };
  /** Digests of the DER by algorithm, for ESS certHash comparisons. */
  hashes?: Map<string, Uint8Array>;
  asn: Certificate;
  /** Raw issuer Name TLV and serial INTEGER content octets, for sid / IssuerSerial matching. */
  issuer: Uint8Array;
  serial: Uint8Array;
  ski?: Uint8Array;
}

/**
 * Parsed certificates by their exact DER (base64): TSA chains repeat on every token a verifier
 * sees (a bundle's TSA is its trusted root's), and parsing them twice (OpenSSL + asn1js) cost more
 * than the rest of a token check. Entries are immutable; bounded, oldest out first.
 */
const certCache = new BoundedCache<ParsedCert>(256);
/**
 * In front of it: the same array object (a trusted root's certificates are passed again on every
 * call), then the bytes of certificates already parsed for this token (a token usually embeds the
 * trusted chain itself), before the base64 key, whose encoding and hashing were the larger part
 * of a token check's parsing. A parsed certificate keeps its own copy of the DER, and an identity
 * hit is confirmed against it, so a caller that rewrites an array it passed before gets a fresh
 * parse, not a stale one.
 */
const certByArray = new WeakMap<Uint8Array, ParsedCert>();

function parseCert(der: Uint8Array, known: readonly ParsedCert[] = []): ParsedCert {
  const same = certByArray.get(der);
  if (same && bytesEqual(same.der, der)) return same;
  for (const c of known) if (bytesEqual(c.der, der)) return c;
  const k = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const pc = certCache.get(k) ?? certCache.set(k, parseCertUncached(Uint8Array.from(der)));
  certByArray.set(der, pc);
  return pc;
}

function parseCertUncached(der: Uint8Array): ParsedCert {
  try {
    checkDer(der);
    const top = readTlv(der, 0);
    const tbs = expectTag(children(der, top)[0]!, 0x30, 'tbsCertificate');
    const f = children(der, tbs);
    let i = f[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
    const serial = valueBytes(der, expectTag(f[i++]!, 0x02, 'serialNumber'));
    i++; // signature AlgorithmIdentifier
    const issuer = tlvBytes(der, expectTag(f[i]!, 0x30, 'issuer'));
    const asn = AsnConvert.parse(der, Certificate);
    const x509 = new X509Certificate(der);
    const skiExt = asn.tbsCertificate.extensions?.find((e) => e.extnID === OID_SKI);
    const pc: ParsedCert = { der, x509, asn, issuer, serial };
    if (skiExt) pc.ski = new Uint8Array(AsnConvert.parse(skiExt.extnValue, SubjectKeyIdentifier).buffer);
    return pc;
  } catch (e) {
    if (e instanceof TsaError) throw e;
    return fail('TSA_MALFORMED', 'malformed certificate', e);
  }
}

function hashName(algId: Tlv, buf: Uint8Array, what: string): HashName {
  const oid = decodeOid(valueBytes(buf, expectTag(children(buf, algId)[0]!, 0x06, what)));
  const h = HASH_BY_OID[oid];
  if (!h) fail('TSA_UNSUPPORTED_ALGORITHM', `${what}: ${WEAK_HASH_OIDS[oid] ?? oid} not accepted`);
  return h!;
}

/** The certificate's digest under `alg`, computed once per certificate. */
function certDigest(c: ParsedCert, alg: string): Uint8Array {
  let h = (c.hashes ??= new Map()).get(alg);
  if (!h) c.hashes.set(alg, (h = digest(alg, c.der)));
  return h;
}

/** Signature parameters for crypto.verify from the SignerInfo's algorithms (RFC 5652 §5.3). */
function signatureScheme(buf: Uint8Array, sigAlg: Tlv, digestAlg: HashName, key: KeyObject) {
  const parts = children(buf, sigAlg);
  const oid = decodeOid(valueBytes(buf, expectTag(parts[0]!, 0x06, 'signatureAlgorithm')));
  const keyType = key.asymmetricKeyType;
  const want = (t: string): void => {
    if (keyType !== t) fail('TSA_BAD_SIGNATURE', `signature algorithm ${oid} does not match a ${keyType} key`);
  };
  switch (oid) {
    case OID_ECDSA_SHA256: want('ec'); return { hash: 'sha256', opts: { dsaEncoding: 'der' as const } };
    case OID_ECDSA_SHA384: want('ec'); return { hash: 'sha384', opts: { dsaEncoding: 'der' as const } };
    case OID_ECDSA_SHA512: want('ec'); return { hash: 'sha512', opts: { dsaEncoding: 'der' as const } };
    // Some signers put the key algorithm here; the hash then comes from digestAlgorithm.
    case OID_EC_PUBLIC_KEY: want('ec'); return { hash: digestAlg, opts: { dsaEncoding: 'der' as const } };
    case OID_RSA_SHA256: want('rsa'); return { hash: 'sha256', opts: { padding: constants.RSA_PKCS1_PADDING } };
    case OID_RSA_SHA384: want('rsa'); return { hash: 'sha384', opts: { padding: constants.RSA_PKCS1_PADDING } };
    case OID_RSA_SHA512: want('rsa'); return { hash: 'sha512', opts: { padding: constants.RSA_PKCS1_PADDING } };
    case OID_RSA_ENCRYPTION: want('rsa'); return { hash: digestAlg, opts: { padding: constants.RSA_PKCS1_PADDING } };
    case OID_RSA_PSS: {
      if (keyType !== 'rsa' && keyType !== 'rsa-pss') want('rsa');
      // RSASSA-PSS-params (RFC 4055 §3.1). Defaults are SHA-1, which we refuse, so all must be explicit.
      const params = parts[1] ? children(buf, expectTag(parts[1], 0x30, 'RSASSA-PSS-params')) : [];
      let hash: HashName | undefined;
      let mgfHash: HashName | undefined;
      let salt = 20;
      for (const p of params) {
        const inner = children(buf, p)[0]!;
        if (p.tag === 0xa0) hash = hashName(inner, buf, 'PSS hashAlgorithm');
        else if (p.tag === 0xa1) {
          const m = children(buf, inner);
          if (decodeOid(valueBytes(buf, m[0]!)) !== OID_MGF1 || !m[1]) fail('TSA_UNSUPPORTED_ALGORITHM', 'PSS mask generation is not MGF1');
          mgfHash = hashName(m[1]!, buf, 'MGF1 hash');
        } else if (p.tag === 0xa2) salt = Number(decodeInteger(valueBytes(buf, expectTag(inner, 0x02, 'saltLength'))));
      }
      if (!hash || mgfHash !== hash) fail('TSA_UNSUPPORTED_ALGORITHM', 'PSS must use the same SHA-2 hash for digest and MGF1');
      if (!(salt >= 0 && salt <= 1024)) fail('TSA_MALFORMED', 'PSS saltLength out of range');
      return { hash: hash!, opts: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt } };
    }
    default:
      return fail('TSA_UNSUPPORTED_ALGORITHM', `signature algorithm ${oid} not supported`);
  }
}

/** Find the certificate the sid names (IssuerAndSerialNumber or [0] SubjectKeyIdentifier). */
function findSigner(buf: Uint8Array, sid: Tlv, pool: ParsedCert[]): ParsedCert {
  if (sid.tag === 0x30) {
    const [iss, ser] = children(buf, sid);
    if (!iss || !ser) fail('TSA_MALFORMED', 'IssuerAndSerialNumber incomplete');
    const issuer = tlvBytes(buf, expectTag(iss!, 0x30, 'sid issuer'));
    const serial = valueBytes(buf, expectTag(ser!, 0x02, 'sid serial'));
    const hit = pool.find((c) => bytesEqual(c.issuer, issuer) && bytesEqual(c.serial, serial));
    if (hit) return hit;
  } else if (sid.tag === 0x80) {
    const ski = valueBytes(buf, sid);
    const hit = pool.find((c) => c.ski && bytesEqual(c.ski, ski));
    if (hit) return hit;
  } else fail('TSA_MALFORMED', 'unknown SignerIdentifier choice');
  return fail('TSA_SIGNER_NOT_FOUND', 'no certificate matches the SignerInfo sid');
}

/** The ESS attribute must name the signer cert (RFC 5035 §3: the first ESSCertID is the signer's). */
function checkEss(buf: Uint8Array, attrValue: Tlv, v2: boolean, signer: ParsedCert): void {
  const certs = children(buf, expectTag(children(buf, expectTag(attrValue, 0x30, 'SigningCertificate'))[0]!, 0x30, 'certs'));
  const first = certs[0];
  if (!first) fail('TSA_ESS_MISMATCH', 'signing-certificate attribute lists no certificate');
  const f = children(buf, expectTag(first!, 0x30, 'ESSCertID'));
  let i = 0;
  let alg = 'sha1';
  if (v2) {
    alg = 'sha256'; // RFC 5035 §4: DEFAULT id-sha256
    if (f[0]?.tag === 0x30) alg = hashName(f[i++]!, buf, 'ESSCertIDv2 hashAlgorithm');
  }
  const certHash = valueBytes(buf, expectTag(f[i++]!, 0x04, 'certHash'));
  if (!bytesEqual(certHash, certDigest(signer, alg))) fail('TSA_ESS_MISMATCH', 'ESS certHash does not match the signer certificate');
  const issuerSerial = f[i];
  if (issuerSerial) {
    const [names, serial] = children(buf, expectTag(issuerSerial, 0x30, 'IssuerSerial'));
    if (!serial || !bytesEqual(valueBytes(buf, expectTag(serial, 0x02, 'IssuerSerial serial')), signer.serial)) {
      fail('TSA_ESS_MISMATCH', 'ESS issuerSerial serial does not match the signer certificate');
    }
    // GeneralNames; the directoryName [4] EXPLICIT Name must be the signer's issuer.
    const dirNames = children(buf, expectTag(names!, 0x30, 'GeneralNames')).filter((n) => n.tag === 0xa4);
    if (!dirNames.some((n) => bytesEqual(tlvBytes(buf, children(buf, n)[0]!), signer.issuer))) {
      fail('TSA_ESS_MISMATCH', 'ESS issuerSerial issuer does not match the signer certificate');
    }
  }
}

/**
 * Throws TSA_BAD_EKU unless `der` carries exactly one critical extendedKeyUsage extension whose
 * only purpose is id-kp-timeStamping (RFC 3161 §2.3). Used by the TSA on its own certificate too.
 */
export function assertTimestampingEku(der: Uint8Array): void {
  checkEku(parseCert(der));
}

function checkEku(cert: ParsedCert): void {
  if (cert.ekuOk) return;
  checkEkuUncached(cert);
  cert.ekuOk = true;
}

function checkEkuUncached(cert: ParsedCert): void {
  const ext = cert.asn.tbsCertificate.extensions?.filter((e) => e.extnID === OID_EKU) ?? [];
  if (ext.length !== 1) return fail('TSA_BAD_EKU', 'TSA certificate has no (or several) extendedKeyUsage extensions');
  if (!ext[0]!.critical) fail('TSA_BAD_EKU', 'TSA certificate extendedKeyUsage is not critical (RFC 3161 §2.3)');
  let ekus: string[];
  try {
    ekus = [...AsnConvert.parse(ext[0]!.extnValue, ExtendedKeyUsage)];
  } catch (e) {
    return fail('TSA_MALFORMED', 'malformed extendedKeyUsage', e);
  }
  if (ekus.length !== 1 || ekus[0] !== OID_KP_TIMESTAMPING) {
    fail('TSA_BAD_EKU', 'TSA certificate extendedKeyUsage must be exactly id-kp-timeStamping (RFC 3161 §2.3)');
  }
  // A keyUsage, if present, may allow only signing: digitalSignature and/or nonRepudiation, as
  // OpenSSL's timestamp-signing purpose requires. A key for encipherment or certificate signing
  // does not sign timestamps.
  const ku = cert.asn.tbsCertificate.extensions?.find((e) => e.extnID === '2.5.29.15');
  if (ku) {
    let bits: KeyUsage;
    try {
      bits = AsnConvert.parse(ku.extnValue, KeyUsage);
    } catch (e) {
      return fail('TSA_MALFORMED', 'malformed keyUsage', e);
    }
    const allowed = KeyUsageFlags.digitalSignature | KeyUsageFlags.nonRepudiation;
    const v = bits.toNumber();
    if (v === 0 || (v & ~allowed) !== 0) fail('TSA_BAD_EKU', 'TSA certificate keyUsage must allow only digitalSignature and/or nonRepudiation');
  }
}

function checkValidity(c: ParsedCert, at: Date): void {
  const t = at.getTime();
  const v = (c.validity ??= { from: Date.parse(c.x509.validFrom), to: Date.parse(c.x509.validTo) });
  if (t < v.from) fail('TSA_CERT_NOT_YET_VALID', `certificate ${c.x509.subject.replace(/\n/g, ', ')} not valid until ${c.x509.validFrom}`);
  if (t > v.to) fail('TSA_CERT_EXPIRED', `certificate ${c.x509.subject.replace(/\n/g, ', ')} expired ${c.x509.validTo}`);
}

/** Walk issuer links from the signer until a trusted cert; anchors on roots, intermediates or the leaf itself. */
function buildChain(signer: ParsedCert, untrusted: ParsedCert[], trusted: ParsedCert[], at: Date): ParsedCert[] {
  const isTrusted = (c: ParsedCert): boolean => trusted.some((t) => t === c || bytesEqual(t.der, c.der));
  const issues = (issuer: ParsedCert, child: ParsedCert): boolean => {
    if (!issuer.x509.ca || !child.x509.checkIssued(issuer.x509)) return false;
    const ik = Buffer.from(issuer.der).toString('base64');
    if (child.issuedBy?.has(ik)) return true;
    try {
      if (!child.x509.verify(issuer.x509.publicKey)) return false;
    } catch {
      return false;
    }
    (child.issuedBy ??= new Set()).add(ik);
    return true;
  };
  const chain = [signer];
  let cur = signer;
  for (let depth = 0; depth < 8; depth++) {
    if (isTrusted(cur)) {
      chain.forEach((c) => checkValidity(c, at));
      return chain;
    }
    const anchor = trusted.find((t) => issues(t, cur));
    if (anchor) {
      chain.push(anchor);
      chain.forEach((c) => checkValidity(c, at));
      return chain;
    }
    const next = untrusted.find((u) => !chain.includes(u) && issues(u, cur));
    if (!next) break;
    chain.push(next);
    cur = next;
  }
  return fail('TSA_UNTRUSTED_CHAIN', 'no path from the TSA certificate to a trusted certificate');
}

/** Locate the ContentInfo: the input is a TimeStampToken, or a TimeStampResp carrying one. */
function locateToken(buf: Uint8Array): Tlv {
  const top = expectTag(checkDer(buf), 0x30, 'top level');
  const kids = children(buf, top);
  if (kids[0]?.tag === 0x06) return top; // ContentInfo starts with contentType OID
  // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL } (RFC 3161 §2.4.2)
  const statusInfo = children(buf, expectTag(kids[0]!, 0x30, 'PKIStatusInfo'));
  const status = decodeInteger(valueBytes(buf, expectTag(statusInfo[0]!, 0x02, 'PKIStatus')));
  if (status !== 0n && status !== 1n) fail('TSA_NOT_GRANTED', `TimeStampResp status ${status} (not granted)`);
  if (!kids[1] || kids.length > 2) fail('TSA_MALFORMED', 'granted TimeStampResp without exactly one timeStampToken');
  return expectTag(kids[1]!, 0x30, 'timeStampToken');
}

/**
 * The X.509 certificates a token (or a granted TimeStampResp) carries in SignedData.certificates
 * (RFC 5652 §5.1), unverified. A client that asked with certReq (RFC 3161 §2.4.1) can pin them to
 * check a fresh response against its own request: signature, imprint and nonce.
 */
export function embeddedCertificates(token: Uint8Array): Uint8Array[] {
  try {
    const ci = children(token, locateToken(token));
    const sd = children(token, expectTag(children(token, expectTag(ci[1]!, 0xa0, 'content'))[0]!, 0x30, 'SignedData'));
    const certs = sd[3]?.tag === 0xa0 ? children(token, sd[3]) : [];
    return certs.filter((c) => c.tag === 0x30).map((c) => tlvBytes(token, c));
  } catch (e) {
    if (e instanceof TsaError) throw e;
    throw new TsaError('TSA_MALFORMED', 'malformed time-stamp token', { cause: e });
  }
}

export function verifyTimestampToken(token: Uint8Array, opts: VerifyTimestampOptions): TimestampVerification {
  try {
    return verifyToken(token, opts);
  } catch (e) {
    // Safety net: a structural surprise in hostile input (a missing element we indexed) must
    // still surface as a coded error, never as a TypeError.
    if (e instanceof TsaError) throw e;
    throw new TsaError('TSA_MALFORMED', 'malformed time-stamp token', { cause: e });
  }
}

function verifyToken(token: Uint8Array, opts: VerifyTimestampOptions): TimestampVerification {
  const buf = token;
  // 1–2. Framing and CMS structure (RFC 5652 §3, §5.1).
  const ci = children(buf, locateToken(buf));
  if (ci.length !== 2 || decodeOid(valueBytes(buf, expectTag(ci[0]!, 0x06, 'contentType'))) !== OID_SIGNED_DATA) {
    fail('TSA_MALFORMED', 'timeStampToken is not a CMS SignedData ContentInfo');
  }
  const sd = children(buf, expectTag(children(buf, expectTag(ci[1]!, 0xa0, 'content'))[0]!, 0x30, 'SignedData'));
  let i = 0;
  // RFC 5652 §5.1: version 3 because eContentType is not id-data.
  if (decodeInteger(valueBytes(buf, expectTag(sd[i++]!, 0x02, 'SignedData version'))) !== 3n) fail('TSA_MALFORMED', 'SignedData version must be 3');
  const digestAlgorithms = children(buf, expectTag(sd[i++]!, 0x31, 'digestAlgorithms'));
  const encap = children(buf, expectTag(sd[i++]!, 0x30, 'encapContentInfo'));
  if (decodeOid(valueBytes(buf, expectTag(encap[0]!, 0x06, 'eContentType'))) !== OID_TST_INFO) {
    fail('TSA_MALFORMED', 'eContentType is not id-ct-TSTInfo');
  }
  if (!encap[1]) fail('TSA_MALFORMED', 'TSTInfo eContent absent');
  const eContentOctets = expectTag(children(buf, expectTag(encap[1]!, 0xa0, 'eContent'))[0]!, 0x04, 'eContent OCTET STRING');
  const eContent = valueBytes(buf, eContentOctets);
  const embedded: Uint8Array[] = [];
  if (sd[i]?.tag === 0xa0) {
    for (const c of children(buf, sd[i++]!)) if (c.tag === 0x30) embedded.push(tlvBytes(buf, c)); // skip non-X.509 choices
  }
  if (sd[i]?.tag === 0xa1) i++; // crls: not used for RFC 3161 verification
  const signerInfos = children(buf, expectTag(sd[i++]!, 0x31, 'signerInfos'));
  if (i !== sd.length) fail('TSA_MALFORMED', 'unexpected fields after signerInfos');
  // RFC 3161 §2.4.2: the token MUST NOT contain signatures other than the TSA's.
  if (signerInfos.length !== 1) fail('TSA_MALFORMED', `expected exactly one SignerInfo, got ${signerInfos.length}`);

  // TSTInfo (RFC 3161 §2.4.2), read strictly from its DER (host/tsa/tstinfo.ts).
  let tst: TstInfo;
  try {
    tst = parseTstInfo(eContent);
  } catch (e) {
    if (e instanceof TsaError) throw e;
    return fail('TSA_MALFORMED', 'malformed TSTInfo', e);
  }
  if (tst.version !== 1) fail('TSA_MALFORMED', `TSTInfo version ${tst.version}`);
  const imprintAlg = tst.imprintAlgorithm;
  const hashAlgorithm = HASH_BY_OID[imprintAlg];
  if (!hashAlgorithm) return fail('TSA_UNSUPPORTED_ALGORITHM', `messageImprint uses ${WEAK_HASH_OIDS[imprintAlg] ?? imprintAlg}`);
  const imprint = tst.hashedMessage;
  if (imprint.length !== HASH_LENGTH[hashAlgorithm]) fail('TSA_MALFORMED', 'messageImprint length does not match its algorithm');
  if (Number.isNaN(tst.genTime.getTime())) fail('TSA_MALFORMED', 'bad genTime');

  // 3. Signer by sid only.
  const si = children(buf, expectTag(signerInfos[0]!, 0x30, 'SignerInfo'));
  let j = 0;
  const siVersion = decodeInteger(valueBytes(buf, expectTag(si[j++]!, 0x02, 'SignerInfo version')));
  const sid = si[j++]!;
  // RFC 5652 §5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
  if (siVersion !== (sid.tag === 0x80 ? 3n : 1n)) fail('TSA_MALFORMED', 'SignerInfo version does not match its sid');
  const digestAlg = hashName(expectTag(si[j++]!, 0x30, 'digestAlgorithm'), buf, 'SignerInfo digestAlgorithm');
  // RFC 5652 §5.1: digestAlgorithms lists the signer's digest algorithm.
  if (!digestAlgorithms.some((a) => a.tag === 0x30 && HASH_BY_OID[decodeOid(valueBytes(buf, expectTag(children(buf, a)[0]!, 0x06, 'digestAlgorithms')))] === digestAlg)) {
    fail('TSA_MALFORMED', 'digestAlgorithms does not list the SignerInfo digest algorithm');
  }
  const signedAttrsTlv = si[j]?.tag === 0xa0 ? si[j++]! : undefined;
  const sigAlg = expectTag(si[j++]!, 0x30, 'signatureAlgorithm');
  const signature = valueBytes(buf, expectTag(si[j++]!, 0x04, 'signature'));
  if (!signedAttrsTlv) return fail('TSA_MALFORMED', 'SignerInfo has no signedAttrs (required when eContentType is not id-data)');

  const trusted = opts.trustedCerts.map((c) => parseCert(c));
  const extraCerts = (opts.tsaCertificates ?? []).map((c) => parseCert(c, trusted));
  const embeddedCerts = embedded.map((c) => parseCert(c, [...trusted, ...extraCerts]));
  if (trusted.length === 0) fail('TSA_UNTRUSTED_CHAIN', 'no trusted certificates supplied');
  const untrusted = [...embeddedCerts, ...extraCerts];
  const signer = findSigner(buf, sid, [...untrusted, ...trusted]);

  // 4. Signed attributes (RFC 5652 §5.3, §11): each needed type exactly once, one value each.
  const attrs = new Map<string, Tlv[]>();
  for (const a of children(buf, signedAttrsTlv)) {
    const [type, values] = children(buf, expectTag(a, 0x30, 'Attribute'));
    const oid = decodeOid(valueBytes(buf, expectTag(type!, 0x06, 'attrType')));
    if (attrs.has(oid)) fail('TSA_MALFORMED', `signed attribute ${oid} appears twice`);
    attrs.set(oid, children(buf, expectTag(values!, 0x31, 'attrValues')));
  }
  const single = (oid: string, name: string): Tlv => {
    const v = attrs.get(oid);
    if (!v || v.length !== 1) fail('TSA_MALFORMED', `signed attribute ${name} missing or multi-valued`);
    return v![0]!;
  };
  if (decodeOid(valueBytes(buf, expectTag(single(OID_ATTR_CONTENT_TYPE, 'content-type'), 0x06, 'content-type'))) !== OID_TST_INFO) {
    fail('TSA_MALFORMED', 'content-type attribute is not id-ct-TSTInfo');
  }
  const md = valueBytes(buf, expectTag(single(OID_ATTR_MESSAGE_DIGEST, 'message-digest'), 0x04, 'message-digest'));
  if (!bytesEqual(md, digest(digestAlg, eContent))) fail('TSA_CONTENT_DIGEST_MISMATCH', 'message-digest attribute does not match the TSTInfo');
  if (attrs.has(OID_ATTR_SIGNING_CERT_V2)) checkEss(buf, single(OID_ATTR_SIGNING_CERT_V2, 'signingCertificateV2'), true, signer);
  else if (attrs.has(OID_ATTR_SIGNING_CERT)) checkEss(buf, single(OID_ATTR_SIGNING_CERT, 'signingCertificate'), false, signer);
  else fail('TSA_ESS_MISMATCH', 'no ESS signing-certificate attribute (RFC 3161 §2.4.1)');

  // 5. Signature over signedAttrs with the SET OF tag (RFC 5652 §5.4), exact received bytes.
  const signedBytes = Uint8Array.from(tlvBytes(buf, signedAttrsTlv));
  signedBytes[0] = 0x31;
  const key = (signer.key ??= createPublicKey({ key: Buffer.from(signer.x509.publicKey.export({ type: 'spki', format: 'der' })), format: 'der', type: 'spki' }));
  const scheme = signatureScheme(buf, sigAlg, digestAlg, key);
  let ok = false;
  try {
    ok = (opts.verifySignature ?? cryptoVerify)(scheme.hash, signedBytes, { key, ...scheme.opts }, signature);
  } catch (e) {
    fail('TSA_BAD_SIGNATURE', 'signature could not be checked', e);
  }
  if (!ok) fail('TSA_BAD_SIGNATURE', 'signature over signedAttrs does not verify');

  // 6–7. Certificate profile and path.
  checkEku(signer);
  const at = opts.at ?? tst.genTime;
  const chain = buildChain(signer, untrusted, trusted, at);

  // 8. What the caller expects.
  if (opts.digest) {
    if (opts.digest.algorithm !== hashAlgorithm) fail('TSA_MESSAGE_IMPRINT_MISMATCH', `token imprint is ${hashAlgorithm}, expected ${opts.digest.algorithm}`);
    if (!bytesEqual(opts.digest.value, imprint)) fail('TSA_MESSAGE_IMPRINT_MISMATCH', 'messageImprint does not match the digest');
  }
  if (opts.data && !bytesEqual(digest(hashAlgorithm, opts.data), imprint)) {
    fail('TSA_MESSAGE_IMPRINT_MISMATCH', 'messageImprint does not match the data');
  }
  const nonce = tst.nonce;
  if (opts.nonce !== undefined && nonce !== opts.nonce) fail('TSA_NONCE_MISMATCH', 'nonce does not match the request');
  if (opts.policy !== undefined && tst.policy !== opts.policy) fail('TSA_POLICY_MISMATCH', `policy ${tst.policy}, expected ${opts.policy}`);

  const out: TimestampVerification = {
    genTime: tst.genTime,
    serialNumber: tst.serialNumber,
    policy: tst.policy,
    hashAlgorithm,
    messageImprint: imprint,
    signerCertificate: signer.der,
    chain: chain.map((c) => c.der),
  };
  if (nonce !== undefined) out.nonce = nonce;
  if (tst.accuracy) {
    const a = tst.accuracy;
    out.accuracyMicros = (a.seconds ?? 0) * 1e6 + (a.millis ?? 0) * 1e3 + (a.micros ?? 0);
  }
  return out;
}
