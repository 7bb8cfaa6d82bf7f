/**
 * Writers for the two Sigstore client trust files (pure: no fastify, no SQLite):
 *
 * - trusted_root.json, protobuf-specs `dev.sigstore.trustroot.v1.TrustedRoot`, media type
 *   `application/vnd.dev.sigstore.trustedroot.v0.2+json` (sigstore_trustroot.proto);
 * - signing_config.json, `dev.sigstore.trustroot.v1.SigningConfig`, media type
 *   `application/vnd.dev.sigstore.signingconfig.v0.2+json`.
 *
 * Both are emitted in the protobuf canonical JSON mapping (lowerCamelCase field names, bytes as
 * standard base64, Timestamps as RFC 3339 UTC, enums by name). Parsing trusted roots for
 * verification lives in host/trust/trusted-root.ts; this file only writes them.
 *
 * Key rotation (sigstore_trustroot.proto, TrustedRoot comment): "The embedded transparency logs,
 * CT logs, CAs and TSAs MUST include any previously used instance -- otherwise signatures made in
 * the past cannot be verified ... All previous instances MUST have a closed interval of validity."
 * `mergeTrustedRoot` implements exactly that: instances from the previous file that are no longer
 * current are kept and get an `end`, current ones keep their original `start`.
 */
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { TrustError } from './errors.js';

export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot.v0.2+json';
export const SIGNING_CONFIG_MEDIA_TYPE = 'application/vnd.dev.sigstore.signingconfig.v0.2+json';

// ---------------------------------------------------------------------------------------------
// Wire shapes (protobuf JSON mapping). Optional fields are omitted, never null.

export interface TimeRangeJSON { start: string; end?: string }
export interface LogIdJSON { keyId: string }
export type KeyDetails =
  | 'PKIX_ECDSA_P256_SHA_256' | 'PKIX_ECDSA_P384_SHA_384' | 'PKIX_ECDSA_P521_SHA_512' | 'PKIX_ED25519'
  | 'PKIX_RSA_PKCS1V15_2048_SHA256' | 'PKIX_RSA_PKCS1V15_3072_SHA256' | 'PKIX_RSA_PKCS1V15_4096_SHA256';
export interface PublicKeyJSON { rawBytes: string; keyDetails: KeyDetails; validFor: TimeRangeJSON }
export interface TransparencyLogInstanceJSON {
  baseUrl: string;
  hashAlgorithm: 'SHA2_256';
  publicKey: PublicKeyJSON;
  logId: LogIdJSON;
  checkpointKeyId?: LogIdJSON;
  operator?: string;
}
export interface CertificateAuthorityJSON {
  subject: { organization?: string; commonName?: string };
  uri: string;
  certChain: { certificates: { rawBytes: string }[] };
  validFor: TimeRangeJSON;
  operator?: string;
}
export interface TrustedRootJSON {
  mediaType: string;
  tlogs: TransparencyLogInstanceJSON[];
  certificateAuthorities: CertificateAuthorityJSON[];
  ctlogs: TransparencyLogInstanceJSON[];
  timestampAuthorities: CertificateAuthorityJSON[];
}

export type ServiceSelector = 'ANY' | 'ALL' | 'EXACT';
export interface ServiceJSON { url: string; majorApiVersion: number; validFor: TimeRangeJSON; operator: string }
export interface ServiceConfigurationJSON { selector: ServiceSelector; count?: number }
export interface SigningConfigJSON {
  mediaType: string;
  caUrls: ServiceJSON[];
  oidcUrls: ServiceJSON[];
  rekorTlogUrls: ServiceJSON[];
  rekorTlogConfig: ServiceConfigurationJSON;
  tsaUrls: ServiceJSON[];
  tsaConfig: ServiceConfigurationJSON;
}

// ---------------------------------------------------------------------------------------------
// Plain-data input.

export interface Validity { start: Date; end?: Date }

