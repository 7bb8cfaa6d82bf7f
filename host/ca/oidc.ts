/**
 * OIDC identity-token verification for the CA (OpenID Connect Core §3.1.3.7, Discovery §4):
 * discovery on the issuer, a cached JWKS refreshed when a token names an unknown `kid`, and the
 * checks Fulcio makes — an algorithm allow-list (never `none`, never HS*), exact `iss`, `aud` equal
 * to the configured client id, exp/nbf/iat with a small leeway.
 *
 * Fetching is defensive: https only (http only to loopback when the issuer config says
 * `insecure-loopback-http: true`), redirects followed only within the same origin, a timeout on
 * every request and a size cap on every document.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { issuerFor, isLoopback, type IssuerConfig, type IssuersConfig } from './config.js';
import { CaError } from './errors.js';

/** Asymmetric JWS algorithms only (RFC 7518 §3.1); `none` and HS* can never verify here. */
export const ALLOWED_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const LEEWAY_S = 60;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOC_BYTES = 512 * 1024;
const REFRESH_COOLDOWN_MS = 10_000;
/** JWKS older than this is re-fetched before use. */
const JWKS_TTL_MS = 10 * 60_000;
const JWKS_MAX_STALE_MS = 24 * 3600_000;

export interface VerifiedToken {
  issuer: IssuerConfig;
  claims: JWTPayload & Record<string, unknown>;
}

interface CachedIssuer {
  jwks: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

function allowedUrl(u: URL, issuer: IssuerConfig): boolean {
  return u.protocol === 'https:' || (u.protocol === 'http:' && issuer.insecureLoopbackHttp && isLoopback(u.hostname));
}

async function fetchJson(url: string, issuer: IssuerConfig): Promise<unknown> {
  let current = new URL(url);
  const origin = current.origin;
  for (let hop = 0; hop < 3; hop++) {
    if (!allowedUrl(current, issuer)) throw new CaError('CA_ISSUER_UNREACHABLE', `refusing to fetch ${current.origin}: https required`);
    let res: Response;
    try {
      res = await fetch(current, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
    } catch (cause) {
      throw new CaError('CA_ISSUER_UNREACHABLE', `could not fetch ${current.href}`, { cause });
    }
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location') ?? '', current);
      if (next.origin !== origin) throw new CaError('CA_ISSUER_UNREACHABLE', `refusing a redirect from ${origin} to another host`);
      current = next;
      continue;
    }
    if (!res.ok) throw new CaError('CA_ISSUER_UNREACHABLE', `${current.href} answered ${res.status}`);
    const buf = Buffer.from(await res.arrayBuffer());
    if (buf.length > MAX_DOC_BYTES) throw new CaError('CA_ISSUER_UNREACHABLE', `${current.href}: document too large`);
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (cause) {
      throw new CaError('CA_ISSUER_UNREACHABLE', `${current.href} is not JSON`, { cause });
    }
  }
  throw new CaError('CA_ISSUER_UNREACHABLE', 'too many redirects');
}

export class TokenVerifier {
  private readonly cache = new Map<string, CachedIssuer>();
  private readonly inflight = new Map<string, Promise<CachedIssuer>>();

  constructor(private readonly config: IssuersConfig, private readonly now: () => number = Date.now) {}

  private async load(issuer: IssuerConfig): Promise<CachedIssuer> {
    const key = issuer.issuerUrl;
    const running = this.inflight.get(key);
    if (running) return running;
    const p = (async () => {
      const disco = (await fetchJson(`${issuer.issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`, issuer)) as { issuer?: unknown; jwks_uri?: unknown };
      // Discovery §4.3: the document's issuer MUST equal the issuer it was fetched for.
      if (disco.issuer !== issuer.issuerUrl) throw new CaError('CA_ISSUER_UNREACHABLE', 'discovery document names a different issuer');
      if (typeof disco.jwks_uri !== 'string') throw new CaError('CA_ISSUER_UNREACHABLE', 'discovery document has no jwks_uri');
      const jwks = (await fetchJson(disco.jwks_uri, issuer)) as JSONWebKeySet;
      if (!jwks || !Array.isArray(jwks.keys)) throw new CaError('CA_ISSUER_UNREACHABLE', 'JWKS has no keys');
      const entry = { jwks: createLocalJWKSet(jwks), fetchedAt: this.now() };
      this.cache.set(key, entry);
      return entry;
    })();
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      this.inflight.delete(key);
    }
  }

  async verify(token: string): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length > 16 * 1024 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
      throw new CaError('CA_MALFORMED_TOKEN', 'the identity token is not a compact JWS');
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (cause) {
      throw new CaError('CA_MALFORMED_TOKEN', 'the identity token cannot be decoded', { cause });
    }
    if (typeof header.alg !== 'string' || !ALLOWED_ALGS.includes(header.alg)) throw new CaError('CA_INVALID_TOKEN', `token algorithm ${String(header.alg)} is not allowed`);
    if (typeof unverified.iss !== 'string') throw new CaError('CA_INVALID_TOKEN', 'token has no iss');
    const issuer = issuerFor(this.config, unverified.iss);
    if (!issuer) throw new CaError('CA_UNKNOWN_ISSUER', `no configured issuer for ${unverified.iss.slice(0, 200)}`);

    let cached = this.cache.get(issuer.issuerUrl);
    if (!cached) cached = await this.load(issuer);
    else if (this.now() - cached.fetchedAt > JWKS_TTL_MS) {
      // Periodic refresh so a key the issuer withdrew stops verifying; if the issuer is briefly
      // unreachable the last good JWKS is kept (up to JWKS_MAX_STALE_MS) rather than failing.
      const stale = cached;
      cached = await this.load(issuer).catch((e: unknown) => {
        if (this.now() - stale.fetchedAt > JWKS_MAX_STALE_MS) throw e;
        return stale;
      });
    }
    const attempt = async (c: CachedIssuer): Promise<JWTPayload> =>
      (await jwtVerify(token, c.jwks, { issuer: issuer.issuerUrl, audience: issuer.clientId, algorithms: ALLOWED_ALGS, clockTolerance: LEEWAY_S, currentDate: new Date(this.now()), requiredClaims: ['exp', 'iat'] })).payload;
    let claims: JWTPayload;
    try {
      try {
        claims = await attempt(cached);
      } catch (e) {
        // An unknown kid may be a rotated key: refresh the JWKS once (rate-limited), then retry.
        if (!(e instanceof joseErrors.JWKSNoMatchingKey) || this.now() - cached.fetchedAt < REFRESH_COOLDOWN_MS) throw e;
        cached = await this.load(issuer);
        claims = await attempt(cached);
      }
    } catch (e) {
      if (e instanceof CaError) throw e;
      if (e instanceof joseErrors.JWKSNoMatchingKey) throw new CaError('CA_UNKNOWN_KEY', 'the token is signed by a key the issuer does not publish', { cause: e });
      if (e instanceof joseErrors.JOSEError) throw new CaError('CA_INVALID_TOKEN', `token rejected: ${e.code}: ${e.message}`, { cause: e });
      throw e;
    }
    // iat in the future beyond the leeway is a forged or mis-clocked token.
    if (typeof claims.iat === 'number' && claims.iat > this.now() / 1000 + LEEWAY_S) throw new CaError('CA_INVALID_TOKEN', 'token issued in the future');
    return { issuer, claims: claims as VerifiedToken['claims'] };
  }
}
