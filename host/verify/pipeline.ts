/**
 * The fixed verification pipeline (STYLE.md point 4, after sigstore-js and sigstore-python):
 *
 *   1. tlog entries: SET (→ integrated time), body ↔ bundle content, inclusion proof (WASM core),
 *      signed checkpoint (key hint + origin rules), integrated time not in the future
 *   2. timestamps: verified integrated times and RFC 3161 tokens from trusted TSAs
 *   3. certificate: path to a trusted CA, every link valid at every verified time; SCTs
 *   4. signature: message signature (artifact bytes or digest) or DSSE envelope (PAE)
 *   5. policy: identity (exact/regex), OIDC issuer, SPIFFE trust domain/path, Fulcio extensions,
 *      in-toto predicate type and subject digest
 *
 * Evidence is de-duplicated before it counts toward a threshold: two entries from the same log,
 * or two tokens from the same TSA, count once.
 */
import { createHash, createPublicKey, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { isKeyRegistered, keySlots, leafHash, registerKey, verifyBatch as verifyBatchLocal, verifyInclusion, verifySignature } from '../core/index.js';
import { parseSpki, type SignatureItem } from '../core/signature-formats.js';
import { BoundedCache } from '../bounded-cache.js';
import { digest } from '../digest.js';
import { tbsWithoutExtension } from '../log/ct.js';
import { keyVerifier, pae, verifyDigestSignature } from '../log/entries.js';
import { setPayload } from '../log/set.js';
import { verifyTimestampToken, type VerifyKeyOptions } from '../tsa/verify.js';
import type { Bundle, TlogEntry } from './bundle.js';
import { fail, VerificationError } from './errors.js';
import { within, type TrustedLog, type TrustMaterial } from './trusted-root.js';
import { children, decodeOid, readTlv } from '../tsa/der.js';
import { parseSpiffeId } from '../spiffe/id.js';
import { OID_NAME_CONSTRAINTS, parseGeneralNames, parseNameConstraints, violation, type GeneralName, type NameConstraints } from './name-constraints.js';
import { ECDSA_WITH_SHA256, issuedByLite, issuerFacts, leafProfile, splitCertificate, type CertParts, type IssuerFacts, type LeafProfile } from './x509-lite.js';

export type Artifact = { bytes: Uint8Array } | { digest: { algorithm: 'sha256' | 'sha512'; value: Uint8Array } };

export interface Policy {
  identity?: string;
  identityRegexp?: RegExp;
  issuer?: string;
  issuerRegexp?: RegExp;
  spiffeTrustDomain?: string;
  spiffePathPrefix?: string;
  extensions?: Record<string, string>;
  predicateType?: string;
}

export interface VerifyOptions {
  /** Managed-key bundles: the expected public key (PEM). */
  key?: KeyObject;
  tlogThreshold?: number;
  ctlogThreshold?: number;
  timestampThreshold?: number;
  now?: Date;
}

export interface VerificationResult {
  /** SAN of the signing certificate (URI, email or username), when certificate-based. */
  identity?: string;
  issuer?: string;
  /** Verified signing times (integrated times and RFC 3161 genTimes), de-duplicated by source. */
  timestamps: { source: string; time: Date }[];
  tlogEntries: number;
  predicateType?: string;
}

const OID_SCT_LIST = '1.3.6.1.4.1.11129.2.4.2';
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const SAN = '2.5.29.17';
const FUTURE_LEEWAY_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// shared helpers

// Where each signature check runs: ECDSA (and RSA) over a whole message (SETs, checkpoints, SCTs,
// the CA's signature on the leaf, the artifact or DSSE signature) on OpenSSL, whose single verify
// is faster on Node than the core's (bench/RESULTS.md, signatures); Ed25519 by trusted keys in the
// WASM core, whose batch equation verifyBundles uses; an artifact signature over a digest alone in
// the core (node:crypto cannot verify prehashed ECDSA).

/**
 * Verified signatures, keyed by SHA-256 over (key, signed bytes, signature): a pure function of
 * its inputs, so a hit is as good as a check. Bulk runs see the same checkpoint (one per log
 * batch) on many bundles. Only successes are kept; bounded, oldest first out.
 */
const verified = new BoundedCache<true>(8192);

/** Forget every cached signature verdict (benchmarks measure cold verification of each bundle). */
export function clearVerificationCache(): void {
  verified.clear();
}
function remember(k: string): void {
  verified.set(k, true);
}

/**
 * Checks deferred by verifyBundles: while a sink is set, a check the WASM core can do is recorded
 * and assumed to pass; the caller verifies all recorded items in one batch afterwards and re-runs,
 * without a sink, every bundle with an item that failed (so verdicts and error codes are exactly
 * those of a one-at-a-time run).
 */
let sink: { items: SignatureItem[]; keys: string[]; p256: boolean } | undefined;

/**
 * A signature by a trusted key (log, CT log, CA), its verdict cached. Ed25519: the WASM core,
 * deferred into the batch when bulk. ECDSA P-256 when bulk and the key has a table in the core
 * (verifyBundles registers them): deferred too, checked over its SHA-256 digest in the core's
 * batch (up to 128 signatures, their comb sums accumulated together: assembly/p256.ts). Otherwise
 * OpenSSL.
 */
function verifyTrusted(key: KeyObject, spki: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const k = parseSpki(spki);
  // The cache key commits to the message through its SHA-256, which the P-256 batch needs anyway
  // (one pass over the message instead of two).
  const md = sha256(message);
  const cacheKey = verdictKey(spki, md, sig);
  if (verified.has(cacheKey)) return true;
  if (sink?.p256 && k?.alg === 'ecdsa-p256-sha256' && isKeyRegistered(spki)) {
    sink.items.push({ alg: k.alg, publicKey: spki, digestOrMessage: md, signature: sig });
    sink.keys.push(cacheKey);
    return true;
  }
  if (k?.alg === 'ecdsa-p256-sha256' && isKeyRegistered(spki)) {
    // A key with a core table: about 32 µs per check over the digest we already have, against
    // 63 µs for OpenSSL over the message (bench/RESULTS.md, signatures).
    if (!verifySignature({ alg: k.alg, publicKey: spki, digestOrMessage: md, signature: sig })) return false;
    remember(cacheKey);
    return true;
  }
  if (k?.alg !== 'ed25519') {
    // ECDSA (and RSA) over a whole message: OpenSSL's verify with the trusted root's imported key.
    if (!verifyArtifactSignature(key, message, sig, spki)) return false;
    if (k?.alg === 'ecdsa-p256-sha256') countTrustedUse(spki);
    remember(cacheKey);
    return true;
  }
  // Ed25519 (Rekor v2 and C2SP witness keys): the core's batch equation, deferred when bulk.
  const item: SignatureItem = { alg: k.alg, publicKey: spki, digestOrMessage: message, signature: sig };
  if (sink) {
    sink.items.push(item);
    sink.keys.push(cacheKey);
    return true;
  }
  if (!verifySignature(item)) return false;
  remember(cacheKey);
  return true;
}

/**
 * Outside bulk runs a trusted P-256 key gets a core table once it has verified this many
 * signatures in this process (a long-lived verifier, say): the table takes about 14 ms to build
 * and saves about 31 µs per check, so it pays for itself after about 450. Counted per SPKI array,
 * which the trusted root holds for its lifetime.
 */
const REGISTER_AFTER = 512;
const trustedUses = new WeakMap<Uint8Array, number>();
function countTrustedUse(spki: Uint8Array): void {
  const n = (trustedUses.get(spki) ?? 0) + 1;
  trustedUses.set(spki, n);
  if (n === REGISTER_AFTER) registerKey(spki);
}

const spkiOfKey = new WeakMap<KeyObject, Buffer>();
/**
 * A TSA's signature over a token's signedAttrs (host/tsa/verify.ts calls this in place of
 * crypto.verify): ECDSA P-256 with SHA-256 in DER, the usual case, is a trusted-key check like
 * any other (cached, and deferred into the core's batch when bulk); anything else goes to OpenSSL
 * as given.
 */
function tsaSignature(hash: string, data: Uint8Array, k: { key: KeyObject } & VerifyKeyOptions, sig: Uint8Array): boolean {
  const { key, ...opts } = k;
  if (hash === 'sha256' && key.asymmetricKeyType === 'ec' && opts.padding === undefined && opts.saltLength === undefined) {
    let spki = spkiOfKey.get(key);
    if (!spki) {
      spki = key.export({ format: 'der', type: 'spki' });
      spkiOfKey.set(key, spki);
    }
    if (parseSpki(spki)?.alg === 'ecdsa-p256-sha256') return verifyTrusted(key, spki, data, sig);
  }
  return cryptoVerify(hash, data, k, sig);
}

const keyOfCert = new WeakMap<X509Certificate, KeyObject>();
/** A trusted certificate's public key, imported once (X509Certificate.publicKey builds a new KeyObject per call). */
function certKey(c: X509Certificate): KeyObject {
  let k = keyOfCert.get(c);
  if (!k) {
    k = c.publicKey;
    keyOfCert.set(c, k);
  }
  return k;
}

const spkiOfCert = new WeakMap<X509Certificate, Buffer>();
function certSpki(c: X509Certificate): Buffer {
  let s = spkiOfCert.get(c);
  if (!s) {
    s = certKey(c).export({ format: 'der', type: 'spki' });
    spkiOfCert.set(c, s);
  }
  return s;
}

/**
 * The leaf's signature by `issuer`, over the exact TBS bytes (x509-lite), with the verdict cached
 * like any trusted-key check; algorithms other than ECDSA-SHA256 go through OpenSSL's X509_verify.
 */
function signedBy(m: SigningMaterial, issuer: X509Certificate): boolean {
  const p = m.parts!;
  const key = certKey(issuer);
  if (Buffer.from(p.signatureAlgorithm).equals(ECDSA_WITH_SHA256) && key.asymmetricKeyType === 'ec') return verifyTrusted(key, certSpki(issuer), p.tbs, p.signature);
  return leafCert(m).verify(key);
}

const issuerFactsCache = new WeakMap<X509Certificate, IssuerFacts | null>();
function factsOf(ca: X509Certificate): IssuerFacts | undefined {
  let f = issuerFactsCache.get(ca);
  if (f === undefined) {
    f = issuerFacts(ca.raw, certKey(ca).asymmetricKeyType === 'ec') ?? null;
    issuerFactsCache.set(ca, f);
  }
  return f ?? undefined;
}

/** X509_check_issued(ca, leaf): from the lite profile when it can tell, else OpenSSL's. */
function issuedBy(m: SigningMaterial, ca: X509Certificate): boolean {
  const f = m.profile && factsOf(ca);
  return (f && issuedByLite(m.parts!, m.profile!, f)) ?? leafCert(m).checkIssued(ca);
}

const hashes = new WeakMap<KeyObject, string | null>();
function hashFor(key: KeyObject): string | null {
  let h = hashes.get(key);
  if (h === undefined) {
    h = hashForUncached(key);
    hashes.set(key, h);
  }
  return h;
}

function hashForUncached(key: KeyObject): string | null {
  if (key.asymmetricKeyType === 'ed25519') return null;
  if (key.asymmetricKeyType === 'ec') {
    const c = key.asymmetricKeyDetails?.namedCurve;
    return c === 'secp384r1' ? 'sha384' : c === 'secp521r1' ? 'sha512' : 'sha256';
  }
  return 'sha256';
}

function verifyArtifactSignature(key: KeyObject, data: Uint8Array, sig: Uint8Array, spki?: Uint8Array): boolean {
  // The key type from its SPKI prefix when known: KeyObject.asymmetricKeyDetails is slow.
  const alg = spki ? parseSpki(spki)?.alg : undefined;
  const hash = alg === 'ecdsa-p256-sha256' ? 'sha256' : alg === 'ed25519' ? null : hashFor(key);
  try {
    return cryptoVerify(hash, data, key, sig);
  } catch {
    return false;
  }
}

function sha256(b: Uint8Array): Buffer {
  return digest('sha256', b);
}

/** The verdict cache's key for a signature: SHA-256 over key, message digest and signature, in base64. */
function verdictKey(spki: Uint8Array, md: Uint8Array, sig: Uint8Array): string {
  return digest('sha256', Buffer.concat([spki, md, sig])).toString('base64');
}

interface SigningMaterial {
  /** The verifying key: `--key`'s, or the leaf's, imported on first use (keyOf). */
  key?: KeyObject;
  /** The leaf as OpenSSL parsed it: made on demand when `profile` is set (see leafCert). */
  cert?: X509Certificate;
  certDer?: Buffer;
  parts?: CertParts;
  /** The leaf read without OpenSSL (x509-lite leafProfile), when it has the usual shape. */
  profile?: LeafProfile;
}

function malformedCert(cause: unknown): never {
  return fail('CERTIFICATE_MALFORMED', 'the bundle certificate is not a well-formed DER X.509 certificate', cause);
}

/** The leaf's X509Certificate, for the checks outside the lite profile's shape. */
function leafCert(m: SigningMaterial): X509Certificate {
  if (!m.cert) {
    try {
      m.cert = new X509Certificate(m.certDer!);
    } catch (cause) {
      malformedCert(cause);
    }
  }
  return m.cert!;
}

/** The signing key, importing the leaf's on first use (bulk verification of P-256 leaves never needs it). */
function keyOf(m: SigningMaterial): KeyObject {
  try {
    m.key ??= leafKey(m.parts!);
  } catch (cause) {
    // OpenSSL refuses the key (a P-256 point off the curve, say): the certificate is malformed.
    return fail('CERTIFICATE_MALFORMED', 'the signing certificate\'s public key is not a valid key', cause);
  }
  return m.key;
}

/** The UTF8String inside an otherName's [0] value (its content bytes: OID TLV, then [0] { UTF8String }), or undefined. */
function otherNameUtf8(v: Buffer): string | undefined {
  try {
    const oid = readTlv(v, 0);
    if (oid.tag !== 0x06) return undefined;
    const wrapped = readTlv(v, oid.end);
    if (wrapped.tag !== 0xa0) return undefined;
    const inner = readTlv(v, wrapped.valueStart);
    if (inner.tag !== 0x0c || inner.end > wrapped.end) return undefined;
    return v.subarray(inner.valueStart, inner.end).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * The signature over `data` by the signing key. In bulk (a sink set) with a P-256 leaf, the
 * check goes into the core's batch over the SHA-256 digest, as trusted-key checks do: one-off
 * keys are finished there by the runtime's multiplication (host/core/signatures.ts), which costs
 * less than importing the leaf key into OpenSSL and verifying with it. A failure makes
 * verifyBundles re-verify the bundle without a sink, so verdicts and codes are unchanged.
 */
function verifySigned(m: SigningMaterial, data: { bytes: Uint8Array } | { digest: Buffer }, sig: Uint8Array): boolean {
  const spki = m.key ? undefined : m.parts?.spki;
  if (sink?.p256 && spki && parseSpki(spki)?.alg === 'ecdsa-p256-sha256') {
    const md = 'digest' in data ? data.digest : sha256(data.bytes);
    const cacheKey = verdictKey(spki, md, sig);
    if (verified.has(cacheKey)) return true;
    sink.items.push({ alg: 'ecdsa-p256-sha256', publicKey: spki, digestOrMessage: md, signature: sig });
    sink.keys.push(cacheKey);
    return true;
  }
  if ('bytes' in data) return verifyArtifactSignature(keyOf(m), data.bytes, sig, m.parts?.spki);
  try {
    return verifyDigestSignature(keyVerifier(keyOf(m)), 'sha256', data.digest, sig);
  } catch (e) {
    throw new VerificationError('SIGNATURE_INVALID', `cannot verify over a digest with this key: ${(e as Error).message}`);
  }
}

/**
 * The leaf's public key. A P-256 key (what Sigstore clients generate) is imported from its point
 * as a JWK: OpenSSL checks the point as it does for DER, at about 65 µs where decoding the SPKI
 * takes about 108 µs, and the import scales across threads where OpenSSL 3's decoders do not
 * (measured on the 2-core bench machine: 11,010 JWK imports/s on one thread, 22,689 on two;
 * 7,334 X509Certificate parses/s on one thread, 10,435 on two).
 */
function leafKey(parts: CertParts): KeyObject {
  const k = parseSpki(parts.spki);
  if (k?.alg === 'ecdsa-p256-sha256') {
    const pt = Buffer.from(k.point.buffer, k.point.byteOffset, k.point.byteLength);
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: pt.subarray(1, 33).toString('base64url'), y: pt.subarray(33, 65).toString('base64url') }, format: 'jwk' });
  }
  return createPublicKey({ key: Buffer.from(parts.spki), format: 'der', type: 'spki' });
}