export interface LogInput {
  /** Base URL of the log (Rekor) or CT log; for Rekor v2 also the checkpoint origin. */
  baseUrl: string;
  /** DER SubjectPublicKeyInfo of the log's signing key. */
  publicKeySpki: Uint8Array;
  validFor: Validity;
  operator?: string;
  /**
   * Signed-note key name (checkpoint origin). When given, `checkpointKeyId` is set as
   * sigstore_trustroot.proto describes (C2SP signed-note key ID, 4 bytes).
   * Set it ONLY for Rekor v2 logs: @sigstore/verify 3 then uses the 4-byte checkpoint key ID
   * as the log's ID for every lookup, so a Rekor v1 entry (whose logID is the 32-byte
   * SHA-256 of the SPKI) would no longer find its log.
   */
  checkpointKeyName?: string;
}

export interface AuthorityInput {
  subject: { organization?: string; commonName?: string };
  uri: string;
  /** DER certificates, leaf/intermediate first and the self-signed root last (protobuf-specs order). */
  certChain: Uint8Array[];
  validFor: Validity;
  operator?: string;
}

export interface TrustedRootInput {
  tlogs?: LogInput[];
  ctlogs?: LogInput[];
  certificateAuthorities?: AuthorityInput[];
  timestampAuthorities?: AuthorityInput[];
}

// ---------------------------------------------------------------------------------------------
// trusted_root.json

/** A trusted root holding exactly the given (current) instances. */
export function buildTrustedRoot(input: TrustedRootInput): TrustedRootJSON {
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: sortByStart((input.tlogs ?? []).map(logInstance)),
    certificateAuthorities: sortByStart((input.certificateAuthorities ?? []).map(authority)),
    ctlogs: sortByStart((input.ctlogs ?? []).map(logInstance)),
    timestampAuthorities: sortByStart((input.timestampAuthorities ?? []).map(authority)),
  };
}

/**
 * The next trusted root after `previous` (which may be undefined on first start), given the
 * instances that are current now. An instance is identified by its key (logs: baseUrl + logId)
 * or its exact certificate chain (CAs, TSAs):
 * - present before and now: kept once, with the ORIGINAL `start` (so signatures made since then
 *   still verify) and the end given now (usually none);
 * - present before, gone now: kept, and closed at `now` if it was still open;
 * - new now: added with its own window.
 * Lists stay sorted by `validFor.start`, oldest first (sigstore_trustroot.proto SHOULD).
 */
export function mergeTrustedRoot(previous: unknown, current: TrustedRootInput, now: Date): TrustedRootJSON {
  const next = buildTrustedRoot(current);
  if (previous === undefined) return next;
  const prev = checkPreviousRoot(previous);
  const end = timestamp(now);
  // A kind the current input leaves undefined is not known now (a subordinate CA still waiting
  // for its certificate): the previous entries stay exactly as they were, none retired.
  const merge = <T>(k: keyof TrustedRootInput, p: T[], n: T[], id: (x: T) => string, win: { get: (x: T) => TimeRangeJSON; set: (x: T, w: TimeRangeJSON) => T }): T[] =>
    current[k] === undefined ? p : mergeList(p, n, id, win, end);
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: merge('tlogs', prev.tlogs, next.tlogs, logIdentity, logWindow),
    certificateAuthorities: merge('certificateAuthorities', prev.certificateAuthorities, next.certificateAuthorities, caIdentity, caWindow),
    ctlogs: merge('ctlogs', prev.ctlogs, next.ctlogs, logIdentity, logWindow),
    timestampAuthorities: merge('timestampAuthorities', prev.timestampAuthorities, next.timestampAuthorities, caIdentity, caWindow),
  };
}

/** SHA-256 of the DER SPKI: the RFC 6962 §3.2 log ID that Rekor and CT logs use as `logId`. */
export function logIdOf(spki: Uint8Array): Uint8Array {
  return createHash('sha256').update(spki).digest();
}

