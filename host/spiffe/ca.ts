/**
 * The trust-domain CA: X.509 signing certificates and JWT signing keys, their rotation, the
 * SPIFFE trust bundle, and SVID minting. Pure core — no fastify, no SQLite; persistence goes through
 * the narrow `AuthorityPersistence` interface (keystore.ts writes it to a 0600 file).
 *
 * Rotation (SPIFFE Federation §4.1.2 "Key Rotation"; SPIRE's prepare/activate/retire model):
 *  - `rotate()` PREPARES a new authority (an X.509 signing cert and a JWT key, rotated together)
 *    and publishes it in the bundle at once; it becomes ACTIVE — the one that signs — after
 *    `activationDelayMs`. Federation §4.1.2 asks that new keys be published before they sign,
 *    "recommended 3-5 times the bundle's spiffe_refresh_hint"; the delay is configurable for that.
 *  - The previous authority stops signing when the new one activates, but stays in the bundle for
 *    the overlap period, and until every SVID it signed expired, so that they keep verifying.
 *  - `maintain(now)` performs due transitions and auto-rotates: at half the active authority's
 *    lifetime it prepares a successor that activates when a sixth of that lifetime is left.
 * Every change of the bundle's contents bumps `spiffe_sequence` (Trust Domain and Bundle §4.1.1).
 */
import { EventEmitter } from 'node:events';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { SignJWT, type JWK } from 'jose';
import { SpiffeError } from './errors.js';
import { parseWorkloadId, trustDomainId } from './id.js';

const subtle = webcrypto.subtle;
/** @peculiar/x509 types its provider with the DOM `Crypto`; node's webcrypto is that at runtime. */
const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

export const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Persisted form of one authority: base64 DER / PKCS#8, times in ms since the epoch. */
export interface AuthorityRecord {
  id: string;
  x509CertDer: string;
  x509KeyPkcs8: string;
  jwtKid: string;
  jwtKeyPkcs8: string;
  createdAt: number;
  activateAt: number;
  /** Set when a newer authority activated: the time it leaves the bundle. */
  retireAt?: number;
}

export interface AuthorityState {
  trustDomain: string;
  sequence: number;
  authorities: AuthorityRecord[];
}

/** Where the CA keeps its keys. Implementations MUST store them readable by the owner only. */
export interface AuthorityPersistence {
  load(): Promise<AuthorityState | undefined>;
  save(state: AuthorityState): Promise<void>;
}

export class MemoryPersistence implements AuthorityPersistence {
  state: AuthorityState | undefined;
  load(): Promise<AuthorityState | undefined> {
    return Promise.resolve(this.state && structuredClone(this.state));
  }
  save(state: AuthorityState): Promise<void> {
    this.state = structuredClone(state);
    return Promise.resolve();
  }
}

export interface CaOptions {
  trustDomain: string;
  persistence?: AuthorityPersistence;
  /** Lifetime of each X.509 signing certificate (default 7 days). */
  caTtlMs?: number;
  /**
   * Time a prepared authority is published before it signs (default 0: an operator's rotate()
   * signs at once). Auto-rotation waits at least this long, and longer when the 5/6 point is later.
   */
  activationDelayMs?: number;
  /**
   * How long a superseded authority stays in the bundle at least (default 2 × the longer default
   * SVID TTL); longer while SVIDs it signed (entries may ask for longer TTLs) are unexpired.
   */
  overlapMs?: number;
  x509SvidTtlMs?: number;
  jwtSvidTtlMs?: number;
  /** spiffe_refresh_hint in seconds (default 300, the Federation spec's suggested default). */
  refreshHintSeconds?: number;
  /** `iss` of JWT-SVIDs: the OIDC discovery URL (set by default, unlike SPIRE). */
  jwtIssuer?: string;
  now?: () => number;
}

