import { CairnError } from '../errors.js';

/**
 * Stable codes for everything the trust-file writers and the TUF repository refuse on purpose
 * (STYLE.md point 3).
 */
export type TrustErrorCode =
  /** Input to a trust-file writer is not what protobuf-specs allows (bad URL, key, window). */
  | 'TRUST_INVALID_INPUT'
  /** An existing trusted_root.json / signing_config.json to merge with is not well-formed. */
  | 'TRUST_PREVIOUS_MALFORMED'
  /** No instance (CA, TSA, log) of a trusted root has the id given. */
  | 'TRUST_INSTANCE_NOT_FOUND'
  /** The TUF repository directory is missing, not initialised, or already initialised. */
  | 'TUF_REPO_STATE'
  /** TUF metadata on disk is not well-formed or fails its own signature threshold. */
  | 'TUF_METADATA_INVALID'
  /** A role's signing keys are not available locally (threshold cannot be met). */
  | 'TUF_KEY_MISSING'
  /** A target name that could escape targets/ or is otherwise not allowed. */
  | 'TUF_BAD_TARGET_NAME'
  /** A request for a repository file that does not exist (HTTP 404). */
  | 'TUF_NOT_FOUND';

export class TrustError extends CairnError<TrustErrorCode> {
  constructor(code: TrustErrorCode, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(code, message, opts);
    this.name = 'TrustError';
  }
}
