/**
 * Pure TUF metadata (The Update Framework specification v1.0.x, §4 "Document formats"): building
 * and signing the four top-level roles, key IDs, and checking a role's signature threshold.
 * No file system here; host/trust/tuf-repo.ts keeps the repository on disk.
 *
 * Keys are Ed25519 (keytype/scheme "ed25519", `keyval.public` = hex of the raw 32-byte key,
 * §4.2), which tuf-js (@tufjs/models) verifies with node:crypto. Signatures are over the OLPC
 * canonical JSON of `signed` and are hex encoded (§4.2 `sig`).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { TrustError } from './errors.js';

/** The spec version we write (tuf-js accepts any 1.x). */
export const TUF_SPEC_VERSION = '1.0.31';
export const TOP_LEVEL_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type RoleName = (typeof TOP_LEVEL_ROLES)[number];

export interface TufPublicKey { keytype: 'ed25519'; scheme: 'ed25519'; keyval: { public: string } }
export interface TufSignature { keyid: string; sig: string }
export interface Signed<T> { signatures: TufSignature[]; signed: T }
interface Common { spec_version: string; version: number; expires: string }
export interface RootMeta extends Common {
  _type: 'root';
  consistent_snapshot: boolean;
  keys: Record<string, TufPublicKey>;
  roles: Record<RoleName, { keyids: string[]; threshold: number }>;
}
export interface TargetFileMeta { length: number; hashes: { sha256: string }; custom?: Record<string, unknown> }
export interface TargetsMeta extends Common { _type: 'targets'; targets: Record<string, TargetFileMeta> }
export interface MetaFile { version: number; length?: number; hashes?: { sha256: string } }
export interface SnapshotMeta extends Common { _type: 'snapshot'; meta: Record<string, MetaFile> }
export interface TimestampMeta extends Common { _type: 'timestamp'; meta: { 'snapshot.json': MetaFile } }
export type AnyMeta = RootMeta | TargetsMeta | SnapshotMeta | TimestampMeta;

/** A signing key: the private half never leaves the process except into a 0600 file. */
export interface TufSigner { keyid: string; publicKey: TufPublicKey; privateKey: KeyObject }

export function generateSigner(): TufSigner {
  const { privateKey } = generateKeyPairSync('ed25519');
  return signerFromPrivateKey(privateKey);
}

export function signerFromPrivateKey(privateKey: KeyObject): TufSigner {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TrustError('TUF_KEY_MISSING', 'TUF signing keys must be Ed25519');
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const publicKey: TufPublicKey = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: Buffer.from(jwk.x!, 'base64url').toString('hex') } };
  return { keyid: keyIdOf(publicKey), publicKey, privateKey };
}

export function signerFromPem(pem: string): TufSigner {
  return signerFromPrivateKey(createPrivateKey(pem));
}

/** §4.2: KEYID = hex SHA-256 of the canonical JSON of the public key object. */
export function keyIdOf(k: TufPublicKey): string {
  return createHash('sha256').update(canonicalJson(k), 'utf8').digest('hex');
}

/** §4.4 etc.: "expires" is an ISO 8601 UTC time, written without fractional seconds. */
export function expiryAfter(now: Date, seconds: number): string {
  return new Date(Math.floor(now.getTime() / 1000) * 1000 + seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export function signMetadata<T extends AnyMeta>(signed: T, signers: TufSigner[]): Signed<T> {
  const data = Buffer.from(canonicalJson(signed), 'utf8');
  const seen = new Set<string>();
  const signatures: TufSignature[] = [];
  for (const s of signers) {
    if (seen.has(s.keyid)) continue;
    seen.add(s.keyid);
    signatures.push({ keyid: s.keyid, sig: sign(null, data, s.privateKey).toString('hex') });
  }
  return { signatures, signed };
}

/**
 * Counts valid signatures by distinct keys that `root` assigns to `role` (§5.3.4 / §5.4.2) and
 * throws unless the threshold is met. Used on our own repository before publishing, so a missing
 * key shows up as an error here and not as a client failure later.
 */
export function checkThreshold(meta: Signed<AnyMeta>, root: RootMeta, role: RoleName): void {
  const r = root.roles[role];
  const data = Buffer.from(canonicalJson(meta.signed), 'utf8');
  const good = new Set<string>();
  for (const s of meta.signatures) {
    const k = root.keys[s.keyid];
    if (!k || !r.keyids.includes(s.keyid) || good.has(s.keyid)) continue;
    const pub = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(k.keyval.public, 'hex')]), format: 'der', type: 'spki' });
    if (verify(null, data, pub, Buffer.from(s.sig, 'hex'))) good.add(s.keyid);
  }
  if (good.size < r.threshold) throw new TrustError('TUF_METADATA_INVALID', `${role} has ${good.size} valid signature(s), threshold is ${r.threshold}`);
}

/** RFC 8410 §4 SubjectPublicKeyInfo prefix for a raw Ed25519 key. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The exact bytes we publish for a metadata document (what snapshot/timestamp hash). */
export function serializeMetadata(m: Signed<AnyMeta>): Buffer {
  return Buffer.from(JSON.stringify(m, null, 1), 'utf8');
}

/**
 * Target names are URL paths under targets/ (§4.5 TARGETPATH). We accept only plain relative
 * paths of safe segments so a name can never escape the targets directory on disk or on HTTP.
 */
export function checkTargetName(name: string): string {
  const segs = name.split('/');
  if (name.length === 0 || name.length > 255 || segs.some((s) => !SAFE_SEGMENT.test(s))) {
    throw new TrustError('TUF_BAD_TARGET_NAME', `target name not allowed: ${JSON.stringify(name)}`);
  }
  return name;
}

/** A path segment that is not `.`/`..`, not hidden, and has no separators or control bytes. */
export const SAFE_SEGMENT = /^(?!\.)[A-Za-z0-9._+-]{1,128}$/;