interface LiveAuthority {
  rec: AuthorityRecord;
  cert: x509.X509Certificate;
  certDer: Uint8Array;
  x509Key: webcrypto.CryptoKey;
  jwtKey: webcrypto.CryptoKey;
  jwtPublicJwk: JWK;
}

export interface X509Svid {
  spiffeId: string;
  /** Leaf first (the SVID), DER each. */
  chain: Uint8Array[];
  /** PKCS#8 DER, unencrypted (Workload API §5.1 x509_svid_key). */
  keyPkcs8: Uint8Array;
  notAfter: Date;
  serial: string;
}

export interface JwtSvid {
  spiffeId: string;
  token: string;
  expiresAt: number;
}

/** A SPIFFE bundle document (Trust Domain and Bundle §4). */
export interface BundleDocument {
  keys: JWK[];
  spiffe_sequence: number;
  spiffe_refresh_hint: number;
}

export type CaEvent = 'bundle' | 'activated';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function b64(der: Uint8Array | ArrayBuffer): string {
  return Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
}

function randomSerial(): string {
  // RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random bytes with the top bit cleared.
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

/** kid = base64url(SHA-256(SPKI))[0..32): stable for a key, reveals nothing about it. */
function kidFor(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('base64url').slice(0, 32);
}

export class TrustDomainCa extends EventEmitter<{ bundle: []; activated: [] }> {
  readonly trustDomain: string;
  readonly x509SvidTtlMs: number;
  readonly jwtSvidTtlMs: number;
  readonly refreshHintSeconds: number;
  jwtIssuer: string | undefined;
  private readonly caTtlMs: number;
  private readonly activationDelayMs: number;
  private readonly overlapMs: number;
  private readonly persistence: AuthorityPersistence;
  private readonly now: () => number;
  private sequence = 0;
  private live: LiveAuthority[] = [];
  private ready = false;
  private lastActiveId: string | undefined;
  /**
   * Per authority ID: the latest expiry of an SVID it signed in this process (0 when it signed
   * none). Entries may ask for SVIDs that live longer than the CA's default TTLs that size the
   * overlap; an authority leaves the bundle only once all it signed expired. Authorities loaded
   * from disk are absent: what they signed before the restart is unknown, so they stay until
   * their own end, as SPIRE keeps an authority in the bundle until it expires.
   */
  private readonly signedUntil = new Map<string, number>();
  /**
   * Rotations and maintenance run one at a time: each reads the authorities, awaits key generation
   * and then the save of its snapshot; two at once could prepare two successors, or finish their
   * saves in the other order so that the older snapshot is the one left on disk.
   */
  private transitions: Promise<unknown> = Promise.resolve();

  private constructor(opts: CaOptions) {
    super();
    this.trustDomain = opts.trustDomain;
    this.persistence = opts.persistence ?? new MemoryPersistence();
    this.caTtlMs = opts.caTtlMs ?? 7 * DAY;
    this.activationDelayMs = opts.activationDelayMs ?? 0;
    this.x509SvidTtlMs = opts.x509SvidTtlMs ?? HOUR;
    this.jwtSvidTtlMs = opts.jwtSvidTtlMs ?? 5 * 60_000;
    this.overlapMs = opts.overlapMs ?? 2 * Math.max(this.x509SvidTtlMs, this.jwtSvidTtlMs);
    this.refreshHintSeconds = opts.refreshHintSeconds ?? 300;
    this.jwtIssuer = opts.jwtIssuer;
    this.now = opts.now ?? Date.now;
    if (this.x509SvidTtlMs > this.caTtlMs / 2) throw new SpiffeError('SPIFFE_BAD_CONFIG', 'X509-SVID TTL must be at most half the CA TTL');
  }

  /** Loads the persisted authorities or creates the first one. */
  static async open(opts: CaOptions): Promise<TrustDomainCa> {
    const ca = new TrustDomainCa(opts);
    const state = await ca.persistence.load();
    if (state) {
      if (state.trustDomain !== ca.trustDomain) {
        throw new SpiffeError('SPIFFE_BAD_CONFIG', `key store belongs to trust domain ${state.trustDomain}, not ${ca.trustDomain}`);
      }
      ca.sequence = state.sequence;
      ca.live = await Promise.all(state.authorities.map((r) => revive(r)));
    }
    ca.ready = true;
    if (ca.live.length === 0) await ca.rotate({ immediate: true });
    else await ca.maintain();
    return ca;
  }

  // ---------------------------------------------------------------------------------------------
  // Rotation

  /**
   * Prepares a new authority, published in the bundle from now on. With `immediate` (first start,
   * or an operator forcing it) it also becomes the signing authority at once.
   */
  rotate(opts: { immediate?: boolean } = {}): Promise<void> {
    return this.oneAtATime(() => this.rotateNow(opts));
  }

  private oneAtATime(f: () => Promise<void>): Promise<void> {
    const run = this.transitions.then(f);
    this.transitions = run.catch(() => undefined);
    return run;
  }

  private async rotateNow(opts: { immediate?: boolean }): Promise<void> {
    const now = this.now();
    const activateAt = opts.immediate ? now : now + this.activationDelayMs;
    await this.maintainNow(now, /* changed */ true, [...this.live, await this.createAuthority(now, activateAt)], this.sequence + 1);
  }

  /**
   * Performs due transitions: activates prepared authorities, schedules the retirement of the
   * one they replace, drops retired ones, and prepares a successor at half of the active
   * authority's lifetime. Call it periodically (standalone.ts does every few seconds).
   */
  maintain(now?: number): Promise<void> {
    return this.oneAtATime(() => this.maintainNow(now ?? this.now(), false));
  }

  /**
   * Works on copies of the authorities and the sequence, and makes them the CA's only once the
   * snapshot holding them is saved: an authority that signed SVIDs (or was published) before a
   * crash or a failed save would be gone after the restart, and its spiffe_sequence handed out
   * again for other keys (Trust Domain and Bundle §4.1.1).
   */
  private async maintainNow(now: number, changed: boolean, from: LiveAuthority[] = this.live, sequence = this.sequence): Promise<void> {
    let live = from.map((a) => ({ ...a, rec: { ...a.rec } }));
    const active = this.activeOrUndefined(now, live);
    for (const a of live) {
      // Everything activated before the active one is superseded: schedule its retirement.
      if (active && a !== active && a.rec.activateAt <= active.rec.activateAt && a.rec.retireAt === undefined) {
        const end = a.cert.notAfter.getTime();
        a.rec.retireAt = Math.min(Math.max(now + this.overlapMs, this.signedUntil.get(a.rec.id) ?? end), end);
        changed = true;
      }
    }
    const before = live.length;
    live = live.filter((a) => (a.rec.retireAt === undefined || a.rec.retireAt > now) && a.cert.notAfter.getTime() > now);
    if (live.length !== before) {
      sequence++;
      changed = true;
    }
    const current = this.activeOrUndefined(now, live);
    const hasSuccessor = current && live.some((a) => a.rec.activateAt > current.rec.activateAt);
    if (current && !hasSuccessor && now - current.rec.activateAt >= this.caTtlMs / 2) {
      // Auto-rotation: the successor is published now and signs only once the current authority
      // has a sixth of its lifetime left (SPIRE's prepare-at-1/2, activate-at-5/6 thresholds, at
      // most 7 days before its end), never sooner than the configured delay. Activated at once,
      // its SVIDs (and the server's own TLS SVID) would reach peers that have not yet fetched the
      // bundle holding it: remote agents until their next poll, federated trust domains until
      // their next refresh (Federation §4.1.2 asks for new keys to be published well before use),
      // and an https_spiffe peer that sees the server's new SVID first can never fetch again.
      const end = current.cert.notAfter.getTime();
      const activateAt = Math.max(now + this.activationDelayMs, end - Math.min((end - current.rec.activateAt) / 6, 7 * DAY));
      live.push(await this.createAuthority(now, activateAt));
      sequence++;
      changed = true;
    }
    if (!current) {
      // Every authority expired (e.g. the server was down longer than the CA TTL): start afresh.
      live.push(await this.createAuthority(now, now));
      sequence++;
      changed = true;
    }
    if (changed) await this.persistence.save(this.snapshot(live, sequence));
    this.live = live;
    this.sequence = sequence;
    const activeNow = this.activeOrUndefined(now)?.rec.id;
    const activated = activeNow !== this.lastActiveId;
    this.lastActiveId = activeNow;
    if (changed) this.emit('bundle');
    if (activated) this.emit('activated');
  }

  private activeOrUndefined(now: number, live = this.live): LiveAuthority | undefined {
    let best: LiveAuthority | undefined;
    for (const a of live) {
      if (a.rec.activateAt > now) continue;
      if (a.cert.notAfter.getTime() <= now) continue;
      if (!best || a.rec.activateAt > best.rec.activateAt || (a.rec.activateAt === best.rec.activateAt && a.rec.createdAt > best.rec.createdAt)) best = a;
    }
    return best;
  }

  private active(): LiveAuthority {
    if (!this.ready) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'CA not opened');
    const a = this.activeOrUndefined(this.now());
    if (!a) throw new SpiffeError('SPIFFE_UNAVAILABLE', 'no active signing authority');
    return a;
  }

  /** Identifier of the authority that signs now (changes on activation). */
  activeAuthorityId(): string {
    return this.active().rec.id;
  }

  private snapshot(live = this.live, sequence = this.sequence): AuthorityState {
    return { trustDomain: this.trustDomain, sequence, authorities: live.map((a) => ({ ...a.rec })) };
  }

  private async createAuthority(now: number, activateAt: number): Promise<LiveAuthority> {
    const keys = (await subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const notAfter = new Date(activateAt + this.caTtlMs);
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerial(),
        name: `O=Cairn, CN=${this.trustDomain}`,
        // Backdated a little for clock skew between the CA and relying parties.
        notBefore: new Date(now - 60_000),
        notAfter,
        keys,
        signingAlgorithm: ECDSA_SHA256,
        extensions: [
          // X509-SVID §4.1: signing certificates MUST set cA; §4.3: keyCertSign, critical.
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          // X509-SVID §2: a signing certificate MAY carry the trust domain's SPIFFE ID.
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(this.trustDomain) }], false),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, x509Crypto),
        ],
        // URI name constraints are deliberately absent: X509-SVID §4.2 warns that many X.509
        // libraries reject them; per-trust-domain bundles (Workload API §4.6) confine trust instead.
      },
      x509Crypto,
    );
    const jwtPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwtSpki = new Uint8Array(jwtPair.publicKey.export({ type: 'spki', format: 'der' }));
    const rec: AuthorityRecord = {
      id: randomBytes(8).toString('hex'),
      x509CertDer: b64(cert.rawData),
      x509KeyPkcs8: b64(await subtle.exportKey('pkcs8', keys.privateKey)),
      jwtKid: kidFor(jwtSpki),
      jwtKeyPkcs8: b64(jwtPair.privateKey.export({ type: 'pkcs8', format: 'der' })),
      createdAt: now,
      activateAt,
    };
    this.signedUntil.set(rec.id, 0);
    return revive(rec);
  }

  /** Records that authority `id` signed something valid until `expiresAt` (ms). */
  private signed(id: string, expiresAt: number): void {
    const was = this.signedUntil.get(id);
    if (was !== undefined && expiresAt > was) this.signedUntil.set(id, expiresAt);
  }

  // ---------------------------------------------------------------------------------------------
  // Bundle

  /** X.509 authorities currently published (DER), oldest first. */
  x509Authorities(): Uint8Array[] {
    return this.live.map((a) => a.certDer);
  }

  /** JWT keys currently published, with kid. */
  jwtAuthorities(): JWK[] {
    return this.live.map((a) => ({ ...a.jwtPublicJwk }));
  }

  get bundleSequence(): number {
    return this.sequence;
  }

  /** The SPIFFE bundle (Trust Domain and Bundle §4; X509-SVID §6; JWT-SVID §6). */
  bundle(): BundleDocument {
    const keys: JWK[] = [];
    for (const a of this.live) {
      const pub = a.cert.publicKey.rawData;
      const jwk = createPublicKey({ key: Buffer.from(pub), format: 'der', type: 'spki' }).export({ format: 'jwk' }) as JWK;
      // X509-SVID §6: use "x509-svid", exactly one certificate in x5c.
      keys.push({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y!, use: 'x509-svid', x5c: [b64(a.certDer)] });
    }
    // JWT-SVID §6: use "jwt-svid" and a kid.
    for (const a of this.live) keys.push({ ...a.jwtPublicJwk, use: 'jwt-svid' });
    return { keys, spiffe_sequence: this.sequence, spiffe_refresh_hint: this.refreshHintSeconds };
  }

  /** The JWT keys as a plain JWKS (Workload API FetchJWTBundles §6.2.2; OIDC /keys). */
  jwtJwks(use?: 'sig'): { keys: JWK[] } {
    return { keys: this.live.map((a) => ({ ...a.jwtPublicJwk, ...(use ? { use, alg: 'ES256' } : {}) })) };
  }

  // ---------------------------------------------------------------------------------------------
  // SVIDs

  /**
   * Mints an X509-SVID for `spiffeId` (X509-SVID §2–§4): one URI SAN, cA false, KU digitalSignature
   * (critical), EKU serverAuth + clientAuth. With `publicKey` the caller keeps its own private key
   * (agents); otherwise a fresh P-256 key is generated and returned as PKCS#8.
   */
  async mintX509Svid(spiffeId: string, opts: { ttlMs?: number; publicKey?: KeyObject; dnsNames?: string[] } = {}): Promise<X509Svid> {
    const id = parseWorkloadId(spiffeId);
    if (id.trustDomain !== this.trustDomain) throw new SpiffeError('SPIFFE_BAD_ID', `${spiffeId} is not in trust domain ${this.trustDomain}`);
    const a = this.active();
    const now = this.now();
    // Never outlive the signing certificate (RFC 5280 path validation would fail past it). Whole
    // seconds, as the DER time holds them: the notAfter returned (and sent as expiresAt) must be
    // the certificate's own, not up to 999 ms after it.
    const notAfter = new Date(Math.min(Math.floor((now + (opts.ttlMs ?? this.x509SvidTtlMs)) / 1000) * 1000, a.cert.notAfter.getTime()));
    // Noted before the awaits below, so a retirement scheduled meanwhile already counts it.
    this.signed(a.rec.id, notAfter.getTime());
    let keyPkcs8 = new Uint8Array(0);
    let publicKey: webcrypto.CryptoKey;
    if (opts.publicKey) {
      const spki = opts.publicKey.export({ type: 'spki', format: 'der' });
      publicKey = await subtle.importKey('spki', spki, ECDSA_P256, true, ['verify']).catch((e: unknown) => {
        throw new SpiffeError('SPIFFE_BAD_REQUEST', 'public key must be ECDSA P-256', { cause: e });
      });
    } else {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      keyPkcs8 = new Uint8Array(pair.privateKey.export({ type: 'pkcs8', format: 'der' }));
      publicKey = await subtle.importKey('spki', pair.publicKey.export({ type: 'spki', format: 'der' }), ECDSA_P256, true, ['verify']);
    }
    const serial = randomSerial();
    const san: x509.JsonGeneralName[] = [{ type: 'url', value: spiffeId }, ...(opts.dnsNames ?? []).map((d) => ({ type: 'dns' as const, value: d }))];
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serial,
        // As SPIRE: the first DNS name (an LDH name, nothing to escape) is also the subject CN.
        subject: opts.dnsNames?.length ? `CN=${opts.dnsNames[0]}, O=Cairn` : 'O=Cairn',
        issuer: a.cert.subject,
        notBefore: new Date(now - 10_000),
        notAfter,
        publicKey,
        signingKey: a.x509Key,
        signingAlgorithm: ECDSA_SHA256,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          // X509-SVID §4.3: digitalSignature, critical; never keyCertSign/cRLSign on a leaf.
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([OID_SERVER_AUTH, OID_CLIENT_AUTH], false),
          // X509-SVID §2: exactly one URI SAN (more DNS SANs are allowed); critical when the
          // subject is empty per RFC 5280 — ours is not, so non-critical.
          new x509.SubjectAlternativeNameExtension(san, false),
          await x509.SubjectKeyIdentifierExtension.create(publicKey, false, x509Crypto),
          await x509.AuthorityKeyIdentifierExtension.create(a.cert, false, x509Crypto),
        ],
      },
      x509Crypto,
    );
    return { spiffeId, chain: [new Uint8Array(cert.rawData)], keyPkcs8, notAfter, serial };
  }

  /** Mints a JWT-SVID (JWT-SVID §3): ES256, kid, sub, aud, exp, iat, and iss (the OIDC URL). */
  async mintJwtSvid(spiffeId: string, audience: string[], opts: { ttlMs?: number } = {}): Promise<JwtSvid> {
    const id = parseWorkloadId(spiffeId);
    if (id.trustDomain !== this.trustDomain) throw new SpiffeError('SPIFFE_BAD_ID', `${spiffeId} is not in trust domain ${this.trustDomain}`);
    if (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a.length === 0 || a.length > 1024)) {
      throw new SpiffeError('SPIFFE_BAD_REQUEST', 'audience must be one or more non-empty strings');
    }
    const a = this.active();
    const now = this.now();
    // Capped at the signing authority's end, as SPIRE caps a JWT-SVID at its JWT key's NotAfter
    // (server/ca capLifetime): the key leaves the bundle then, and no token may claim to outlive it.
    const exp = Math.min(Math.floor((now + (opts.ttlMs ?? this.jwtSvidTtlMs)) / 1000), Math.floor(a.cert.notAfter.getTime() / 1000));
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: a.rec.jwtKid, typ: 'JWT' })
      .setSubject(spiffeId)
      .setAudience(audience.length === 1 ? audience[0]! : audience)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(exp);
    if (this.jwtIssuer) jwt.setIssuer(this.jwtIssuer);
    this.signed(a.rec.id, exp * 1000);
    return { spiffeId, token: await jwt.sign(a.jwtKey), expiresAt: exp * 1000 };
  }
}

async function revive(rec: AuthorityRecord): Promise<LiveAuthority> {
  const certDer = new Uint8Array(Buffer.from(rec.x509CertDer, 'base64'));
  const cert = new x509.X509Certificate(certDer);
  const x509Key = await subtle.importKey('pkcs8', Buffer.from(rec.x509KeyPkcs8, 'base64'), ECDSA_P256, false, ['sign']);
  const jwtKey = await subtle.importKey('pkcs8', Buffer.from(rec.jwtKeyPkcs8, 'base64'), ECDSA_P256, false, ['sign']);
  const pub = createPublicKey(createPrivateKey({ key: Buffer.from(rec.jwtKeyPkcs8, 'base64'), format: 'der', type: 'pkcs8' }));
  const jwk = pub.export({ format: 'jwk' }) as JWK;
  return { rec, cert, certDer, x509Key, jwtKey, jwtPublicJwk: { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y!, kid: rec.jwtKid } };
}
