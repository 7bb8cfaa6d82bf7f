/**
 * The RFC 3161 time-stamp authority core: parse a TimeStampReq, build a TimeStampResp. Pure — no
 * fastify, no SQLite; the serial number and the clock come from the caller.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { signerUnready } from '../keys/probe.js';
import type { KeySigner } from '../keys/types.js';
import {
  bytesEqual, checkDer, children, decodeInteger, decodeOid, expectTag, tlvBytes, valueBytes,
} from './der.js';
import {
  algorithmIdentifier, compareBytes, generalizedTime, integer, NULL, octets, oid, seq, set, tlv,
} from './encode.js';
import { FAILURE_BITS, TsaError, TsaRefusal, type FailureInfo } from './errors.js';
import {
  HASH_BY_OID, HASH_LENGTH, HASH_OIDS, OID_ATTR_CONTENT_TYPE, OID_ATTR_MESSAGE_DIGEST, OID_ATTR_SIGNING_CERT_V2,
  OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_MGF1, OID_RSA_PSS, OID_RSA_SHA256, OID_SIGNED_DATA, OID_TST_INFO,
  SIGSTORE_TSA_POLICY, WEAK_HASH_OIDS, type HashName,
} from './oids.js';
import { assertTimestampingEku } from './verify.js';

/** A parsed TimeStampReq (RFC 3161 §2.4.1), or the same from Sigstore's JSON request. */
export interface TimeStampRequest {
  hashAlgorithm: HashName;
  /** The messageImprint TLV exactly as requested, echoed into TSTInfo (§2.4.2 "MUST have the same value"). */
  messageImprintDer: Uint8Array;
  hashedMessage: Uint8Array;
  policy?: string;
  /** The nonce INTEGER TLV, echoed unchanged. */
  nonceDer?: Uint8Array;
  nonce?: bigint;
  certReq: boolean;
}

/** Largest TimeStampReq we read; a real one is < 200 bytes. */
export const MAX_REQUEST_BYTES = 16 * 1024;
/** Nonces are "large random numbers" (§2.4.1); 64 bits is typical. Bound it so echoing stays cheap. */
const MAX_NONCE_BYTES = 32;

function hashFromOid(o: string): HashName {
  const h = HASH_BY_OID[o];
  if (!h) throw new TsaRefusal('badAlg', `hash algorithm ${WEAK_HASH_OIDS[o] ?? o} is not accepted`);
  return h;
}

export function messageImprintDer(alg: HashName, hashed: Uint8Array): Uint8Array {
  return seq(algorithmIdentifier(HASH_OIDS[alg]), octets(hashed));
}

/** Parse a DER TimeStampReq. Every problem is a TsaRefusal carrying the PKIFailureInfo to answer with. */
export function parseTimeStampReq(der: Uint8Array): TimeStampRequest {
  if (der.length > MAX_REQUEST_BYTES) throw new TsaRefusal('badRequest', 'request too large');
  let top;
  try {
    top = expectTag(checkDer(der), 0x30, 'TimeStampReq');
  } catch (e) {
    throw new TsaRefusal('badDataFormat', (e as Error).message);
  }
  try {
    const f = children(der, top);
    let i = 0;
    if (f[i]?.tag !== 0x02 || decodeInteger(valueBytes(der, f[i++]!)) !== 1n) throw new TsaRefusal('badRequest', 'version must be 1');
    const mi = expectTag(f[i++] ?? fail('messageImprint missing'), 0x30, 'messageImprint');
    const [algId, hashed, ...rest] = children(der, mi);
    if (!algId || !hashed || rest.length) throw new TsaRefusal('badDataFormat', 'messageImprint malformed');
    const algParts = children(der, expectTag(algId, 0x30, 'hashAlgorithm'));
    const hashAlgorithm = hashFromOid(decodeOid(valueBytes(der, expectTag(algParts[0] ?? fail('no OID'), 0x06, 'hash OID'))));
    // Parameters: absent or NULL (RFC 5754 §2 says absent; NULL is common in the wild).
    if (algParts.length > 2 || (algParts[1] && !bytesEqual(tlvBytes(der, algParts[1]), NULL))) {
      throw new TsaRefusal('badAlg', 'unexpected hash algorithm parameters');
    }
    const hashedMessage = valueBytes(der, expectTag(hashed, 0x04, 'hashedMessage'));
    if (hashedMessage.length !== HASH_LENGTH[hashAlgorithm]) {
      throw new TsaRefusal('badDataFormat', `hashedMessage is ${hashedMessage.length} bytes, ${hashAlgorithm} needs ${HASH_LENGTH[hashAlgorithm]}`);
    }
    const req: TimeStampRequest = { hashAlgorithm, messageImprintDer: tlvBytes(der, mi), hashedMessage, certReq: false };
    if (f[i]?.tag === 0x06) req.policy = decodeOid(valueBytes(der, f[i++]!));
    if (f[i]?.tag === 0x02) {
      const n = f[i++]!;
      if (n.end - n.valueStart > MAX_NONCE_BYTES) throw new TsaRefusal('badRequest', 'nonce too large');
      req.nonce = decodeInteger(valueBytes(der, n));
      req.nonceDer = tlvBytes(der, n);
    }
    if (f[i]?.tag === 0x01) {
      const b = valueBytes(der, f[i++]!);
      if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw new TsaRefusal('badRequest', 'certReq is not a DER BOOLEAN');
      req.certReq = b[0] === 0xff;
    }
    // We implement no request extensions; §2.4.2 says to answer unacceptedExtension.
    if (f[i]?.tag === 0xa0) throw new TsaRefusal('unacceptedExtension', 'request extensions are not supported');
    if (i !== f.length) throw new TsaRefusal('badRequest', 'unexpected fields in TimeStampReq');
    return req;
  } catch (e) {
    if (e instanceof TsaRefusal) throw e;
    throw new TsaRefusal('badDataFormat', (e as Error).message);
  }
}

