import { CairnError } from '../errors.js';

/** Stable codes for the signer (STYLE.md point 3). */
export type SignerErrorCode =
  /** No identity: neither a token nor a reachable Workload API socket. */
  | 'SIGNER_NO_IDENTITY'
  /** The CA, log or TSA refused or could not be reached. */
  | 'SIGNER_CA_FAILED'
  | 'SIGNER_LOG_FAILED'
  | 'SIGNER_TSA_FAILED'
  | 'SIGNER_BAD_CONFIG'
  | 'SIGNER_BAD_INPUT'
  /** TEP-0089: SPIRE-signed TaskRun results do not verify. */
  | 'SIGNER_RESULTS_UNVERIFIED';

export class SignerError extends CairnError<SignerErrorCode> {
  constructor(code: SignerErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { status: 400, ...(opts.cause !== undefined ? { cause: opts.cause } : {}) });
    this.name = 'SignerError';
  }
}