/** The bytes whose hash the signature covers, and what the tlog body must name. */
interface SignedContent {
  artifactDigest?: Buffer;
  signature: Buffer;
}

// ---------------------------------------------------------------------------------------------
// 1. tlog

function findLog(logs: TrustedLog[], id: Buffer): TrustedLog[] {
  return logs.filter((l) => l.logId.equals(id) || (l.checkpointKeyId?.equals(id) ?? false));
}

function verifySet(e: TlogEntry, logs: TrustedLog[]): number {
  if (e.integratedTime === undefined) fail('TLOG_SET_INVALID', 'an inclusion promise needs an integrated time');
  const t = new Date(e.integratedTime * 1000);
  const payload = setPayload(e.canonicalizedBody, e.integratedTime, e.logId.toString('hex'), e.logIndex);
  const ok = logs.some((l) => within(l.validFor, t) && verifyTrusted(l.publicKey, l.spki, payload, e.signedEntryTimestamp!));
  if (!ok) fail('TLOG_SET_INVALID', 'the signed entry timestamp does not verify with a trusted log key valid at the integrated time');
  return e.integratedTime;
}

/**
 * A signed-note checkpoint (C2SP tlog-checkpoint): a signature line whose key hint is the log's,
 * named for the origin, that verifies. Returns the checkpoint's origin, size and root.
 */
