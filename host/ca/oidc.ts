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
import { constants, KeyObject, type VerifyKeyObjectInput, type webcrypto } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { BoundedCache } from '../bounded-cache.js';
import { verifyAsync } from '../keys/async-crypto.js';
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
/**
 * JWKS kept for issuers matched by a meta-issuer pattern: the token's own (unverified) `iss`
 * names them, so a client can make up as many as the pattern admits.
 */
const MAX_META_ISSUERS = 256;
/**
 * After a failed discovery or JWKS fetch, the issuer is not asked again for this long: requests
 * meanwhile are answered at once (503 with Retry-After, or from a stale JWKS) instead of each
 * waiting out the fetch timeout on an issuer that hangs.
 */
const LOAD_RETRY_MS = 10_000;
/**
 * Fetches in flight at once for issuers matched by a meta-issuer pattern (new `iss` values a
 * client names); beyond it, 503 CA_OVERLOADED. Configured issuers are never counted here.
 */
const MAX_META_LOADS = 32;

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
    const buf = await readCapped(res, current.href);
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (cause) {
      throw new CaError('CA_ISSUER_UNREACHABLE', `${current.href} is not JSON`, { cause });
    }
  }
  throw new CaError('CA_ISSUER_UNREACHABLE', 'too many redirects');
}

/**
 * The body, refused as soon as it passes MAX_DOC_BYTES (declared or received): the issuer (for a
 * meta-issuer or a registered trust domain's, whoever the token or the registration names) must
 * not make the CA hold more than that in memory for a document it will refuse anyway.
 */
async function readCapped(res: Response, href: string): Promise<Buffer> {
  const tooLarge = (): CaError => new CaError('CA_ISSUER_UNREACHABLE', `${href}: document too large`);
  if (Number(res.headers.get('content-length') ?? '0') > MAX_DOC_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > MAX_DOC_BYTES) throw tooLarge(); // leaving the loop cancels the stream
      parts.push(chunk);
    }
  }
  return Buffer.concat(parts);
}

/**
 * How each allowed JWS algorithm maps onto node:crypto (RFC 7518 §3.3-3.5, RFC 8037 §3.1): the
 * digest, the key type it needs, and for ECDSA the curve and the fixed R||S length (§3.4: the
 * JWS signature is not DER).
 */
const NODE_ALGS: Record<string, { hash: string | null; type: string; curve?: string; sigLen?: number; pss?: boolean }> = {
  ES256: { hash: 'sha256', type: 'ec', curve: 'prime256v1', sigLen: 64 },
  ES384: { hash: 'sha384', type: 'ec', curve: 'secp384r1', sigLen: 96 },
  ES512: { hash: 'sha512', type: 'ec', curve: 'secp521r1', sigLen: 132 },
  RS256: { hash: 'sha256', type: 'rsa' },
  RS384: { hash: 'sha384', type: 'rsa' },
  RS512: { hash: 'sha512', type: 'rsa' },
  PS256: { hash: 'sha256', type: 'rsa', pss: true },
  PS384: { hash: 'sha384', type: 'rsa', pss: true },
  PS512: { hash: 'sha512', type: 'rsa', pss: true },
  EdDSA: { hash: null, type: 'ed25519' },
};

/** node:crypto handles of the JWKS keys jose imported (one per CryptoKey, so a JWKS refresh drops them). */
const keyObjects = new WeakMap<object, KeyObject>();

/** Thrown by fastVerify for a token it leaves to jwtVerify. */
class FastPathDeclined extends Error {}

export class TokenVerifier {
  /** JWKS of configured issuers (as many as the configuration names). */
  private readonly cache = new Map<string, CachedIssuer>();
  /** JWKS of issuers matched by a meta-issuer pattern (see MAX_META_ISSUERS). */
  private readonly metaCache = new BoundedCache<CachedIssuer>(MAX_META_ISSUERS);
  private readonly inflight = new Map<string, Promise<CachedIssuer>>();
  /** The last failed load per issuer, until it may be tried again (see LOAD_RETRY_MS). */
  private readonly failures = new Map<string, { until: number; error: CaError }>();
  private readonly metaFailures = new BoundedCache<{ until: number; error: CaError }>(MAX_META_ISSUERS);
  private metaLoads = 0;
  /** Tokens checked by each path: the node:crypto fast path, or jose's jwtVerify. */
  readonly checks = { fast: 0, jose: 0 };

  /**
   * `jwtVerifyOnly` turns the node:crypto fast path off (every token through jose's jwtVerify):
   * the tests run both and compare outcomes.
   */
  constructor(private readonly config: IssuersConfig, private readonly now: () => number = Date.now, private readonly opts: { jwtVerifyOnly?: boolean } = {}) {}