/**
 * C2SP signed-note key ID as sigstore_trustroot.proto defines `checkpoint_key_id`:
 * Ed25519: SHA-256(name || 0x0A || 0x01 || raw 32-byte key)[:4];
 * ECDSA:   SHA-256(DER SPKI)[:4].
 */
export function checkpointKeyIdOf(name: string, spki: Uint8Array): Uint8Array {
  const details = keyDetailsOf(spki);
  if (details === 'PKIX_ED25519') {
    const raw = spki.subarray(spki.length - 32); // ed25519 SPKI = 12-byte prefix || 32-byte key (RFC 8410 §4)
    const h = createHash('sha256').update(name, 'utf8').update(Uint8Array.of(0x0a, 0x01)).update(raw).digest();
    return h.subarray(0, 4);
  }
  if (details.startsWith('PKIX_ECDSA')) return createHash('sha256').update(spki).digest().subarray(0, 4);
  throw new TrustError('TRUST_INVALID_INPUT', `no checkpoint key ID defined for ${details}`);
}

/** protobuf-specs PublicKeyDetails for a DER SPKI (the key's algorithm and its signing hash). */
export function keyDetailsOf(spki: Uint8Array): KeyDetails {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new TrustError('TRUST_INVALID_INPUT', 'public key is not a DER SubjectPublicKeyInfo', { cause });
  }
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'PKIX_ED25519';
    case 'ec':
      if (d.namedCurve === 'prime256v1') return 'PKIX_ECDSA_P256_SHA_256';
      if (d.namedCurve === 'secp384r1') return 'PKIX_ECDSA_P384_SHA_384';
      if (d.namedCurve === 'secp521r1') return 'PKIX_ECDSA_P521_SHA_512';
      break;
    case 'rsa':
      if (d.modulusLength === 2048) return 'PKIX_RSA_PKCS1V15_2048_SHA256';
      if (d.modulusLength === 3072) return 'PKIX_RSA_PKCS1V15_3072_SHA256';
      if (d.modulusLength === 4096) return 'PKIX_RSA_PKCS1V15_4096_SHA256';
      break;
  }
  throw new TrustError('TRUST_INVALID_INPUT', `unsupported public key (${key.asymmetricKeyType} ${d.namedCurve ?? d.modulusLength ?? ''})`);
}

function logInstance(l: LogInput): TransparencyLogInstanceJSON {
  const baseUrl = checkUrl(l.baseUrl);
  const spki = l.publicKeySpki;
  const out: TransparencyLogInstanceJSON = {
    baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: b64(spki), keyDetails: keyDetailsOf(spki), validFor: window(l.validFor) },
    logId: { keyId: b64(logIdOf(spki)) },
  };
  if (l.checkpointKeyName !== undefined) out.checkpointKeyId = { keyId: b64(checkpointKeyIdOf(l.checkpointKeyName, spki)) };
  if (l.operator !== undefined) out.operator = checkOperator(l.operator);
  return out;
}

function authority(a: AuthorityInput): CertificateAuthorityJSON {
  if (a.certChain.length === 0) throw new TrustError('TRUST_INVALID_INPUT', `authority ${a.uri} has an empty certificate chain`);
  for (const der of a.certChain) {
    try {
      new X509Certificate(Buffer.from(der));
    } catch (cause) {
      throw new TrustError('TRUST_INVALID_INPUT', `authority ${a.uri}: a chain entry is not a DER X.509 certificate`, { cause });
    }
  }
  const subject: CertificateAuthorityJSON['subject'] = {};
  if (a.subject.organization !== undefined) subject.organization = a.subject.organization;
  if (a.subject.commonName !== undefined) subject.commonName = a.subject.commonName;
  const out: CertificateAuthorityJSON = {
    subject,
    uri: checkUrl(a.uri),
    certChain: { certificates: a.certChain.map((c) => ({ rawBytes: b64(c) })) },
    validFor: window(a.validFor),
  };
  if (a.operator !== undefined) out.operator = checkOperator(a.operator);
  return out;
}