export function verifyCheckpointNote(text: string, logs: TrustedLog[]): { origin: string; size: number; root: Buffer; body: string } {
  const sep = text.indexOf('\n\n');
  if (sep < 0) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint has no signature block');
  const body = text.slice(0, sep + 1);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3 || !lines[0]) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint body needs origin, size and root hash');
  const origin = lines[0]!;
  if (!/^(0|[1-9][0-9]*)$/.test(lines[1]!) || !Number.isSafeInteger(Number(lines[1]))) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint size is not a number');
  const root = Buffer.from(lines[2]!, 'base64');
  if (root.length !== 32) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint root hash is not 32 bytes');
  let verified = false;
  for (const line of text.slice(sep + 2).split('\n')) {
    if (!line) continue;
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) fail('TLOG_CHECKPOINT_INVALID', 'malformed checkpoint signature line');
    const name = m[1]!;
    const raw = Buffer.from(m[2]!, 'base64');
    if (raw.length < 5) continue;
    const hint = raw.subarray(0, 4);
    // The log's own signature is named for the origin (Rekor v1: "<host> - <tree id>" is signed as "<host>").
    if (name !== origin && !origin.startsWith(`${name} - `)) continue;
    for (const l of logs) {
      const ids = [l.logId.subarray(0, 4), ...(l.checkpointKeyId ? [l.checkpointKeyId.subarray(0, 4)] : [])];
      if (!ids.some((id) => id.equals(hint))) continue;
      if (verifyTrusted(l.publicKey, l.spki, Buffer.from(body, 'utf8'), raw.subarray(4))) verified = true;
    }
  }
  if (!verified) fail('TLOG_CHECKPOINT_INVALID', 'no checkpoint signature by the log verifies');
  return { origin, size: Number(lines[1]), root, body };
}

/** The inclusion proof's checkpoint: signed by the log, for the proof's tree size and root. */
function verifyCheckpoint(e: TlogEntry, logs: TrustedLog[]): void {
  const p = e.inclusionProof!;
  const text = p.checkpoint;
  if (!text) fail('TLOG_CHECKPOINT_INVALID', 'the inclusion proof has no checkpoint');
  const sep = text.indexOf('\n\n');
  if (sep < 0) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint has no signature block');
  const lines = text.slice(0, sep).split('\n');
  if (lines.length < 3 || !lines[0]) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint body needs origin, size and root hash');
  if (!/^(0|[1-9][0-9]*)$/.test(lines[1]!) || Number(lines[1]) !== p.treeSize) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint size does not match the inclusion proof');
  const root = Buffer.from(lines[2]!, 'base64');
  if (root.length !== 32 || !root.equals(p.rootHash)) fail('TLOG_CHECKPOINT_INVALID', 'checkpoint root hash does not match the inclusion proof');
  verifyCheckpointNote(text, logs);
}

function verifyInclusionProof(e: TlogEntry): void {
  const p = e.inclusionProof!;
  if (p.logIndex >= p.treeSize) fail('TLOG_INCLUSION_PROOF_INVALID', 'inclusion proof index is outside the tree');
  if (p.rootHash.length !== 32 || p.hashes.some((h) => h.length !== 32)) fail('TLOG_INCLUSION_PROOF_INVALID', 'inclusion proof hashes must be 32 bytes');
  if (!verifyInclusion(leafHash(e.canonicalizedBody), p.logIndex, p.treeSize, p.hashes, p.rootHash)) fail('TLOG_INCLUSION_PROOF_INVALID', 'the inclusion proof does not lead to the root hash');
}

/** The bytes of a body's key or certificate field: the base64 of a PEM (any label), or of DER. The monitor reads bodies the same way. */
export function decodePemOrDer(s: string): Buffer {
  const raw = Buffer.from(s, 'base64');
  // "-----BEGIN " in ASCII: PEM text, else DER. Node's base64 decoder skips the line breaks.
  if (raw.length < 11 || raw.toString('latin1', 0, 11) !== '-----BEGIN ') return raw;
  const text = raw.toString('latin1');
  const m = /^-----BEGIN [A-Z ]+-----([A-Za-z0-9+/=\s]+?)-----END /.exec(text);
  return m ? Buffer.from(m[1]!, 'base64') : raw;
}

function sameKeyMaterial(encoded: Buffer, m: SigningMaterial): boolean {
  if (m.certDer && encoded.equals(m.certDer)) return true;
  try {
    const k = encoded.length > 0 && m.certDer === undefined ? createPublicKey({ key: encoded, format: 'der', type: 'spki' }) : undefined;
    return !!k && k.equals(keyOf(m));
  } catch {
    return false;
  }
}

