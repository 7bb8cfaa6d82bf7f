// SHA-256 per FIPS 180-4, scalar and 4-lane SIMD (v128) multi-buffer: the internals.
//
// This file is imported by sha256.ts (the host ABI) and merkle.ts but NOT re-exported by
// assembly/index.ts, so its pointer-taking helpers never become exports of the module.
//
// ABI (STYLE.md point 7): every input and output lives in a fixed static buffer reserved once at
// module start; no call allocates (the host-facing exports are in sha256.ts and merkle.ts).
// Release builds strip asserts, so the TypeScript glue checks every length before calling.
//
// The optional one-byte prefix exists for RFC 6962 §2.1: leaf = SHA-256(0x00 || d) and
// node = SHA-256(0x01 || l || r) are hashed without copying d behind the prefix byte.
//
// Like all JS/WASM code this is only algorithmically constant-time (no secret-dependent branches
// or indices in the compression function); nothing here hashes secrets.

// ---------------------------------------------------------------------------------------------
// Static buffers

/** Bytes of message data per sha256_batch / sha256_update call. */
export const SHA_INPUT_CAP: i32 = 1 << 20;
/** Messages per sha256_batch call. */
export const SHA_BATCH_CAP: i32 = 1 << 15;

// 16 bytes of slack before the data: the SIMD loaders read the byte before a message (then mask
// it away and put the prefix there), so p - 1 must be addressable for the first message.
export const INPUT: usize = memory.data(SHA_INPUT_CAP + 32, 16) + 16;
// End offset of message i is OFFSETS[i]; message i starts at OFFSETS[i - 1] (0 for i = 0).
export const OFFSETS: usize = memory.data(SHA_BATCH_CAP * 4, 16);
export const OUTPUT: usize = memory.data(SHA_BATCH_CAP * 32, 16);