const logIdentity = (l: TransparencyLogInstanceJSON): string => `${l.baseUrl}\n${l.logId.keyId}`;
const caIdentity = (c: CertificateAuthorityJSON): string => c.certChain.certificates.map((x) => x.rawBytes).join('\n');
const logWindow = {
  get: (l: TransparencyLogInstanceJSON) => l.publicKey.validFor,
  set: (l: TransparencyLogInstanceJSON, w: TimeRangeJSON) => ({ ...l, publicKey: { ...l.publicKey, validFor: w } }),
};
const caWindow = {
  get: (c: CertificateAuthorityJSON) => c.validFor,
  set: (c: CertificateAuthorityJSON, w: TimeRangeJSON) => ({ ...c, validFor: w }),
};

function mergeList<T>(
  prev: T[],
  cur: T[],
  id: (x: T) => string,
  win: { get: (x: T) => TimeRangeJSON; set: (x: T, w: TimeRangeJSON) => T },
  now: string,
): T[] {
  const current = new Map(cur.map((x) => [id(x), x]));
  const out: T[] = [];
  const seen = new Set<string>();
  for (const p of prev) {
    const k = id(p);
    if (seen.has(k)) continue; // the previous file listed an instance twice: keep the first
    seen.add(k);
    const c = current.get(k);
    const pw = win.get(p);
    if (c) {
      // Still current: keep the original start so older signatures stay verifiable, and the
      // earlier end: a window that was closed (distrustInstance, after a key compromise) is
      // never reopened by a service that still presents the key.
      const end = earliestEnd(pw.end, win.get(c).end);
      out.push(win.set(c, end === undefined ? { start: pw.start } : { start: pw.start, end }));
    } else {
      // Retired: close an open window at `now` (never move an existing end).
      out.push(pw.end === undefined ? win.set(p, { start: pw.start, end: maxTime(pw.start, now) }) : p);
    }
  }
  for (const c of cur) {
    const k = id(c);
    if (seen.has(k)) continue; // kept above, or listed twice in the input
    seen.add(k);
    out.push(c);
  }
  return sortByStart(out, (x) => win.get(x).start);
}