/** The tlog body must describe exactly this bundle's signature, artifact and key. */
function checkBody(e: TlogEntry, b: Bundle, c: SignedContent, m: SigningMaterial): void {
  let body: any;
  try {
    body = JSON.parse(e.canonicalizedBody.toString('utf8'));
  } catch {
    fail('TLOG_BODY_MISMATCH', 'tlog body is not JSON');
  }
  const mismatch = (what: string): never => fail('TLOG_BODY_MISMATCH', `tlog entry ${what} does not match the bundle`);
  const list = (v: unknown, what: string): any[] => (Array.isArray(v) ? v : mismatch(what));
  if (body?.kind !== e.kind || body?.apiVersion !== e.kindVersion) mismatch('kind/version');
  const key = `${e.kind}/${e.kindVersion}`;
  if (b.content.type === 'messageSignature') {
    if (key === 'hashedrekord/0.0.1') {
      const s = body.spec;
      if (s?.signature?.content !== c.signature.toString('base64')) mismatch('signature');
      if (s?.data?.hash?.algorithm !== 'sha256' || !c.artifactDigest || s.data.hash.value !== c.artifactDigest.toString('hex')) mismatch('artifact digest');
      if (typeof s?.signature?.publicKey?.content !== 'string' || !sameKeyMaterial(decodePemOrDer(s.signature.publicKey.content), m)) mismatch('key or certificate');
    } else if (key === 'hashedrekord/0.0.2') {
      const s = body.spec?.hashedRekordV002;
      if (s?.signature?.content !== c.signature.toString('base64')) mismatch('signature');
      if (!c.artifactDigest || s?.data?.digest !== c.artifactDigest.toString('base64')) mismatch('artifact digest');
      const v = s?.signature?.verifier;
      const raw = v?.x509Certificate?.rawBytes ?? v?.publicKey?.rawBytes;
      if (typeof raw !== 'string' || !sameKeyMaterial(Buffer.from(raw, 'base64'), m)) mismatch('key or certificate');
    } else {
      mismatch(`kind ${key} for a message signature`);
    }
    return;
  }
  const env = b.content;
  const payloadHash = sha256(env.payload);
  const sigs = env.signatures.map((s) => s.sig.toString('base64')).sort();
  if (key === 'dsse/0.0.1') {
    const s = body.spec;
    if (s?.payloadHash?.algorithm !== 'sha256' || s.payloadHash.value !== payloadHash.toString('hex')) mismatch('payload hash');
    const logged = list(s?.signatures, 'signature list').map((x: any) => x?.signature).sort();
    if (JSON.stringify(logged) !== JSON.stringify(sigs)) mismatch('envelope signatures');
    if (!(s.signatures as any[]).every((x) => typeof x?.verifier === 'string' && sameKeyMaterial(decodePemOrDer(x.verifier), m))) mismatch('verifier');
  } else if (key === 'dsse/0.0.2') {
    const s = body.spec?.dsseV002;
    if (s?.payloadHash?.digest !== payloadHash.toString('base64')) mismatch('payload hash');
    const logged = list(s?.signatures, 'signature list').map((x: any) => x?.content).sort();
    if (JSON.stringify(logged) !== JSON.stringify(sigs)) mismatch('envelope signatures');
    const keyOk = (x: any): boolean => {
      const raw = x?.verifier?.x509Certificate?.rawBytes ?? x?.verifier?.publicKey?.rawBytes;
      return typeof raw === 'string' && sameKeyMaterial(Buffer.from(raw, 'base64'), m);
    };
    if (!(s.signatures as any[]).every(keyOk)) mismatch('verifier');
  } else if (key === 'hashedrekord/0.0.2') {
    // rekor-v2 spec §6.1.4 "hashedrekord over DSSE": the entry stores SHA-256(PAE(type, payload))
    // and the envelope's single signature.
    const s = body.spec?.hashedRekordV002;
    if (s?.data?.digest !== sha256(pae(env.payloadType, env.payload)).toString('base64')) mismatch('PAE digest');
    if (env.signatures.length !== 1 || s?.signature?.content !== sigs[0]) mismatch('envelope signature');
    const v = s?.signature?.verifier;
    const raw = v?.x509Certificate?.rawBytes ?? v?.publicKey?.rawBytes;
    if (typeof raw !== 'string' || !sameKeyMaterial(Buffer.from(raw, 'base64'), m)) mismatch('key or certificate');
  } else if (key === 'intoto/0.0.2') {
    const s = body.spec?.content;
    if (s?.payloadHash?.algorithm !== 'sha256' || s.payloadHash.value !== payloadHash.toString('hex')) mismatch('payload hash');
    const logged = list(s?.envelope?.signatures, 'signature list').map((x: any) => Buffer.from(String(x?.sig), 'base64').toString('utf8')).sort();
    if (JSON.stringify(logged) !== JSON.stringify(sigs)) mismatch('envelope signatures');
    if (!(s.envelope.signatures as any[]).every((x) => typeof x?.publicKey === 'string' && sameKeyMaterial(decodePemOrDer(x.publicKey), m))) mismatch('public key');
  } else {
    mismatch(`kind ${key} for a DSSE envelope`);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. certificate

/** The leaf's extensions with Buffer values, built once per certificate (SCTs, SAN, issuer and policy all read them). */
const extensionCache = new WeakMap<CertParts, Map<string, { critical: boolean; value: Buffer }>>();
function extensionsOf(p: CertParts): Map<string, { critical: boolean; value: Buffer }> {
  let out = extensionCache.get(p);
  if (!out) {
    out = new Map();
    for (const [id, e] of p.extensions) out.set(id, { critical: e.critical, value: Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength) });
    extensionCache.set(p, out);
  }
  return out;
}

/**
 * Whether a trusted CA chain is a path (RFC 5280 §6.1): each certificate signed by the next, each
 * a CA (basicConstraints cA, §4.2.1.9) with no critical extension left unprocessed (§4.2), and
 * each pathLenConstraint allowing the CAs below it (the
 * leaf's issuer is chain[0], so chain[k] has k CAs under it). A trusted root that lists a
 * non-CA certificate is a mistake the verifier must not turn into trust. The trust material is
 * immutable, so this is computed once per authority and reused by every bundle (bulk mode).
 */
const linkCache = new WeakMap<object, boolean>();
function chainLinksValid(ca: TrustMaterial['certificateAuthorities'][number]): boolean {
  let ok = linkCache.get(ca);
  if (ok === undefined) {
    ok = true;
    for (let i = 0; i < ca.chain.length; i++) {
      const c = ca.chain[i]!;
      const pathLen = c.ca ? caFacts(c).pathLen : undefined;
      if (!c.ca || (pathLen !== undefined && pathLen < i)) ok = false;
      // RFC 5280 §4.2, as for CAs a bundle carries: a critical extension this verifier does not
      // process refuses the certificate (Go's x509 Verify, which sigstore-go uses, does the same).
      if (c.ca && caFacts(c).unhandledCritical) ok = false;
      const next = ca.chain[i + 1];
      if (next && !(c.checkIssued(next) && c.verify(next.publicKey))) ok = false;
    }
    linkCache.set(ca, ok);
  }
  return ok;
}

const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EKU = '2.5.29.37';
/**
 * The extensions the chain checks act on, which may therefore be critical (RFC 5280 §4.2: "A
 * certificate-using system MUST reject the certificate if it encounters a critical extension it
 * does not recognize"): keyUsage, basicConstraints, subjectAltName, extKeyUsage, the key
 * identifiers used to match issuers, and, on a CA, nameConstraints. certificatePolicies and the
 * policy constraints are not processed here, so a critical one is refused, as is any other.
 */
const LEAF_HANDLED = new Set([OID_KEY_USAGE, '2.5.29.19', SAN, OID_EKU, '2.5.29.14', '2.5.29.35']);
const CA_HANDLED = new Set([...LEAF_HANDLED, OID_NAME_CONSTRAINTS]);

/**
 * Why the signing certificate may not sign artifacts, or undefined. What sigstore-go and cosign
 * ask of the leaf (Go's x509 Verify with ExtKeyUsageCodeSigning, which also refuses unhandled
 * critical extensions): an extKeyUsage, when present, that allows codeSigning (RFC 5280
 * §4.2.1.12), and no critical extension outside LEAF_HANDLED (§4.2). A keyUsage, when present,
 * must allow digitalSignature (§4.2.1.3). Without these, a TLS or X509-SVID certificate from a
 * trusted CA (serverAuth/clientAuth only) would verify as a code-signing identity.
 */
function leafUsageProblem(p: CertParts): string | undefined {
  const exts = extensionsOf(p);
  for (const [id, e] of exts) if (e.critical && !LEAF_HANDLED.has(id)) return `it carries the critical extension ${id}, which this verifier does not process (RFC 5280 §4.2)`;
  const ku = exts.get(OID_KEY_USAGE)?.value;
  if (ku) {
    // KeyUsage ::= BIT STRING; digitalSignature is bit 0, the high bit of the first content octet.
    const t = readTlv(ku, 0);
    if (t.tag !== 0x03 || t.end !== ku.length) return 'its keyUsage is malformed';
    if (t.end - t.valueStart < 2 || !(ku[t.valueStart + 1]! & 0x80)) return 'its keyUsage does not allow digitalSignature (RFC 5280 §4.2.1.3)';
  }
  const ekuDer = exts.get(OID_EKU)?.value;
  if (ekuDer) {
    const t = readTlv(ekuDer, 0);
    if (t.tag !== 0x30 || t.end !== ekuDer.length) return 'its extKeyUsage is malformed';
    const ekus = children(ekuDer, t).map((k) => decodeOid(ekuDer.subarray(k.valueStart, k.end)));
    if (!ekus.includes(OID_CODE_SIGNING) && !ekus.includes(OID_ANY_EKU)) return `its extKeyUsage (${ekus.join(', ')}) does not allow codeSigning (RFC 5280 §4.2.1.12)`;
  }
  return undefined;
}

/** A CA certificate's extKeyUsage, when present, allows codeSigning (the EKU nesting Go's x509 Verify checks on every certificate of the path). */
function caAllowsCodeSigning(c: X509Certificate): boolean {
  const eku = caFacts(c).eku;
  return !eku || eku.includes(OID_CODE_SIGNING) || eku.includes(OID_ANY_EKU);
}

/** What the chain checks read from a CA certificate (RFC 5280 §4.2.1.9, §4.2.1.10, §4.2.1.12), once per certificate. */
interface CaFacts {
  /** basicConstraints pathLenConstraint; undefined: no limit. */
  pathLen?: number;
  /** Parsed nameConstraints, or why they could not be evaluated (the chain then fails). */
  nc?: NameConstraints | string;
  /** extKeyUsage OIDs; undefined: no extension (any use). */
  eku?: string[];
  /** Critical extensions these checks do not process (RFC 5280 §4.2: the certificate must then be refused). */
  unhandledCritical?: string[];
}
const caFactsCache = new WeakMap<X509Certificate, CaFacts>();
function caFacts(c: X509Certificate): CaFacts {
  let f = caFactsCache.get(c);
  if (!f) {
    f = {};
    let ext: ReturnType<typeof splitCertificate>['extensions'];
    try {
      ext = splitCertificate(c.raw).extensions;
    } catch (e) {
      // OpenSSL read it, this strict reading does not: treated as a CA whose constraints cannot
      // be known, so it can vouch for nothing (nameConstraintViolation reports the string).
      f.nc = `unreadable CA certificate: ${(e as Error).message}`;
      caFactsCache.set(c, f);
      return f;
    }
    const bc = ext.get('2.5.29.19')?.value;
    if (bc) {
      // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
      const top = readTlv(bc, 0);
      const int = children(bc, top).find((t) => t.tag === 0x02);
      if (int) f.pathLen = bc.subarray(int.valueStart, int.end).reduce((a, b) => a * 256 + b, 0);
    }
    const nc = ext.get(OID_NAME_CONSTRAINTS)?.value;
    if (nc) {
      try {
        f.nc = parseNameConstraints(nc);
      } catch (e) {
        f.nc = `unreadable name constraints: ${(e as Error).message}`;
      }
    }
    const eku = ext.get('2.5.29.37')?.value;
    if (eku) f.eku = children(eku, readTlv(eku, 0)).map((t) => decodeOid(eku.subarray(t.valueStart, t.end)));
    const unhandled = [...ext].filter(([id, e]) => e.critical && !CA_HANDLED.has(id)).map(([id]) => id);
    if (unhandled.length > 0) f.unhandledCritical = unhandled;
    caFactsCache.set(c, f);
  }
  return f;
}

/**
 * Why the leaf's SANs break a name constraint of a CA in `path`, or the constraints the trust
 * material puts on the authority (a partner's CA: trusted-root.ts withPartner); undefined if none.
 */
function nameConstraintViolation(m: SigningMaterial, path: readonly X509Certificate[], authority?: TrustMaterial['certificateAuthorities'][number]): string | undefined {
  let names: GeneralName[] | undefined;
  const all: [NameConstraints | string | undefined, string][] = path.map((c) => [caFacts(c).nc, `name constraints of ${c.subject.replace(/\n/g, ', ')}`]);
  if (authority?.constraints) all.push([authority.constraints, 'the trust domain this partner CA is trusted for']);
  for (const [nc, whose] of all) {
    if (nc === undefined) continue;
    if (typeof nc === 'string') return nc;
    if (!names) {
      const san = extensionsOf(m.parts!).get(SAN);
      try {
        names = san ? parseGeneralNames(san.value) : [];
      } catch {
        return 'the signing certificate\'s subjectAltName is unreadable';
      }
    }
    // No names at all is not "within" a constraint: a certificate that names no identity cannot
    // be shown to belong to the names a constrained (or partner) CA may vouch for.
    if (names.length === 0) return `the signing certificate names no identity (no subjectAltName), so it is not within ${whose}`;
    const v = violation(names, nc);
    if (v) return `${v} (${whose})`;
  }
  return undefined;
}

const OID_ANY_EKU = '2.5.29.37.0';

/**
 * An intermediate the bundle carries (x509CertificateChain, bundle v0.1/v0.2) between the leaf
 * and a certificate of the trusted root: how a subordinate CA's leaves verify against the parent's
 * root alone (the seed's Phase 3; host/ca/subordinate.ts). Checked as RFC 5280 §6.1 would: a CA
 * (cA and keyCertSign), signed by a trusted certificate whose pathLen allows one more CA, valid
 * at every signing time, for code signing if it limits key use (§4.2.1.12), and the leaf within
 * the name constraints of every CA on the path (§4.2.1.10).
 */
function viaBundleIntermediate(m: SigningMaterial, trust: TrustMaterial, times: Date[], bundleChain: X509Certificate[]): X509Certificate | undefined {
  let violationSeen: string | undefined;
  for (const sub of bundleChain) {
    if (sub.checkIssued(sub)) continue; // roots were dealt with above
    if (!sub.ca || !leafCert(m).checkIssued(sub) || !leafCert(m).verify(sub.publicKey)) continue;
    if (!times.every((t) => t >= new Date(sub.validFrom) && t <= new Date(sub.validTo))) continue;
    if (!caAllowsCodeSigning(sub) || caFacts(sub).unhandledCritical) continue;
    for (const ca of trust.certificateAuthorities) {
      if (!times.every((t) => within(ca.validFor, t)) || !chainLinksValid(ca)) continue;
      for (let k = 0; k < ca.chain.length; k++) {
        const parent = ca.chain[k]!;
        if (!sub.checkIssued(parent) || !sub.verify(parent.publicKey)) continue;
        const above = ca.chain.slice(k);
        // pathLen: the CA at position i above `sub` may have at most its pathLen CAs below it
        // before the leaf (§4.2.1.9); `sub` is one more.
        if (above.some((c, i) => caFacts(c).pathLen !== undefined && caFacts(c).pathLen! < i + 1)) continue;
        if (!above.every(caAllowsCodeSigning)) continue;
        if (!above.every((c) => times.every((t) => t >= new Date(c.validFrom) && t <= new Date(c.validTo)))) continue;
        const v = nameConstraintViolation(m, [sub, ...above], ca);
        if (v) {
          violationSeen = v;
          continue;
        }
        return sub;
      }
    }
  }
  if (violationSeen) fail('CERTIFICATE_UNTRUSTED', `the signing certificate breaks its CA's name constraints: ${violationSeen}`);
  return undefined;
}

/** The chain from the leaf up to a trusted root, each link valid at every time in `times`. */
function verifyChain(m: SigningMaterial, trust: TrustMaterial, times: Date[], bundleChain: X509Certificate[]): X509Certificate {
  const pr = m.profile;
  if (pr ? pr.ca : leafCert(m).ca) fail('CERTIFICATE_UNTRUSTED', 'the signing certificate is a CA certificate');
  const usage = leafUsageProblem(m.parts!);
  if (usage) fail('CERTIFICATE_UNTRUSTED', `the signing certificate is not for code signing: ${usage}`);
  // Certificates a v0.1/v0.2 bundle carries after the leaf are never anchors: a self-signed one is
  // accepted only when it is byte-identical to a root of the trusted root (sigstore-go's npm
  // bundles carry the real chain); anything else (sigstore-conformance bundle-with-root-cert_fail)
  // is refused. A non-root one may link the leaf to the trusted root (viaBundleIntermediate).
  const trustedRoots = trust.certificateAuthorities.map((a) => a.chain[a.chain.length - 1]!.raw);
  if (bundleChain.some((c) => c.checkIssued(c) && !trustedRoots.some((r) => r.equals(c.raw)))) fail('CERTIFICATE_UNTRUSTED', 'the bundle carries a root certificate that is not in the trusted root');
  const notBefore = pr ? pr.notBefore : new Date(leafCert(m).validFrom).getTime();
  const notAfter = pr ? pr.notAfter : new Date(leafCert(m).validTo).getTime();
  for (const t of times) {
    if (t.getTime() < notBefore || t.getTime() > notAfter) fail('CERTIFICATE_NOT_VALID_AT_TIME', `the signing certificate was not valid at ${t.toISOString()}`);
  }
  let violationSeen: string | undefined;
  for (const ca of trust.certificateAuthorities) {
    if (!times.every((t) => within(ca.validFor, t))) continue;
    const issuer = ca.chain[0]!;
    if (!issuedBy(m, issuer) || !signedBy(m, issuer)) continue;
    let ok = chainLinksValid(ca) && ca.chain.every(caAllowsCodeSigning);
    for (const c of ca.chain) {
      if (!times.every((t) => t >= new Date(c.validFrom) && t <= new Date(c.validTo))) ok = false;
    }
    if (!ok) continue;
    const v = nameConstraintViolation(m, ca.chain, ca);
    if (!v) return issuer;
    violationSeen ??= v; // another authority may still accept the leaf
  }
  if (bundleChain.length > 0) {
    const sub = viaBundleIntermediate(m, trust, times, bundleChain);
    if (sub) return sub;
  }
  if (violationSeen) fail('CERTIFICATE_UNTRUSTED', `the signing certificate breaks its CA's name constraints: ${violationSeen}`);
  return fail('CERTIFICATE_UNTRUSTED', 'the signing certificate does not chain to a trusted CA valid at the signing time');
}

function u(n: number | bigint, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 8) b.writeBigUInt64BE(BigInt(n));
  else b.writeUIntBE(Number(n), 0, bytes);
  return b;
}

