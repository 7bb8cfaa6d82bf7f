import { CairnError } from '../errors.js';

/**
 * Stable codes for everything the TSA and the RFC 3161 verifier refuse on purpose
 * (STYLE.md point 3). The verifier's codes are part of its contract with callers such as the
 * Sigstore bundle verifier; do not rename them.
 */
export type TsaErrorCode =
  /** Not DER, or not the ASN.1 structure RFC 3161 / RFC 5652 require. */
  | 'TSA_MALFORMED'
  /** TimeStampResp with a status other than granted / grantedWithMods (RFC 3161 §2.4.2). */
  | 'TSA_NOT_GRANTED'
  /** An algorithm we do not accept (sha1/md5 imprints, unknown signature algorithms). */
  | 'TSA_UNSUPPORTED_ALGORITHM'
  /** No certificate matches the SignerInfo's sid (RFC 5652 §5.3). */
  | 'TSA_SIGNER_NOT_FOUND'
  /** The signedAttrs message-digest does not equal the digest of the eContent (RFC 5652 §11.2). */
  | 'TSA_CONTENT_DIGEST_MISMATCH'
  /** The signature over signedAttrs does not verify with the signer certificate's key. */
  | 'TSA_BAD_SIGNATURE'
  /** The ESS signing-certificate(-v2) attribute is missing or names another cert (RFC 3161 §2.4.1, RFC 5035). */
  | 'TSA_ESS_MISMATCH'
  /** The signer cert lacks a critical extendedKeyUsage of exactly id-kp-timeStamping (RFC 3161 §2.3). */
  | 'TSA_BAD_EKU'
  /** No path from the signer certificate to a trusted certificate. */
  | 'TSA_UNTRUSTED_CHAIN'
  /** A certificate in the path is not valid at the verification time (genTime unless `at` is given). */
  | 'TSA_CERT_EXPIRED'
  | 'TSA_CERT_NOT_YET_VALID'
  /** The token's messageImprint does not match the data / digest the caller supplied. */
  | 'TSA_MESSAGE_IMPRINT_MISMATCH'
  | 'TSA_NONCE_MISMATCH'
  | 'TSA_POLICY_MISMATCH'
  /** Server side: a TimeStampReq refused with a PKIFailureInfo (carried in TsaRefusal.failInfo). */
  | 'TSA_REQUEST_REFUSED'
  /** Server side: the signing certificate does not fit the TSA profile or the key. */
  | 'TSA_BAD_IDENTITY'
  /** Server side: the --config document is invalid. */
  | 'TSA_BAD_CONFIG'
  /** Server side: the request cannot be served (signing key/serial store unavailable). */
  | 'TSA_UNAVAILABLE';

export class TsaError extends CairnError<TsaErrorCode> {
  constructor(code: TsaErrorCode, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(code, message, opts);
    this.name = 'TsaError';
  }
}

/** PKIFailureInfo named bits (RFC 3161 §2.4.2). */
export const FAILURE_BITS = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  addInfoNotAvailable: 17,
  systemFailure: 25,
} as const;
export type FailureInfo = keyof typeof FAILURE_BITS;

/** A request the TSA answers with a rejection TimeStampResp rather than a token. */
export class TsaRefusal extends TsaError {
  readonly failInfo: FailureInfo;
  constructor(failInfo: FailureInfo, message: string) {
    super('TSA_REQUEST_REFUSED', message);
    this.name = 'TsaRefusal';
    this.failInfo = failInfo;
  }
}
