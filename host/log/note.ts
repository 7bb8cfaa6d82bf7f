/**
 * Checkpoints (C2SP tlog-checkpoint) in signed notes (C2SP signed-note), and witness
 * cosignatures (C2SP tlog-cosignature). Pure: keys come in as node:crypto KeyObjects.
 *
 * Key IDs differ by key type (transparency-dev/formats, vectors in conformance/vectors):
 *   Ed25519 (type 0x01):        SHA-256(name ‖ 0x0A ‖ 0x01 ‖ raw key)[:4]; signature = 64 bytes
 *   ECDSA P-256 (Rekor v1):     SHA-256(SPKI DER)[:4] — the log ID's prefix; signature = DER
 *   cosignature/v1 (type 0x04): SHA-256(name ‖ 0x0A ‖ 0x04 ‖ raw key)[:4];
 *                               signature = key ID ‖ uint64-BE time ‖ Ed25519 over
 *                               "cosignature/v1\ntime <time>\n" ‖ note body
 */
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { LogError } from './errors.js';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  /** Extension lines (without trailing newline), e.g. Rekor's "Timestamp: <ns>". */
  extensions?: string[];
}

export function formatCheckpoint(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${Buffer.from(c.root).toString('base64')}\n${(c.extensions ?? []).map((e) => `${e}\n`).join('')}`;
}

export function parseCheckpoint(body: string): Checkpoint {
  const bad = (m: string): never => {
    throw new LogError('LOG_BAD_REQUEST', `checkpoint: ${m}`);
  };
  if (!body.endsWith('\n')) bad('body must end with a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) bad('too few lines');
  const [origin, sizeS, rootS] = lines as [string, string, string];
  if (!origin) bad('empty origin');
  if (!/^(0|[1-9][0-9]{0,18})$/.test(sizeS) || !Number.isSafeInteger(Number(sizeS))) bad('bad size');
  const root = Buffer.from(rootS, 'base64');
  if (root.length !== 32 || root.toString('base64') !== rootS) bad('bad root hash');
  const extensions = lines.slice(3);
  if (extensions.some((e) => e === '')) bad('empty extension line');
  return { origin, size: Number(sizeS), root: new Uint8Array(root), extensions };
}

export interface NoteSignature {
  name: string;
  keyId: Uint8Array;
  /** The signature bytes after the 4-byte key ID. */
  signature: Uint8Array;
}

export interface SignedNote {
  body: string;
  signatures: NoteSignature[];
}

/** C2SP signed-note: key names are non-empty, with no Unicode spaces and no plus (U+002B). */
const SIG_LINE = /^\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)$/;
// fatal: bad bytes are refused, not replaced by U+FFFD; ignoreBOM: a leading U+FEFF stays in the
// text instead of being dropped. Either way the text checked would not be the bytes received.
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Bytes received as a signed note (or a request holding one), decoded exactly: C2SP signed-note,
 * Format: a note is valid UTF-8. Returns undefined for bytes that are not, so each caller refuses
 * them with its own error code.
 */
export function decodeNoteBytes(b: Uint8Array): string | undefined {
  try {
    return STRICT_UTF8.decode(b);
  } catch {
    return undefined;
  }
}

/** ASCII control characters other than newline (C2SP signed-note, Format). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function formatNote(n: SignedNote): string {
  return `${n.body}\n${n.signatures.map((s) => `\u2014 ${s.name} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}\n`).join('')}`;
}

export function parseNote(text: string): SignedNote {
  const sep = text.lastIndexOf('\n\n');
  if (sep < 0 || text.length > 1 << 20) throw new LogError('LOG_BAD_REQUEST', 'signed note: missing blank line');
  // C2SP signed-note, Format: no ASCII control characters but newline, and valid UTF-8. A string
  // has been decoded already: the HTTP entry points decode strictly (bad bytes refused, not turned
  // into U+FFFD), and what remains to catch here is a lone surrogate, which has no UTF-8 form.
  if (CONTROL.test(text) || LONE_SURROGATE.test(text)) throw new LogError('LOG_BAD_REQUEST', 'signed note: control characters or invalid UTF-8');
  const body = text.slice(0, sep + 1);
  const sigText = text.slice(sep + 2);
  if (!sigText.endsWith('\n')) throw new LogError('LOG_BAD_REQUEST', 'signed note: signatures must end with a newline');
  const signatures: NoteSignature[] = [];
  for (const line of sigText.slice(0, -1).split('\n')) {
    const m = SIG_LINE.exec(line);
    if (!m) throw new LogError('LOG_BAD_REQUEST', 'signed note: malformed signature line');
    const raw = Buffer.from(m[2]!, 'base64');
    if (raw.length < 5) throw new LogError('LOG_BAD_REQUEST', 'signed note: signature too short');
    signatures.push({ name: m[1]!, keyId: new Uint8Array(raw.subarray(0, 4)), signature: new Uint8Array(raw.subarray(4)) });
  }
  return { body, signatures };
}

export interface NoteKey {
  name: string;
  keyId: Uint8Array;
  publicKey: KeyObject;
  /**
   * ed25519 (0x01) and ecdsa (0x02) sign the note text; rfc6962-sth (0x05, C2SP static-ct-api)
   * signs the RFC 6962 §3.5 TreeHeadSignature of the checkpoint the note carries.
   */
  type: 'ed25519' | 'ecdsa' | 'rfc6962-sth';
}

function sha256(...parts: (Uint8Array | string)[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function rawEd25519(pub: KeyObject): Buffer {
  return Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
}

/** Note keys by log key and name: a log signs a checkpoint per batch, and exporting the key each time costs. */
const noteKeys = new WeakMap<KeyObject, Map<string, NoteKey>>();

/** The verifier key for a log key (public half), by the key-ID rule of its type; shared, do not mutate. */
export function noteKeyFor(name: string, key: KeyObject): NoteKey {
  let byName = noteKeys.get(key);
  if (!byName) noteKeys.set(key, (byName = new Map()));
  let k = byName.get(name);
  if (!k) {
    k = noteKeyUncached(name, key);
    byName.set(name, k);
  }
  return k;
}

function noteKeyUncached(name: string, key: KeyObject): NoteKey {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType === 'ed25519') {
    return { name, type: 'ed25519', publicKey: pub, keyId: new Uint8Array(sha256(name, '\n', Uint8Array.of(0x01), rawEd25519(pub)).subarray(0, 4)) };
  }
  if (pub.asymmetricKeyType === 'ec') {
    const spki = pub.export({ format: 'der', type: 'spki' });
    return { name, type: 'ecdsa', publicKey: pub, keyId: new Uint8Array(sha256(spki).subarray(0, 4)) };
  }
  throw new LogError('LOG_BAD_CONFIG', `log keys must be Ed25519 or ECDSA, not ${pub.asymmetricKeyType}`);
}

/**
 * A signed-note verifier key, `<name>+<hex key ID>+<base64(type ‖ key)>` (C2SP signed-note), of
 * type 0x01 (Ed25519) or 0x02 (ECDSA over a DER SubjectPublicKeyInfo, key ID its SHA-256 prefix:
 * the transparency-dev extension Rekor v1 checkpoints use). The key ID must be the key's.
 */
export function parseNoteVkey(vkey: string): NoteKey {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/.exec(vkey);
  if (!m) throw new LogError('LOG_BAD_CONFIG', `not a note verifier key: ${vkey.slice(0, 80)}`);
  const raw = Buffer.from(m[3]!, 'base64');
  let pub: KeyObject;
  try {
    if (raw[0] === 0x01 && raw.length === 33) pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(1).toString('base64url') }, format: 'jwk' });
    else if (raw[0] === 0x01) throw new Error(`an Ed25519 key (type 0x01) is 32 bytes, not ${raw.length - 1}`);
    else if (raw[0] === 0x02 || raw[0] === 0x05) {
      pub = createPublicKey({ key: raw.subarray(1), format: 'der', type: 'spki' });
      if (pub.asymmetricKeyType !== 'ec') throw new Error('not an EC key');
      // C2SP static-ct-api defines its note signatures for ECDSA P-256 only.
      if (raw[0] === 0x05 && pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('a type 0x05 (RFC 6962 STH) key must be ECDSA P-256');
    } else throw new Error(`key type 0x${(raw[0] ?? 0).toString(16).padStart(2, '0')} is not a checkpoint signature type this verifier implements (0x01 Ed25519, 0x02 ECDSA, 0x05 RFC 6962 STH)`);
  } catch (cause) {
    throw new LogError('LOG_BAD_CONFIG', `note verifier key ${m[1]}: ${(cause as Error).message}`, { cause });
  }
  // C2SP static-ct-api: the key ID of a 0x05 key is SHA-256(name ‖ \n ‖ 0x05 ‖ SHA-256(SPKI))[:4].
  const key: NoteKey =
    raw[0] === 0x05
      ? { name: m[1]!, type: 'rfc6962-sth', publicKey: pub, keyId: new Uint8Array(sha256(m[1]!, '\n', Uint8Array.of(0x05), sha256(raw.subarray(1))).subarray(0, 4)) }
      : noteKeyUncached(m[1]!, pub);
  if (Buffer.from(key.keyId).toString('hex') !== m[2]) throw new LogError('LOG_BAD_CONFIG', `note verifier key ${m[1]}: the key ID does not match the key`);
  return key;
}

/** C2SP vkey for an Ed25519 log key: <name>+<hex key ID>+<base64(0x01 ‖ key)>. */
export function vkeyOf(k: NoteKey): string | undefined {
  if (k.type !== 'ed25519') return undefined;
  return `${k.name}+${Buffer.from(k.keyId).toString('hex')}+${Buffer.concat([Uint8Array.of(0x01), rawEd25519(k.publicKey)]).toString('base64')}`;
}

export function signNoteBody(body: string, name: string, privateKey: KeyObject): NoteSignature {
  const k = noteKeyFor(name, privateKey);
  const sig = k.type === 'ed25519' ? cryptoSign(null, Buffer.from(body), privateKey) : cryptoSign('sha256', Buffer.from(body), privateKey);
  return { name, keyId: k.keyId, signature: new Uint8Array(sig) };
}

/** True when some signature line is by `key` (name and key ID both match) and verifies. */
export function verifyNoteSignature(note: SignedNote, key: NoteKey): boolean {
  return note.signatures.some(
    (s) =>
      s.name === key.name &&
      Buffer.compare(Buffer.from(s.keyId), Buffer.from(key.keyId)) === 0 &&
      (key.type === 'ed25519'
        ? s.signature.length === 64 && cryptoVerify(null, Buffer.from(note.body), key.publicKey, s.signature)
        : key.type === 'rfc6962-sth'
          ? verifySthSignature(note.body, s.signature, key)
          : cryptoVerify('sha256', Buffer.from(note.body), key.publicKey, s.signature)),
  );
}

/**
 * C2SP static-ct-api note signature (type 0x05): timestamp (8 bytes, ms) ‖ TLS DigitallySigned
 * over the RFC 6962 §3.5 TreeHeadSignature {version v1, signature_type tree_hash, timestamp,
 * tree_size, sha256_root_hash} of the checkpoint in the note. Only ECDSA P-256 with SHA-256
 * (RFC 5246 §7.4.1.4.1: hash 4, signature 3) is defined for it.
 */
function verifySthSignature(body: string, sig: Uint8Array, key: NoteKey): boolean {
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(body);
  } catch {
    return false;
  }
  // The STH covers size and root only: the origin is bound by being the key's name (static-ct-api),
  // and the extension lines, which it cannot cover, must be absent.
  if (cp.origin !== key.name || (cp.extensions?.length ?? 0) > 0) return false;
  if (sig.length < 12 || sig[8] !== 4 || sig[9] !== 3) return false;
  const len = (sig[10]! << 8) | sig[11]!;
  if (sig.length !== 12 + len) return false;
  const tbs = Buffer.alloc(2 + 8 + 8 + 32);
  tbs[0] = 0; // Version v1
  tbs[1] = 1; // SignatureType tree_hash
  Buffer.from(sig.subarray(0, 8)).copy(tbs, 2);
  tbs.writeBigUInt64BE(BigInt(cp.size), 10);
  Buffer.from(cp.root).copy(tbs, 18);
  return cryptoVerify('sha256', tbs, key.publicKey, sig.subarray(12));
}

// ---------------------------------------------------------------------------------------------
// tlog-cosignature: witnesses

export interface WitnessKey {
  name: string;
  keyId: Uint8Array;
  publicKey: KeyObject;
}

/** Parses a witness vkey `<name>+<hex id>+<base64(0x04 ‖ Ed25519 key)>` (C2SP tlog-cosignature). */
export function parseWitnessVkey(vkey: string): WitnessKey {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey);
  if (!m) throw new LogError('LOG_BAD_CONFIG', `not a witness vkey: ${vkey.slice(0, 80)}`);
  const raw = Buffer.from(m[3]!, 'base64');
  if (raw.length !== 33 || raw[0] !== 0x04) throw new LogError('LOG_BAD_CONFIG', 'witness vkey must be type 0x04 (cosignature/v1) with a 32-byte Ed25519 key');
  const pub = raw.subarray(1);
  const keyId = sha256(m[1]!, '\n', Uint8Array.of(0x04), pub).subarray(0, 4);
  if (keyId.toString('hex') !== m[2]) throw new LogError('LOG_BAD_CONFIG', `witness vkey ${m[1]}: key ID does not match the key`);
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub).toString('base64url') }, format: 'jwk' });
  return { name: m[1]!, keyId: new Uint8Array(keyId), publicKey };
}

export function witnessVkey(name: string, pub: KeyObject): string {
  const raw = rawEd25519(pub);
  const id = sha256(name, '\n', Uint8Array.of(0x04), raw).subarray(0, 4);
  return `${name}+${id.toString('hex')}+${Buffer.concat([Uint8Array.of(0x04), raw]).toString('base64')}`;
}

export function cosignedMessage(body: string, time: bigint): Buffer {
  return Buffer.concat([Buffer.from(`cosignature/v1\ntime ${time}\n`), Buffer.from(body)]);
}

/** Returns the cosignature's timestamp when `s` is a valid cosignature/v1 by `w` over `body`. */
export function verifyCosignature(body: string, s: NoteSignature, w: WitnessKey): bigint | undefined {
  if (s.name !== w.name || Buffer.compare(Buffer.from(s.keyId), Buffer.from(w.keyId)) !== 0 || s.signature.length !== 72) return undefined;
  const time = Buffer.from(s.signature.subarray(0, 8)).readBigUInt64BE(0);
  return cryptoVerify(null, cosignedMessage(body, time), w.publicKey, s.signature.subarray(8)) ? time : undefined;
}

/** A witness's cosignature (used by tests and by `cairn` tooling acting as a witness). */
export function cosign(body: string, name: string, privateKey: KeyObject, time: bigint): NoteSignature {
  const pub = createPublicKey(privateKey);
  const keyId = sha256(name, '\n', Uint8Array.of(0x04), rawEd25519(pub)).subarray(0, 4);
  const t = Buffer.alloc(8);
  t.writeBigUInt64BE(time);
  const sig = cryptoSign(null, cosignedMessage(body, time), privateKey);
  return { name, keyId: new Uint8Array(keyId), signature: new Uint8Array(Buffer.concat([t, sig])) };
}
