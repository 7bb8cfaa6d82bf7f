/**
 * trusted_root.json (protobuf-specs sigstore_trustroot.proto, v0.1 and v0.2 media types) into
 * plain trust material: logs by ID with their key and validity window, CAs and TSAs with chains.
 * A log or authority whose validFor has no start is unusable (sigstore_trustroot.proto:
 * "start is required"), and is refused rather than guessed.
 */
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { b64 as bundleB64 } from './bundle.js';
import { fail } from './errors.js';
import type { NameConstraints } from './name-constraints.js';

export interface Window {
  start: Date;
  end?: Date;
}

export interface TrustedLog {
  baseUrl: string;
  /** The ID entries name: logId.keyId (Rekor v1: SHA-256 of the SPKI; Rekor v2: the checkpoint key ID). */
  logId: Buffer;
  checkpointKeyId?: Buffer;
  publicKey: KeyObject;
  spki: Buffer;
  validFor: Window;
}

export interface TrustedAuthority {
  uri: string;
  /** Leaf/intermediate first, root last. */
  chain: X509Certificate[];
  chainDer: Buffer[];
  validFor: Window;
  /**
   * Names this CA is trusted for beyond what its certificates say: a partner organisation's CA
   * (withPartner) only for SPIFFE IDs of the partner's trust domain. Applied like the name
   * constraints of a certificate on the path (pipeline.ts verifyChain).
   */
  constraints?: NameConstraints;
}

export interface TrustMaterial {
  tlogs: TrustedLog[];
  ctlogs: TrustedLog[];
  certificateAuthorities: TrustedAuthority[];
  timestampAuthorities: TrustedAuthority[];
}

type J = Record<string, unknown>;

/** A bytes field of the trusted root: a bad one is the root's fault, not a bundle's. */
const b64 = (v: unknown, what: string): Buffer => bundleB64(v, what, false, 'TRUSTED_ROOT_MALFORMED');

/**
 * protobuf JSON Timestamp: RFC 3339 with a zone ("Z" or an offset), up to nanoseconds. Anything
 * else is refused, not left to Date: it reads "2025-01-01T00:00:00" in the machine's local zone
 * (moving a window by hours) and a bare number as a year.
 */
const RFC3339 = /^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)$/;
function timestamp(v: unknown, what: string): Date {
  const t = typeof v === 'string' && RFC3339.test(v) ? new Date(v) : undefined;
  if (!t || Number.isNaN(t.getTime())) fail('TRUSTED_ROOT_MALFORMED', `${what} is not an RFC 3339 timestamp with a zone`);
  return t!;
}

function window(v: unknown, what: string): Window {
  const o = (v ?? {}) as J;
  if (typeof o.start !== 'string') fail('TRUSTED_ROOT_MALFORMED', `${what}.validFor.start is required`);
  const start = timestamp(o.start, `${what}.validFor.start`);
  if (o.end === undefined || o.end === null) return { start };
  return { start, end: timestamp(o.end, `${what}.validFor.end`) };
}