/** Round constants K, FIPS 180-4 §4.2.2. */
const K: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Initial hash value H(0), FIPS 180-4 §5.3.3. */
const IV: usize = memory.data<u32>([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// Scalar scratch: message schedule, one padded block, one state.
const W: usize = memory.data(64 * 4, 16);
const BLOCK: usize = memory.data(64, 16);
const STATE: usize = memory.data(32, 16);

// SIMD scratch: K splatted per round, 4-lane schedule, 4-lane state, four padded blocks.
const K4: usize = memory.data(64 * 16, 16);
const W4: usize = memory.data(64 * 16, 16);
const ST4: usize = memory.data(8 * 16, 16);
const BLOCK4: usize = memory.data(4 * 64, 16);

let useSimd: bool = true;

/** Selects the 4-lane SIMD path or the scalar path for every batch routine. */
export function setSimd(on: bool): void { useSimd = on; }
export function simdEnabled(): bool { return useSimd; }

for (let i = 0; i < 64; i++) {
  v128.store(K4 + (<usize>i << 4), i32x4.splat(load<u32>(K + (<usize>i << 2))));
}

// ---------------------------------------------------------------------------------------------
// Scalar compression, FIPS 180-4 §6.2.2

// @ts-ignore: decorator
@inline function bigSigma0(x: u32): u32 { return rotr<u32>(x, 2) ^ rotr<u32>(x, 13) ^ rotr<u32>(x, 22); }
// @ts-ignore: decorator
@inline function bigSigma1(x: u32): u32 { return rotr<u32>(x, 6) ^ rotr<u32>(x, 11) ^ rotr<u32>(x, 25); }
// @ts-ignore: decorator
@inline function smallSigma0(x: u32): u32 { return rotr<u32>(x, 7) ^ rotr<u32>(x, 18) ^ (x >>> 3); }
// @ts-ignore: decorator
@inline function smallSigma1(x: u32): u32 { return rotr<u32>(x, 17) ^ rotr<u32>(x, 19) ^ (x >>> 10); }
// @ts-ignore: decorator
@inline function ch(e: u32, f: u32, g: u32): u32 { return (e & f) ^ (~e & g); }
// @ts-ignore: decorator
@inline function maj(a: u32, b: u32, c: u32): u32 { return (a & b) ^ (a & c) ^ (b & c); }

/** Expands W[0..16) (already big-endian words) to the 64-word schedule, FIPS 180-4 §6.2.2 step 1. */
// @ts-ignore: decorator
@inline function schedule(w: usize): void {
  for (let i: usize = 64; i < 256; i += 4) {
    const w15 = load<u32>(w + i - 60);
    const w2 = load<u32>(w + i - 8);
    store<u32>(w + i, smallSigma1(w2) + load<u32>(w + i - 28) + smallSigma0(w15) + load<u32>(w + i - 64));
  }
}

/**
 * The 64 rounds (FIPS 180-4 §6.2.2 steps 2-4) with round input kp[t] + wp[t]; kp is K, or ZERO
 * when wp already holds K[t] + W[t] (the precomputed node padding block, see NODE_TAIL_KW).
 */
function rounds(st: usize, kp: usize, wp: usize): void {
  let a = load<u32>(st, 0), b = load<u32>(st, 4), c = load<u32>(st, 8), d = load<u32>(st, 12);
  let e = load<u32>(st, 16), f = load<u32>(st, 20), g = load<u32>(st, 24), h = load<u32>(st, 28);
  let t1: u32;
  // Eight rounds per iteration with the variables renamed instead of shifted (no moves).
  for (let i: usize = 0; i < 256; i += 32) {
    const kw = kp + i, ww = wp + i;
    t1 = h + bigSigma1(e) + ch(e, f, g) + load<u32>(kw, 0) + load<u32>(ww, 0); d += t1; h = t1 + bigSigma0(a) + maj(a, b, c);
    t1 = g + bigSigma1(d) + ch(d, e, f) + load<u32>(kw, 4) + load<u32>(ww, 4); c += t1; g = t1 + bigSigma0(h) + maj(h, a, b);
    t1 = f + bigSigma1(c) + ch(c, d, e) + load<u32>(kw, 8) + load<u32>(ww, 8); b += t1; f = t1 + bigSigma0(g) + maj(g, h, a);
    t1 = e + bigSigma1(b) + ch(b, c, d) + load<u32>(kw, 12) + load<u32>(ww, 12); a += t1; e = t1 + bigSigma0(f) + maj(f, g, h);
    t1 = d + bigSigma1(a) + ch(a, b, c) + load<u32>(kw, 16) + load<u32>(ww, 16); h += t1; d = t1 + bigSigma0(e) + maj(e, f, g);
    t1 = c + bigSigma1(h) + ch(h, a, b) + load<u32>(kw, 20) + load<u32>(ww, 20); g += t1; c = t1 + bigSigma0(d) + maj(d, e, f);
    t1 = b + bigSigma1(g) + ch(g, h, a) + load<u32>(kw, 24) + load<u32>(ww, 24); f += t1; b = t1 + bigSigma0(c) + maj(c, d, e);
    t1 = a + bigSigma1(f) + ch(f, g, h) + load<u32>(kw, 28) + load<u32>(ww, 28); e += t1; a = t1 + bigSigma0(b) + maj(b, c, d);
  }
  store<u32>(st, load<u32>(st, 0) + a, 0);
  store<u32>(st, load<u32>(st, 4) + b, 4);
  store<u32>(st, load<u32>(st, 8) + c, 8);
  store<u32>(st, load<u32>(st, 12) + d, 12);
  store<u32>(st, load<u32>(st, 16) + e, 16);
  store<u32>(st, load<u32>(st, 20) + f, 20);
  store<u32>(st, load<u32>(st, 24) + g, 24);
  store<u32>(st, load<u32>(st, 28) + h, 28);
}

/** One compression of the 64-byte big-endian block at `blk` into the 8-word state at `st`. */
export function compress(st: usize, blk: usize): void {
  for (let i: usize = 0; i < 64; i += 4) store<u32>(W + i, bswap<u32>(load<u32>(blk + i)));
  schedule(W);
  rounds(st, K, W);
}

/**
 * The second block of every RFC 6962 node hash (65-byte message) is r[31] || 0x80 || 0 ... 0 ||
 * 520 as a 64-bit length: only its first byte varies. So its whole schedule, with K[t] already
 * added, is precomputed for all 256 values at module start (64 KiB): that block then costs only
 * the 64 rounds, on the scalar path and (gathered per lane) on the SIMD path.
 */
const NODE_TAIL_KW: usize = memory.data(256 * 256, 16);
const ZERO: usize = memory.data(64 * 16, 16);
for (let v = 0; v < 256; v++) {
  const row = NODE_TAIL_KW + (<usize>v << 8);
  memory.fill(row, 0, 256);
  store<u32>(row, (<u32>v << 24) | 0x00800000, 0);
  store<u32>(row, 65 << 3, 60);
  schedule(row);
  for (let i: usize = 0; i < 256; i += 4) store<u32>(row + i, load<u32>(row + i) + load<u32>(K + i));
}

/** Number of 64-byte blocks of a padded message of `len` bytes (FIPS 180-4 §5.1.1: +1 byte 0x80, +8 bytes length). */
// @ts-ignore: decorator
@inline function blockCount(len: u32): u32 { return (len + 9 + 63) >>> 6; }

/**
 * Writes block `b` of the padded message M = [prefix] || data[0..len) into dst (64 bytes).
 * prefix < 0 means no prefix byte. Padding per FIPS 180-4 §5.1.1.
 */
function fillBlock(dst: usize, prefix: i32, data: usize, len: u32, b: u32): void {
  const pre: u32 = prefix >= 0 ? 1 : 0;
  const total: u32 = len + pre;
  const start: u32 = b << 6;
  memory.fill(dst, 0, 64);
  if (start == 0 && pre) {
    store<u8>(dst, <u8>prefix);
    const n = len < 63 ? len : 63;
    memory.copy(dst + 1, data, n);
  } else {
    const from = start - pre; // offset into data of dst[0]
    if (from < len) {
      const rest = len - from;
      memory.copy(dst, data + from, rest < 64 ? <usize>rest : 64);
    }
  }
  if (total >= start && total - start < 64) store<u8>(dst + (total - start), 0x80);
  if (b + 1 == blockCount(total)) store<u64>(dst, bswap<u64>(<u64>total << 3), 56);
}

export function initState(st: usize): void {
  memory.copy(st, IV, 32);
}

/** Writes the big-endian digest of state `st` to `out`. */
export function writeDigest(st: usize, out: usize): void {
  for (let i: usize = 0; i < 32; i += 4) store<u32>(out + i, bswap<u32>(load<u32>(st + i)));
}

/** SHA-256([prefix] || data[0..len)) into out, scalar. */
function hashOneScalar(prefix: i32, data: usize, len: u32, out: usize): void {
  initState(STATE);
  const pre: u32 = prefix >= 0 ? 1 : 0;
  const nb = blockCount(len + pre);
  for (let b: u32 = 0; b < nb; b++) {
    fillBlock(BLOCK, prefix, data, len, b);
    compress(STATE, BLOCK);
  }
  writeDigest(STATE, out);
}

/** H(0x01 || l || r) into out, scalar; out may alias l or r. Used by proof verification. */
export function nodeHashScalar(l: usize, r: usize, out: usize): void {
  // Two blocks (RFC 6962 node = 65 bytes): 0x01 || l || r[0..31) and r[31] || 0x80 || 0.. || 520 bits.
  store<u8>(BLOCK, 1);
  memory.copy(BLOCK + 1, l, 32);
  memory.copy(BLOCK + 33, r, 31);
  const last = load<u8>(r + 31);
  initState(STATE);
  compress(STATE, BLOCK);
  rounds(STATE, ZERO, NODE_TAIL_KW + (<usize>last << 8));
  writeDigest(STATE, out);
}

// ---------------------------------------------------------------------------------------------
// 4-lane SIMD compression: lane j of every v128 belongs to message j ("multi-buffer").

// WebAssembly SIMD has no rotate; shl/shr_u/or is what V8 emits for it anyway.
// @ts-ignore: decorator
@inline function rotr4(x: v128, n: i32): v128 { return v128.or(i32x4.shr_u(x, n), i32x4.shl(x, 32 - n)); }
// @ts-ignore: decorator
@inline function bigSigma0x4(x: v128): v128 { return v128.xor(v128.xor(rotr4(x, 2), rotr4(x, 13)), rotr4(x, 22)); }
// @ts-ignore: decorator
@inline function bigSigma1x4(x: v128): v128 { return v128.xor(v128.xor(rotr4(x, 6), rotr4(x, 11)), rotr4(x, 25)); }
// @ts-ignore: decorator
@inline function smallSigma0x4(x: v128): v128 { return v128.xor(v128.xor(rotr4(x, 7), rotr4(x, 18)), i32x4.shr_u(x, 3)); }
// @ts-ignore: decorator
@inline function smallSigma1x4(x: v128): v128 { return v128.xor(v128.xor(rotr4(x, 17), rotr4(x, 19)), i32x4.shr_u(x, 10)); }
// Ch(e,f,g) picks f where e is 1, else g. Maj(a,b,c) is b where a == b, else c.
// @ts-ignore: decorator
@inline function ch4(e: v128, f: v128, g: v128): v128 { return v128.bitselect(f, g, e); }
// @ts-ignore: decorator
@inline function maj4(a: v128, b: v128, c: v128): v128 { return v128.bitselect(c, b, v128.xor(a, b)); }
// @ts-ignore: decorator
@inline function add4(a: v128, b: v128): v128 { return i32x4.add(a, b); }

/** Expands the 4-lane schedule in W4 from its first 16 words. */
function schedule4(): void {
  for (let i: usize = 256; i < 1024; i += 16) {
    const w15 = v128.load(W4 + i - 240);
    const w2 = v128.load(W4 + i - 32);
    v128.store(W4 + i, add4(add4(smallSigma1x4(w2), v128.load(W4 + i - 112)), add4(smallSigma0x4(w15), v128.load(W4 + i - 256))));
  }
}

/** The 64 rounds on ST4 with round input kp[t] + W4[t] (kp = K4, or ZERO if W4 holds K + W). */
function rounds4(kp: usize): void {
  let a = v128.load(ST4, 0), b = v128.load(ST4, 16), c = v128.load(ST4, 32), d = v128.load(ST4, 48);
  let e = v128.load(ST4, 64), f = v128.load(ST4, 80), g = v128.load(ST4, 96), h = v128.load(ST4, 112);
  let t1: v128;
  for (let i: usize = 0; i < 1024; i += 128) {
    const kw = kp + i, ww = W4 + i;
    t1 = add4(add4(h, bigSigma1x4(e)), add4(ch4(e, f, g), add4(v128.load(kw, 0), v128.load(ww, 0)))); d = add4(d, t1); h = add4(t1, add4(bigSigma0x4(a), maj4(a, b, c)));
    t1 = add4(add4(g, bigSigma1x4(d)), add4(ch4(d, e, f), add4(v128.load(kw, 16), v128.load(ww, 16)))); c = add4(c, t1); g = add4(t1, add4(bigSigma0x4(h), maj4(h, a, b)));
    t1 = add4(add4(f, bigSigma1x4(c)), add4(ch4(c, d, e), add4(v128.load(kw, 32), v128.load(ww, 32)))); b = add4(b, t1); f = add4(t1, add4(bigSigma0x4(g), maj4(g, h, a)));
    t1 = add4(add4(e, bigSigma1x4(b)), add4(ch4(b, c, d), add4(v128.load(kw, 48), v128.load(ww, 48)))); a = add4(a, t1); e = add4(t1, add4(bigSigma0x4(f), maj4(f, g, h)));
    t1 = add4(add4(d, bigSigma1x4(a)), add4(ch4(a, b, c), add4(v128.load(kw, 64), v128.load(ww, 64)))); h = add4(h, t1); d = add4(t1, add4(bigSigma0x4(e), maj4(e, f, g)));
    t1 = add4(add4(c, bigSigma1x4(h)), add4(ch4(h, a, b), add4(v128.load(kw, 80), v128.load(ww, 80)))); g = add4(g, t1); c = add4(t1, add4(bigSigma0x4(d), maj4(d, e, f)));
    t1 = add4(add4(b, bigSigma1x4(g)), add4(ch4(g, h, a), add4(v128.load(kw, 96), v128.load(ww, 96)))); f = add4(f, t1); b = add4(t1, add4(bigSigma0x4(c), maj4(c, d, e)));
    t1 = add4(add4(a, bigSigma1x4(f)), add4(ch4(f, g, h), add4(v128.load(kw, 112), v128.load(ww, 112)))); e = add4(e, t1); a = add4(t1, add4(bigSigma0x4(b), maj4(b, c, d)));
  }
  v128.store(ST4, add4(v128.load(ST4, 0), a), 0);
  v128.store(ST4, add4(v128.load(ST4, 16), b), 16);
  v128.store(ST4, add4(v128.load(ST4, 32), c), 32);
  v128.store(ST4, add4(v128.load(ST4, 48), d), 48);
  v128.store(ST4, add4(v128.load(ST4, 64), e), 64);
  v128.store(ST4, add4(v128.load(ST4, 80), f), 80);
  v128.store(ST4, add4(v128.load(ST4, 96), g), 96);
  v128.store(ST4, add4(v128.load(ST4, 112), h), 112);
}

/** Compresses the four blocks whose words W[0..16) are in W4 (lane j = message j) into ST4. */
function compress4(): void {
  schedule4();
  rounds4(K4);
}

function initState4(): void {
  for (let i: usize = 0; i < 32; i += 4) v128.store(ST4 + (i << 2), v128.load_splat<u32>(IV + i));
}

// @ts-ignore: decorator
@inline function bswapWords(x: v128): v128 { return i8x16.shuffle(x, x, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12); }

/**
 * Loads 16 bytes from each of p0..p3 as four big-endian words and stores them transposed, so that
 * dst[k] holds word k of all four messages (a 4x4 transpose of 32-bit lanes).
 */
// @ts-ignore: decorator
@inline function loadTransposed(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize): void {
  const r0 = bswapWords(v128.load(p0)), r1 = bswapWords(v128.load(p1));
  const r2 = bswapWords(v128.load(p2)), r3 = bswapWords(v128.load(p3));
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t2, 0, 1, 4, 5), 0);
  v128.store(dst, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 16);
  v128.store(dst, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 32);
  v128.store(dst, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 48);
}