function fail(msg: string): never {
  throw new TsaRefusal('badDataFormat', msg);
}

/** BIT STRING with a single named bit, DER (X.690 §11.2.2: no trailing zero bits). */
function failInfoBits(info: FailureInfo): Uint8Array {
  const bit = FAILURE_BITS[info];
  const bytes = new Uint8Array(Math.floor(bit / 8) + 1);
  bytes[bytes.length - 1] = 0x80 >> bit % 8;
  return tlv(0x03, Uint8Array.of(7 - (bit % 8)), bytes);
}

/** A rejection TimeStampResp: status rejection(2), a statusString, and the failInfo bit (§2.4.2). */
export function failureResponse(info: FailureInfo, text: string): Uint8Array {
  const freeText = seq(tlv(0x0c, new TextEncoder().encode(text.slice(0, 200))));
  return seq(seq(integer(2n), freeText, failInfoBits(info)));
}

export interface AuthorityOptions {
  signer: KeySigner;
  /** DER certificates, TSA leaf first; the leaf's key must be the signer's. */
  certificates: Uint8Array[];
  /** Accepted policy OIDs; the first is used when the request names none. */
  policies?: string[];
  /** Stated accuracy of genTime (RFC 3161 §2.4.2). Default 1 second. */
  accuracy?: { seconds?: number; millis?: number; micros?: number };
}

interface Scheme { digest: HashName; digestAlgId: Uint8Array; sigAlgId: Uint8Array }

function schemeFor(signer: KeySigner): Scheme {
  const sha = (h: HashName): Uint8Array => algorithmIdentifier(HASH_OIDS[h]);
  switch (signer.algorithm) {
    // RFC 5758 §3.2: ECDSA AlgorithmIdentifiers omit parameters.
    case 'ecdsa-p256-sha256': return { digest: 'sha256', digestAlgId: sha('sha256'), sigAlgId: algorithmIdentifier(OID_ECDSA_SHA256) };
    case 'ecdsa-p384-sha384': return { digest: 'sha384', digestAlgId: sha('sha384'), sigAlgId: algorithmIdentifier(OID_ECDSA_SHA384) };
    // RFC 4055 §5: sha256WithRSAEncryption carries NULL parameters.
    case 'rsa-pkcs1v15-sha256': return { digest: 'sha256', digestAlgId: sha('sha256'), sigAlgId: algorithmIdentifier(OID_RSA_SHA256, NULL) };
    case 'rsa-pss-sha256': {
      // RFC 4055 §3.1: explicit SHA-256 / MGF1-SHA-256 / salt 32 (the defaults are SHA-1).
      const h = sha('sha256');
      const params = seq(tlv(0xa0, h), tlv(0xa1, algorithmIdentifier(OID_MGF1, h)), tlv(0xa2, integer(32n)));
      return { digest: 'sha256', digestAlgId: h, sigAlgId: algorithmIdentifier(OID_RSA_PSS, params) };
    }
    default:
      throw new TsaError('TSA_BAD_IDENTITY', `TSA keys must be ECDSA P-256/P-384 or RSA, not ${signer.algorithm}`);
  }
}