/** RFC 6962 §3.3 embedded SCTs: each checked against the ctlogs over the reconstructed precert TBS. */
function verifyScts(m: SigningMaterial, issuer: X509Certificate, trust: TrustMaterial, threshold: number): number {
  const ext = extensionsOf(m.parts!).get(OID_SCT_LIST);
  if (!ext) {
    if (threshold > 0) fail('SCT_INVALID', 'the certificate carries no SCTs');
    return 0;
  }
  let list: Buffer;
  try {
    // extnValue holds an OCTET STRING wrapping the TLS-encoded list.
    const inner = ext.value;
    let p = 1;
    let len = inner[p++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + inner[p++]!;
    }
    list = inner.subarray(p, p + len);
  } catch (cause) {
    return fail('SCT_INVALID', 'malformed SCT list', cause);
  }
  // RFC 6962 §3.3: the precertificate TBS is the final TBS without the SCT list extension,
  // cut out of the certificate's DER (no re-encoding).
  const tbsDer = tbsWithoutExtension(m.certDer!, OID_SCT_LIST)!.tbs;
  const issuerKeyHash = sha256(certSpki(issuer));
  const seen = new Set<string>();
  if (list.length < 2 || list.readUInt16BE(0) !== list.length - 2) fail('SCT_INVALID', 'malformed SCT list');
  for (let off = 2; off < list.length; ) {
    if (off + 2 > list.length) fail('SCT_INVALID', 'malformed SCT list');
    const len = list.readUInt16BE(off);
    const sct = list.subarray(off + 2, off + 2 + len);
    off += 2 + len;
    if (sct.length < 47 || sct[0] !== 0) continue;
    const logId = sct.subarray(1, 33);
    const ts = sct.readBigUInt64BE(33);
    const extLen = sct.readUInt16BE(41);
    const extBytes = sct.subarray(43, 43 + extLen);
    const ds = sct.subarray(43 + extLen);
    if (ds.length < 4 || ds.readUInt16BE(2) !== ds.length - 4) continue;
    const signed = Buffer.concat([Uint8Array.of(0, 0), u(ts, 8), u(1, 2), issuerKeyHash, u(tbsDer.length, 3), tbsDer, u(extLen, 2), extBytes]);
    const t = new Date(Number(ts));
    for (const l of findLog(trust.ctlogs, logId)) {
      if (within(l.validFor, t) && verifyTrusted(l.publicKey, l.spki, signed, ds.subarray(4))) seen.add(l.logId.toString('hex'));
    }
  }
  if (seen.size < threshold) fail('SCT_INVALID', 'no embedded SCT verifies with a trusted CT log');
  return seen.size;
}

