import { CairnError } from '../errors.js';

/**
 * Stable codes for everything the SPIFFE identity provider refuses on purpose (STYLE.md point 3).
 * The Workload API maps them onto gRPC status codes (workload.ts); HTTP routes use `status`.
 */
export type SpiffeErrorCode =
  /** Not a SPIFFE ID per SPIFFE-ID spec §2 (scheme, trust domain, path segments, length). */
  | 'SPIFFE_BAD_ID'
  /** Not a valid trust domain name (SPIFFE-ID §2.1). */
  | 'SPIFFE_BAD_TRUST_DOMAIN'
  /** A selector that is not `type:value` with a known type (registration.ts). */
  | 'SPIFFE_BAD_SELECTOR'
  /** A JWT-SVID that is not a compact JWS, or whose claims break JWT-SVID §3. */
  | 'SPIFFE_BAD_TOKEN'
  /** A JWT-SVID whose signature, audience or expiry does not verify against the bundle. */
  | 'SPIFFE_TOKEN_INVALID'
  /** No bundle is known for the trust domain a token or SVID claims. */
  | 'SPIFFE_UNKNOWN_TRUST_DOMAIN'
  /** A request body the server cannot accept (mandatory field empty, out of range). */
  | 'SPIFFE_BAD_REQUEST'
  /** Admin API / node API authentication failed. */
  | 'SPIFFE_UNAUTHENTICATED'
  /** The caller is authenticated but not entitled (no matching registration entry). */
  | 'SPIFFE_PERMISSION_DENIED'
  /** Registration entry not found / already exists. */
  | 'SPIFFE_NOT_FOUND'
  | 'SPIFFE_CONFLICT'
  /** Join token unknown, already used or expired (all three look the same to a caller). */
  | 'SPIFFE_BAD_JOIN_TOKEN'
  /** A TPM quote, AK or nonce that fails attestation (tpm-attestor.ts). */
  | 'SPIFFE_TPM_REJECTED'
  /** A federated bundle that cannot be fetched or is not a valid SPIFFE bundle. */
  | 'SPIFFE_BAD_BUNDLE'
  /** The --config document is invalid. */
  | 'SPIFFE_BAD_CONFIG'
  /** Key material or the store is unavailable. */
  | 'SPIFFE_UNAVAILABLE';

export class SpiffeError extends CairnError<SpiffeErrorCode> {
  constructor(code: SpiffeErrorCode, message: string, opts: { status?: number; cause?: unknown; retryAfter?: number } = {}) {
    // A 503 without a figure gets the root handler's Retry-After (host/http/errors.ts).
    super(code, message, { status: opts.status ?? defaultStatus[code], ...(opts.cause === undefined ? {} : { cause: opts.cause }), ...(opts.retryAfter === undefined ? {} : { retryAfter: opts.retryAfter }) });
    this.name = 'SpiffeError';
  }
}

const defaultStatus: Record<SpiffeErrorCode, number> = {
  SPIFFE_BAD_ID: 400,
  SPIFFE_BAD_TRUST_DOMAIN: 400,
  SPIFFE_BAD_SELECTOR: 400,
  SPIFFE_BAD_TOKEN: 400,
  SPIFFE_TOKEN_INVALID: 401,
  SPIFFE_UNKNOWN_TRUST_DOMAIN: 400,
  SPIFFE_BAD_REQUEST: 400,
  SPIFFE_UNAUTHENTICATED: 401,
  SPIFFE_PERMISSION_DENIED: 403,
  SPIFFE_NOT_FOUND: 404,
  SPIFFE_CONFLICT: 409,
  SPIFFE_BAD_JOIN_TOKEN: 401,
  SPIFFE_TPM_REJECTED: 401,
  SPIFFE_BAD_BUNDLE: 502,
  SPIFFE_BAD_CONFIG: 400,
  SPIFFE_UNAVAILABLE: 503,
};
