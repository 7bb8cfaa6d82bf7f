/**
 * Batch signature verification over the WASM core (assembly/p256.ts, assembly/ed25519.ts), with
 * the API embedders in other runtimes call:
 *
 *   verifyBatch(items: {alg, publicKey, digestOrMessage, signature}[]): boolean[]
 *     alg 'ecdsa-p256-sha256': publicKey = SPKI DER, digestOrMessage = the 32-byte SHA-256
 *       digest, signature = DER (strict), or raw r‖s (64 bytes) when signatureFormat is 'p1363';
 *     alg 'ed25519': publicKey = SPKI DER, digestOrMessage = the message, signature = 64 bytes.
 *   registerKey(spki): precompute for a key that will verify many signatures (a fixed-base comb
 *     for either curve); later items with the same key bytes use the tables automatically.
 *
 * Every item gets its own verdict: a batch whose combined Ed25519 equation fails is re-checked
 * item by item, so a failing item never hides which one failed.
 *
 * Ed25519 rule (assembly/ed25519.ts has the details): strict RFC 8032 encodings (S < L, canonical
 * A and R), no small-order public keys, and the COFACTORED equation [8][S]B = [8]R + [8][k]A, so
 * single and batch verification always agree. OpenSSL (node:crypto) checks the cofactorless
 * equation; the two differ only on signatures whose R carries a small-order component, which only
 * the key holder can make (test/core/signatures.test.ts builds one and records both verdicts).
 *
 * One-off P-256 keys: the core reduces u1·G + u2·Q to one multiplication u2·T (see
 * p256_verify_batch_deferred) and, when a runtime multiplication is installed
 * (setP256ScalarMul; initCore installs node:crypto's ECDH where it exists), the runtime computes
 * x(u2·T) instead of the core's 256 doublings. Without one, the core does every step.
 *
 * Runtime-neutral: no static Node imports (node:crypto is imported dynamically, and only where it
 * exists). Batch randomness comes from globalThis.crypto.getRandomValues (Web Crypto; Node, Deno,
 * Bun and browsers all have it).
 * host/core/signatures-reference.ts is the twin: @noble/curves for P-256 (prehash off, high S
 * accepted, as FIPS 186-5 does) and node:crypto for Ed25519; both pass the same Wycheproof suite.
 */
import { CoreError } from './errors.js';
import { coreExports } from './wasm.js';
import { bytesEqual, parseSpki, signatureRS, type SignatureItem } from './signature-formats.js';

export type { SignatureAlg, SignatureItem } from './signature-formats.js';

interface P256Exports {
  memory: { buffer: ArrayBuffer };
  p256_io(): number;
  p256_key_slots(): number;
  p256_register_key(slot: number): number;
  p256_check_key(): number;
  p256_verify(slot: number): number;
  p256_batch_io(): number;
  p256_batch_out(): number;
  p256_batch_max(): number;
  p256_verify_batch(n: number): void;
  p256_verify_batch_deferred(n: number): void;
  p256_finish_deferred(n: number): void;
  p256_affine_min(): number;
  p256_defer_io(): number;
}