// ---------------------------------------------------------------------------------------------
// 5. policy

function sanOf(asn: CertParts): { uri?: string; email?: string; other?: string } {
  const e = extensionsOf(asn).get(SAN);
  if (!e) return {};
  const out: { uri?: string; email?: string; other?: string } = {};
  // GeneralNames: a SEQUENCE of context-tagged names; read the first of each kind we know.
  const v = e.value;
  let p = 1;
  let len = v[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + v[p++]!;
  }
  const end = p + len;
  while (p < end) {
    const tag = v[p++]!;
    let l = v[p++]!;
    if (l & 0x80) {
      const n = l & 0x7f;
      l = 0;
      for (let i = 0; i < n; i++) l = l * 256 + v[p++]!;
    }
    const val = v.subarray(p, p + l);
    if (tag === 0x86 && !out.uri) out.uri = val.toString('utf8');
    if (tag === 0x81 && !out.email) out.email = val.toString('utf8');
    if (tag === 0xa0 && !out.other) {
      // otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY } (RFC 5280 §4.2.1.6); Fulcio's
      // username is a UTF8String there. Read by its DER lengths: a pattern over the raw bytes
      // would take a printable length byte (36 is '$') as part of the name.
      const name = otherNameUtf8(val);
      if (name !== undefined) out.other = name;
    }
    p += l;
  }
  return out;
}

function issuerOf(asn: CertParts): string | undefined {
  const exts = extensionsOf(asn);
  const v2 = exts.get(OID_ISSUER_V2);
  if (v2 && v2.value[0] === 0x0c) {
    let p = 1;
    let len = v2.value[p++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + v2.value[p++]!;
    }
    return v2.value.subarray(p, p + len).toString('utf8');
  }
  const v1 = exts.get(OID_ISSUER_V1);
  return v1 ? v1.value.toString('utf8') : undefined;
}

// ---------------------------------------------------------------------------------------------
// the pipeline

const registered = new WeakSet<TrustMaterial>();
/**
 * Ed25519 log keys (Rekor v2, witnesses) sign checkpoints that the core verifies: build their
 * fixed-base tables once per trusted root. ECDSA keys are verified by OpenSSL and need none.
 */
function registerTrustedKeys(trust: TrustMaterial): void {
  if (registered.has(trust)) return;
  registered.add(trust);
  for (const l of [...trust.tlogs, ...trust.ctlogs]) if (parseSpki(l.spki)?.alg === 'ed25519') registerKey(l.spki);
}

const registeredP256 = new WeakSet<TrustMaterial>();
/**
 * For bulk runs: comb tables for the trusted P-256 keys that sign on every bundle (log SETs and
 * checkpoints, CT logs' SCTs, the issuing CAs' certificates, TSA tokens), as many as the core
 * keeps (about 14 ms each to build, so a single verification does not pay for them; see
 * REGISTER_AFTER for one-at-a-time runs).
 */
function registerTrustedP256(trust: TrustMaterial): void {
  if (registeredP256.has(trust)) return;
  registeredP256.add(trust);
  const keys = [...trust.tlogs.map((l) => l.spki), ...trust.ctlogs.map((l) => l.spki), ...trust.certificateAuthorities.map((a) => certSpki(a.chain[0]!)), ...trust.timestampAuthorities.map((a) => certSpki(a.chain[0]!))];
  const p256 = [...new Map(keys.filter((k) => parseSpki(k)?.alg === 'ecdsa-p256-sha256').map((k) => [Buffer.from(k).toString('hex'), k])).values()];
  for (const k of p256.slice(0, keySlots().p256)) registerKey(k);
}

