import { CairnError } from '../errors.js';

/** Stable codes for everything the CA refuses on purpose (STYLE.md point 3). */
export type CaErrorCode =
  /** No token, or a token that is not a JWS. */
  | 'CA_MISSING_TOKEN'
  | 'CA_MALFORMED_TOKEN'
  /** `iss` names no configured issuer. */
  | 'CA_UNKNOWN_ISSUER'
  /** Signature, algorithm, aud, exp/nbf/iat or required-claim checks failed. */
  | 'CA_INVALID_TOKEN'
  /** The signing key (kid) is not in the issuer's JWKS, even after a refresh. */
  | 'CA_UNKNOWN_KEY'
  /** The issuer's discovery document or JWKS could not be fetched (503). */
  | 'CA_ISSUER_UNREACHABLE'
  /** spiffe type: sub is not a SPIFFE ID, or not in the configured trust domain. */
  | 'CA_BAD_SPIFFE_ID'
  /** A claim the issuer type needs is missing or malformed (email_verified, kubernetes.io, ...). */
  | 'CA_BAD_IDENTITY'
  /** The proof of possession (signature over the challenge, or the CSR's own signature) does not verify. */
  | 'CA_BAD_PROOF'
  /** A key type or size the certificate profile does not allow. */
  | 'CA_UNSUPPORTED_KEY'
  | 'CA_BAD_REQUEST'
  /** The token's identity is not registered for a subordinate CA certificate (403). */
  | 'CA_NOT_REGISTERED'
  | 'CA_BAD_CONFIG'
  /** Trust-domain registration: already registered (409), unknown (404), http-01 answer missing or wrong (403). */
  | 'CA_CONFLICT'
  | 'CA_NOT_FOUND'
  | 'CA_CHALLENGE_FAILED'
  /** A subordinate CA could not get or renew its certificate from its parent CA (503). */
  | 'CA_PARENT_FAILED'
  /** A subordinate CA started without a certificate and is still waiting for its parent to issue one (503, Retry-After). */
  | 'CA_PENDING'
  /** The CT log did not return a valid SCT (503: try again). */
  | 'CA_CT_FAILED'
  /** Too much open work of a kind anyone may start (pending trust-domain registrations, certificate requests in progress, fetches for new meta issuers): 503, Retry-After. */
  | 'CA_OVERLOADED';

export class CaError extends CairnError<CaErrorCode> {
  constructor(code: CaErrorCode, message: string, opts: { status?: number; cause?: unknown; retryAfter?: number } = {}) {
    const status = opts.status ?? (code === 'CA_INVALID_TOKEN' || code === 'CA_UNKNOWN_KEY' || code === 'CA_UNKNOWN_ISSUER' || code === 'CA_MISSING_TOKEN' || code === 'CA_MALFORMED_TOKEN' || code === 'CA_BAD_SPIFFE_ID' || code === 'CA_BAD_IDENTITY' ? 401 : code === 'CA_ISSUER_UNREACHABLE' || code === 'CA_CT_FAILED' || code === 'CA_PARENT_FAILED' || code === 'CA_PENDING' || code === 'CA_OVERLOADED' ? 503 : code === 'CA_NOT_REGISTERED' ? 403 : 400);
    // A 503 without a figure gets the root handler's Retry-After (host/http/errors.ts).
    super(code, message, { status, ...(opts.cause !== undefined ? { cause: opts.cause } : {}), ...(opts.retryAfter !== undefined ? { retryAfter: opts.retryAfter } : {}) });
    this.name = 'CaError';
  }
}