function log(v: unknown, what: string): TrustedLog | undefined {
  const o = v as J;
  const pk = (o?.publicKey ?? {}) as J;
  if (pk.rawBytes === undefined) return undefined; // a log without a key cannot verify anything
  const spki = b64(pk.rawBytes, `${what}.publicKey.rawBytes`);
  let publicKey: KeyObject;
  try {
    // keyDetails PKCS1_* (deprecated in protobuf-specs) carry a bare PKCS#1 RSAPublicKey.
    publicKey = typeof pk.keyDetails === 'string' && pk.keyDetails.startsWith('PKCS1_')
      ? createPublicKey({ key: spki, format: 'der', type: 'pkcs1' })
      : createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (cause) {
    return fail('TRUSTED_ROOT_MALFORMED', `${what}.publicKey is not a DER SubjectPublicKeyInfo`, cause);
  }
  const logIdField = (o.logId as J | undefined)?.keyId;
  const cp = (o.checkpointKeyId as J | undefined)?.keyId;
  return {
    baseUrl: typeof o.baseUrl === 'string' ? o.baseUrl : '',
    logId: logIdField !== undefined ? b64(logIdField, `${what}.logId.keyId`) : createHash('sha256').update(spki).digest(),
    ...(cp !== undefined ? { checkpointKeyId: b64(cp, `${what}.checkpointKeyId.keyId`) } : {}),
    publicKey,
    spki,
    validFor: window(pk.validFor, `${what}.publicKey`),
  };
}

function authority(v: unknown, what: string): TrustedAuthority {
  const o = v as J;
  const certs = ((o?.certChain as J | undefined)?.certificates ?? []) as unknown[];
  if (!Array.isArray(certs) || certs.length === 0) fail('TRUSTED_ROOT_MALFORMED', `${what}.certChain is empty`);
  // A list entry may be any JSON value (null included): read it as an object only if it is one.
  const chainDer = certs.map((c, i) => b64(typeof c === 'object' && c !== null ? (c as J).rawBytes : undefined, `${what}.certChain[${i}]`));
  let chain: X509Certificate[];
  try {
    chain = chainDer.map((d) => new X509Certificate(d));
  } catch (cause) {
    return fail('TRUSTED_ROOT_MALFORMED', `${what}.certChain holds a malformed certificate`, cause);
  }
  return { uri: typeof o.uri === 'string' ? o.uri : '', chain, chainDer, validFor: window(o.validFor, what) };
}

export function parseTrustedRoot(input: unknown): TrustMaterial {
  if (typeof input !== 'object' || input === null) fail('TRUSTED_ROOT_MALFORMED', 'trusted root must be an object');
  const r = input as J;
  if (typeof r.mediaType !== 'string' || !/^application\/vnd\.dev\.sigstore\.trustedroot(\.v0\.[12])?\+json(;version=0\.[12])?$/.test(r.mediaType)) {
    fail('TRUSTED_ROOT_MALFORMED', `unsupported trusted root media type ${String(r.mediaType).slice(0, 80)}`);
  }
  const list = (k: string): unknown[] => {
    const v = r[k] ?? [];
    if (!Array.isArray(v)) fail('TRUSTED_ROOT_MALFORMED', `${k} must be a list`);
    return v as unknown[];
  };
  return {
    tlogs: list('tlogs').map((t, i) => log(t, `tlogs[${i}]`)).filter((x): x is TrustedLog => !!x),
    ctlogs: list('ctlogs').map((t, i) => log(t, `ctlogs[${i}]`)).filter((x): x is TrustedLog => !!x),
    certificateAuthorities: list('certificateAuthorities').map((a, i) => authority(a, `certificateAuthorities[${i}]`)),
    timestampAuthorities: list('timestampAuthorities').map((a, i) => authority(a, `timestampAuthorities[${i}]`)),
  };
}

/**
 * The seed's cross-organisation model: trust material of a partner whose artifacts we accept,
 * added to our own. The partner's CAs are trusted only for SPIFFE IDs in `trustDomain` (a URI
 * constraint on the trust domain, RFC 5280 §4.2.1.10 style, and no other name forms), so its CA
 * cannot vouch for our identities or a third party's; its logs and TSAs are trusted like ours, as
 * they only witness time and inclusion. A trusted_root.json cannot say this, which is why a
 * partner's root is given separately rather than merged into one file.
 */
export function withPartner(own: TrustMaterial, partner: TrustMaterial, trustDomain: string): TrustMaterial {
  if (!/^[a-z0-9._-]{1,255}$/.test(trustDomain)) fail('TRUSTED_ROOT_MALFORMED', `partner trust domain ${trustDomain.slice(0, 80)} is not a trust domain name`);
  const constraints: NameConstraints = { permitted: [{ base: { type: 'uri', value: trustDomain } }], excluded: [] };
  return {
    tlogs: [...own.tlogs, ...partner.tlogs],
    ctlogs: [...own.ctlogs, ...partner.ctlogs],
    certificateAuthorities: [...own.certificateAuthorities, ...partner.certificateAuthorities.map((a) => ({ ...a, constraints }))],
    timestampAuthorities: [...own.timestampAuthorities, ...partner.timestampAuthorities],
  };
}

/** validFor contains t (the end is inclusive: conformance trust-root-*-validity-end-inclusive). */
export function within(w: Window, t: Date): boolean {
  return w.start.getTime() <= t.getTime() && (!w.end || t.getTime() <= w.end.getTime());
}

/** A trust domain and its organisation's trusted_root.json (parsed JSON). */
export interface PartnerRoot {
  trustDomain: string;
  trustedRoot: unknown;
}

/** parseTrustedRoot(own), with each partner added by withPartner. */
export function trustWithPartners(own: unknown, partners: readonly PartnerRoot[] = []): TrustMaterial {
  return partners.reduce((t, p) => withPartner(t, parseTrustedRoot(p.trustedRoot), p.trustDomain), parseTrustedRoot(own));
}