export function verifyBundle(b: Bundle, artifact: Artifact, trust: TrustMaterial, policy: Policy, o: VerifyOptions = {}): VerificationResult {
  try {
    return verifyBundleChecked(b, artifact, trust, policy, o);
  } catch (e) {
    if (e instanceof VerificationError) throw e;
    // Every refusal is coded (STYLE.md point 3): input that some reader below did not expect
    // (a crafted certificate, an odd body) is reported as a malformed bundle, never as a crash.
    throw new VerificationError('BUNDLE_MALFORMED', `the bundle could not be verified: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

function verifyBundleChecked(b: Bundle, artifact: Artifact, trust: TrustMaterial, policy: Policy, o: VerifyOptions): VerificationResult {
  registerTrustedKeys(trust);
  const now = o.now ?? new Date();
  // Signing material.
  let m: SigningMaterial;
  const bundleChain: X509Certificate[] = [];
  if (b.certificates.length > 0) {
    try {
      const certDer = b.certificates[0]!;
      const parts = splitCertificate(certDer);
      const profile = leafProfile(certDer);
      // A leaf outside the lite profile's shape is parsed by OpenSSL here, as every leaf was
      // before; one inside it only when a check outside the shape needs it (leafCert).
      const cert = profile ? undefined : new X509Certificate(certDer);
      m = { key: cert?.publicKey, cert, certDer, parts, profile };
      for (const d of b.certificates.slice(1)) bundleChain.push(new X509Certificate(d));
    } catch (cause) {
      return malformedCert(cause);
    }
    if (o.key && !o.key.equals(keyOf(m))) fail('SIGNATURE_INVALID', 'the certificate key is not the expected key');
  } else {
    if (!o.key) return fail('PUBLIC_KEY_MISSING', 'a public-key bundle needs --key');
    m = { key: o.key };
  }

  // What was signed.
  const content: SignedContent = { signature: Buffer.alloc(0) };
  // sha512 digests can name in-toto subjects (npm provenance); message signatures need SHA-256.
  const sha512Digest = 'digest' in artifact && artifact.digest.algorithm === 'sha512' ? Buffer.from(artifact.digest.value) : undefined;
  let artifactDigest: Buffer | undefined = 'bytes' in artifact ? sha256(artifact.bytes) : sha512Digest ? undefined : Buffer.from(artifact.digest.value);
  if (b.content.type === 'messageSignature' && !artifactDigest) fail('ARTIFACT_MISMATCH', 'a message signature is checked against the artifact or its sha256 digest');
  if (b.content.type === 'messageSignature') {
    content.signature = b.content.signature;
    const md = b.content.digest;
    if (md) {
      if (md.algorithm !== 'SHA2_256') fail('ARTIFACT_MISMATCH', `unsupported message digest algorithm ${md.algorithm}`);
      if (!md.value.equals(artifactDigest!)) fail('ARTIFACT_MISMATCH', 'the bundle message digest is not the artifact digest');
    }
    content.artifactDigest = artifactDigest;
  } else {
    if (b.content.signatures.length !== 1) fail('SIGNATURE_INVALID', 'exactly one DSSE signature is supported');
    content.signature = b.content.signatures[0]!.sig;
  }

  // 1. tlog entries.
  const tlogThreshold = o.tlogThreshold ?? 1;
  const timestamps: { source: string; time: Date }[] = [];
  const logsSeen = new Set<string>();
  const proofOnly: TrustedLog[][] = [];
  for (const e of b.tlogEntries) {
    const logs = findLog(trust.tlogs, e.logId);
    if (logs.length === 0) fail('TLOG_UNKNOWN_LOG', 'the tlog entry names a log that is not in the trusted root');
    if (e.integratedTime !== undefined && e.integratedTime * 1000 > now.getTime() + FUTURE_LEEWAY_MS) fail('TLOG_INTEGRATED_TIME_INVALID', 'the integrated time is in the future');
    checkBody(e, b, content, m);
    if (e.inclusionProof) {
      verifyInclusionProof(e);
      verifyCheckpoint(e, logs);
      // The checkpoint key must have been trusted when the entry was logged, as a SET's must
      // (verifySet): at its integrated time when it has one (as sigstore-go checks it), else at
      // the verified RFC 3161 times, checked below.
      if (!e.signedEntryTimestamp) {
        if (e.integratedTime) {
          const t = new Date(e.integratedTime * 1000);
          if (!logs.some((l) => within(l.validFor, t))) fail('TLOG_CHECKPOINT_INVALID', 'the log key that signed the checkpoint is not valid at the integrated time (trusted root validFor)');
        } else proofOnly.push(logs);
      }
    }
    // Counted by the trusted log the entry resolved to: a bundle may name one log by its log ID
    // or by its checkpoint key ID, and must not count it twice.
    const trusted = logs[0]!.logId.toString('hex');
    if (e.signedEntryTimestamp) {
      const t = verifySet(e, logs);
      timestamps.push({ source: `tlog:${trusted}`, time: new Date(t * 1000) });
    } else if (!e.inclusionProof) {
      fail('TLOG_INCLUSION_PROOF_INVALID', 'the tlog entry has neither an inclusion proof nor a promise');
    }
    logsSeen.add(trusted);
  }
  if (logsSeen.size < tlogThreshold) fail('TLOG_ENTRY_MISSING', `need tlog entries from ${tlogThreshold} log(s), have ${logsSeen.size}`);

  // 2. RFC 3161 timestamps over the signature bytes.
  for (const tok of b.rfc3161Timestamps) {
    let verified: Date | undefined;
    let lastErr: unknown;
    for (const tsa of trust.timestampAuthorities) {
      try {
        const r = verifyTimestampToken(tok, { data: content.signature, trustedCerts: tsa.chainDer, tsaCertificates: tsa.chainDer, verifySignature: tsaSignature });
        if (!within(tsa.validFor, r.genTime)) throw new VerificationError('TIMESTAMP_UNTRUSTED', 'the timestamp is outside the TSA validity window in the trusted root');
        verified = r.genTime;
        timestamps.push({ source: `tsa:${tsa.chainDer[0]!.toString('hex', 0, 32)}`, time: r.genTime });
        break;
      } catch (e) {
        lastErr = e;
      }
    }
    if (!verified) fail('TIMESTAMP_INVALID', `an RFC 3161 timestamp does not verify with a trusted TSA: ${(lastErr as Error)?.message ?? 'no TSA configured'}`, lastErr);
  }
  for (const logs of proofOnly) {
    // With no verified time at all (a key-signed bundle with no timestamps), nothing says when the
    // checkpoint was signed: its key must be trusted now.
    const at = timestamps.length > 0 ? timestamps.map((t) => t.time) : [now];
    for (const t of at) if (!logs.some((l) => within(l.validFor, t))) fail('TLOG_CHECKPOINT_INVALID', 'the log key that signed the checkpoint is not valid at a verified signing time (trusted root validFor)');
  }
  const sources = new Map(timestamps.map((t) => [t.source, t]));
  const tsThreshold = o.timestampThreshold ?? 1;
  if (m.certDer && sources.size < tsThreshold) fail('TIMESTAMP_MISSING', sources.size === 0 ? 'no verified timestamp (SET or RFC 3161) for the signature' : `need verified times from ${tsThreshold} distinct sources (logs and TSAs), have ${sources.size}`);

  // 3. certificate.
  let identity: string | undefined;
  let uriSan: string | undefined;
  let issuerUrl: string | undefined;
  if (m.certDer) {
    // With no verified time at all (thresholds of 0 through the API, and none in the bundle),
    // nothing says when the certificate was used: it must be valid now, as sigstore-go checks
    // with the current time. An empty list would check no validity window at all.
    const times = timestamps.length > 0 ? timestamps.map((t) => t.time) : [now];
    const issuer = verifyChain(m, trust, times, bundleChain);
    verifyScts(m, issuer, trust, o.ctlogThreshold ?? 1);
    const san = sanOf(m.parts!);
    identity = san.uri ?? san.email ?? san.other;
    uriSan = san.uri;
    issuerUrl = issuerOf(m.parts!);
  }

  // 4. signature.
  let predicateType: string | undefined;
  if (b.content.type === 'messageSignature') {
    const ok = verifySigned(m, 'bytes' in artifact ? { digest: artifactDigest!, bytes: artifact.bytes } : { digest: artifactDigest! }, content.signature);
    if (!ok) fail('SIGNATURE_INVALID', 'the signature does not verify over the artifact');
  } else {
    const env = b.content;
    if (!verifySigned(m, { bytes: pae(env.payloadType, env.payload) }, content.signature)) fail('SIGNATURE_INVALID', 'the DSSE signature does not verify');
    // Only an in-toto statement names the artifact (its subjects). Any other payload type has
    // nothing that binds the envelope to the artifact being verified, so it is refused, as
    // sigstore-go refuses artifact verification of non-in-toto DSSE payloads.
    if (env.payloadType !== 'application/vnd.in-toto+json') fail('ARTIFACT_MISMATCH', `the DSSE payload type ${JSON.stringify(env.payloadType.slice(0, 80))} is not an in-toto statement, so nothing in it names the artifact`);
    let st: unknown;
    try {
      st = JSON.parse(env.payload.toString('utf8'));
    } catch {
      return fail('ARTIFACT_MISMATCH', 'the in-toto statement is not JSON');
    }
    if (typeof st !== 'object' || st === null || Array.isArray(st)) fail('ARTIFACT_MISMATCH', 'the in-toto statement is not a JSON object');
    const statement = st as { predicateType?: unknown; subject?: unknown };
    if (!Array.isArray(statement.subject)) fail('ARTIFACT_MISMATCH', 'the in-toto statement has no subject list');
    predicateType = typeof statement.predicateType === 'string' ? statement.predicateType : undefined;
    const want = sha512Digest ? { alg: 'sha512', hex: sha512Digest.toString('hex') } : { alg: 'sha256', hex: artifactDigest!.toString('hex') };
    const bytes512 = 'bytes' in artifact ? createHash('sha512').update(artifact.bytes).digest('hex') : undefined;
    const digestOf = (x: unknown): Record<string, unknown> | undefined => {
      const d = typeof x === 'object' && x !== null ? (x as { digest?: unknown }).digest : undefined;
      return typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : undefined;
    };
    const match = (statement.subject as unknown[]).some((x) => digestOf(x)?.[want.alg] === want.hex || (bytes512 !== undefined && digestOf(x)?.sha512 === bytes512));
    if (!match) fail('ARTIFACT_MISMATCH', 'the artifact digest is not a subject of the in-toto statement');
  }

  // 5. policy.
  if (policy.identity !== undefined && identity !== policy.identity) fail('POLICY_IDENTITY_MISMATCH', `certificate identity ${identity ?? '(none)'} is not ${policy.identity}`);
  if (policy.identityRegexp && !(identity !== undefined && policy.identityRegexp.test(identity))) fail('POLICY_IDENTITY_MISMATCH', `certificate identity ${identity ?? '(none)'} does not match ${policy.identityRegexp}`);
  if (policy.issuer !== undefined && issuerUrl !== policy.issuer) fail('POLICY_ISSUER_MISMATCH', `certificate issuer ${issuerUrl ?? '(none)'} is not ${policy.issuer}`);
  if (policy.issuerRegexp && !(issuerUrl !== undefined && policy.issuerRegexp.test(issuerUrl))) fail('POLICY_ISSUER_MISMATCH', `certificate issuer ${issuerUrl ?? '(none)'} does not match ${policy.issuerRegexp}`);
  if (policy.spiffeTrustDomain !== undefined || policy.spiffePathPrefix !== undefined) {
    // Only a URI SAN that is a SPIFFE ID by the SPIFFE-ID spec (§2: lower-case trust domain, no
    // userinfo, port, percent-encoding, dot segments, query or fragment) is one. A looser
    // pattern let an email or Fulcio username SAN spelt "spiffe://<td>/..." (from any issuer)
    // pass as a member of <td>, and "/ci/../prod" pass a "/ci" path prefix.
    let sid: { trustDomain: string; path: string } | undefined;
    try {
      sid = uriSan !== undefined ? parseSpiffeId(uriSan) : undefined;
    } catch {
      sid = undefined;
    }
    if (!sid || (policy.spiffeTrustDomain !== undefined && sid.trustDomain !== policy.spiffeTrustDomain)) fail('POLICY_TRUST_DOMAIN_MISMATCH', `certificate identity ${identity ?? '(none)'} is not a SPIFFE ID${policy.spiffeTrustDomain !== undefined ? ` in trust domain ${policy.spiffeTrustDomain}` : ''}`);
    const path = sid!.path;
    if (policy.spiffePathPrefix !== undefined && !(path === policy.spiffePathPrefix || path.startsWith(policy.spiffePathPrefix.replace(/\/$/, '') + '/'))) fail('POLICY_TRUST_DOMAIN_MISMATCH', `SPIFFE path ${path} is not under ${policy.spiffePathPrefix}`);
  }
  if (policy.extensions && m.parts) {
    const exts = extensionsOf(m.parts);
    for (const [id, want] of Object.entries(policy.extensions)) {
      const e = exts.get(id);
      const got = e ? extensionText(e.value) : undefined;
      if (got !== want) fail('POLICY_EXTENSION_MISMATCH', `certificate extension ${id} is ${got ?? '(absent)'}, not ${want}`);
    }
  }
  if (policy.predicateType !== undefined && predicateType !== policy.predicateType) fail('POLICY_PREDICATE_MISMATCH', `predicate type ${predicateType ?? '(none)'} is not ${policy.predicateType}`);

  return { ...(identity ? { identity } : {}), ...(issuerUrl ? { issuer: issuerUrl } : {}), timestamps: [...sources.values()], tlogEntries: b.tlogEntries.length, ...(predicateType ? { predicateType } : {}) };
}

/**
 * A Fulcio extension's text: the newer OIDs (1.3.6.1.4.1.57264.1.8 and on) hold a DER UTF8String,
 * whose length may take several octets (X.690 §8.1.3.5: a value of 128 bytes or more, such as a long
 * build-signer URI); the deprecated 1.3.6.1.4.1.57264.1.1 to .6 hold the raw string.
 */
function extensionText(v: Buffer): string {
  if (v[0] === 0x0c) {
    try {
      const t = readTlv(v, 0);
      if (t.end === v.length) return v.subarray(t.valueStart, t.end).toString('utf8');
    } catch {
      // not DER after all: the raw string below
    }
  }
  return v.toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// bulk

export interface BulkItem {
  bundle: Bundle;
  artifact: Artifact;
}

export type BulkVerdict = { ok: true; result: VerificationResult } | { ok: false; error: unknown };

/** Anything with VerifyPool's batch method (host/core/pool.ts); without one, the batch runs on this thread. */
export interface BatchVerifier {
  verifyBatch(items: readonly SignatureItem[]): Promise<boolean[]>;
}

/**
 * Verifies many bundles against one trusted root and policy, with the same verdicts (and error
 * codes) as verifyBundle one at a time. The signatures of trusted keys are collected across a
 * chunk of bundles, de-duplicated (a checkpoint shared by many bundles is checked once) and
 * verified in the WASM core's batches, on a worker pool when given: Ed25519 (Rekor v2 checkpoints,
 * SETs and SCTs of Ed25519 logs) in one batch equation; P-256 (SETs, checkpoints, SCTs, the
 * issuing CA's signature on each certificate, TSA tokens) with comb tables for the trusted keys,
 * and the artifact's signature by the certificate key finished by the runtime's ECDH where there
 * is one (p256_verify_batch_deferred), up to 128 per core batch, when run on this thread. A
 * bundle with a failed item is then re-verified on its own to report exactly what a single run
 * would.
 */
export async function verifyBundles(items: readonly BulkItem[], trust: TrustMaterial, policy: Policy, o: VerifyOptions & { pool?: BatchVerifier; chunk?: number } = {}): Promise<BulkVerdict[]> {
  registerTrustedKeys(trust);
  // A pool's workers have their own cores (and tables): only a local batch uses this thread's.
  if (!o.pool) registerTrustedP256(trust);
  const out: BulkVerdict[] = new Array(items.length);
  const chunk = o.chunk ?? 1024;
  for (let start = 0; start < items.length; start += chunk) {
    const end = Math.min(items.length, start + chunk);
    const batch: SignatureItem[] = [];
    const batchKeys: string[] = [];
    const index = new Map<string, number>();
    const uses: number[][] = [];
    for (let i = start; i < end; i++) {
      const mine: number[] = [];
      sink = { items: [], keys: [], p256: !o.pool };
      try {
        out[i] = { ok: true, result: verifyBundle(items[i]!.bundle, items[i]!.artifact, trust, policy, o) };
      } catch (error) {
        out[i] = { ok: false, error };
      } finally {
        const s = sink;
        sink = undefined;
        s.keys.forEach((k, j) => {
          let at = index.get(k);
          if (at === undefined) {
            at = batch.length;
            index.set(k, at);
            batch.push(s.items[j]!);
            batchKeys.push(k);
          }
          mine.push(at);
        });
      }
      uses.push(mine);
    }
    const verdicts = o.pool ? await o.pool.verifyBatch(batch) : verifyBatchLocal(batch);
    verdicts.forEach((ok, j) => {
      if (ok) remember(batchKeys[j]!);
    });
    for (let i = start; i < end; i++) {
      if (uses[i - start]!.every((j) => verdicts[j])) continue;
      try {
        out[i] = { ok: true, result: verifyBundle(items[i]!.bundle, items[i]!.artifact, trust, policy, o) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    }
  }
  return out;
}
