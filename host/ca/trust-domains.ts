/**
 * Registered trust domains: the seed's third deployment model ("public CA with registered trust
 * domains"). An organisation whose build service has no public endpoint uploads its SPIFFE
 * bundle and the SPIFFE IDs allowed to sign; afterwards its workloads get certificates from this
 * CA with JWT-SVIDs checked against that bundle, with no OIDC discovery reaching into the org.
 *
 * Registration proves two things:
 * - Possession of the trust domain's JWT signing key (the seed: "through a SPIFFE root key and
 *   ID"): the request carries a JWT-SVID of that trust domain that verifies with a key of the
 *   uploaded bundle, whose audience is bound to the exact request
 *   (`cairn-register:` + base64url SHA-256 of the RFC 8785 form of {trustDomain, bundle,
 *   spiffeIds}), so it cannot be replayed with other IDs.
 * - Control of the trust domain's DNS name, unless `challenge: none` (the seed: "strengthened
 *   by an ACME challenge against a DNS entry ... piggybacking off of Web PKI"). It is modelled on
 *   ACME http-01 (RFC 8555 §8.3): the CA fetches http://<trust domain>/.well-known/cairn-challenge/<token>
 *   and expects `<token>.<base64url SHA-256 of the request>` (the key authorization). With
 *   `challenge: dns-01` it is modelled on ACME dns-01 (§8.4) instead, for a trust domain with no web
 *   server: a TXT record at `_cairn-challenge.<trust domain>` holding base64url(SHA-256(key
 *   authorization)), looked up through the system's resolvers or `dnsServers`.
 *
 * Instead of JWT keys in the bundle, a registration may name the trust domain's OIDC issuer
 * (`oidcIssuer`, e.g. SPIRE's OIDC discovery provider), whose host must be the trust domain or a
 * name under it (the seed: "the OIDC .well-known URI and the Trust domain ... should match, and
 * can be validated"); tokens are then checked against its discovery document and JWKS, so key
 * rotation needs no update here.
 *
 * A registered bundle is replaced (key rotation) by a request whose proof verifies with the
 * bundle registered now, as SPIFFE federation trusts a bundle update only through the previous one.
 * State lives in SQLite (WAL, synchronous FULL) in the CA's data directory: an accepted
 * registration survives restarts.
 *
 * Anyone may start a registration (the proof is signed by a bundle the requester made), so what
 * pending ones cost is bounded, as ACME bounds pending authorizations: a pending registration
 * expires PENDING_TTL_MS after it was made (expired ones are deleted on the next registration),
 * and past MAX_PENDING open ones the CA answers 503 until some expire or are validated.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import Database from 'better-sqlite3';
import { decodeJwt, type JWK } from 'jose';
import { jcs } from '../log/jcs.js';
import { parseBundle, type ParsedBundle } from '../spiffe/bundle.js';
import { validateJwtSvid } from '../spiffe/jwt.js';
import { SpiffeError } from '../spiffe/errors.js';
import { isLoopback, type IssuerConfig } from './config.js';
import { CaError } from './errors.js';
import { parseSpiffeId } from './identity.js';
import { TokenVerifier, type VerifiedToken } from './oidc.js';
import { deadline } from '../http/deadline.js';

export interface TrustDomainsConfig {
  challenge: 'http-01' | 'dns-01' | 'none';
  /** DNS servers for dns-01 lookups ("ip" or "ip:port"); default: the system's resolvers. */
  dnsServers?: string[];
  /** host → host:port for challenge fetches (split-horizon DNS, tests on loopback). */
  resolve: Record<string, string>;
  /** The audience signing JWT-SVIDs must carry (Fulcio's client id). */
  audience: string;
  /** Accept http://127.0.0.1 OIDC issuers whatever their host (tests, `cairn up` on loopback). */
  insecureLoopbackIssuers: boolean;
  /**
   * Trust domains that configured OIDC issuers (type spiffe) already vouch for: never registrable,
   * or anyone could register one with a bundle of their own and get its identities certified.
   * Set by the CA from its issuer configuration, not by the trustDomains config.
   */
  reserved?: string[];
}