/**
 * Builds tokens. Everything that does not depend on the request is encoded once here.
 * RFC 3161 §2.4.2 fields: version 1, policy, messageImprint (echoed), serialNumber, genTime,
 * accuracy, nonce (echoed); ordering is left at its DEFAULT FALSE and `tsa` is omitted.
 */
export class TimestampAuthority {
  readonly policies: readonly string[];
  readonly certificates: readonly Uint8Array[];
  private readonly signer: KeySigner;
  private readonly scheme: Scheme;
  private readonly policyDer: Map<string, Uint8Array>;
  private readonly accuracyDer: Uint8Array;
  /**
   * With whole-second accuracy, genTime carries no fraction. Sub-second digits would add nothing
   * the stated accuracy vouches for, and DER's "no trailing zeros" fractions (X.690 §11.7.3) are
   * refused by @sigstore/core 3's time parser, which accepts only exactly three digits.
   */
  private readonly wholeSeconds: boolean;
  private readonly certsField: Uint8Array;
  private readonly validFrom: number;
  private readonly validTo: number;
  private readonly sid: Uint8Array;
  private readonly staticAttrs: Uint8Array[];
  private readonly mdAttrPrefix: Uint8Array;
  private readonly head: { version: Uint8Array; digestAlgs: Uint8Array; tstInfoOid: Uint8Array; ciOid: Uint8Array; granted: Uint8Array; v1: Uint8Array; v3: Uint8Array };

  constructor(opts: AuthorityOptions) {
    const leafDer = opts.certificates[0];
    if (!leafDer) throw new TsaError('TSA_BAD_IDENTITY', 'no TSA certificate');
    this.signer = opts.signer;
    this.certificates = opts.certificates;
    this.scheme = schemeFor(opts.signer);
    this.policies = opts.policies?.length ? [...opts.policies] : [SIGSTORE_TSA_POLICY];
    this.policyDer = new Map(this.policies.map((p) => [p, oid(p)]));

    // RFC 3161 §2.3: the TSA cert has exactly one critical EKU, id-kp-timeStamping; we also insist
    // it is not a CA and carries the signer's key, so a misconfiguration fails at start, not later.
    const leaf = new X509Certificate(leafDer);
    assertTimestampingEku(leafDer);
    if (leaf.ca) throw new TsaError('TSA_BAD_IDENTITY', 'the TSA certificate must not be a CA');
    this.validFrom = new Date(leaf.validFrom).getTime();
    this.validTo = new Date(leaf.validTo).getTime();
    const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
    if (!bytesEqual(new Uint8Array(spki), opts.signer.publicKeySpki)) {
      throw new TsaError('TSA_BAD_IDENTITY', 'the TSA certificate does not carry the signing key');
    }

    const a = opts.accuracy ?? { seconds: 1 };
    this.wholeSeconds = !a.millis && !a.micros;
    this.accuracyDer = seq(
      ...(a.seconds ? [integer(BigInt(a.seconds))] : []),
      ...(a.millis ? [tlv(0x80, integer(BigInt(a.millis)).subarray(2))] : []),
      ...(a.micros ? [tlv(0x81, integer(BigInt(a.micros)).subarray(2))] : []),
    );

    // sid = IssuerAndSerialNumber taken byte-for-byte from the certificate (RFC 5652 §10.2.4).
    const certTop = checkDer(leafDer);
    const tbs = children(leafDer, children(leafDer, certTop)[0]!);
    let i = tbs[0]?.tag === 0xa0 ? 1 : 0;
    const serial = tlvBytes(leafDer, tbs[i]!);
    const issuer = tlvBytes(leafDer, tbs[i + 2]!);
    this.sid = seq(issuer, serial);
    // Only the TSA's own certificate, as §2.4.1 certReq asks; the chain is served at /certchain.
    this.certsField = tlv(0xa0, leafDer);

    // SigningCertificateV2 (RFC 5035 §3) with the default hash SHA-256, so hashAlgorithm is omitted
    // (DER forbids encoding a DEFAULT), plus IssuerSerial naming the leaf.
    const certHash = createHash('sha256').update(leafDer).digest();
    const issuerSerial = seq(seq(tlv(0xa4, issuer)), serial);
    const essV2 = seq(seq(seq(octets(certHash), issuerSerial)));
    this.staticAttrs = [
      seq(oid(OID_ATTR_CONTENT_TYPE), set(oid(OID_TST_INFO))),
      seq(oid(OID_ATTR_SIGNING_CERT_V2), set(essV2)),
    ];
    this.mdAttrPrefix = oid(OID_ATTR_MESSAGE_DIGEST);
    this.head = {
      version: integer(1n),
      v1: integer(1n),
      v3: integer(3n), // RFC 5652 §5.1: version 3 when eContentType is not id-data
      digestAlgs: set(this.scheme.digestAlgId),
      tstInfoOid: oid(OID_TST_INFO),
      ciOid: oid(OID_SIGNED_DATA),
      granted: seq(integer(0n)),
    };
  }

