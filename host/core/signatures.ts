/**
 * Batch signature verification over the WASM core (assembly/p256.ts), with the API embedders in
 * other runtimes call:
 *
 *   verifyBatch(items: {alg, publicKey, digestOrMessage, signature}[]): boolean[]
 *     alg 'ecdsa-p256-sha256': publicKey = SPKI DER, digestOrMessage = the 32-byte SHA-256
 *       digest, signature = DER (strict) or raw r‖s (64 bytes);
 *     alg 'ed25519': publicKey = SPKI DER, digestOrMessage = the message, signature = 64 bytes.
 *   registerKey(spki): precompute for a key that will verify many signatures; later items with the
 *     same key bytes use the tables automatically.
 *
 * Every item gets its own verdict (a failing item never hides which one failed). ECDSA P-256
 * runs in WASM; Ed25519 currently goes through node:crypto (RFC 8032 cofactorless, as OpenSSL
 * does) — a WASM Ed25519 with batch verification is not built yet, so this file does not import
 * node:crypto for the P-256 path and only the Ed25519 path is Node-specific.
 * host/core/signatures-reference.ts is the twin: @noble/curves for P-256 (prehash off, high S
 * accepted, as FIPS 186-5 does) and node:crypto for Ed25519; both pass the same Wycheproof suite.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { CoreError } from './errors.js';
import { coreExports } from './wasm.js';
import { parseSpki, signatureRS, type SignatureItem } from './signature-formats.js';

export type { SignatureAlg, SignatureItem } from './signature-formats.js';

interface P256Exports {
  memory: { buffer: ArrayBuffer };
  p256_io(): number;
  p256_key_slots(): number;
  p256_register_key(slot: number): number;
  p256_check_key(): number;
  p256_verify(slot: number): number;
}

let io: Uint8Array | undefined;
let buffer: ArrayBuffer | undefined;
function wasm(): { x: P256Exports; io: Uint8Array } {
  const x = coreExports() as unknown as P256Exports;
  if (typeof x.p256_verify !== 'function') throw new CoreError('CORE_WASM_UNAVAILABLE', 'this build/cairn.wasm has no P-256 verifier; run `npm run asbuild`');
  if (!io || buffer !== x.memory.buffer) {
    buffer = x.memory.buffer;
    io = new Uint8Array(buffer, x.p256_io(), 160);
  }
  return { x, io };
}

/** Registered keys: SPKI (hex) → WASM table slot, least recently registered evicted first. */
const slots = new Map<string, number>();

export function registerKey(publicKey: Uint8Array): boolean {
  const k = parseSpki(publicKey);
  if (!k || k.alg !== 'ecdsa-p256-sha256') return false; // Ed25519 has no table yet
  const hex = Buffer.from(publicKey).toString('hex');
  if (slots.has(hex)) return true;
  const { x, io: b } = wasm();
  let slot = slots.size;
  if (slot >= x.p256_key_slots()) {
    const [oldest, s] = slots.entries().next().value as [string, number];
    slots.delete(oldest);
    slot = s;
  }
  b.set(k.point.subarray(1, 33), 0);
  b.set(k.point.subarray(33, 65), 32);
  if (x.p256_register_key(slot) !== 1) return false;
  slots.set(hex, slot);
  return true;
}

function verifyP256(item: SignatureItem, point: Uint8Array): boolean {
  if (item.digestOrMessage.length !== 32) return false;
  const rs = signatureRS(item.signature);
  if (!rs) return false;
  const { x, io: b } = wasm();
  const slot = slots.get(Buffer.from(item.publicKey).toString('hex'));
  if (slot === undefined) {
    b.set(point.subarray(1, 33), 0);
    b.set(point.subarray(33, 65), 32);
  }
  b.set(rs.r, 64);
  b.set(rs.s, 96);
  b.set(item.digestOrMessage, 128);
  return x.p256_verify(slot ?? -1) === 1;
}

/** Parsed Ed25519 keys by SPKI: a batch usually repeats a few keys (bounded, oldest dropped). */
const edKeys = new Map<string, ReturnType<typeof createPublicKey>>();

function verifyEd25519(item: SignatureItem): boolean {
  if (item.signature.length !== 64) return false;
  try {
    const id = Buffer.from(item.publicKey).toString('base64');
    let key = edKeys.get(id);
    if (!key) {
      key = createPublicKey({ key: Buffer.from(item.publicKey), format: 'der', type: 'spki' });
      if (edKeys.size >= 1024) edKeys.delete(edKeys.keys().next().value as string);
      edKeys.set(id, key);
    }
    return nodeVerify(null, item.digestOrMessage, key, item.signature);
  } catch {
    return false;
  }
}

export function verifySignature(item: SignatureItem): boolean {
  const k = parseSpki(item.publicKey);
  if (!k || k.alg !== item.alg) return false;
  return item.alg === 'ecdsa-p256-sha256' ? verifyP256(item, k.point) : verifyEd25519(item);
}

export function verifyBatch(items: readonly SignatureItem[]): boolean[] {
  return items.map((it) => {
    try {
      return verifySignature(it);
    } catch (e) {
      if (e instanceof CoreError) throw e;
      return false;
    }
  });
}
