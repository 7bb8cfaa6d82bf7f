import { CairnError } from '../errors.js';

/**
 * Stable codes for every verification failure (STYLE.md point 3). Callers (the CLI, the
 * conformance entrypoint, embedders) switch on these; do not rename them.
 */
export type VerificationErrorCode =
  | 'BUNDLE_MALFORMED'
  | 'BUNDLE_UNSUPPORTED_VERSION'
  | 'TRUSTED_ROOT_MALFORMED'
  /** No trusted, verified time (SET integrated time or RFC 3161 token) for the signature. */
  | 'TIMESTAMP_MISSING'
  | 'TIMESTAMP_INVALID'
  | 'TIMESTAMP_UNTRUSTED'
  /** The signing certificate does not chain to a trusted CA valid at the signing times. */
  | 'CERTIFICATE_UNTRUSTED'
  | 'CERTIFICATE_NOT_VALID_AT_TIME'
  | 'CERTIFICATE_MALFORMED'
  /** Embedded SCTs missing, or none verifies with a trusted CT log. */
  | 'SCT_INVALID'
  /** The tlog entry does not describe this bundle's signature and artifact. */
  | 'TLOG_BODY_MISMATCH'
  | 'TLOG_ENTRY_MISSING'
  | 'TLOG_UNKNOWN_LOG'
  | 'TLOG_SET_INVALID'
  | 'TLOG_INCLUSION_PROOF_INVALID'
  | 'TLOG_CHECKPOINT_INVALID'
  | 'TLOG_INTEGRATED_TIME_INVALID'
  /** Online witness check (witnessed.ts): too few witness cosignatures, or a witnessed tree inconsistent with the bundle's. */
  | 'TLOG_NOT_WITNESSED'
  /** The artifact signature or DSSE envelope signature does not verify. */
  | 'SIGNATURE_INVALID'
  /** The artifact (or its digest) is not what was signed. */
  | 'ARTIFACT_MISMATCH'
  | 'PUBLIC_KEY_MISSING'
  /** Identity policy: SAN, issuer, trust domain, extension values, predicate type. */
  | 'POLICY_IDENTITY_MISMATCH'
  | 'POLICY_ISSUER_MISMATCH'
  | 'POLICY_TRUST_DOMAIN_MISMATCH'
  | 'POLICY_EXTENSION_MISMATCH'
  | 'POLICY_PREDICATE_MISMATCH';

export class VerificationError extends CairnError<VerificationErrorCode> {
  constructor(code: VerificationErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { status: 400, ...(opts.cause !== undefined ? { cause: opts.cause } : {}) });
    this.name = 'VerificationError';
  }
}

export function fail(code: VerificationErrorCode, message: string, cause?: unknown): never {
  throw new VerificationError(code, message, cause === undefined ? {} : { cause });
}