function checkPreviousRoot(v: unknown): TrustedRootJSON {
  const bad = (why: string): never => {
    throw new TrustError('TRUST_PREVIOUS_MALFORMED', `previous trusted_root.json: ${why}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not a JSON object');
  const o = v as Record<string, unknown>;
  const list = (k: string): unknown[] => {
    const x = o[k] ?? [];
    return Array.isArray(x) ? x : bad(`${k} is not an array`);
  };
  const range = (w: unknown, where: string): void => {
    const r = w as Record<string, unknown> | undefined;
    if (typeof r !== 'object' || r === null || typeof r.start !== 'string' || Number.isNaN(Date.parse(r.start))) bad(`${where}.validFor.start missing`);
    if (r!.end !== undefined && (typeof r!.end !== 'string' || Number.isNaN(Date.parse(r!.end)))) bad(`${where}.validFor.end invalid`);
  };
  const logs = (k: string): TransparencyLogInstanceJSON[] =>
    list(k).map((x, i) => {
      const l = x as TransparencyLogInstanceJSON;
      if (typeof l !== 'object' || l === null || typeof l.baseUrl !== 'string' || typeof l.logId?.keyId !== 'string' || typeof l.publicKey?.rawBytes !== 'string') bad(`${k}[${i}] is not a log instance`);
      range(l.publicKey.validFor, `${k}[${i}].publicKey`);
      return l;
    });
  const cas = (k: string): CertificateAuthorityJSON[] =>
    list(k).map((x, i) => {
      const c = x as CertificateAuthorityJSON;
      if (typeof c !== 'object' || c === null || !Array.isArray(c.certChain?.certificates) || c.certChain.certificates.some((e) => typeof e?.rawBytes !== 'string')) bad(`${k}[${i}] is not a certificate authority`);
      range(c.validFor, `${k}[${i}]`);
      return c;
    });
  return {
    mediaType: String(o.mediaType ?? ''),
    tlogs: logs('tlogs'),
    certificateAuthorities: cas('certificateAuthorities'),
    ctlogs: logs('ctlogs'),
    timestampAuthorities: cas('timestampAuthorities'),
  };
}

// ---------------------------------------------------------------------------------------------
// Distrusting an instance from a point in time (the seed, "Background": a key's compromise "can
// usually be tied to a rough point in time ... Why revoke anything before then?")

export type InstanceKind = 'ca' | 'tsa' | 'tlog' | 'ctlog';

/** One instance of a trusted root, as `cairn trust-root show` lists it. */
export interface InstanceSummary {
  kind: InstanceKind;
  /** CAs and TSAs: hex SHA-256 of the first certificate of the chain (the issuing one). Logs: hex log ID (SHA-256 of the SPKI). */
  id: string;
  /** The certificate's subject, or the log's base URL. */
  name: string;
  validFor: TimeRangeJSON;
}

const LISTS = { ca: 'certificateAuthorities', tsa: 'timestampAuthorities', tlog: 'tlogs', ctlog: 'ctlogs' } as const;

function summarize(kind: InstanceKind, x: CertificateAuthorityJSON | TransparencyLogInstanceJSON): InstanceSummary {
  if (kind === 'ca' || kind === 'tsa') {
    const c = x as CertificateAuthorityJSON;
    const der = Buffer.from(c.certChain.certificates[0]?.rawBytes ?? '', 'base64');
    // subject is optional in sigstore_trustroot.proto (and a hostile file may hold anything there).
    const cn = (c.subject as { commonName?: unknown } | null | undefined)?.commonName;
    let name = typeof cn === 'string' ? cn : String(c.uri ?? '');
    try {
      name = new X509Certificate(der).subject.replace(/\n/g, ', ');
    } catch {
      /* an unreadable certificate keeps the subject the file gives */
    }
    return { kind, id: createHash('sha256').update(der).digest('hex'), name, validFor: c.validFor };
  }
  const l = x as TransparencyLogInstanceJSON;
  return { kind, id: Buffer.from(l.logId.keyId, 'base64').toString('hex'), name: l.baseUrl, validFor: l.publicKey.validFor };
}

/** Every instance of a trusted root, in file order. */
export function listInstances(root: unknown): InstanceSummary[] {
  const r = checkPreviousRoot(root);
  return (Object.keys(LISTS) as InstanceKind[]).flatMap((kind) => (r[LISTS[kind]] as (CertificateAuthorityJSON | TransparencyLogInstanceJSON)[]).map((x) => summarize(kind, x)));
}

/**
 * The trusted root with the `kind` instance whose id (listInstances; a log ID may also be given
 * in base64, as the file holds it) is `id` closed at `since`: signatures, timestamps and entries
 * whose verified time is after `since` are no longer trusted through it, and everything before
 * stays verifiable. An end already earlier is kept; `since` before the window's start leaves an
 * empty window [start, start]. The ids are unique in a well-formed file; an id that matches none
 * (or, in a malformed file, several) is refused.
 */
export function distrustInstance(root: unknown, kind: InstanceKind, id: string, since: Date): { root: TrustedRootJSON; instance: InstanceSummary } {
  const r = checkPreviousRoot(root);
  const end = timestamp(since);
  const want = /^[0-9a-f]{64}$/i.test(id) ? id.toLowerCase() : /^[A-Za-z0-9+/]{43}=$/.test(id) ? Buffer.from(id, 'base64').toString('hex') : undefined;
  if (want === undefined) throw new TrustError('TRUST_INVALID_INPUT', `${kind} id must be a hex SHA-256 (64 digits)${kind === 'tlog' || kind === 'ctlog' ? ' or a base64 log ID' : ''}`);
  const list = r[LISTS[kind]] as (CertificateAuthorityJSON | TransparencyLogInstanceJSON)[];
  const hits = list.map((x, i) => [i, summarize(kind, x)] as const).filter(([, s]) => s.id === want);
  if (hits.length !== 1) {
    const known = list.map((x) => summarize(kind, x).id).join(', ') || 'none';
    throw new TrustError('TRUST_INSTANCE_NOT_FOUND', hits.length === 0 ? `no ${kind} with id ${want} in the trusted root (${kind} ids: ${known})` : `${hits.length} ${kind} instances have id ${want}`);
  }
  const [at] = hits[0]!;
  const win = kind === 'ca' || kind === 'tsa' ? caWindow : logWindow;
  const x = list[at]!;
  const w = win.get(x as never);
  const closed = earliestEnd(w.end, maxTime(w.start, end))!;
  const next = [...list];
  next[at] = win.set(x as never, { start: w.start, end: closed });
  const out: TrustedRootJSON = { ...r, mediaType: r.mediaType || TRUSTED_ROOT_MEDIA_TYPE, [LISTS[kind]]: next };
  return { root: out, instance: summarize(kind, next[at]!) };
}

// ---------------------------------------------------------------------------------------------
// signing_config.json

export interface ServiceInput {
  url: string;
  majorApiVersion: number;
  validFor: Validity;
  /** Scheme-less URI naming the operator, e.g. `cairn.local` (SigningConfig Service.operator). */
  operator: string;
}

export interface SigningConfigInput {
  ca?: ServiceInput[];
  oidc?: ServiceInput[];
  rekorTlog?: ServiceInput[];
  tsa?: ServiceInput[];
  /** Defaults: ANY (one log / one TSA suffices), as the public-good instance uses. */
  rekorTlogConfig?: ServiceConfigurationJSON;
  tsaConfig?: ServiceConfigurationJSON;
}

/**
 * signing_config.json v0.2. When `previous` is given, a service whose URL and API version are
 * unchanged keeps its earlier `start`, so restarting the stack does not churn the file (and the
 * TUF target built from it). Services are sorted newest `start` first, as SigningConfig asks.
 */
export function buildSigningConfig(input: SigningConfigInput, previous?: unknown): SigningConfigJSON {
  const prevStarts = new Map<string, string>();
  if (previous !== undefined) {
    if (typeof previous !== 'object' || previous === null) throw new TrustError('TRUST_PREVIOUS_MALFORMED', 'previous signing_config.json is not an object');
    for (const k of ['caUrls', 'oidcUrls', 'rekorTlogUrls', 'tsaUrls']) {
      const l = (previous as Record<string, unknown>)[k];
      if (l === undefined) continue;
      if (!Array.isArray(l)) throw new TrustError('TRUST_PREVIOUS_MALFORMED', `previous signing_config.json: ${k} is not an array`);
      for (const s of l as ServiceJSON[]) {
        if (typeof s?.url === 'string' && typeof s.validFor?.start === 'string') prevStarts.set(`${k}\n${s.url}\n${s.majorApiVersion}`, s.validFor.start);
      }
    }
  }
  const services = (k: string, l: ServiceInput[] = []): ServiceJSON[] =>
    l
      .map((s) => {
        if (!Number.isSafeInteger(s.majorApiVersion) || s.majorApiVersion < 0) throw new TrustError('TRUST_INVALID_INPUT', `majorApiVersion of ${s.url} must be a non-negative integer`);
        const w = window(s.validFor);
        const keep = prevStarts.get(`${k}\n${checkUrl(s.url)}\n${s.majorApiVersion}`);
        if (keep !== undefined && w.end === undefined) w.start = keep;
        return { url: checkUrl(s.url), majorApiVersion: s.majorApiVersion, validFor: w, operator: checkOperator(s.operator) };
      })
      .sort((a, b) => Date.parse(b.validFor.start) - Date.parse(a.validFor.start));
  const config = (c: ServiceConfigurationJSON | undefined, n: number, what: string): ServiceConfigurationJSON => {
    const v = c ?? { selector: 'ANY' };
    if (v.selector === 'EXACT') {
      // SigningConfig ServiceConfiguration.count: "MUST be greater than 0 ... less than or equal to the number of Services".
      if (v.count === undefined || !Number.isSafeInteger(v.count) || v.count < 1 || v.count > n) throw new TrustError('TRUST_INVALID_INPUT', `${what}: EXACT needs 1 <= count <= ${n}`);
      return { selector: 'EXACT', count: v.count };
    }
    if (v.selector !== 'ANY' && v.selector !== 'ALL') throw new TrustError('TRUST_INVALID_INPUT', `${what}: unknown selector`);
    return { selector: v.selector };
  };
  const rekorTlogUrls = services('rekorTlogUrls', input.rekorTlog);
  const tsaUrls = services('tsaUrls', input.tsa);
  return {
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: services('caUrls', input.ca),
    oidcUrls: services('oidcUrls', input.oidc),
    rekorTlogUrls,
    rekorTlogConfig: config(input.rekorTlogConfig, rekorTlogUrls.length, 'rekorTlogConfig'),
    tsaUrls,
    tsaConfig: config(input.tsaConfig, tsaUrls.length, 'tsaConfig'),
  };
}

// ---------------------------------------------------------------------------------------------
// helpers

/** Pretty, stable serialisation of a trust file (what gets written and hashed into TUF). */
export function serializeTrustFile(doc: TrustedRootJSON | SigningConfigJSON): Uint8Array {
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8');
}

function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** protobuf JSON Timestamp: RFC 3339 in UTC ("Z"); millisecond precision is what Date holds. */
function timestamp(d: Date): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new TrustError('TRUST_INVALID_INPUT', 'invalid date');
  return d.toISOString();
}

function window(v: Validity): TimeRangeJSON {
  const w: TimeRangeJSON = { start: timestamp(v.start) };
  if (v.end !== undefined) {
    // TimeRange is a closed interval [start, end] (sigstore_common.proto).
    if (v.end.getTime() < v.start.getTime()) throw new TrustError('TRUST_INVALID_INPUT', 'validity window ends before it starts');
    w.end = timestamp(v.end);
  }
  return w;
}

/** The earlier of two window ends, undefined meaning open (no end). */
function earliestEnd(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

function maxTime(a: string, b: string): string {
  return Date.parse(a) > Date.parse(b) ? a : b;
}

function checkUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch (cause) {
    throw new TrustError('TRUST_INVALID_INPUT', `not a URL: ${JSON.stringify(u)}`, { cause });
  }
  // Service.url "MUST include scheme and authority".
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.host === '') throw new TrustError('TRUST_INVALID_INPUT', `URL needs an http(s) scheme and a host: ${u}`);
  return u.replace(/\/+$/, '');
}

function checkOperator(o: string): string {
  // "Operator MUST be formatted as a scheme-less URI, e.g. sigstore.dev".
  if (o === '' || o.includes('://') || /\s/.test(o)) throw new TrustError('TRUST_INVALID_INPUT', `operator must be a scheme-less URI: ${JSON.stringify(o)}`);
  return o;
}

function sortByStart<T>(l: T[], start?: (x: T) => string): T[] {
  const get = start ?? ((x: T) => {
    const o = x as unknown as { validFor?: TimeRangeJSON; publicKey?: { validFor: TimeRangeJSON } };
    return (o.publicKey?.validFor ?? o.validFor)!.start;
  });
  // Stable sort: equal starts keep their input order.
  return [...l].sort((a, b) => Date.parse(get(a)) - Date.parse(get(b)));
}