  private configured(issuer: IssuerConfig): boolean {
    return [...this.config.issuers.values()].some((c) => c.issuerUrl === issuer.issuerUrl);
  }

  private cacheFor(issuer: IssuerConfig): { get(k: string): CachedIssuer | undefined; set(k: string, v: CachedIssuer): unknown } {
    return this.configured(issuer) ? this.cache : this.metaCache;
  }

  private async load(issuer: IssuerConfig): Promise<CachedIssuer> {
    const key = issuer.issuerUrl;
    const running = this.inflight.get(key);
    if (running) return running;
    const configured = this.configured(issuer);
    const failures = configured ? this.failures : this.metaFailures;
    const failed = failures.get(key);
    const retryAfter = (until: number): number => Math.max(1, Math.ceil((until - this.now()) / 1000));
    if (failed && this.now() < failed.until) {
      throw new CaError(failed.error.code, failed.error.message, { cause: failed.error.cause, retryAfter: retryAfter(failed.until) });
    }
    if (!configured && this.metaLoads >= MAX_META_LOADS) {
      throw new CaError('CA_OVERLOADED', 'too many issuers are being fetched at once; retry later', { retryAfter: 1 });
    }
    const p = (async () => {
      try {
        const disco = (await fetchJson(`${issuer.issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`, issuer)) as { issuer?: unknown; jwks_uri?: unknown } | null;
        if (typeof disco !== 'object' || disco === null) throw new CaError('CA_ISSUER_UNREACHABLE', 'discovery document is not a JSON object');
        // Discovery §4.3: the document's issuer MUST equal the issuer it was fetched for.
        if (disco.issuer !== issuer.issuerUrl) throw new CaError('CA_ISSUER_UNREACHABLE', 'discovery document names a different issuer');
        if (typeof disco.jwks_uri !== 'string') throw new CaError('CA_ISSUER_UNREACHABLE', 'discovery document has no jwks_uri');
        const jwks = (await fetchJson(disco.jwks_uri, issuer)) as JSONWebKeySet;
        if (!jwks || !Array.isArray(jwks.keys) || !jwks.keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) throw new CaError('CA_ISSUER_UNREACHABLE', 'JWKS has no list of key objects');
        const entry = { jwks: createLocalJWKSet(jwks), fetchedAt: this.now() };
        this.cacheFor(issuer).set(key, entry);
        return entry;
      } catch (e) {
        // Whatever the issuer serves (a bad redirect, odd JSON), the client learns the issuer
        // could not be used: a coded 503 with Retry-After, never a 500.
        const error = e instanceof CaError ? e : new CaError('CA_ISSUER_UNREACHABLE', `the issuer ${issuer.issuerUrl} could not be used: ${(e as Error).message}`, { cause: e });
        const until = this.now() + LOAD_RETRY_MS;
        failures.set(key, { until, error });
        throw new CaError(error.code, error.message, { cause: error.cause, retryAfter: retryAfter(until) });
      } finally {
        if (!configured) this.metaLoads--;
      }
    })();
    if (!configured) this.metaLoads++;
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

    let cached = this.cacheFor(issuer).get(issuer.issuerUrl);
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
    const attempt = async (c: CachedIssuer): Promise<JWTPayload> => {
      if (!this.opts.jwtVerifyOnly) {
        try {
          return await this.fastVerify(token, header, unverified, c, issuer);
        } catch (e) {
          if (!(e instanceof FastPathDeclined)) throw e;
        }
      }
      this.checks.jose++;
      const options = { issuer: issuer.issuerUrl, audience: issuer.clientId, algorithms: ALLOWED_ALGS, clockTolerance: LEEWAY_S, currentDate: new Date(this.now()), requiredClaims: ['exp', 'iat'] };
      try {
        return (await jwtVerify(token, c.jwks, options)).payload;
      } catch (e) {
        if (!(e instanceof joseErrors.JWKSMultipleMatchingKeys)) throw e;
        // Several keys fit the header (no kid, or a kid used twice during a rotation): the token
        // is good if one of them verifies it (RFC 7515 §6 leaves key selection to the verifier).
        for await (const k of e as unknown as AsyncIterable<webcrypto.CryptoKey>) {
          try {
            return (await jwtVerify(token, k, options)).payload;
          } catch (inner) {
            if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
          }
        }
        throw new joseErrors.JWSSignatureVerificationFailed();
      }
    };
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
      // jose throws TypeError for a key it will not use with the token's algorithm (an RSA key
      // under 2048 bits, say): the issuer's key is unusable, so the token is, not the CA.
      if (e instanceof TypeError) throw new CaError('CA_INVALID_TOKEN', `token rejected: ${e.message}`, { cause: e });
      // WebCrypto refuses to import a JWKS key whose material is malformed (an EC point of the
      // wrong length, say): the issuer published a broken key, so the issuer is unusable.
      if (e instanceof DOMException) throw new CaError('CA_ISSUER_UNREACHABLE', `the issuer ${issuer.issuerUrl} publishes a key that cannot be imported: ${e.message}`, { cause: e });
      throw e;
    }
    // iat in the future beyond the leeway is a forged or mis-clocked token.
    if (typeof claims.iat === 'number' && claims.iat > this.now() / 1000 + LEEWAY_S) throw new CaError('CA_INVALID_TOKEN', 'token issued in the future');
    return { issuer, claims: claims as VerifiedToken['claims'] };
  }

  /**
   * Tokens checked without jose's WebCrypto layer (every allowed algorithm, no `crit` header):
   * the signature by node:crypto on the thread pool with a KeyObject kept per JWKS key, the
   * claims exactly as jwtVerify checks them with the options used above (JWT RFC 7519 §4.1: iss
   * equal, aud containing the client id, exp and iat present, the time claims numeric, exp/nbf
   * within the leeway). A `crit` header is declined and goes through jwtVerify.
   * test/ca/oidc-fast.test.ts runs every case through both and compares the outcomes.
   */
  private async fastVerify(token: string, header: ProtectedHeaderParameters, claims: JWTPayload, c: CachedIssuer, issuer: IssuerConfig): Promise<JWTPayload> {
    const alg = NODE_ALGS[header.alg!];
    if (!alg || header.crit !== undefined) throw new FastPathDeclined();
    this.checks.fast++;
    // The JWKS lookup is jose's (kid, kty, crv, alg, use and key_ops matching); several fitting
    // keys are each tried, as the jwtVerify path below does.
    let candidates: object[];
    try {
      candidates = [(await c.jwks(header, { payload: '', signature: '' } as never)) as object];
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSMultipleMatchingKeys)) throw e;
      candidates = [];
      for await (const k of e as unknown as AsyncIterable<object>) candidates.push(k);
    }
    const dot = token.lastIndexOf('.');
    const signature = Buffer.from(token.slice(dot + 1), 'base64url');
    const signed = Buffer.from(token.slice(0, dot), 'ascii');
    let verified = false;
    for (const cryptoKey of candidates) {
      let key = keyObjects.get(cryptoKey);
      if (!key) {
        key = KeyObject.from(cryptoKey as Parameters<typeof KeyObject.from>[0]);
        keyObjects.set(cryptoKey, key);
      }
      const type = key.asymmetricKeyType;
      const fits = type === alg.type && (alg.curve === undefined || key.asymmetricKeyDetails?.namedCurve === alg.curve);
      if (!fits) throw new CaError('CA_INVALID_TOKEN', `token rejected: the ${header.alg} token names a ${type} key`);
      // RFC 7518 §3.3/§3.5: RSA keys of at least 2048 bits (jose refuses smaller ones too).
      if (alg.type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new CaError('CA_INVALID_TOKEN', `token rejected: ${header.alg} requires an RSA key of 2048 bits or more`);
      if (alg.sigLen !== undefined && signature.length !== alg.sigLen) break;
      const input: VerifyKeyObjectInput = alg.type === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : alg.pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : { key };
      if (await verifyAsync(alg.hash, signed, input, signature)) {
        verified = true;
        break;
      }
    }
    if (!verified) throw new CaError('CA_INVALID_TOKEN', 'token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed');
    const bad = (claim: string, why: string): never => {
      throw new CaError('CA_INVALID_TOKEN', `token rejected: ${claim === 'exp' && why === 'check failed' ? 'ERR_JWT_EXPIRED' : 'ERR_JWT_CLAIM_VALIDATION_FAILED'}: "${claim}" claim ${why}`);
    };
    for (const claim of ['iss', 'aud', 'iat', 'exp']) if (!Object.hasOwn(claims, claim)) bad(claim, 'missing');
    if (claims.iss !== issuer.issuerUrl) bad('iss', 'unexpected value');
    const aud = claims.aud;
    if (!(typeof aud === 'string' ? aud === issuer.clientId : Array.isArray(aud) && aud.includes(issuer.clientId))) bad('aud', 'unexpected value');
    const now = Math.floor(this.now() / 1000);
    const numeric = (claim: 'iat' | 'nbf' | 'exp'): number | undefined => {
      const v = claims[claim];
      if (v === undefined) return undefined;
      if (typeof v !== 'number') bad(claim, 'must be a number');
      return v as number;
    };
    numeric('iat');
    const nbf = numeric('nbf');
    if (nbf !== undefined && nbf > now + LEEWAY_S) bad('nbf', 'timestamp check failed');
    const exp = numeric('exp');
    if (exp !== undefined && exp <= now - LEEWAY_S) bad('exp', 'check failed');
    return claims;
  }
}
