/**
 * JWT-SVID validation (JWT-SVID §3, §7; Workload API §6.2.3 and §6.3): the bundle used is the one
 * of the trust domain named by `sub`; alg must be an asymmetric JWS algorithm from JWT-SVID §3.1
 * (never "none" or HMAC); `aud` must contain the validator's audience; `exp` must be in the future.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { SpiffeError } from './errors.js';
import { parseWorkloadId } from './id.js';

/** JWT-SVID §3.1: RS/ES/PS with SHA-256/384/512. */
export const JWT_SVID_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];
const MAX_TOKEN_LENGTH = 16 * 1024;

export interface ValidatedJwtSvid {
  spiffeId: string;
  trustDomain: string;
  claims: JWTPayload;
}

/** `keysFor(td)` returns that trust domain's JWT keys, or undefined when it is unknown. */
export async function validateJwtSvid(
  token: unknown,
  audience: unknown,
  keysFor: (trustDomain: string) => JWK[] | undefined,
  opts: { now?: () => number } = {},
): Promise<ValidatedJwtSvid> {
  if (typeof token !== 'string' || token.length === 0) throw new SpiffeError('SPIFFE_BAD_TOKEN', 'svid must be a non-empty string');
  if (typeof audience !== 'string' || audience.length === 0) throw new SpiffeError('SPIFFE_BAD_REQUEST', 'audience must be a non-empty string');
  if (token.length > MAX_TOKEN_LENGTH) throw new SpiffeError('SPIFFE_BAD_TOKEN', 'token too long');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch (e) {
    throw new SpiffeError('SPIFFE_BAD_TOKEN', 'not a JWS compact serialization', { cause: e });
  }
  if (typeof header.alg !== 'string' || !JWT_SVID_ALGS.includes(header.alg)) throw new SpiffeError('SPIFFE_BAD_TOKEN', `alg ${String(header.alg)} is not allowed for JWT-SVIDs`);
  if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== 'JOSE') throw new SpiffeError('SPIFFE_BAD_TOKEN', 'typ must be JWT or JOSE');
  let id;
  try {
    id = parseWorkloadId(unverified.sub);
  } catch (e) {
    throw new SpiffeError('SPIFFE_BAD_TOKEN', 'sub is not a workload SPIFFE ID', { cause: e });
  }
  const keys = keysFor(id.trustDomain);
  if (!keys) throw new SpiffeError('SPIFFE_UNKNOWN_TRUST_DOMAIN', `no JWT bundle for trust domain ${id.trustDomain}`);
  if (unverified.exp === undefined) throw new SpiffeError('SPIFFE_BAD_TOKEN', 'exp is required');
  if (unverified.aud === undefined) throw new SpiffeError('SPIFFE_BAD_TOKEN', 'aud is required');
  try {
    const now = opts.now?.() ?? Date.now();
    // Bundle keys carry use "jwt-svid" (JWT-SVID §6); jose's key selection only admits use "sig"
    // or none, so `use` is dropped here — these keys came from the jwt-svid half of the bundle.
    const jwks = { keys: keys.map(({ use: _use, ...k }) => k) };
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: JWT_SVID_ALGS,
      audience,
      currentDate: new Date(now),
      requiredClaims: ['sub', 'aud', 'exp'],
    });
    return { spiffeId: payload.sub!, trustDomain: id.trustDomain, claims: payload };
  } catch (e) {
    throw new SpiffeError('SPIFFE_TOKEN_INVALID', `JWT-SVID rejected: ${(e as { code?: string }).code ?? 'invalid'}`, { cause: e });
  }
}