export function parseTrustDomainsConfig(v: unknown): TrustDomainsConfig {
  const bad = (m: string): never => {
    throw new CaError('CA_BAD_CONFIG', `trustDomains: ${m}`);
  };
  const o = (v ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object' || Array.isArray(o)) bad('must be a mapping');
  for (const k of Object.keys(o)) if (!['challenge', 'resolve', 'audience', 'insecureLoopbackIssuers', 'dnsServers'].includes(k)) bad(`unknown key ${k}`);
  if (o.insecureLoopbackIssuers !== undefined && typeof o.insecureLoopbackIssuers !== 'boolean') bad('insecureLoopbackIssuers must be true or false');
  const challenge = o.challenge ?? 'http-01';
  if (challenge !== 'http-01' && challenge !== 'dns-01' && challenge !== 'none') bad('challenge must be http-01, dns-01 or none');
  const dns = o.dnsServers;
  if (dns !== undefined && (!Array.isArray(dns) || dns.length === 0 || !dns.every((x) => typeof x === 'string' && /^[0-9a-fA-F.:[\]]+$/.test(x)))) bad('dnsServers must list IP addresses (ip or ip:port)');
  const resolve = (o.resolve ?? {}) as Record<string, unknown>;
  if (typeof resolve !== 'object' || Array.isArray(resolve)) bad('resolve must map host names to host:port');
  for (const [h, to] of Object.entries(resolve)) if (typeof to !== 'string' || !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(to)) bad(`resolve.${h} must be host:port`);
  if (o.audience !== undefined && (typeof o.audience !== 'string' || o.audience === '')) bad('audience must be a string');
  return {
    challenge: challenge as TrustDomainsConfig['challenge'],
    resolve: resolve as Record<string, string>,
    audience: (o.audience as string | undefined) ?? 'sigstore',
    insecureLoopbackIssuers: o.insecureLoopbackIssuers === true,
    ...(dns ? { dnsServers: dns as string[] } : {}),
  };
}

export interface Registration {
  trustDomain: string;
  status: 'pending' | 'active';
  /** The SPIFFE bundle as uploaded (JSON text). */
  bundle: string;
  /** Exact SPIFFE IDs, or prefixes written `spiffe://td/path/*`. */
  spiffeIds: string[];
  /** The trust domain's OIDC issuer, when its tokens are checked through discovery rather than the bundle's JWT keys. */
  oidcIssuer?: string;
  /** The http-01 token while pending. */
  token?: string;
  /** SHA-256 (base64url) of the request the registration came from. */
  requestDigest: string;
  registeredAt: number;
  activatedAt?: number;
}

/** How long a pending registration waits for its challenge answer before it is dropped. */
export const PENDING_TTL_MS = 24 * 3600_000;
/** Pending registrations at most; more registrations at once wait (503). */
export const MAX_PENDING = 10_000;

/** The SQLite side (one table; every write one statement, so each is atomic). */
export class TrustDomainStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS trust_domains (
      trust_domain TEXT PRIMARY KEY,
      status TEXT NOT NULL CHECK (status IN ('pending', 'active')),
      bundle TEXT NOT NULL,
      spiffe_ids TEXT NOT NULL,
      oidc_issuer TEXT,
      token TEXT,
      request_digest TEXT NOT NULL,
      registered_at INTEGER NOT NULL,
      activated_at INTEGER
    )`);
  }

  get(td: string): Registration | undefined {
    const r = this.db.prepare('SELECT * FROM trust_domains WHERE trust_domain = ?').get(td) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      trustDomain: r.trust_domain as string,
      status: r.status as Registration['status'],
      bundle: r.bundle as string,
      spiffeIds: JSON.parse(r.spiffe_ids as string) as string[],
      ...(r.oidc_issuer ? { oidcIssuer: r.oidc_issuer as string } : {}),
      ...(r.token ? { token: r.token as string } : {}),
      requestDigest: r.request_digest as string,
      registeredAt: r.registered_at as number,
      ...(r.activated_at ? { activatedAt: r.activated_at as number } : {}),
    };
  }

  /**
   * put(r) if the stored registration is still `expected` (same status and request digest, or
   * none); false if it changed meanwhile. One transaction, so two writers cannot both succeed.
   */
  putIf(r: Registration, expected: Registration | undefined): boolean {
    return this.db.transaction(() => {
      const now = this.get(r.trustDomain);
      const same = now === undefined ? expected === undefined : expected !== undefined && now.status === expected.status && now.requestDigest === expected.requestDigest && now.registeredAt === expected.registeredAt;
      if (!same) return false;
      this.put(r);
      return true;
    })();
  }

  put(r: Registration): void {
    this.db.prepare(`INSERT INTO trust_domains (trust_domain, status, bundle, spiffe_ids, oidc_issuer, token, request_digest, registered_at, activated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (trust_domain) DO UPDATE SET status = excluded.status, bundle = excluded.bundle, spiffe_ids = excluded.spiffe_ids, oidc_issuer = excluded.oidc_issuer,
        token = excluded.token, request_digest = excluded.request_digest, registered_at = excluded.registered_at, activated_at = excluded.activated_at`)
      .run(r.trustDomain, r.status, r.bundle, JSON.stringify(r.spiffeIds), r.oidcIssuer ?? null, r.token ?? null, r.requestDigest, r.registeredAt, r.activatedAt ?? null);
  }

  /** Deletes the pending registrations made at or before `before` (expired); active ones are kept. */
  prunePending(before: number): void {
    this.db.prepare("DELETE FROM trust_domains WHERE status = 'pending' AND registered_at <= ?").run(before);
  }

  countPending(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM trust_domains WHERE status = 'pending'").get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}

export interface RegistrationRequest {
  trustDomain: unknown;
  bundle: unknown;
  spiffeIds: unknown;
  oidcIssuer?: unknown;
  /** A JWT-SVID of the trust domain with audience registrationAudience(request). */
  proof: unknown;
}

/** The audience that binds a proof to one request's exact content. */
export function registrationAudience(trustDomain: string, bundle: unknown, spiffeIds: string[], oidcIssuer?: string): string {
  return `cairn-register:${requestDigest(trustDomain, bundle, spiffeIds, oidcIssuer)}`;
}

function requestDigest(trustDomain: string, bundle: unknown, spiffeIds: string[], oidcIssuer?: string): string {
  return createHash('sha256').update(jcs({ trustDomain, bundle, spiffeIds, ...(oidcIssuer !== undefined ? { oidcIssuer } : {}) })).digest('base64url');
}

const MAX_IDS = 64;

/** Nesting depth of a JSON value, stopping past 64 (canonicalising a deeper one would overflow the stack). */
function depthOf(v: unknown, d = 0): number {
  if (d > 64 || typeof v !== 'object' || v === null) return d;
  let max = d + 1;
  for (const x of Array.isArray(v) ? v : Object.values(v)) max = Math.max(max, depthOf(x, d + 1));
  return max;
}

/**
 * RFC 8555 §8.3: a plain http GET whose body is the answer; the Host header names the trust
 * domain even when `resolve` sends the request elsewhere. No redirects, 5 s, at most 1 KiB.
 */
function httpGet(url: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host }, timeout: 5_000 }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`answered ${res.statusCode}`));
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        if (body.length > 1024) req.destroy(new Error('answer too large'));
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    // The whole answer within 5 s: the trust domain's server (anyone's) could otherwise trickle
    // 1 KiB out over an hour, each byte restarting the idle timer above.
    deadline(req, 5_000, () => new Error('timed out'));
    req.on('error', reject);
    req.end();
  });
}
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export type Challenge =
  | { type: 'http-01'; url: string; token: string; keyAuthorization: string }
  | { type: 'dns-01'; name: string; value: string; token: string; keyAuthorization: string };

/** Where a dns-01 answer goes: the trust domain's own name, under a Cairn label (as ACME uses _acme-challenge, RFC 8555 §8.4). */
export function dnsChallengeName(td: string): string {
  return `_cairn-challenge.${td}`;
}

export function dnsChallengeValue(keyAuthorization: string): string {
  return createHash('sha256').update(keyAuthorization).digest('base64url');
}

export class TrustDomainRegistry {
  private readonly parsed = new Map<string, { bundle: string; keys: JWK[] }>();
  private readonly oidc = new Map<string, { issuer: string; verifier: TokenVerifier }>();

  constructor(private readonly store: TrustDomainStore, private readonly cfg: TrustDomainsConfig, private readonly now: () => number = Date.now) {}

  get config(): TrustDomainsConfig {
    return this.cfg;
  }

  private checkRequest(req: RegistrationRequest): { td: string; bundle: ParsedBundle; bundleText: string; ids: string[]; digest: string; oidcIssuer?: string } {
    const bad = (m: string): never => {
      throw new CaError('CA_BAD_REQUEST', m);
    };
    if (typeof req.trustDomain !== 'string' || !/^[a-z0-9.-]{1,255}$/.test(req.trustDomain) || !req.trustDomain.includes('.')) bad('trustDomain must be a DNS-like trust domain name (lower case, with a dot)');
    const td = req.trustDomain as string;
    // A name, not an address: the http-01 check fetches from it, and must not be pointed at
    // internal addresses (169.254.169.254, say) to probe them.
    if (/^[0-9.]+$/.test(td)) bad('trustDomain must be a DNS name, not an IP address');
    if (this.cfg.reserved?.includes(td)) throw new CaError('CA_CONFLICT', `${td} is the trust domain of an OIDC issuer configured on this CA; it cannot be registered`, { status: 409 });
    if (depthOf(req.bundle) > 16 || depthOf(req.spiffeIds) > 4) bad('the request is nested too deeply');
    if (typeof req.bundle !== 'object' || req.bundle === null || Array.isArray(req.bundle)) bad('bundle must be a SPIFFE bundle (a JWK Set object)');
    const bundleText = JSON.stringify(req.bundle);
    let bundle: ParsedBundle;
    try {
      bundle = parseBundle(td, bundleText);
    } catch (e) {
      return bad((e as Error).message);
    }
    let oidcIssuer: string | undefined;
    if (req.oidcIssuer !== undefined) {
      if (typeof req.oidcIssuer !== 'string') bad('oidcIssuer must be a URL');
      let u: URL;
      try {
        u = new URL(req.oidcIssuer as string);
      } catch {
        return bad('oidcIssuer must be a URL');
      }
      const loopback = this.cfg.insecureLoopbackIssuers && u.protocol === 'http:' && isLoopback(u.hostname);
      if (!loopback && u.protocol !== 'https:') bad('oidcIssuer must be https');
      if (!loopback && u.hostname !== td && !u.hostname.endsWith(`.${td}`)) bad(`oidcIssuer's host must be ${td} or a name under it`);
      oidcIssuer = req.oidcIssuer as string;
    }
    if (bundle.jwtKeys.length === 0 && !oidcIssuer) bad('the bundle has no jwt-svid keys and no oidcIssuer is given, so no JWT-SVID of this trust domain could ever verify');
    if (!Array.isArray(req.spiffeIds) || req.spiffeIds.length === 0 || req.spiffeIds.length > MAX_IDS) bad(`spiffeIds must list 1..${MAX_IDS} SPIFFE IDs`);
    const ids = req.spiffeIds as unknown[];
    for (const id of ids) {
      if (typeof id !== 'string') bad('spiffeIds must be strings');
      const exact = (id as string).endsWith('/*') ? (id as string).slice(0, -2) : (id as string);
      try {
        if (parseSpiffeId(exact).trustDomain !== td) bad(`${id as string} is not in trust domain ${td}`);
      } catch (e) {
        if (e instanceof CaError && e.code === 'CA_BAD_REQUEST') throw e;
        bad(`${id as string} is not a SPIFFE ID`);
      }
    }
    // The proof's audience binds the RFC 8785 form of the request, and some JSON has none (1e400
    // parses to Infinity, which RFC 8785 §3.2.2.3 cannot serialise): no proof could cover it.
    let digest: string;
    try {
      digest = requestDigest(td, req.bundle, ids as string[], oidcIssuer);
    } catch {
      return bad('the request has no RFC 8785 canonical form (a number out of range?)');
    }
    return { td, bundle, bundleText, ids: ids as string[], digest, ...(oidcIssuer ? { oidcIssuer } : {}) };
  }

  /** The proof: a JWT-SVID of `td` signed by one of `keys`, audience bound to the request. */
  private async checkProof(proof: unknown, td: string, keys: JWK[], digest: string, which: 'uploaded' | 'registered', oidcIssuer?: string): Promise<void> {
    if (keys.length === 0 && oidcIssuer) {
      // No JWT keys in the bundle: the proof is checked with the issuer's published keys.
      try {
        const v = await this.issuerVerifier(td, oidcIssuer, `cairn-register:${digest}`).verify(String(proof));
        if (parseSpiffeId(String(v.claims.sub)).trustDomain !== td) throw new Error('other trust domain');
        return;
      } catch (cause) {
        throw new CaError('CA_BAD_PROOF', `proof is not a JWT-SVID of ${td} for this request from ${oidcIssuer} (audience cairn-register:<request digest>)`, { status: 403, cause });
      }
    }
    try {
      const v = await validateJwtSvid(proof, `cairn-register:${digest}`, (t) => (t === td ? keys : undefined), { now: this.now });
      if (v.trustDomain !== td) throw new Error('other trust domain');
    } catch (cause) {
      throw new CaError('CA_BAD_PROOF', `proof is not a JWT-SVID of ${td} for this request signed by the ${which} bundle (audience cairn-register:<request digest>)`, { status: 403, cause });
    }
  }

  /** Registers (or re-registers a pending) trust domain; answers what the client must do next. */
  async register(req: RegistrationRequest): Promise<{ registration: Registration; challenge?: Challenge }> {
    const r = this.checkRequest(req);
    this.store.prunePending(this.now() - PENDING_TTL_MS);
    const current = this.store.get(r.td);
    if (current?.status === 'active') throw new CaError('CA_CONFLICT', `${r.td} is registered already; replace its bundle with PUT /cairn/v1/trust-domains/${r.td}`, { status: 409 });
    // A new pending row (re-registering a pending trust domain replaces its row).
    if (!current && this.cfg.challenge !== 'none' && this.store.countPending() >= MAX_PENDING) {
      throw new CaError('CA_OVERLOADED', 'too many trust-domain registrations are waiting for their challenge; retry later', { retryAfter: 60 });
    }
    await this.checkProof(req.proof, r.td, r.bundle.jwtKeys, r.digest, 'uploaded', r.oidcIssuer);
    const needsChallenge = this.cfg.challenge !== 'none';
    const token = needsChallenge ? randomBytes(32).toString('base64url') : undefined;
    const registration: Registration = {
      trustDomain: r.td,
      status: needsChallenge ? 'pending' : 'active',
      bundle: r.bundleText,
      spiffeIds: r.ids,
      ...(r.oidcIssuer ? { oidcIssuer: r.oidcIssuer } : {}),
      ...(token ? { token } : {}),
      requestDigest: r.digest,
      registeredAt: this.now(),
      ...(needsChallenge ? {} : { activatedAt: this.now() }),
    };
    // The proof check awaited: write only if the registration is still what was read, so a
    // request racing a validate cannot replace a registration that became active meanwhile.
    if (!this.store.putIf(registration, current)) throw new CaError('CA_CONFLICT', `the registration of ${r.td} changed while this request was checked; retry`, { status: 409 });
    if (!token) return { registration };
    const keyAuthorization = `${token}.${r.digest}`;
    if (this.cfg.challenge === 'dns-01') return { registration, challenge: { type: 'dns-01', name: dnsChallengeName(r.td), value: dnsChallengeValue(keyAuthorization), token, keyAuthorization } };
    return { registration, challenge: { type: 'http-01', url: this.challengeUrl(r.td, token).shown, token, keyAuthorization } };
  }

  /** RFC 8555 §8.4: a TXT record at the challenge name holding base64url(SHA-256(key authorization)). */
  private async checkDns(td: string, keyAuthorization: string): Promise<void> {
    const name = dnsChallengeName(td);
    const resolver = new Resolver({ timeout: 5_000, tries: 2 });
    if (this.cfg.dnsServers) resolver.setServers(this.cfg.dnsServers);
    let records: string[][];
    try {
      records = await resolver.resolveTxt(name);
    } catch (cause) {
      throw new CaError('CA_CHALLENGE_FAILED', `TXT ${name}: ${(cause as { code?: string }).code ?? (cause as Error).message}`, { status: 403, cause });
    }
    // A TXT record longer than 255 bytes comes as several strings, to be joined (RFC 7208 §3.3 does the same).
    if (!records.some((chunks) => chunks.join('') === dnsChallengeValue(keyAuthorization))) {
      throw new CaError('CA_CHALLENGE_FAILED', `TXT ${name} does not hold the key authorization's digest`, { status: 403 });
    }
  }

  private challengeUrl(td: string, token: string): { shown: string; fetched: string; host: string } {
    const path = `/.well-known/cairn-challenge/${token}`;
    const to = this.cfg.resolve[td];
    return { shown: `http://${td}${path}`, fetched: `http://${to ?? td}${path}`, host: td };
  }

  /** Fetches the http-01 answer and activates the registration when it is right. */
  async validate(td: string): Promise<Registration> {
    const r = this.store.get(td);
    if (!r) throw new CaError('CA_NOT_FOUND', `${td} is not registered`, { status: 404 });
    if (r.status === 'active') return r;
    if (!r.token || !TOKEN_RE.test(r.token)) throw new CaError('CA_CHALLENGE_FAILED', 'no challenge is pending', { status: 403 });
    if (this.now() - r.registeredAt >= PENDING_TTL_MS) throw new CaError('CA_CHALLENGE_FAILED', `the registration of ${td} expired before its challenge was answered; register again`, { status: 403 });
    if (this.cfg.challenge === 'dns-01') await this.checkDns(td, `${r.token}.${r.requestDigest}`);
    else {
      const url = this.challengeUrl(td, r.token);
      let body: string;
      try {
        body = (await httpGet(url.fetched, url.host)).trim();
      } catch (cause) {
        throw new CaError('CA_CHALLENGE_FAILED', `${url.shown}: ${(cause as Error).message}`, { status: 403, cause });
      }
      if (body !== `${r.token}.${r.requestDigest}`) throw new CaError('CA_CHALLENGE_FAILED', `${url.shown} does not hold the key authorization`, { status: 403 });
    }
    const active: Registration = { ...r, status: 'active', activatedAt: this.now() };
    delete active.token;
    // The fetch awaited: activate only the registration that was checked. If another validate
    // activated it meanwhile (and an update may have rotated its bundle since), what is stored
    // stands; a re-registration that replaced it is refused.
    if (!this.store.putIf(active, r)) {
      const now = this.store.get(td);
      if (now?.status === 'active') return now;
      throw new CaError('CA_CONFLICT', `the registration of ${td} changed while its challenge was checked; retry`, { status: 409 });
    }
    return active;
  }

  /**
   * Replaces an active registration's bundle and IDs. The proof must verify with the bundle
   * registered now: a rotation is authorised by the key it rotates away from.
   */
  async update(td: string, req: Omit<RegistrationRequest, 'trustDomain'>): Promise<Registration> {
    const cur = this.store.get(td);
    if (!cur || cur.status !== 'active') throw new CaError('CA_NOT_FOUND', `${td} has no active registration`, { status: 404 });
    const r = this.checkRequest({ ...req, trustDomain: td });
    await this.checkProof(req.proof, td, this.keysOf(td)!, r.digest, 'registered', cur.oidcIssuer);
    const next: Registration = { ...cur, bundle: r.bundleText, spiffeIds: r.ids, requestDigest: r.digest };
    delete next.oidcIssuer;
    if (r.oidcIssuer) next.oidcIssuer = r.oidcIssuer;
    // The proof check awaited: write only over the registration it was checked against, so an
    // update authorised by a bundle that another update rotated away meanwhile is refused.
    if (!this.store.putIf(next, cur)) throw new CaError('CA_CONFLICT', `the registration of ${td} changed while this update was checked; retry`, { status: 409 });
    return next;
  }

  get(td: string): Registration | undefined {
    return this.store.get(td);
  }

  /** A discovery-based verifier for a registered issuer (cached per trust domain and issuer and audience). */
  private issuerVerifier(td: string, issuerUrl: string, audience = this.cfg.audience): TokenVerifier {
    const key = `${td} ${issuerUrl} ${audience}`;
    let v = this.oidc.get(key);
    if (!v) {
      const issuer: IssuerConfig = { issuerUrl, clientId: audience, type: 'spiffe', spiffeTrustDomain: td, skipEmailVerified: false, insecureLoopbackHttp: this.cfg.insecureLoopbackIssuers };
      v = { issuer: issuerUrl, verifier: new TokenVerifier({ issuers: new Map([[issuerUrl, issuer]]), meta: [], ci: new Map() }, this.now) };
      // Bounded: every registration attempt may name another issuer and audience.
      if (this.oidc.size >= 256) this.oidc.delete(this.oidc.keys().next().value!);
      this.oidc.set(key, v);
    }
    return v.verifier;
  }

  private keysOf(td: string): JWK[] | undefined {
    const r = this.store.get(td);
    if (!r || r.status !== 'active') return undefined;
    let p = this.parsed.get(td);
    if (!p || p.bundle !== r.bundle) {
      p = { bundle: r.bundle, keys: parseBundle(td, r.bundle).jwtKeys };
      this.parsed.set(td, p);
    }
    return p.keys;
  }

  private checkAllowed(reg: Registration, sub: string, td: string): void {
    if (!reg.spiffeIds.some((p) => (p.endsWith('/*') ? sub.startsWith(p.slice(0, -1)) : p === sub))) throw new CaError('CA_NOT_REGISTERED', `${sub} is not among the SPIFFE IDs registered for ${td}`);
  }

  /**
   * A signing token of a registered trust domain: a JWT-SVID (any `iss`, or none) whose `sub` is
   * in an active registration, verified with that registration's bundle, for an allowed ID.
   * undefined when `sub` names no registered trust domain (the caller's OIDC issuers decide).
   */
  async verify(token: string): Promise<VerifiedToken | undefined> {
    let sub: unknown;
    try {
      sub = decodeJwt(token).sub;
    } catch {
      return undefined;
    }
    if (typeof sub !== 'string' || !sub.startsWith('spiffe://')) return undefined;
    const td = /^spiffe:\/\/([^/]+)/.exec(sub)?.[1];
    if (td && this.cfg.reserved?.includes(td)) return undefined; // a configured issuer's: never a registration's
    const keys = td ? this.keysOf(td) : undefined;
    if (!td || !keys) return undefined;
    const reg = this.store.get(td)!;
    if (reg.oidcIssuer) {
      // Checked through the registered issuer's discovery document and keys, as Fulcio checks a
      // configured spiffe issuer; the issuer then names itself in the certificate.
      const v = await this.issuerVerifier(td, reg.oidcIssuer).verify(token);
      this.checkAllowed(reg, sub, td);
      return v;
    }
    let claims;
    try {
      claims = (await validateJwtSvid(token, this.cfg.audience, (t) => (t === td ? keys : undefined), { now: this.now })).claims;
    } catch (cause) {
      const code = cause instanceof SpiffeError ? cause.code : 'invalid';
      throw new CaError('CA_INVALID_TOKEN', `JWT-SVID of registered trust domain ${td} rejected (${code})`, { cause });
    }
    this.checkAllowed(reg, sub, td);
    // The certificate's issuer extension names the trust domain: it vouched for the identity.
    const issuer: IssuerConfig = { issuerUrl: `spiffe://${td}`, clientId: this.cfg.audience, type: 'spiffe', spiffeTrustDomain: td, skipEmailVerified: false, insecureLoopbackHttp: false };
    return { issuer, claims: claims as VerifiedToken['claims'] };
  }
}

/** OIDC issuers first (a token whose `iss` is configured), then registered trust domains. */
export class IdentityVerifier {
  constructor(private readonly oidc: { verify(token: string): Promise<VerifiedToken> }, private readonly registry: TrustDomainRegistry | undefined, private readonly isConfiguredIssuer: (iss: string) => boolean) {}

  async verify(token: string): Promise<VerifiedToken> {
    if (this.registry) {
      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        iss = undefined;
      }
      if (typeof iss !== 'string' || !this.isConfiguredIssuer(iss)) {
        const v = await this.registry.verify(token);
        if (v) return v;
      }
    }
    return this.oidc.verify(token);
  }
}