  /** Refuse what this TSA does not serve; returns the policy to stamp. */
  policyFor(req: TimeStampRequest): string {
    if (req.policy === undefined) return this.policies[0]!;
    if (!this.policyDer.has(req.policy)) throw new TsaRefusal('unacceptedPolicy', `policy ${req.policy} is not accepted`);
    return req.policy;
  }

  /** Encode the TSTInfo for one request (RFC 3161 §2.4.2). */
  tstInfo(req: TimeStampRequest, serial: bigint, genTime: Date): Uint8Array {
    const policy = this.policyDer.get(this.policyFor(req))!;
    return seq(
      this.head.version, policy, req.messageImprintDer, integer(serial),
      generalizedTime(this.wholeSeconds ? new Date(Math.floor(genTime.getTime() / 1000) * 1000) : genTime),
      this.accuracyDer, ...(req.nonceDer ? [req.nonceDer] : []),
    );
  }

  /**
   * Readiness (/readyz): undefined while `now` is inside the TSA certificate's validity, where
   * respond() signs, and the key signs; otherwise every request gets systemFailure (below).
   */
  async unready(now: Date): Promise<string | undefined> {
    const t = now.getTime();
    if (t < this.validFrom || t > this.validTo) return `the TSA certificate is not valid now (${new Date(this.validFrom).toISOString()} to ${new Date(this.validTo).toISOString()})`;
    return signerUnready(this.signer);
  }

  /** A granted TimeStampResp carrying a freshly signed TimeStampToken. */
  async respond(req: TimeStampRequest, serial: bigint, genTime: Date): Promise<Uint8Array> {
    // A token whose genTime is outside the TSA certificate's validity verifies nowhere (openssl,
    // Cairn): refuse to make one (RFC 3161 §2.4.2 systemFailure) rather than hand it out.
    if (genTime.getTime() < this.validFrom || genTime.getTime() > this.validTo) throw new TsaRefusal('systemFailure', 'the TSA certificate is not valid now');
    const tst = this.tstInfo(req, serial, genTime);
    const md = createHash(this.scheme.digest).update(tst).digest();
    const attrs = [...this.staticAttrs, seq(this.mdAttrPrefix, set(octets(md)))].sort(compareBytes);
    const toSign = set(...attrs); // RFC 5652 §5.4: the signature covers the EXPLICIT SET OF encoding
    const signature = await this.signer.sign(toSign);
    toSign[0] = 0xa0; // ... but SignerInfo carries it as [0] IMPLICIT
    const signerInfo = seq(this.head.v1, this.sid, this.scheme.digestAlgId, toSign, this.scheme.sigAlgId, octets(signature));
    const signedData = seq(
      this.head.v3, this.head.digestAlgs, seq(this.head.tstInfoOid, tlv(0xa0, octets(tst))),
      ...(req.certReq ? [this.certsField] : []), set(signerInfo),
    );
    return seq(this.head.granted, seq(this.head.ciOid, tlv(0xa0, signedData)));
  }

  /** The chain as PEM, leaf first (GET /api/v1/timestamp/certchain). */
  certChainPem(): string {
    return this.certificates.map((c) => new X509Certificate(c).toString()).join('');
  }
}