interface Ed25519Exports {
  memory: { buffer: ArrayBuffer };
  ed25519_io(): number;
  ed25519_chunk(): number;
  ed25519_key_slots(): number;
  ed25519_max_batch(): number;
  ed25519_register_key(slot: number): number;
  ed25519_check_key(): number;
  ed25519_batch_reset(): void;
  ed25519_batch_key(slot: number): number;
  ed25519_begin(): void;
  ed25519_update(len: number): void;
  ed25519_push(key: number): number;
  ed25519_verify_item(i: number): number;
  ed25519_verify_batch(): number;
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

/** Registered keys: SPKI (toKey) → WASM table slot, least recently registered evicted first. */
const slots = new Map<string, number>();

/** Whether `publicKey` (SPKI) has a table in the core now (registered and not evicted since). */
export function isKeyRegistered(publicKey: Uint8Array): boolean {
  const k = parseSpki(publicKey);
  if (!k) return false;
  return (k.alg === 'ecdsa-p256-sha256' ? slots : edSlots).has(toKey(publicKey));
}

/** How many keys of each algorithm the core keeps tables for at once. */
export function keySlots(): { p256: number; ed25519: number } {
  return { p256: wasm().x.p256_key_slots(), ed25519: ed().x.ed25519_key_slots() };
}

export function registerKey(publicKey: Uint8Array): boolean {
  const k = parseSpki(publicKey);
  if (!k) return false;
  return k.alg === 'ecdsa-p256-sha256' ? registerP256(publicKey, k.point) : registerEd25519(publicKey, k.point);
}

function registerP256(publicKey: Uint8Array, point: Uint8Array): boolean {
  const id = toKey(publicKey);
  if (slots.has(id)) return true;
  const { x, io: b } = wasm();
  const slot = claimSlot(slots, x.p256_key_slots());
  b.set(point.subarray(1, 33), 0);
  b.set(point.subarray(33, 65), 32);
  if (x.p256_register_key(slot) !== 1) return false;
  slots.set(id, slot);
  return true;
}

/** The batch records and verdicts of p256_verify_batch (assembly/p256.ts documents the layout). */
let batchViews: { buffer: ArrayBuffer; rec: Uint8Array; view: DataView; out: Uint8Array; defer: Uint8Array; max: number } | undefined;
function p256Batch(x: P256Exports): NonNullable<typeof batchViews> {
  if (!batchViews || batchViews.buffer !== x.memory.buffer) {
    const max = x.p256_batch_max();
    const buf = x.memory.buffer;
    batchViews = { buffer: buf, rec: new Uint8Array(buf, x.p256_batch_io(), max * P256_REC), view: new DataView(buf, x.p256_batch_io(), max * P256_REC), out: new Uint8Array(buf, x.p256_batch_out(), max), defer: new Uint8Array(buf, x.p256_defer_io(), max * P256_DEFER_REC), max };
  }
  return batchViews;
}
const P256_REC = 192;
const P256_DEFER_REC = 160;

/**
 * x(k·P) for a P-256 scalar k (32 bytes, 1 ≤ k < n) and point P (65 bytes, uncompressed), as
 * an ECDH primitive computes it; or undefined to leave every check to the WASM core.
 */
export type P256ScalarMul = (k: Uint8Array, point: Uint8Array) => Uint8Array;
let scalarMul: P256ScalarMul | undefined;

/**
 * Sets (or, with undefined, removes) the variable-base multiplication that finishes one-off-key
 * P-256 checks in verifyBatch (p256_verify_batch_deferred in assembly/p256.ts explains the
 * identity it uses). initCore installs node:crypto's ECDH when the runtime has it and it gives
 * the known answer; OpenSSL's multiplication is faster than the core's 256 doublings.
 */
export function setP256ScalarMul(mul: P256ScalarMul | undefined): void {
  scalarMul = mul;
}

/** Whether one-off-key P-256 checks are finished by a runtime multiplication (setP256ScalarMul). */
export function p256ScalarMulInstalled(): boolean {
  return scalarMul !== undefined;
}

/** x(2·G) and G (SEC 2 §2.4.2), the known answer a runtime multiplication must give to be used. */
const G_UNCOMPRESSED = hexBytes('046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5');
const X_2G = hexBytes('7cf27b188d034f7e8a52380304b51ac3c08969e277f21b35a60b48fc47669978');

/**
 * Installs node:crypto's ECDH (createECDH('prime256v1'): setPrivateKey then computeSecret) as the
 * runtime multiplication when it exists here and computes x(2·G) correctly. Runtimes without
 * node:crypto (browsers) keep the WASM-only path. Returns whether it was installed.
 */
export async function installRuntimeScalarMul(): Promise<boolean> {
  try {
    const { createECDH } = await import('node:crypto');
    const ecdh = createECDH('prime256v1');
    const mul: P256ScalarMul = (k, point) => {
      ecdh.setPrivateKey(k);
      return ecdh.computeSecret(point);
    };
    const two = new Uint8Array(32);
    two[31] = 2;
    if (!bytesEqual(mul(two, G_UNCOMPRESSED), X_2G)) return false;
    setP256ScalarMul(mul);
    return true;
  } catch {
    return false;
  }
}

/**
 * P-256 checks in chunks through p256_verify_batch, which inverts every chunk's s values together
 * (one modular inversion per chunk): `out[at[j]]` gets the verdict of items[at[j]]. With one-off
 * keys in the chunk, p256_verify_batch_deferred leaves their last step, x(u2·T), to the runtime
 * multiplication when one is installed; without one, chunks big enough for the core's affine
 * accumulation (p256_affine_min) take the same route and p256_finish_deferred does that step in
 * the core, over odd multiples of T made affine for the whole chunk at once: 134 µs per check in
 * a batch of distinct keys, where verifying each one-off key on its own there took 147 µs.
 */
function verifyP256Chunked(items: readonly SignatureItem[], at: number[], out: boolean[]): void {
  const { x } = wasm();
  const b = p256Batch(x);
  for (let start = 0; start < at.length; start += b.max) {
    const idx: number[] = [];
    let oneOff = 0;
    for (let j = start; j < Math.min(at.length, start + b.max); j++) {
      const it = items[at[j]!]!;
      const k = parseSpki(it.publicKey);
      const rs = it.digestOrMessage.length === 32 ? signatureRS(it.signature, it.signatureFormat) : undefined;
      if (!k || k.alg !== 'ecdsa-p256-sha256' || !rs) continue; // stays false
      const o = idx.length * P256_REC;
      const slot = slots.get(toKey(it.publicKey));
      b.view.setInt32(o, slot ?? -1, true);
      if (slot === undefined) {
        b.rec.set(k.point.subarray(1, 65), o + 32);
        oneOff++;
      }
      b.rec.set(rs.r, o + 96);
      b.rec.set(rs.s, o + 128);
      b.rec.set(it.digestOrMessage, o + 160);
      idx.push(at[j]!);
    }
    if (idx.length === 0) continue;
    const mul = oneOff > 0 ? scalarMul : undefined;
    const finishInCore = oneOff > 0 && !mul && idx.length >= x.p256_affine_min();
    if (mul || finishInCore) x.p256_verify_batch_deferred(idx.length);
    else x.p256_verify_batch(idx.length);
    if (finishInCore) x.p256_finish_deferred(idx.length);
    const deferred: number[] = [];
    idx.forEach((i, j) => {
      if (b.out[j] === 2) deferred.push(j);
      else out[i] = b.out[j] === 1;
    });
    if (!mul || deferred.length === 0) continue;
    // Read every deferred record before the runtime call: it may re-enter the core (none does
    // today), and the WASM views stay valid only while memory does not grow.
    const pending = deferred.map((j) => {
      const d = b.defer.slice(j * P256_DEFER_REC, (j + 1) * P256_DEFER_REC);
      return { i: idx[j]!, r: b.rec.slice(j * P256_REC + 96, j * P256_REC + 128), d };
    });
    for (const { i, r, d } of pending) {
      const point = new Uint8Array(65);
      point[0] = 4;
      point.set(d.subarray(0, 64), 1);
      let xr: Uint8Array;
      try {
        xr = mul(d.subarray(64, 96), point);
      } catch {
        // A runtime that refuses an input the core produced: check this item in the core alone.
        out[i] = verifyP256(items[i]!, parseSpki(items[i]!.publicKey)!.point);
        continue;
      }
      if (xr.length < 32) {
        // A runtime that drops leading zero bytes of the x-coordinate (Node keeps all 32).
        const padded = new Uint8Array(32);
        padded.set(xr, 32 - xr.length);
        xr = padded;
      }
      out[i] = bytesEqual(xr, r) || (d[128] === 1 && bytesEqual(xr, d.subarray(96, 128)));
    }
  }
}

function verifyP256(item: SignatureItem, point: Uint8Array): boolean {
  if (item.digestOrMessage.length !== 32) return false;
  const rs = signatureRS(item.signature, item.signatureFormat);
  if (!rs) return false;
  const { x, io: b } = wasm();
  const slot = slots.get(toKey(item.publicKey));
  if (slot === undefined) {
    b.set(point.subarray(1, 33), 0);
    b.set(point.subarray(33, 65), 32);
  }
  b.set(rs.r, 64);
  b.set(rs.s, 96);
  b.set(item.digestOrMessage, 128);
  return x.p256_verify(slot ?? -1) === 1;
}

// ---------------------------------------------------------------------------------------------
// Ed25519

let edIo: Uint8Array | undefined;
let edBuffer: ArrayBuffer | undefined;
function ed(): { x: Ed25519Exports; io: Uint8Array; chunk: number } {
  const x = coreExports() as unknown as Ed25519Exports;
  if (typeof x.ed25519_push !== 'function') throw new CoreError('CORE_WASM_UNAVAILABLE', 'this build/cairn.wasm has no Ed25519 verifier; run `npm run asbuild`');
  const chunk = x.ed25519_chunk();
  if (!edIo || edBuffer !== x.memory.buffer) {
    edBuffer = x.memory.buffer;
    edIo = new Uint8Array(edBuffer, x.ed25519_io(), 128 + chunk);
  }
  return { x, io: edIo, chunk };
}

/** Registered Ed25519 keys: SPKI (toKey) → WASM comb slot, oldest evicted first. */
const edSlots = new Map<string, number>();

function registerEd25519(publicKey: Uint8Array, raw: Uint8Array): boolean {
  const id = toKey(publicKey);
  if (edSlots.has(id)) return true;
  const { x, io: b } = ed();
  const slot = claimSlot(edSlots, x.ed25519_key_slots());
  b.set(raw, 0);
  if (x.ed25519_register_key(slot) !== 1) return false;
  edSlots.set(id, slot);
  return true;
}

/**
 * Verifies Ed25519 items (at most ed25519_max_batch at a time) and writes each verdict into
 * `out` at the item's position. One item runs the single check; more run the batch equation,
 * falling back to per-item checks only if it fails.
 */
function verifyEd25519Chunk(items: readonly SignatureItem[], positions: readonly number[], out: boolean[]): void {
  const { x, io: b, chunk } = ed();
  x.ed25519_batch_reset();
  const keyIndex = new Map<string, number>();
  const pushed: number[] = new Array<number>(positions.length).fill(-1);
  const z = new Uint8Array(16 * positions.length);
  globalThis.crypto.getRandomValues(z);
  for (let j = 0; j < positions.length; j++) {
    const item = items[positions[j]!]!;
    const k = parseSpki(item.publicKey);
    if (!k || k.alg !== 'ed25519' || item.signature.length !== 64) continue;
    const id = toKey(item.publicKey);
    b.set(k.point, 0);
    let key = keyIndex.get(id);
    if (key === undefined) {
      key = x.ed25519_batch_key(edSlots.get(id) ?? -1);
      keyIndex.set(id, key);
    }
    if (key < 0) continue; // not a valid public key
    b.set(item.signature, 32);
    b.set(z.subarray(16 * j, 16 * j + 16), 96);
    x.ed25519_begin();
    const m = item.digestOrMessage;
    for (let off = 0; off < m.length; off += chunk) {
      const part = m.subarray(off, Math.min(m.length, off + chunk));
      b.set(part, 128);
      x.ed25519_update(part.length);
    }
    pushed[j] = x.ed25519_push(key);
  }
  const live = pushed.filter((i) => i >= 0).length;
  const allValid = live > 1 && x.ed25519_verify_batch() === 1;
  for (let j = 0; j < positions.length; j++) {
    const i = pushed[j]!;
    out[positions[j]!] = i >= 0 && (allValid || x.ed25519_verify_item(i) === 1);
  }
}

// ---------------------------------------------------------------------------------------------

/** A free table slot, or the oldest registered key's (removed from the map; the caller re-adds on success). */
function claimSlot(map: Map<string, number>, capacity: number): number {
  if (map.size < capacity) {
    const used = new Set(map.values());
    let s = 0;
    while (used.has(s)) s++;
    return s;
  }
  const [oldest, s] = map.entries().next().value as [string, number];
  map.delete(oldest);
  return s;
}

/**
 * The key of an SPKI in the slot maps: its bytes as a Latin-1 string (one char per byte, made by
 * the engine in one call; a hex string built byte by byte cost about 2 µs per lookup, several
 * lookups per verified bundle).
 */
function toKey(b: Uint8Array): string {
  return String.fromCharCode.apply(null, b as unknown as number[]);
}
function hexBytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function verifySignature(item: SignatureItem): boolean {
  return verifyBatch([item])[0]!;
}

export function verifyBatch(items: readonly SignatureItem[]): boolean[] {
  const out = new Array<boolean>(items.length).fill(false);
  let edPositions: number[] = [];
  const p256Positions: number[] = [];
  const maxBatch = items.some((it) => it.alg === 'ed25519') ? ed().x.ed25519_max_batch() : 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (it.alg === 'ed25519') {
      edPositions.push(i);
      if (edPositions.length === maxBatch) {
        verifyEd25519Chunk(items, edPositions, out);
        edPositions = [];
      }
    } else if (it.alg === 'ecdsa-p256-sha256') {
      p256Positions.push(i);
    }
  }
  if (edPositions.length > 0) verifyEd25519Chunk(items, edPositions, out);
  if (p256Positions.length === 1 && !scalarMul) {
    // One signature and no runtime multiplication: the single-call path (no batch records to fill).
    const it = items[p256Positions[0]!]!;
    const k = parseSpki(it.publicKey);
    out[p256Positions[0]!] = !!k && k.alg === it.alg && verifyP256(it, k.point);
  } else if (p256Positions.length > 0) {
    verifyP256Chunked(items, p256Positions, out);
  }
  return out;
}