/** Writes the four digests in ST4 to o0..o3 (the inverse transpose, big-endian). */
function storeDigests4(o0: usize, o1: usize, o2: usize, o3: usize): void {
  for (let half: usize = 0; half < 128; half += 64) {
    const s0 = v128.load(ST4 + half, 0), s1 = v128.load(ST4 + half, 16);
    const s2 = v128.load(ST4 + half, 32), s3 = v128.load(ST4 + half, 48);
    const t0 = i32x4.shuffle(s0, s1, 0, 4, 1, 5), t1 = i32x4.shuffle(s0, s1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(s2, s3, 0, 4, 1, 5), t3 = i32x4.shuffle(s2, s3, 2, 6, 3, 7);
    const off = half >>> 2; // words 0..3 -> bytes 0..15, words 4..7 -> bytes 16..31
    v128.store(o0 + off, bswapWords(i32x4.shuffle(t0, t2, 0, 1, 4, 5)));
    v128.store(o1 + off, bswapWords(i32x4.shuffle(t0, t2, 2, 3, 6, 7)));
    v128.store(o2 + off, bswapWords(i32x4.shuffle(t1, t3, 0, 1, 4, 5)));
    v128.store(o3 + off, bswapWords(i32x4.shuffle(t1, t3, 2, 3, 6, 7)));
  }
}

const LOW24: v128 = i32x4.splat(0x00ffffff);

/**
 * Four messages [prefix] || d where every d is exactly 32 bytes (an RFC 6962 leaf of a 32-byte
 * entry, 33 bytes in all): one block each, 0x80 at byte 33, bit length 264 in the last word.
 * Words 0..7 come from the bytes at p - 1 (masked, then the prefix put in), word 8 is d[31] || 0x80.
 */
function simdPrefixed32(prefix: i32, p0: usize, p1: usize, p2: usize, p3: usize, o0: usize, o1: usize, o2: usize, o3: usize): void {
  initState4();
  loadTransposed(W4, p0 - 1, p1 - 1, p2 - 1, p3 - 1);
  loadTransposed(W4 + 64, p0 + 15, p1 + 15, p2 + 15, p3 + 15);
  v128.store(W4, v128.or(v128.and(v128.load(W4), LOW24), i32x4.splat(prefix << 24)));
  let w8 = i32x4.splat(<i32>load<u8>(p0 + 31));
  w8 = i32x4.replace_lane(w8, 1, <i32>load<u8>(p1 + 31));
  w8 = i32x4.replace_lane(w8, 2, <i32>load<u8>(p2 + 31));
  w8 = i32x4.replace_lane(w8, 3, <i32>load<u8>(p3 + 31));
  v128.store(W4 + 128, v128.or(i32x4.shl(w8, 24), i32x4.splat(0x00800000)));
  const zero = i32x4.splat(0);
  for (let i: usize = 144; i < 240; i += 16) v128.store(W4 + i, zero);
  v128.store(W4 + 240, i32x4.splat(33 << 3));
  compress4();
  storeDigests4(o0, o1, o2, o3);
}

/**
 * Four messages [prefix] || d where every d is exactly 64 bytes (an RFC 6962 node 0x01 || l || r,
 * 65 bytes): block 1 is the bytes at p - 1 with the prefix put in; block 2 is d[63] || 0x80, zeros
 * and the bit length 520 — all constant but its first word.
 */
function simdPrefixed64(prefix: i32, p0: usize, p1: usize, p2: usize, p3: usize, o0: usize, o1: usize, o2: usize, o3: usize): void {
  initState4();
  loadTransposed(W4, p0 - 1, p1 - 1, p2 - 1, p3 - 1);
  loadTransposed(W4 + 64, p0 + 15, p1 + 15, p2 + 15, p3 + 15);
  loadTransposed(W4 + 128, p0 + 31, p1 + 31, p2 + 31, p3 + 31);
  loadTransposed(W4 + 192, p0 + 47, p1 + 47, p2 + 47, p3 + 47);
  v128.store(W4, v128.or(v128.and(v128.load(W4), LOW24), i32x4.splat(prefix << 24)));
  // d[63] of every lane is read before the first compression: the caller may hash a level in
  // place. Block 2 is the precomputed schedule row of that byte (NODE_TAIL_KW), gathered per lane.
  const r0 = NODE_TAIL_KW + (<usize>load<u8>(p0 + 63) << 8), r1 = NODE_TAIL_KW + (<usize>load<u8>(p1 + 63) << 8);
  const r2 = NODE_TAIL_KW + (<usize>load<u8>(p2 + 63) << 8), r3 = NODE_TAIL_KW + (<usize>load<u8>(p3 + 63) << 8);
  compress4();
  for (let t: usize = 0; t < 256; t += 4) {
    let v = v128.load32_zero(r0 + t);
    v = v128.load_lane<u32>(r1 + t, v, 1);
    v = v128.load_lane<u32>(r2 + t, v, 2);
    v = v128.load_lane<u32>(r3 + t, v, 3);
    v128.store(W4 + (t << 2), v);
  }
  rounds4(ZERO);
  storeDigests4(o0, o1, o2, o3);
}

/**
 * Four messages of any lengths. Blocks common to all four run in SIMD; a lane with more blocks
 * continues alone on the scalar path from its SIMD state, so one long message does not make three
 * idle lanes do its work.
 */
function simdGeneric(prefix: i32): void {
  const pre: u32 = prefix >= 0 ? 1 : 0;
  let common: u32 = 0xffffffff;
  for (let j = 0; j < 4; j++) {
    const nb = blockCount(load<u32>(LANES + 16 + (<usize>j << 2)) + pre);
    if (nb < common) common = nb;
  }
  initState4();
  for (let b: u32 = 0; b < common; b++) {
    for (let j = 0; j < 4; j++) fillBlock(BLOCK4 + (<usize>j << 6), prefix, load<u32>(LANES + (<usize>j << 2)), load<u32>(LANES + 16 + (<usize>j << 2)), b);
    for (let q: usize = 0; q < 64; q += 16) {
      loadTransposed(W4 + (q << 2), BLOCK4 + q, BLOCK4 + 64 + q, BLOCK4 + 128 + q, BLOCK4 + 192 + q);
    }
    compress4();
  }
  for (let j = 0; j < 4; j++) {
    // Extract lane j's state into the scalar state.
    for (let i: usize = 0; i < 8; i++) store<u32>(STATE + (i << 2), load<u32>(ST4 + (i << 4) + (<usize>j << 2)));
    const nb = blockCount(load<u32>(LANES + 16 + (<usize>j << 2)) + pre);
    for (let b = common; b < nb; b++) {
      fillBlock(BLOCK, prefix, load<u32>(LANES + (<usize>j << 2)), load<u32>(LANES + 16 + (<usize>j << 2)), b);
      compress(STATE, BLOCK);
    }
    writeDigest(STATE, load<u32>(LANES + 32 + (<usize>j << 2)));
  }
}

// Lane descriptors for simdGeneric: data pointer, length, output pointer (4 x u32 each).
const LANES: usize = memory.data(48, 16);

// ---------------------------------------------------------------------------------------------
// Batch entry points used by merkle.ts and the host

/**
 * Hashes `count` messages [prefix] || data[i], message i being data at `data + start(i)` of length
 * `end(i) - start(i)` with end offsets in the u32 table `ends`; digest i goes to out + 32 i.
 */
export function hashMessages(prefix: i32, count: i32, data: usize, ends: usize, out: usize): void {
  let i = 0;
  let start: u32 = 0;
  if (useSimd) {
    for (; i + 4 <= count; i += 4) {
      const base = ends + (<usize>i << 2);
      const s0 = start, e0 = load<u32>(base, 0), e1 = load<u32>(base, 4), e2 = load<u32>(base, 8), e3 = load<u32>(base, 12);
      const l0 = e0 - s0, l1 = e1 - e0, l2 = e2 - e1, l3 = e3 - e2;
      const ob = out + (<usize>i << 5);
      if (prefix >= 0 && l0 == 32 && l1 == 32 && l2 == 32 && l3 == 32) {
        simdPrefixed32(prefix, data + s0, data + e0, data + e1, data + e2, ob, ob + 32, ob + 64, ob + 96);
      } else if (prefix >= 0 && l0 == 64 && l1 == 64 && l2 == 64 && l3 == 64) {
        simdPrefixed64(prefix, data + s0, data + e0, data + e1, data + e2, ob, ob + 32, ob + 64, ob + 96);
      } else {
        store<u32>(LANES, data + s0, 0); store<u32>(LANES, data + e0, 4);
        store<u32>(LANES, data + e1, 8); store<u32>(LANES, data + e2, 12);
        store<u32>(LANES, l0, 16); store<u32>(LANES, l1, 20); store<u32>(LANES, l2, 24); store<u32>(LANES, l3, 28);
        store<u32>(LANES, ob, 32); store<u32>(LANES, ob + 32, 36); store<u32>(LANES, ob + 64, 40); store<u32>(LANES, ob + 96, 44);
        simdGeneric(prefix);
      }
      start = e3;
    }
  }
  for (; i < count; i++) {
    const end = load<u32>(ends + (<usize>i << 2));
    hashOneScalar(prefix, data + start, end - start, out + (<usize>i << 5));
    start = end;
  }
}

/**
 * RFC 6962 node hashes of `count` adjacent pairs: out[i] = H(0x01 || in[2i] || in[2i+1]).
 * `out` may equal `inp` (a level hashed in place): group g reads bytes [256g - 1, 256g + 256) and
 * writes [128g, 128g + 128) only after reading, which never overlaps a later group's input.
 */
export function hashNodePairs(inp: usize, count: i32, out: usize): void {
  let i = 0;
  if (useSimd) {
    for (; i + 4 <= count; i += 4) {
      const p = inp + (<usize>i << 6), o = out + (<usize>i << 5);
      simdPrefixed64(1, p, p + 64, p + 128, p + 192, o, o + 32, o + 64, o + 96);
    }
  }
  for (; i < count; i++) {
    const p = inp + (<usize>i << 6);
    nodeHashScalar(p, p + 32, out + (<usize>i << 5));
  }
}

/** SHA-256 of the empty string (RFC 6962 MTH of the empty tree) into out. */
export function emptyHash(out: usize): void {
  hashOneScalar(-1, INPUT, 0, out);
}

