// ECDSA P-256 signature verification (FIPS 186-5 §6.4.2, SEC 1 v2 §4.1.4) over a prehashed
// 32-byte digest, for NIST P-256 (SEC 2 §2.4.2 / FIPS 186-5 curve parameters).
//
// Arithmetic: 256-bit integers as 8 little-endian u32 limbs in static memory; products through
// u64. Field elements (mod p) stay in normal form: a schoolbook product followed by the NIST fast
// reduction for p = 2^256 − 2^224 + 2^192 + 2^96 − 1 (FIPS 186-4 D.2.3). Scalars (mod n) use
// Montgomery multiplication (CIOS, Koç et al. 1996, R = 2^256), needed only for u1 and u2; s⁻¹
// comes from the binary extended Euclidean algorithm.
// Points are Jacobian (X/Z², Y/Z³) with the a = −3 doubling formula (dbl-2001-b), general
// addition (add-2007-bl) and mixed addition (madd-2007-bl), from the Explicit-Formulas Database.
// u1·G uses an affine comb table for G built once (one addition per signed 10-bit digit, no
// doublings). u2·Q uses the same kind of comb for a registered key (log, CA, CT and TSA keys
// verify many signatures), otherwise a width-5 NAF over the odd multiples Q, 3Q, …, 15Q. A single
// check's final step avoids a field inversion: X ≡ r·Z² (mod p), and also (r + n)·Z² when
// r + n < p (SEC 1 §4.1.4 step 7 with x mod n). In a batch, the comb sums of all records are
// accumulated together in affine coordinates, one shared inversion per round (see ACC_N).
//
// NOT constant-time, and it does not need to be: verification handles only public data.
// ABI: the host writes big-endian 32-byte values into P256_IO (Qx, Qy, r, s, e at offsets
// 0, 32, 64, 96, 128) and calls p256_verify(slot) where slot = −1 (use Qx, Qy) or a registered
// key slot; the result is 1 (valid) or 0. Batches: records in p256_batch_io() (layout at
// BATCH_MAX), one inversion of s for the whole batch, verdicts in p256_batch_out().
// p256_verify_batch_deferred leaves the last step of one-off-key records (x of one scalar
// multiplication) to the host, which can hand it to a native ECDH primitive, or finish them in
// the core with p256_finish_deferred.

import { LIMBS, limb, setLimb, copy, setZero, isZero, eq, lt, addRaw, subRaw, subMod, montMul, negInv32, r2, fromBE, setHexConst, wnaf5 } from './bigint256';
const SLOT_BYTES: usize = 32;

// Scratch "registers": 96 field elements.
const REG: usize = memory.data(96 * 32, 16);
const IO: usize = memory.data(5 * 32, 16);

// Constants (little-endian limbs), filled by init().
// p in 64-bit words, little-endian: 2^256 − 2^224 + 2^192 + 2^96 − 1.
const P64_0: u64 = 0xffffffffffffffff;
const P64_1: u64 = 0x00000000ffffffff;
const P64_3: u64 = 0xffffffff00000001;
const P: usize = memory.data(32, 16);
const N: usize = memory.data(32, 16);
const B: usize = memory.data(32, 16);
const GX: usize = memory.data(32, 16);
const GY: usize = memory.data(32, 16);
const R2N: usize = memory.data(32, 16);
const ONE_P: usize = memory.data(32, 16); // 1 (field elements are in normal form)
const ZERO_P: usize = memory.data(32, 16); // 0, zeroed memory: the minuend of a negation
const B_M: usize = memory.data(32, 16); // b
const ONE_NM: usize = memory.data(32, 16); // 1 in Montgomery form mod n (R mod n)
let N0N: u32 = 0;
let ready = false;

// A Jacobian point is 3 consecutive field elements (96 bytes).
const POINT: usize = 96;
// Comb tables with signed w-bit windows (w = COMB_W): a scalar k < n is recoded into COMB_ROWS
// digits d_i in [−2^(w−1), 2^(w−1)] with k = Σ d_i·2^(w·i) (recode), and row i of a point's comb
// holds m·2^(w·i)·P for m = 1 .. 2^(w−1), affine (X, Y), 64 bytes each, entry m at index m − 1.
// A negative digit adds the entry with Y negated. u1·G + u2·Q then takes one addition per
// non-zero digit of each scalar and no doublings.
// 10-bit signed windows for G and for registered keys: 26 additions per scalar, where 8-bit
// unsigned windows took 32 (832 KiB per table here, 512 KiB then). Measured: in bulk bundle
// verification (five tables in use, none of either size fits the 1 MiB L2), the core's time per
// bundle fell from 121 to 104 µs; with one key, whose two 512 KiB tables fit L2, a registered-key
// check in a batch of 128 stays at about 21 µs, and 34 -> 32 µs on the Jacobian path. G's table
// is built once per instance, a key's when it is registered (about 14 ms each here, 9 ms at 8
// bits); registered keys are the few that verify many signatures (log, CT log, CA, TSA). 8 slots
// reserve 6.5 MiB of linear memory, untouched until used.
const AFFINE: usize = 64;
const COMB_W: i32 = 10;
const COMB_ROWS: i32 = 26; // ceil(257 / 10): recoding can carry one bit past bit 255
const COMB_K: i32 = 512; // 2^(w−1) entries per row
// memory.data needs compile-time constants: rows · entries · 64.
const KEY_COMB_BYTES: i32 = 26 * 512 * 64;
const G_COMB_BYTES: i32 = 26 * 512 * 64;
const KEY_SLOTS: i32 = 8;
const KTABLES: usize = memory.data(KEY_SLOTS * KEY_COMB_BYTES, 16);
const GCOMB: usize = memory.data(G_COMB_BYTES, 16);
const ACC: usize = memory.data(96, 16);
const ACC2: usize = memory.data(96, 16);
// One comb row while it is built (Jacobian, entry m at index m), and the running products of its
// Z coordinates.
const ROW: usize = memory.data((512 + 1) * <i32>POINT, 16);
const ZPROD: usize = memory.data((512 + 1) * 32, 16);
// A scalar copied with 8 zero bytes after it, so a window that runs past bit 255 reads zeros, and
// the signed digits of one scalar (i16 each) for the Jacobian path.
const SCALAR: usize = memory.data(40, 16);
const DIGITS: usize = memory.data(26 * 2, 16);
// A comb entry with Y negated, for the Jacobian path's negative digits.
const NEG_ENTRY: usize = memory.data(64, 16);

@inline function reg(i: i32): usize { return REG + <usize>i * SLOT_BYTES; }
/**
 * out = the 512-bit product t0..t15 (32-bit words in u64s) reduced mod p, in normal form: the NIST
 * fast reduction (FIPS 186-4 Appendix D.2.3 / SEC 2), since p = 2^256 − 2^224 + 2^192 + 2^96 − 1
 * lets the upper half fold into the lower with word additions and subtractions only.
 */
@inline function reduceP(out: usize, t0: u64, t1: u64, t2: u64, t3: u64, t4: u64, t5: u64, t6: u64, t7: u64, t8: u64, t9: u64, t10: u64, t11: u64, t12: u64, t13: u64, t14: u64, t15: u64): void {
  let r0: i64 = <i64>t0 + <i64>t8 + <i64>t9 - <i64>t11 - <i64>t12 - <i64>t13 - <i64>t14;
  let r1: i64 = <i64>t1 + <i64>t9 + <i64>t10 - <i64>t12 - <i64>t13 - <i64>t14 - <i64>t15;
  let r2: i64 = <i64>t2 + <i64>t10 + <i64>t11 - <i64>t13 - <i64>t14 - <i64>t15;
  let r3: i64 = <i64>t3 + 2 * <i64>t11 + 2 * <i64>t12 + <i64>t13 - <i64>t15 - <i64>t8 - <i64>t9;
  let r4: i64 = <i64>t4 + 2 * <i64>t12 + 2 * <i64>t13 + <i64>t14 - <i64>t9 - <i64>t10;
  let r5: i64 = <i64>t5 + 2 * <i64>t13 + 2 * <i64>t14 + <i64>t15 - <i64>t10 - <i64>t11;
  let r6: i64 = <i64>t6 + 2 * <i64>t14 + 2 * <i64>t15 + <i64>t14 + <i64>t13 - <i64>t8 - <i64>t9;
  let r7: i64 = <i64>t7 + 2 * <i64>t15 + <i64>t15 + <i64>t8 - <i64>t10 - <i64>t11 - <i64>t12 - <i64>t13;
  // Carry-propagate, then fold the (small, signed) carry back in with 2^256 ≡ 2^224 − 2^192 − 2^96 + 1 (mod p).
  let cr: i64 = 0;
  for (let pass = 0; pass < 4; pass++) {
    r0 += cr; cr = r0 >> 32; r0 &= 0xffffffff;
    r1 += cr; cr = r1 >> 32; r1 &= 0xffffffff;
    r2 += cr; cr = r2 >> 32; r2 &= 0xffffffff;
    r3 += cr; cr = r3 >> 32; r3 &= 0xffffffff;
    r4 += cr; cr = r4 >> 32; r4 &= 0xffffffff;
    r5 += cr; cr = r5 >> 32; r5 &= 0xffffffff;
    r6 += cr; cr = r6 >> 32; r6 &= 0xffffffff;
    r7 += cr; cr = r7 >> 32; r7 &= 0xffffffff;
    if (cr == 0) break;
    r0 += cr; r3 -= cr; r6 -= cr; r7 += cr;
    cr = 0;
  }
  // Now 0 ≤ r < 2^256 < 2p: at most one subtraction of p, done in registers.
  storeModP(out, r0, r1, r2, r3, r4, r5, r6, r7, 0);
}

/**
 * Stores s = (carry·2^256 + s7‖…‖s0) mod p, given s < 2p (each s_i < 2^32, carry 0 or 1):
 * s − p is computed with borrows in registers and kept when it does not go negative.
 * p's limbs, little-endian: ffffffff ffffffff ffffffff 0 0 0 1 ffffffff.
 */
@inline function storeModP(out: usize, s0: i64, s1: i64, s2: i64, s3: i64, s4: i64, s5: i64, s6: i64, s7: i64, carry: i64): void {
  let b: i64 = s0 - 0xffffffff; const d0 = b & 0xffffffff; b >>= 32;
  b += s1 - 0xffffffff; const d1 = b & 0xffffffff; b >>= 32;
  b += s2 - 0xffffffff; const d2 = b & 0xffffffff; b >>= 32;
  b += s3; const d3 = b & 0xffffffff; b >>= 32;
  b += s4; const d4 = b & 0xffffffff; b >>= 32;
  b += s5; const d5 = b & 0xffffffff; b >>= 32;
  b += s6 - 1; const d6 = b & 0xffffffff; b >>= 32;
  b += s7 - 0xffffffff; const d7 = b & 0xffffffff; b >>= 32;
  // b is 0 (s ≥ p within 256 bits) or −1 (borrow); a carry out of 2^256 cancels the borrow.
  if (b + carry == 0) {
    store<u64>(out, <u64>(d0 | (d1 << 32)), 0);
    store<u64>(out, <u64>(d2 | (d3 << 32)), 8);
    store<u64>(out, <u64>(d4 | (d5 << 32)), 16);
    store<u64>(out, <u64>(d6 | (d7 << 32)), 24);
  } else {
    store<u64>(out, <u64>(s0 | (s1 << 32)), 0);
    store<u64>(out, <u64>(s2 | (s3 << 32)), 8);
    store<u64>(out, <u64>(s4 | (s5 << 32)), 16);
    store<u64>(out, <u64>(s6 | (s7 << 32)), 24);
  }
}

/**
 * out = a + b mod p for a, b < p, on 64-bit words and without branches: a sum at or above p is as
 * likely as not for random operands, so a branch on it mispredicts half the time. s = a + b and
 * d = s − p are both computed; d is kept when s ≥ p. With fsubP in the same form (the affine
 * rounds take six of them per addition), measured against the 32-bit branching versions: a
 * registered-key check in a batch of 128, 23.8 -> 21.3 µs; with the Jacobian formulas, 39.4 -> 34 µs.
 */
function faddP(out: usize, a: usize, b: usize): void {
  const a0 = load<u64>(a, 0), a1 = load<u64>(a, 8), a2 = load<u64>(a, 16), a3 = load<u64>(a, 24);
  const b0 = load<u64>(b, 0), b1 = load<u64>(b, 8), b2 = load<u64>(b, 16), b3 = load<u64>(b, 24);
  // s = a + b, carry out in c.
  const s0 = a0 + b0;
  let c: u64 = <u64>(s0 < a0);
  let t = a1 + b1;
  let c2: u64 = <u64>(t < a1);
  const s1 = t + c;
  c = c2 | <u64>(s1 < t);
  t = a2 + b2;
  c2 = <u64>(t < a2);
  const s2 = t + c;
  c = c2 | <u64>(s2 < t);
  t = a3 + b3;
  c2 = <u64>(t < a3);
  const s3 = t + c;
  c = c2 | <u64>(s3 < t);
  // d = s − p, borrow out in br.
  const d0 = s0 - P64_0;
  let br: u64 = <u64>(s0 < P64_0);
  t = s1 - P64_1;
  let b2_: u64 = <u64>(s1 < P64_1);
  const d1 = t - br;
  br = b2_ | <u64>(t < br);
  const d2 = s2 - br;
  br = <u64>(s2 < br);
  t = s3 - P64_3;
  b2_ = <u64>(s3 < P64_3);
  const d3 = t - br;
  br = b2_ | <u64>(t < br);
  // s ≥ p: a carry out of 2^256, or no borrow.
  const keep = <u64>0 - (c | (br ^ 1));
  store<u64>(out, (d0 & keep) | (s0 & ~keep), 0);
  store<u64>(out, (d1 & keep) | (s1 & ~keep), 8);
  store<u64>(out, (d2 & keep) | (s2 & ~keep), 16);
  store<u64>(out, (d3 & keep) | (s3 & ~keep), 24);
}

/** out = a − b mod p for a, b < p: the difference, plus p masked in when it borrowed (no branch, as faddP). */
function fsubP(out: usize, a: usize, b: usize): void {
  const a0 = load<u64>(a, 0), a1 = load<u64>(a, 8), a2 = load<u64>(a, 16), a3 = load<u64>(a, 24);
  const b0 = load<u64>(b, 0), b1 = load<u64>(b, 8), b2 = load<u64>(b, 16), b3 = load<u64>(b, 24);
  const d0 = a0 - b0;
  let br: u64 = <u64>(a0 < b0);
  let t = a1 - b1;
  let n: u64 = <u64>(a1 < b1);
  const d1 = t - br;
  br = n | <u64>(t < br);
  t = a2 - b2;
  n = <u64>(a2 < b2);
  const d2 = t - br;
  br = n | <u64>(t < br);
  t = a3 - b3;
  n = <u64>(a3 < b3);
  const d3 = t - br;
  br = n | <u64>(t < br);
  // a − b + 2^256 ≥ 2^256 − p after a borrow: adding p wraps back into [0, p).
  const m = <u64>0 - br;
  const p0 = P64_0 & m, p1 = P64_1 & m, p3 = P64_3 & m;
  const r0 = d0 + p0;
  let c: u64 = <u64>(r0 < d0);
  t = d1 + p1;
  let c2: u64 = <u64>(t < d1);
  const r1 = t + c;
  c = c2 | <u64>(r1 < t);
  const r2 = d2 + c;
  c = <u64>(r2 < d2);
  store<u64>(out, r0, 0);
  store<u64>(out, r1, 8);
  store<u64>(out, r2, 16);
  store<u64>(out, d3 + p3 + c, 24);
}

/** out = k·a mod p for k < 2^32 (the doubling uses 3, 4 and 8): the 9-word product folded by reduceP. */
function fmulSmallP(out: usize, a: usize, k: u64): void {
  const M: u64 = 0xffffffff;
  let c: u64 = <u64>load<u32>(a, 0) * k; const w0 = c & M; c >>= 32;
  c += <u64>load<u32>(a, 4) * k; const w1 = c & M; c >>= 32;
  c += <u64>load<u32>(a, 8) * k; const w2 = c & M; c >>= 32;
  c += <u64>load<u32>(a, 12) * k; const w3 = c & M; c >>= 32;
  c += <u64>load<u32>(a, 16) * k; const w4 = c & M; c >>= 32;
  c += <u64>load<u32>(a, 20) * k; const w5 = c & M; c >>= 32;
  c += <u64>load<u32>(a, 24) * k; const w6 = c & M; c >>= 32;
  c += <u64>load<u32>(a, 28) * k; const w7 = c & M; c >>= 32;
  reduceP(out, w0, w1, w2, w3, w4, w5, w6, w7, c, 0, 0, 0, 0, 0, 0, 0);
}

/** out = a·b mod p (see reduceP): row-by-row schoolbook product. out may alias a or b. */
function fmulP(out: usize, a: usize, b: usize): void {
  const M: u64 = 0xffffffff;
  const a0 = <u64>load<u32>(a, 0); const b0 = <u64>load<u32>(b, 0);
  const a1 = <u64>load<u32>(a, 4); const b1 = <u64>load<u32>(b, 4);
  const a2 = <u64>load<u32>(a, 8); const b2 = <u64>load<u32>(b, 8);
  const a3 = <u64>load<u32>(a, 12); const b3 = <u64>load<u32>(b, 12);
  const a4 = <u64>load<u32>(a, 16); const b4 = <u64>load<u32>(b, 16);
  const a5 = <u64>load<u32>(a, 20); const b5 = <u64>load<u32>(b, 20);
  const a6 = <u64>load<u32>(a, 24); const b6 = <u64>load<u32>(b, 24);
  const a7 = <u64>load<u32>(a, 28); const b7 = <u64>load<u32>(b, 28);
  let t0: u64 = 0, t1: u64 = 0, t2: u64 = 0, t3: u64 = 0, t4: u64 = 0, t5: u64 = 0, t6: u64 = 0, t7: u64 = 0, t8: u64 = 0, t9: u64 = 0, t10: u64 = 0, t11: u64 = 0, t12: u64 = 0, t13: u64 = 0, t14: u64 = 0, t15: u64 = 0;
  let c: u64 = 0;
  c = 0;
  c += t0 + a0 * b0; t0 = c & M; c >>= 32;
  c += t1 + a0 * b1; t1 = c & M; c >>= 32;
  c += t2 + a0 * b2; t2 = c & M; c >>= 32;
  c += t3 + a0 * b3; t3 = c & M; c >>= 32;
  c += t4 + a0 * b4; t4 = c & M; c >>= 32;
  c += t5 + a0 * b5; t5 = c & M; c >>= 32;
  c += t6 + a0 * b6; t6 = c & M; c >>= 32;
  c += t7 + a0 * b7; t7 = c & M; c >>= 32;
  t8 = c;
  c = 0;
  c += t1 + a1 * b0; t1 = c & M; c >>= 32;
  c += t2 + a1 * b1; t2 = c & M; c >>= 32;
  c += t3 + a1 * b2; t3 = c & M; c >>= 32;
  c += t4 + a1 * b3; t4 = c & M; c >>= 32;
  c += t5 + a1 * b4; t5 = c & M; c >>= 32;
  c += t6 + a1 * b5; t6 = c & M; c >>= 32;
  c += t7 + a1 * b6; t7 = c & M; c >>= 32;
  c += t8 + a1 * b7; t8 = c & M; c >>= 32;
  t9 = c;
  c = 0;
  c += t2 + a2 * b0; t2 = c & M; c >>= 32;
  c += t3 + a2 * b1; t3 = c & M; c >>= 32;
  c += t4 + a2 * b2; t4 = c & M; c >>= 32;
  c += t5 + a2 * b3; t5 = c & M; c >>= 32;
  c += t6 + a2 * b4; t6 = c & M; c >>= 32;
  c += t7 + a2 * b5; t7 = c & M; c >>= 32;
  c += t8 + a2 * b6; t8 = c & M; c >>= 32;
  c += t9 + a2 * b7; t9 = c & M; c >>= 32;
  t10 = c;
  c = 0;
  c += t3 + a3 * b0; t3 = c & M; c >>= 32;
  c += t4 + a3 * b1; t4 = c & M; c >>= 32;
  c += t5 + a3 * b2; t5 = c & M; c >>= 32;
  c += t6 + a3 * b3; t6 = c & M; c >>= 32;
  c += t7 + a3 * b4; t7 = c & M; c >>= 32;
  c += t8 + a3 * b5; t8 = c & M; c >>= 32;
  c += t9 + a3 * b6; t9 = c & M; c >>= 32;
  c += t10 + a3 * b7; t10 = c & M; c >>= 32;
  t11 = c;
  c = 0;
  c += t4 + a4 * b0; t4 = c & M; c >>= 32;
  c += t5 + a4 * b1; t5 = c & M; c >>= 32;
  c += t6 + a4 * b2; t6 = c & M; c >>= 32;
  c += t7 + a4 * b3; t7 = c & M; c >>= 32;
  c += t8 + a4 * b4; t8 = c & M; c >>= 32;
  c += t9 + a4 * b5; t9 = c & M; c >>= 32;
  c += t10 + a4 * b6; t10 = c & M; c >>= 32;
  c += t11 + a4 * b7; t11 = c & M; c >>= 32;
  t12 = c;
  c = 0;
  c += t5 + a5 * b0; t5 = c & M; c >>= 32;
  c += t6 + a5 * b1; t6 = c & M; c >>= 32;
  c += t7 + a5 * b2; t7 = c & M; c >>= 32;
  c += t8 + a5 * b3; t8 = c & M; c >>= 32;
  c += t9 + a5 * b4; t9 = c & M; c >>= 32;
  c += t10 + a5 * b5; t10 = c & M; c >>= 32;
  c += t11 + a5 * b6; t11 = c & M; c >>= 32;
  c += t12 + a5 * b7; t12 = c & M; c >>= 32;
  t13 = c;
  c = 0;
  c += t6 + a6 * b0; t6 = c & M; c >>= 32;
  c += t7 + a6 * b1; t7 = c & M; c >>= 32;
  c += t8 + a6 * b2; t8 = c & M; c >>= 32;
  c += t9 + a6 * b3; t9 = c & M; c >>= 32;
  c += t10 + a6 * b4; t10 = c & M; c >>= 32;
  c += t11 + a6 * b5; t11 = c & M; c >>= 32;
  c += t12 + a6 * b6; t12 = c & M; c >>= 32;
  c += t13 + a6 * b7; t13 = c & M; c >>= 32;
  t14 = c;
  c = 0;
  c += t7 + a7 * b0; t7 = c & M; c >>= 32;
  c += t8 + a7 * b1; t8 = c & M; c >>= 32;
  c += t9 + a7 * b2; t9 = c & M; c >>= 32;
  c += t10 + a7 * b3; t10 = c & M; c >>= 32;
  c += t11 + a7 * b4; t11 = c & M; c >>= 32;
  c += t12 + a7 * b5; t12 = c & M; c >>= 32;
  c += t13 + a7 * b6; t13 = c & M; c >>= 32;
  c += t14 + a7 * b7; t14 = c & M; c >>= 32;
  t15 = c;
  reduceP(out, t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15);
}

// ---- generated by scripts/gen-p256-field.mjs: do not edit by hand ----
/** out = a² mod p: 36 products instead of 64 (cross products once, doubled). out may alias a. */
function fsqrP(out: usize, a: usize): void {
  const M: u64 = 0xffffffff;
  const a0 = <u64>load<u32>(a, 0);
  const a1 = <u64>load<u32>(a, 4);
  const a2 = <u64>load<u32>(a, 8);
  const a3 = <u64>load<u32>(a, 12);
  const a4 = <u64>load<u32>(a, 16);
  const a5 = <u64>load<u32>(a, 20);
  const a6 = <u64>load<u32>(a, 24);
  const a7 = <u64>load<u32>(a, 28);
  let t0: u64 = 0, t1: u64 = 0, t2: u64 = 0, t3: u64 = 0, t4: u64 = 0, t5: u64 = 0, t6: u64 = 0, t7: u64 = 0, t8: u64 = 0, t9: u64 = 0, t10: u64 = 0, t11: u64 = 0, t12: u64 = 0, t13: u64 = 0, t14: u64 = 0, t15: u64 = 0;
  let c: u64 = 0;
  c = 0;
  c += t1 + a0 * a1; t1 = c & M; c >>= 32;
  c += t2 + a0 * a2; t2 = c & M; c >>= 32;
  c += t3 + a0 * a3; t3 = c & M; c >>= 32;
  c += t4 + a0 * a4; t4 = c & M; c >>= 32;
  c += t5 + a0 * a5; t5 = c & M; c >>= 32;
  c += t6 + a0 * a6; t6 = c & M; c >>= 32;
  c += t7 + a0 * a7; t7 = c & M; c >>= 32;
  t8 = c;
  c = 0;
  c += t3 + a1 * a2; t3 = c & M; c >>= 32;
  c += t4 + a1 * a3; t4 = c & M; c >>= 32;
  c += t5 + a1 * a4; t5 = c & M; c >>= 32;
  c += t6 + a1 * a5; t6 = c & M; c >>= 32;
  c += t7 + a1 * a6; t7 = c & M; c >>= 32;
  c += t8 + a1 * a7; t8 = c & M; c >>= 32;
  t9 = c;
  c = 0;
  c += t5 + a2 * a3; t5 = c & M; c >>= 32;
  c += t6 + a2 * a4; t6 = c & M; c >>= 32;
  c += t7 + a2 * a5; t7 = c & M; c >>= 32;
  c += t8 + a2 * a6; t8 = c & M; c >>= 32;
  c += t9 + a2 * a7; t9 = c & M; c >>= 32;
  t10 = c;
  c = 0;
  c += t7 + a3 * a4; t7 = c & M; c >>= 32;
  c += t8 + a3 * a5; t8 = c & M; c >>= 32;
  c += t9 + a3 * a6; t9 = c & M; c >>= 32;
  c += t10 + a3 * a7; t10 = c & M; c >>= 32;
  t11 = c;
  c = 0;
  c += t9 + a4 * a5; t9 = c & M; c >>= 32;
  c += t10 + a4 * a6; t10 = c & M; c >>= 32;
  c += t11 + a4 * a7; t11 = c & M; c >>= 32;
  t12 = c;
  c = 0;
  c += t11 + a5 * a6; t11 = c & M; c >>= 32;
  c += t12 + a5 * a7; t12 = c & M; c >>= 32;
  t13 = c;
  c = 0;
  c += t13 + a6 * a7; t13 = c & M; c >>= 32;
  t14 = c;
  c = 0;
  const d0 = a0 * a0;
  c += (t0 << 1) + (d0 & M); t0 = c & M; c >>= 32;
  c += (t1 << 1) + (d0 >> 32); t1 = c & M; c >>= 32;
  const d1 = a1 * a1;
  c += (t2 << 1) + (d1 & M); t2 = c & M; c >>= 32;
  c += (t3 << 1) + (d1 >> 32); t3 = c & M; c >>= 32;
  const d2 = a2 * a2;
  c += (t4 << 1) + (d2 & M); t4 = c & M; c >>= 32;
  c += (t5 << 1) + (d2 >> 32); t5 = c & M; c >>= 32;
  const d3 = a3 * a3;
  c += (t6 << 1) + (d3 & M); t6 = c & M; c >>= 32;
  c += (t7 << 1) + (d3 >> 32); t7 = c & M; c >>= 32;
  const d4 = a4 * a4;
  c += (t8 << 1) + (d4 & M); t8 = c & M; c >>= 32;
  c += (t9 << 1) + (d4 >> 32); t9 = c & M; c >>= 32;
  const d5 = a5 * a5;
  c += (t10 << 1) + (d5 & M); t10 = c & M; c >>= 32;
  c += (t11 << 1) + (d5 >> 32); t11 = c & M; c >>= 32;
  const d6 = a6 * a6;
  c += (t12 << 1) + (d6 & M); t12 = c & M; c >>= 32;
  c += (t13 << 1) + (d6 >> 32); t13 = c & M; c >>= 32;
  const d7 = a7 * a7;
  c += (t14 << 1) + (d7 & M); t14 = c & M; c >>= 32;
  c += (t15 << 1) + (d7 >> 32); t15 = c & M; c >>= 32;
  reduceP(out, t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15);
}
// ---- end generated ----

// Field shorthands (mod p, normal form with the NIST reduction).
@inline function fmul(o: usize, a: usize, b: usize): void { fmulP(o, a, b); }
@inline function fsqr(o: usize, a: usize): void { fsqrP(o, a); }
@inline function fadd(o: usize, a: usize, b: usize): void { faddP(o, a, b); }
@inline function fsub(o: usize, a: usize, b: usize): void { fsubP(o, a, b); }
@inline function fmulSmall(o: usize, a: usize, k: u64): void { fmulSmallP(o, a, k); }

// ---------------------------------------------------------------------------------------------
// Points

function pointSetInfinity(p: usize): void { memory.fill(p, 0, 96); }
@inline function isInfinity(p: usize): bool { return isZero(p + 64); }

/**
 * out = 2·p (Jacobian, a = −3; EFD dbl-2001-b). out may alias p: every input coordinate is read
 * before the first output coordinate is written, so no result is staged and copied.
 */
function pointDouble(out: usize, p: usize): void {
  if (isInfinity(p)) { pointSetInfinity(out); return; }
  const X = p, Y = p + 32, Z = p + 64;
  const X3 = out, Y3 = out + 32, Z3 = out + 64;
  const delta = reg(0), gamma = reg(1), beta = reg(2), alpha = reg(3), t1 = reg(4), t2 = reg(5);
  fsqr(delta, Z);
  fsqr(gamma, Y);
  fmul(beta, X, gamma);
  fsub(t1, X, delta);
  fadd(t2, X, delta);
  fmul(alpha, t1, t2);
  fmulSmall(alpha, alpha, 3); // α = 3·(X − δ)(X + δ)
  fadd(t2, Y, Z); // the last read of p
  fsqr(Z3, t2);
  fsub(Z3, Z3, gamma);
  fsub(Z3, Z3, delta); // Z3 = (Y + Z)² − γ − δ
  fmulSmall(t1, beta, 4); // 4β
  fadd(t2, t1, t1); // 8β
  fsqr(X3, alpha);
  fsub(X3, X3, t2); // X3 = α² − 8β
  fsub(t1, t1, X3);
  fmul(Y3, alpha, t1);
  fsqr(t2, gamma);
  fmulSmall(t2, t2, 8);
  fsub(Y3, Y3, t2); // Y3 = α·(4β − X3) − 8γ²
}

/**
 * out = p + q (Jacobian; EFD add-2007-bl), with the doubling and infinity cases. out may alias
 * p (not q): p is read in full before out is written.
 */
function pointAdd(out: usize, p: usize, q: usize): void {
  if (isInfinity(p)) { memory.copy(out, q, 96); return; }
  if (isInfinity(q)) { if (out != p) memory.copy(out, p, 96); return; }
  const X1 = p, Y1 = p + 32, Z1 = p + 64, X2 = q, Y2 = q + 32, Z2 = q + 64;
  const X3 = out, Y3 = out + 32, Z3 = out + 64;
  const z1z1 = reg(10), z2z2 = reg(11), u1 = reg(12), u2 = reg(13), s1 = reg(14), s2 = reg(15), h = reg(16), i = reg(17), j = reg(18), r = reg(19), v = reg(20), t = reg(21), zs = reg(22);
  fsqr(z1z1, Z1);
  fsqr(z2z2, Z2);
  fmul(u1, X1, z2z2);
  fmul(u2, X2, z1z1);
  fmul(t, Z2, z2z2);
  fmul(s1, Y1, t);
  fmul(t, Z1, z1z1);
  fmul(s2, Y2, t);
  fsub(h, u2, u1);
  fsub(r, s2, s1);
  if (isZero(h)) {
    if (isZero(r)) { pointDouble(out, p); return; }
    pointSetInfinity(out);
    return;
  }
  fadd(zs, Z1, Z2); // the last read of p
  fadd(r, r, r);
  fadd(t, h, h);
  fsqr(i, t);
  fmul(j, h, i);
  fmul(v, u1, i);
  fsqr(X3, r);
  fsub(X3, X3, j);
  fsub(X3, X3, v);
  fsub(X3, X3, v); // X3 = r² − J − 2V
  fsub(t, v, X3);
  fmul(Y3, r, t);
  fmul(t, s1, j);
  fadd(t, t, t);
  fsub(Y3, Y3, t); // Y3 = r·(V − X3) − 2·S1·J
  fsqr(Z3, zs);
  fsub(Z3, Z3, z1z1);
  fsub(Z3, Z3, z2z2);
  fmul(Z3, Z3, h); // Z3 = ((Z1 + Z2)² − Z1Z1 − Z2Z2)·H
}

/** out = p + q with q affine (Z = 1; EFD madd-2007-bl). out may alias p (not q), as in pointAdd. */
function pointAddAffine(out: usize, p: usize, q: usize): void {
  if (isInfinity(p)) {
    memory.copy(out, q, 64);
    copy(out + 64, ONE_P);
    return;
  }
  const X1 = p, Y1 = p + 32, Z1 = p + 64, X2 = q, Y2 = q + 32;
  const X3 = out, Y3 = out + 32, Z3 = out + 64;
  const z1z1 = reg(10), u2 = reg(13), s2 = reg(15), h = reg(16), hh = reg(17), i = reg(18), j = reg(19), r = reg(20), v = reg(21), t = reg(25), yj = reg(26), zh = reg(27);
  fsqr(z1z1, Z1);
  fmul(u2, X2, z1z1);
  fmul(t, Z1, z1z1);
  fmul(s2, Y2, t);
  fsub(h, u2, X1);
  fsub(r, s2, Y1);
  if (isZero(h)) {
    if (isZero(r)) { pointDouble(out, p); return; }
    pointSetInfinity(out);
    return;
  }
  fsqr(hh, h);
  fmulSmall(i, hh, 4); // I = 4·HH
  fmul(j, h, i);
  fadd(r, r, r);
  fmul(v, X1, i);
  fmul(yj, Y1, j);
  fadd(yj, yj, yj); // 2·Y1·J
  fadd(zh, Z1, h); // the last read of p
  fsqr(X3, r);
  fsub(X3, X3, j);
  fsub(X3, X3, v);
  fsub(X3, X3, v); // X3 = r² − J − 2V
  fsub(t, v, X3);
  fmul(Y3, r, t);
  fsub(Y3, Y3, yj); // Y3 = r·(V − X3) − 2·Y1·J
  fsqr(Z3, zh);
  fsub(Z3, Z3, z1z1);
  fsub(Z3, Z3, hh); // Z3 = (Z1 + H)² − Z1Z1 − HH
}


/**
 * The comb of P = (xM, yM) affine (see COMB_W): comb[i][m − 1] = m·2^(w·i)·P for m = 1 .. COMB_K.
 * Each row is built in Jacobian coordinates and converted to affine with one field inversion
 * (Montgomery's simultaneous inversion: running products of the Z's, one inverse, then one
 * multiplication per point back down the row), so every verification addition has an affine
 * operand.
 */
function buildComb(comb: usize, xM: usize, yM: usize): void {
  const K = COMB_K;
  const base = ACC2;
  copy(base, xM);
  copy(base + 32, yM);
  copy(base + 64, ONE_P);
  const inv = reg(67), zi = reg(68), zi2 = reg(69), t = reg(74);
  for (let i = 0; i < COMB_ROWS; i++) {
    memory.copy(ROW + POINT, base, 96);
    for (let k = 2; k <= K; k++) pointAdd(ROW + <usize>k * POINT, ROW + <usize>(k - 1) * POINT, base);
    // No entry is the identity: m·2^(w·i) with 0 < m ≤ 2^(w−1), and n is a prime larger than 2^(w−1), so n ∤ m·2^(w·i).
    copy(ZPROD + 32, ROW + POINT + 64);
    for (let k = 2; k <= K; k++) fmul(ZPROD + <usize>k * 32, ZPROD + <usize>(k - 1) * 32, ROW + <usize>k * POINT + 64);
    invModP(inv, ZPROD + <usize>K * 32);
    const row = comb + <usize>i * <usize>K * AFFINE;
    for (let k = K; k >= 1; k--) {
      const pt = ROW + <usize>k * POINT;
      // zi = 1/Z_k = inv · (Z_1 ⋯ Z_{k−1}); then inv ← inv · Z_k = 1/(Z_1 ⋯ Z_{k−1}).
      if (k > 1) {
        fmul(zi, inv, ZPROD + <usize>(k - 1) * 32);
        fmul(inv, inv, pt + 64);
      } else copy(zi, inv);
      const dst = row + <usize>(k - 1) * AFFINE;
      fsqr(zi2, zi);
      fmul(dst, pt, zi2);
      fmul(t, zi2, zi);
      fmul(dst + 32, pt + 32, t);
    }
    // base ← 2^w·base for the next row.
    for (let d = 0; d < COMB_W; d++) pointDouble(base, base);
  }
}

/**
 * The signed digits of the scalar at k (< 2^256, little-endian limbs) into dst (COMB_ROWS i16):
 * each w-bit window plus the carry from the one below; above 2^(w−1) it becomes negative and
 * carries 1 upward. The top window holds bits 250..255 only, so the last carry is absorbed.
 */
function recode(dst: usize, k: usize): void {
  memory.copy(SCALAR, k, 32);
  store<u64>(SCALAR, 0, 32);
  const mask: u64 = (<u64>1 << <u64>COMB_W) - 1;
  let carry: i32 = 0;
  for (let i = 0; i < COMB_ROWS; i++) {
    const bit = i * COMB_W;
    // A u64 read at the window's 32-bit word holds at least 32 bits past the shift (w ≤ 32).
    let d = <i32>((load<u64>(SCALAR + (<usize>(bit >> 5) << 2)) >> <u64>(bit & 31)) & mask) + carry;
    carry = 0;
    if (d > COMB_K) {
      d -= 1 << COMB_W;
      carry = 1;
    }
    store<i16>(dst + (<usize>i << 1), <i16>d);
  }
}

/** The address of comb entry |d| in row i, with bit 0 set when d < 0 (entries are 64-byte aligned). */
@inline function combEntry(comb: usize, i: i32, d: i32): usize {
  const m = d < 0 ? -d : d;
  return (comb + (<usize>i * <usize>COMB_K + <usize>(m - 1)) * AFFINE) | (d < 0 ? 1 : 0);
}

/** ACC += Σ_i d_i·2^(w·i)·P over the comb: one mixed addition per non-zero digit. */
function addComb(comb: usize, scalar: usize): void {
  recode(DIGITS, scalar);
  for (let i = 0; i < COMB_ROWS; i++) {
    const d = <i32>load<i16>(DIGITS + (<usize>i << 1));
    if (d == 0) continue;
    const e = combEntry(comb, i, d);
    if ((e & 1) == 0) {
      pointAddAffine(ACC, ACC, e);
    } else {
      const src = e & ~(<usize>1);
      copy(NEG_ENTRY, src);
      fsub(NEG_ENTRY + 32, ZERO_P, src + 32);
      pointAddAffine(ACC, ACC, NEG_ENTRY);
    }
  }
}

function init(): void {
  if (ready) return;
  // FIPS 186-5 / SEC 2 §2.4.2 P-256 parameters.
  setHexConst(P, 0xffffffff00000001, 0x0000000000000000, 0x00000000ffffffff, 0xffffffffffffffff);
  setHexConst(N, 0xffffffff00000000, 0xffffffffffffffff, 0xbce6faada7179e84, 0xf3b9cac2fc632551);
  setHexConst(B, 0x5ac635d8aa3a93e7, 0xb3ebbd55769886bc, 0x651d06b0cc53b0f6, 0x3bce3c3e27d2604b);
  setHexConst(GX, 0x6b17d1f2e12c4247, 0xf8bce6e563a440f2, 0x77037d812deb33a0, 0xf4a13945d898c296);
  setHexConst(GY, 0x4fe342e2fe1a7f9b, 0x8ee7eb4a7c0f9e16, 0x2bce33576b315ece, 0xcbb6406837bf51f5);
  N0N = negInv32(limb(N, 0));
  r2(R2N, N);
  const one = reg(30);
  setZero(one);
  setLimb(one, 0, 1);
  copy(ONE_P, one); // field elements are in normal form (fmulP)
  montMul(ONE_NM, one, R2N, N, N0N);
  copy(B_M, B);
  const gx = reg(31), gy = reg(32);
  copy(gx, GX);
  copy(gy, GY);
  buildComb(GCOMB, gx, gy);
  ready = true;
}

/**
 * Reads Qx, Qy (big-endian) at `src`, checks the point (coordinates < p, on the curve; the identity has no
 * affine encoding), and leaves its Montgomery coordinates in reg(40), reg(41). 0 if invalid.
 */
function loadPublicKey(src: usize): bool {
  const x = reg(42), y = reg(43);
  fromBE(x, src);
  fromBE(y, src + 32);
  if (!lt(x, P) || !lt(y, P)) return false;
  const xm = reg(40), ym = reg(41), lhs = reg(44), rhs = reg(45), t = reg(46);
  copy(xm, x);
  copy(ym, y);
  // y² = x³ − 3x + b
  fsqr(lhs, ym);
  fsqr(t, xm);
  fmul(rhs, t, xm);
  fadd(t, xm, xm);
  fadd(t, t, xm);
  fsub(rhs, rhs, t);
  fadd(rhs, rhs, B_M);
  return eq(lhs, rhs);
}

// wNAF (width 5) of u2 for arbitrary keys: ≤ 257 signed odd digits in [−15, 15], and the table of
// odd multiples Q, 3Q, …, 15Q. About 43 additions instead of 60 for 4-bit windows (Hankerson,
// Menezes, Vanstone, "Guide to ECC", Alg. 3.35/3.36).
const NAF: usize = memory.data(260, 16);
const ODD: usize = memory.data(8 * 96, 16);
const NEG: usize = memory.data(96, 16);

/** ODD[j] = (2j + 1)·Q for j = 0..7, Q affine (xM, yM). */
function buildOdd(xM: usize, yM: usize): void {
  copy(ODD, xM);
  copy(ODD + 32, yM);
  copy(ODD + 64, ONE_P);
  pointDouble(ACC2, ODD);
  for (let j = 1; j < 8; j++) pointAdd(ODD + <usize>j * POINT, ODD + <usize>(j - 1) * POINT, ACC2);
}

export function p256_io(): usize { return IO; }
export function p256_key_slots(): i32 { return KEY_SLOTS; }

/** Validates Qx, Qy in IO and stores its window table in `slot`. 1 on success, 0 if invalid. */
export function p256_register_key(slot: i32): i32 {
  init();
  if (slot < 0 || slot >= KEY_SLOTS) return 0;
  if (!loadPublicKey(IO)) return 0;
  buildComb(KTABLES + <usize>slot * <usize>KEY_COMB_BYTES, reg(40), reg(41));
  return 1;
}

/**
 * One field operation on its own, for the differential test against BigInt arithmetic
 * (test/core/p256-field.test.ts), since the rare branches (a sum in [p, 2^256), a borrow, a
 * product's carry folding back twice) are too rare for random signatures to reach. Reads a at
 * IO + 0 and b at IO + 32 (big-endian, each < p) and writes the result big-endian at IO + 64.
 * op: 0 a + b, 1 a − b, 2 a·b, 3 a², 4 k·a with k = b mod 2^32, 5 a⁻¹ (0 for a = 0, which has
 * none); returns 0 for an unknown op.
 */
export function p256_field_op(op: i32): i32 {
  init();
  const a = reg(77), b = reg(78), o = reg(79);
  fromBE(a, IO);
  fromBE(b, IO + 32);
  if (op == 0) fadd(o, a, b);
  else if (op == 1) fsub(o, a, b);
  else if (op == 2) fmul(o, a, b);
  else if (op == 3) fsqr(o, a);
  else if (op == 4) fmulSmall(o, a, <u64>limb(b, 0));
  else if (op == 5) invModP(o, a);
  else return 0;
  toBE(IO + 64, o);
  return 1;
}

/** Checks the key in IO only (on curve, in range). */
export function p256_check_key(): i32 {
  init();
  return loadPublicKey(IO) ? 1 : 0;
}

/** x ← x/2 mod m for x < m (m odd: an odd x becomes (x + m)/2, the carry of x + m shifted in). */
@inline function halveMod(x: usize, m: usize): void {
  const top: u32 = (limb(x, 0) & 1) != 0 ? addRaw(x, x, m) : 0;
  shr1(x, top);
}

/** x ← x >> 1 over 256 bits, with `top` (0 or 1) as the new bit 255. */
@inline function shr1(x: usize, top: u32): void {
  for (let i = 0; i < LIMBS - 1; i++) setLimb(x, i, (limb(x, i) >>> 1) | (limb(x, i + 1) << 31));
  setLimb(x, LIMBS - 1, (limb(x, LIMBS - 1) >>> 1) | (top << 31));
}

@inline function isOne(x: usize): bool {
  if (limb(x, 0) != 1) return false;
  for (let i = 1; i < LIMBS; i++) if (limb(x, i) != 0) return false;
  return true;
}

/**
 * a⁻¹ mod m for a in [1, m − 1] and m an odd prime (used for n; invModP is its faster form for p),
 * normal form, by the binary extended
 * Euclidean algorithm for an odd modulus (Menezes, van Oorschot, Vanstone, Handbook of Applied Cryptography, Alg. 14.61;
 * Hankerson, Menezes, Vanstone, Guide to ECC, Alg. 2.22). About five times cheaper here than
 * Fermat's a^(n−2) (256 Montgomery squarings plus about 128 products). Variable-time, which is
 * fine: the values inverted are public (signature components, and the Z coordinates of points
 * made from public keys and signatures, or their products).
 */
function invModBinary(out: usize, a: usize, m: usize): void {
  const u = reg(70), v = reg(71), x1 = reg(72), x2 = reg(73);
  copy(u, a);
  copy(v, m);
  setZero(x1);
  setLimb(x1, 0, 1);
  setZero(x2);
  // Invariants: x1·a ≡ u and x2·a ≡ v (mod m); gcd(a, m) = 1 since m is prime and 0 < a < m.
  while (!isOne(u) && !isOne(v)) {
    while ((limb(u, 0) & 1) == 0) {
      shr1(u, 0);
      halveMod(x1, m);
    }
    while ((limb(v, 0) & 1) == 0) {
      shr1(v, 0);
      halveMod(x2, m);
    }
    if (!lt(u, v)) {
      subRaw(u, u, v);
      subMod(x1, x1, x2, m);
    } else {
      subRaw(v, v, u);
      subMod(x2, x2, x1, m);
    }
  }
  copy(out, isOne(u) ? x1 : x2);
}

// invModP's four values, 4 words each: u, v and their cofactors x1 (x1·a ≡ u), x2 (x2·a ≡ v).
const INV_U: usize = memory.data(32, 16);
const INV_V: usize = memory.data(32, 16);
const INV_X1: usize = memory.data(32, 16);
const INV_X2: usize = memory.data(32, 16);

/**
 * x ← x / 2^k mod p for x < p and 1 ≤ k ≤ 32, in one step: with t = x mod 2^k, x + t·p is a
 * multiple of 2^k because p ≡ −1 (mod 2^96), and t·p = t·2^256 − t·2^224 + t·2^192 + t·2^96 − t
 * takes no multiplication for t < 2^32 (each term lands inside one 64-bit word). The quotient
 * needs no reduction: x + t·p < (t + 1)·p ≤ 2^k·p, so it is below p.
 */
function divPow2P(x: usize, k: u64): void {
  const w0 = load<u64>(x, 0), w1 = load<u64>(x, 8), w2 = load<u64>(x, 16), w3 = load<u64>(x, 24);
  const t = w0 & ((<u64>1 << k) - 1);
  const tHi = t << 32;
  const s0 = w0 - t; // exact: t is w0's low k bits
  const s1 = w1 + tHi; // + t·2^96
  let c: u64 = s1 < tHi ? 1 : 0;
  const s2 = w2 + c;
  c = s2 < c ? 1 : 0;
  let s3 = w3 + t; // + t·2^192
  let c3: u64 = s3 < t ? 1 : 0;
  s3 += c;
  c3 |= s3 < c ? 1 : 0; // w3 + t + c < 2^65: one carry at most
  const b: u64 = s3 < tHi ? 1 : 0; // − t·2^224
  s3 -= tHi;
  const s4 = c3 + t - b; // + t·2^256; the whole sum is positive, so this word is too
  const r = 64 - k;
  store<u64>(x, (s0 >> k) | (s1 << r), 0);
  store<u64>(x, (s1 >> k) | (s2 << r), 8);
  store<u64>(x, (s2 >> k) | (s3 << r), 16);
  store<u64>(x, (s3 >> k) | (s4 << r), 24); // s4 >> k is 0: the quotient is below 2^256
}

/** a ← a − b over 256 bits (64-bit words); returns the borrow out. */
function sub64(a: usize, b: usize): u64 {
  let br: u64 = 0;
  for (let i: usize = 0; i < 32; i += 8) {
    const x = load<u64>(a + i), y = load<u64>(b + i);
    const d = x - y;
    const nb: u64 = (x < y ? 1 : 0) | (d < br ? 1 : 0);
    store<u64>(a + i, d - br);
    br = nb;
  }
  return br;
}

/** a ≥ b over 256 bits (64-bit words). */
function ge64(a: usize, b: usize): bool {
  for (let i = 24; i >= 0; i -= 8) {
    const x = load<u64>(a + <usize>i), y = load<u64>(b + <usize>i);
    if (x != y) return x > y;
  }
  return true;
}

/** a ← a − b mod p for a, b < p: the difference, plus p after a borrow. */
function subModP64(a: usize, b: usize): void {
  if (sub64(a, b) == 0) return;
  let w = load<u64>(a, 0);
  let s = w + P64_0;
  let c: u64 = s < w ? 1 : 0;
  store<u64>(a, s, 0);
  w = load<u64>(a, 8);
  s = w + P64_1 + c;
  c = s < w || (c == 1 && s == w) ? 1 : 0;
  store<u64>(a, s, 8);
  w = load<u64>(a, 16);
  s = w + c;
  c = s < w ? 1 : 0;
  store<u64>(a, s, 16);
  store<u64>(a, load<u64>(a, 24) + P64_3 + c, 24); // the carry out of 2^256 cancels the borrow
}

/**
 * out = −y mod p when neg = 1, y when neg = 0, for 0 < y < p, without a branch: digit signs are
 * random, and a branch on them mispredicts half the time.
 */
function condNegP(out: usize, y: usize, neg: u64): void {
  const y0 = load<u64>(y, 0), y1 = load<u64>(y, 8), y2 = load<u64>(y, 16), y3 = load<u64>(y, 24);
  // p − y: no borrow out, since y < p.
  const d0 = P64_0 - y0;
  let br: u64 = <u64>(P64_0 < y0);
  let t = P64_1 - y1;
  let n: u64 = <u64>(P64_1 < y1);
  const d1 = t - br;
  br = n | <u64>(t < br);
  t = 0 - y2;
  n = <u64>(y2 != 0);
  const d2 = t - br;
  br = n | <u64>(t < br);
  const d3 = P64_3 - y3 - br;
  const m = <u64>0 - neg;
  store<u64>(out, (d0 & m) | (y0 & ~m), 0);
  store<u64>(out, (d1 & m) | (y1 & ~m), 8);
  store<u64>(out, (d2 & m) | (y2 & ~m), 16);
  store<u64>(out, (d3 & m) | (y3 & ~m), 24);
}

/** Removes the factors of 2 of u (odd afterwards; u ≠ 0), dividing its cofactor x by the same power mod p. */
function stripTwos(u: usize, x: usize): void {
  let u0 = load<u64>(u, 0);
  while ((u0 & 1) == 0) {
    const k: u64 = u0 == 0 ? 32 : min<u64>(ctz<u64>(u0), 32);
    const r: u64 = 64 - k;
    const u1 = load<u64>(u, 8), u2 = load<u64>(u, 16), u3 = load<u64>(u, 24);
    u0 = (u0 >> k) | (u1 << r);
    store<u64>(u, u0, 0);
    store<u64>(u, (u1 >> k) | (u2 << r), 8);
    store<u64>(u, (u2 >> k) | (u3 << r), 16);
    store<u64>(u, u3 >> k, 24);
    divPow2P(x, k);
  }
}

@inline function isOne64(u: usize): bool {
  return load<u64>(u, 0) == 1 && (load<u64>(u, 8) | load<u64>(u, 16) | load<u64>(u, 24)) == 0;
}

/**
 * out = a⁻¹ mod p for 0 < a < p: invModBinary's algorithm (HAC Alg. 14.61) specialised for p, on
 * 64-bit words, removing up to 32 factors of 2 per step (divPow2P) instead of one. Measured here:
 * 5.5 µs against 10.6 µs for invModBinary at p, which matters in the affine accumulation (one
 * inversion per round; see ACC_N). Variable-time; the values are public.
 */
function invModP(out: usize, a: usize): void {
  // 0 has no inverse, and the loop below would never end on it: 0 out, for the caller's check.
  if (isZero(a)) {
    setZero(out);
    return;
  }
  memory.copy(INV_U, a, 32);
  store<u64>(INV_V, P64_0, 0);
  store<u64>(INV_V, P64_1, 8);
  store<u64>(INV_V, 0, 16);
  store<u64>(INV_V, P64_3, 24);
  memory.fill(INV_X1, 0, 32);
  store<u64>(INV_X1, 1, 0);
  memory.fill(INV_X2, 0, 32);
  // Invariants: x1·a ≡ u and x2·a ≡ v (mod p); gcd(a, p) = 1 since p is prime and 0 < a < p.
  while (!isOne64(INV_U) && !isOne64(INV_V)) {
    stripTwos(INV_U, INV_X1);
    stripTwos(INV_V, INV_X2);
    if (ge64(INV_U, INV_V)) {
      sub64(INV_U, INV_V);
      subModP64(INV_X1, INV_X2);
    } else {
      sub64(INV_V, INV_U);
      subModP64(INV_X2, INV_X1);
    }
  }
  memory.copy(out, isOne64(INV_U) ? INV_X1 : INV_X2, 32);
}

/**
 * Verifies (r, s) over digest e for the key in IO (slot = −1) or a registered slot.
 * IO: Qx @0, Qy @32, r @64, s @96, e @128, all big-endian. Returns 1 if valid.
 */
export function p256_verify(slot: i32): i32 {
  init();
  const r = reg(50), s = reg(51), e = reg(52), w = reg(54);
  fromBE(r, IO + 64);
  fromBE(s, IO + 96);
  fromBE(e, IO + 128);
  // SEC 1 §4.1.4 step 1: r, s in [1, n − 1].
  if (!inRangeN(r) || !inRangeN(s)) return 0;
  // w = s⁻¹ in Montgomery form (s⁻¹·R), so one Montgomery product with e or r gives e·s⁻¹, r·s⁻¹.
  invModBinary(w, s, N);
  montMul(w, w, R2N, N, N0N);
  return verifyWithInverse(slot, IO, r, e, w);
}

@inline function inRangeN(v: usize): bool { return !isZero(v) && lt(v, N); }

// Batches: up to BATCH_MAX records of REC bytes: slot (i32, little-endian; −1 = the key in the
// record) @0, Qx @32, Qy @64, r @96, s @128, e @160 (big-endian). One verdict byte per record.
const BATCH_MAX: i32 = 128;
const REC: usize = 192;
const BATCH: usize = memory.data(BATCH_MAX * <i32>REC, 16);
const BATCH_OUT: usize = memory.data(BATCH_MAX, 16);
// Values to invert mod n (Montgomery form), their running products and their inverses: s for
// every record, then r for every record in a deferred batch.
const SM: usize = memory.data(2 * BATCH_MAX * 32, 16);
const PREFIX: usize = memory.data(2 * BATCH_MAX * 32, 16);
const WINV: usize = memory.data(2 * BATCH_MAX * 32, 16);
// Deferred one-off keys (p256_verify_batch_deferred): DEFER_REC bytes per record (at the
// record's index): T = Q + (e·r⁻¹)·G affine (X @0, Y @32), u2 = r·s⁻¹ mod n @64, r + n @96 (all
// big-endian), and @128 a flag: 1 if r + n < p (a second x to accept).
const DEFER_REC: usize = 160;
const DEFER: usize = memory.data(BATCH_MAX * <i32>DEFER_REC, 16);

export function p256_batch_io(): usize { return BATCH; }
export function p256_batch_out(): usize { return BATCH_OUT; }
export function p256_batch_max(): i32 { return BATCH_MAX; }
export function p256_defer_io(): usize { return DEFER; }
/** Sets the smallest batch that uses the affine accumulation (tests run both paths); returns the old value. */
/** The smallest batch that uses the affine accumulation (the host finishes deferred batches in the core from there). */
export function p256_affine_min(): i32 { return affineMin; }
export function p256_set_affine_min(v: i32): i32 {
  const old = affineMin;
  affineMin = v < 1 ? 1 : v;
  return old;
}

/**
 * WINV[j] = SM[j]⁻¹ (mod n, Montgomery form in and out) for j < count, by Montgomery's
 * simultaneous inversion: running products, one binary inversion, then two products per value
 * back down, in place of `count` inversions. Every SM[j] must be non-zero mod n.
 */
function invertBatchN(count: i32): void {
  const w = reg(54), t = reg(75), one = reg(76);
  copy(PREFIX, SM);
  for (let j = 1; j < count; j++) montMul(PREFIX + <usize>j * 32, PREFIX + <usize>(j - 1) * 32, SM + <usize>j * 32, N, N0N);
  // The product out of Montgomery form, binary inversion, back in: w = (Π SM)⁻¹·R.
  setZero(one);
  setLimb(one, 0, 1);
  montMul(t, PREFIX + <usize>(count - 1) * 32, one, N, N0N);
  invModBinary(w, t, N);
  montMul(w, w, R2N, N, N0N);
  for (let j = count - 1; j >= 1; j--) {
    montMul(WINV + <usize>j * 32, w, PREFIX + <usize>(j - 1) * 32, N, N0N); // SM[j]⁻¹·R
    montMul(w, w, SM + <usize>j * 32, N, N0N); // (SM[0] ⋯ SM[j−1])⁻¹·R
  }
  copy(WINV, w);
}

/**
 * Loads r and s of every record, refuses those out of range (verdict 0; their factors are 1 so
 * the running products stay invertible, n being prime), and inverts s (and r, with `withR`) for
 * the whole batch at once.
 */
function prepareBatch(n: i32, withR: bool): void {
  const r = reg(50), s = reg(51);
  for (let j = 0; j < n; j++) {
    const rec = BATCH + <usize>j * REC;
    fromBE(r, rec + 96);
    fromBE(s, rec + 128);
    const ok = inRangeN(r) && inRangeN(s);
    store<u8>(BATCH_OUT + <usize>j, ok ? 1 : 0);
    if (ok) montMul(SM + <usize>j * 32, s, R2N, N, N0N);
    else copy(SM + <usize>j * 32, ONE_NM);
    if (withR) {
      if (ok) montMul(SM + <usize>(n + j) * 32, r, R2N, N, N0N);
      else copy(SM + <usize>(n + j) * 32, ONE_NM);
    }
  }
  invertBatchN(withR ? 2 * n : n);
}

// Simultaneous affine accumulation, for every record whose sum comes from combs: registered keys
// (u1·G + u2·Q) and the T = (e·r⁻¹)·G + Q of deferred one-off keys. Record j has two
// accumulators: 2j for the G-comb part and 2j + 1 for the key part (u2 through the key's comb, or
// Q itself for a one-off key). In round i, one per digit (see COMB_W), every accumulator whose
// digit i is non-zero adds its comb entry (Y negated for a negative digit), and all these
// additions are affine, the chord rule
// x3 = λ² − x1 − x2, y3 = λ·(x1 − x3) − y1 with λ = (y2 − y1)/(x2 − x1) (SEC 1 §2.2.1), their
// denominators inverted together by Montgomery's trick: 5M + 1S per addition plus a share of one
// field inversion per round, where a mixed Jacobian addition takes 7M + 4S. A last round adds
// the two accumulators, which leaves each record's point affine, with no inversion left to do.
// Within one comb the chord exists for every scalar k < n: a partial sum is s·P with
// |s| < 2^(w·i) (the digits below i) and the entry ±m·2^(w·i)·P with 1 ≤ m ≤ 2^(w−1), and neither
// their sum nor their difference is a multiple of n. The last round can meet equal x (a doubling,
// or a sum O); such a record falls back to the Jacobian formulas, which handle both (any equal x
// falls back the same way).
const ACC_N: i32 = 2 * BATCH_MAX;
const AFF: usize = memory.data(ACC_N * <i32>AFFINE, 16); // accumulator x @0, y @32 (normal form)
const AFF_SET: usize = memory.data(ACC_N, 16); // 1: the accumulator holds a point; 0: O
const AFF_D: usize = memory.data(ACC_N * 26 * 2, 16); // its scalar's signed digits (recode), COMB_ROWS i16
const AFF_COMB: usize = memory.data(ACC_N * 4, 16); // its comb's address; 0: no comb rounds
const REC_MODE: usize = memory.data(BATCH_MAX, 16); // 0: not accumulated; 1: accumulated; 2: fell back
// One round's additions: the accumulator, the affine point it adds, x2 − x1, running products.
const ADD_ACC: usize = memory.data(ACC_N * 4, 16);
const ADD_SRC: usize = memory.data(ACC_N * 4, 16);
const ADD_DEN: usize = memory.data(ACC_N * 32, 16);
const ADD_PFX: usize = memory.data(ACC_N * 32, 16);
// Below this many records a batch keeps the Jacobian formulas: each round's inversion (invModP,
// about 5.5 µs here) must be shared by enough additions to pay for itself. Measured per
// registered-key check, affine against Jacobian (one key): 49.9 / 41.6 µs in batches of 8 and
// 37.3 / 39.4 at 16 (with 8-bit windows), then with signed 10-bit windows 29.3 / 33.3 at 16,
// 24.0 / 31.5 at 64, 21.0 / 32.2 at 128. Settable for tests and benchmarks.
let affineMin: i32 = 16;
const MODE_NONE: u8 = 0;
const MODE_AFFINE: u8 = 1;
const MODE_FALLBACK: u8 = 2;

// The round's inverses.
const ADD_INV: usize = memory.data(ACC_N * 32, 16);

/** ADD_INV[k] = 1 / ADD_DEN[k] mod p for k < m, every one non-zero: Montgomery's trick, one invModP. */
function invertDens(m: i32): void {
  const inv = reg(92);
  copy(ADD_PFX, ADD_DEN);
  for (let k = 1; k < m; k++) fmul(ADD_PFX + <usize>k * 32, ADD_PFX + <usize>(k - 1) * 32, ADD_DEN + <usize>k * 32);
  invModP(inv, ADD_PFX + <usize>(m - 1) * 32);
  for (let k = m - 1; k >= 1; k--) {
    fmul(ADD_INV + <usize>k * 32, inv, ADD_PFX + <usize>(k - 1) * 32);
    fmul(inv, inv, ADD_DEN + <usize>k * 32);
  }
  copy(ADD_INV, inv);
}

/**
 * The m additions listed in ADD_ACC / ADD_SRC (accumulator += affine point) with one field
 * inversion for all of them. An accumulator at O takes the point as it is. Equal x-coordinates
 * (the sum is a doubling or O: no chord) send the record to the Jacobian fallback.
 */
function addRound(m: i32): void {
  let c = 0;
  for (let k = 0; k < m; k++) {
    const a = load<i32>(ADD_ACC + (<usize>k << 2));
    const raw = <usize>load<u32>(ADD_SRC + (<usize>k << 2));
    const src = raw & ~(<usize>1); // bit 0: add the point with Y negated (combEntry)
    const acc = AFF + <usize>a * AFFINE;
    if (load<u8>(AFF_SET + <usize>a) == 0) {
      copy(acc, src);
      if ((raw & 1) != 0) fsub(acc + 32, ZERO_P, src + 32);
      else copy(acc + 32, src + 32);
      store<u8>(AFF_SET + <usize>a, 1);
      continue;
    }
    const den = ADD_DEN + <usize>c * 32;
    fsub(den, src, acc);
    if (isZero(den)) {
      store<u8>(REC_MODE + <usize>(a >> 1), MODE_FALLBACK);
      continue;
    }
    // Compacted in place: entry c ≤ k is rewritten after entry k was read.
    store<i32>(ADD_ACC + (<usize>c << 2), a);
    store<u32>(ADD_SRC + (<usize>c << 2), <u32>raw);
    c++;
  }
  if (c == 0) return;
  invertDens(c);
  const u = reg(88), lam = reg(89), t = reg(90);
  for (let k = 0; k < c; k++) {
    const acc = AFF + <usize>load<i32>(ADD_ACC + (<usize>k << 2)) * AFFINE;
    const raw = <usize>load<u32>(ADD_SRC + (<usize>k << 2));
    const src = raw & ~(<usize>1);
    condNegP(t, src + 32, <u64>(raw & 1)); // y2, negated for a negative digit
    fsub(t, t, acc + 32);
    fmul(lam, t, ADD_INV + <usize>k * 32); // λ = (y2 − y1)/(x2 − x1)
    fsqr(t, lam);
    fsub(t, t, acc);
    fsub(t, t, src); // x3 = λ² − x1 − x2
    fsub(u, acc, t);
    copy(acc, t);
    fmul(u, lam, u);
    fsub(acc + 32, u, acc + 32); // y3 = λ·(x1 − x3) − y1
  }
}

/** Sets accumulator a to O, to be summed over `comb` with the scalar at k (normal form, < n). */
function accumulate(a: i32, comb: usize, k: usize): void {
  recode(AFF_D + <usize>a * 52, k);
  store<u32>(AFF_COMB + (<usize>a << 2), <u32>comb);
  store<u8>(AFF_SET + <usize>a, 0);
}

/** The comb rounds and the last round over the n records of the batch (see ACC_N). */
function accumulateAll(n: i32): void {
  for (let i = 0; i < COMB_ROWS; i++) {
    let m = 0;
    for (let j = 0; j < n; j++) {
      if (load<u8>(REC_MODE + <usize>j) != MODE_AFFINE) continue;
      for (let a = 2 * j; a < 2 * j + 2; a++) {
        const comb = <usize>load<u32>(AFF_COMB + (<usize>a << 2));
        if (comb == 0) continue;
        const d = <i32>load<i16>(AFF_D + <usize>a * 52 + (<usize>i << 1));
        if (d == 0) continue;
        store<i32>(ADD_ACC + (<usize>m << 2), a);
        store<u32>(ADD_SRC + (<usize>m << 2), <u32>combEntry(comb, i, d));
        m++;
      }
    }
    if (m > 0) addRound(m);
  }
  let m = 0;
  for (let j = 0; j < n; j++) {
    if (load<u8>(REC_MODE + <usize>j) != MODE_AFFINE || load<u8>(AFF_SET + <usize>(2 * j + 1)) == 0) continue;
    store<i32>(ADD_ACC + (<usize>m << 2), 2 * j);
    store<u32>(ADD_SRC + (<usize>m << 2), <u32>(AFF + <usize>(2 * j + 1) * AFFINE));
    m++;
  }
  if (m > 0) addRound(m);
}

/**
 * Queues record j (key in a registered slot) for accumulation: u1 = e·s⁻¹ over G's comb and
 * u2 = r·s⁻¹ over the key's. r and e are loaded (e reduced mod n, SEC 1 §4.1.4 steps 3–4).
 */
function queueRegistered(j: i32, slot: i32, r: usize, e: usize): void {
  const u = reg(91);
  if (!lt(e, N)) subRaw(e, e, N);
  montMul(u, e, WINV + <usize>j * 32, N, N0N);
  accumulate(2 * j, GCOMB, u);
  montMul(u, r, WINV + <usize>j * 32, N, N0N);
  accumulate(2 * j + 1, KTABLES + <usize>slot * <usize>KEY_COMB_BYTES, u);
  store<u8>(REC_MODE + <usize>j, MODE_AFFINE);
}

/**
 * The verdict of an accumulated registered-key record j: x(R) ≡ r (mod n) for R = u1·G + u2·Q
 * affine, that is x = r or x = r + n when r + n < p (SEC 1 §4.1.4 steps 5–7); R = O fails.
 */
function registeredVerdict(j: i32, r: usize): i32 {
  const a = 2 * j;
  if (load<u8>(AFF_SET + <usize>a) == 0) return 0;
  const x = AFF + <usize>a * AFFINE;
  if (eq(x, r)) return 1;
  const rn = reg(61);
  return addRaw(rn, r, N) == 0 && lt(rn, P) && eq(x, rn) ? 1 : 0;
}

/**
 * Verifies n records of BATCH with one modular inversion of s for all of them (prepareBatch).
 * Registered keys go through the simultaneous affine accumulation (records falling back to
 * verifyWithInverse), one-off keys through verifyWithInverse; the verdicts are those of n
 * single p256_verify calls.
 */
export function p256_verify_batch(n: i32): void {
  init();
  if (n < 1 || n > BATCH_MAX) return;
  prepareBatch(n, false);
  const r = reg(50), e = reg(52);
  const affine = n >= affineMin;
  for (let j = 0; j < n; j++) {
    store<u8>(REC_MODE + <usize>j, MODE_NONE);
    if (load<u8>(BATCH_OUT + <usize>j) == 0) continue;
    const rec = BATCH + <usize>j * REC;
    fromBE(r, rec + 96);
    fromBE(e, rec + 160);
    const slot = load<i32>(rec);
    if (affine && slot >= 0 && slot < KEY_SLOTS) queueRegistered(j, slot, r, e);
    else store<u8>(BATCH_OUT + <usize>j, <u8>verifyWithInverse(slot, rec + 32, r, e, WINV + <usize>j * 32));
  }
  if (affine) accumulateAll(n);
  for (let j = 0; j < n; j++) {
    const mode = load<u8>(REC_MODE + <usize>j);
    if (mode == MODE_NONE) continue;
    const rec = BATCH + <usize>j * REC;
    fromBE(r, rec + 96);
    fromBE(e, rec + 160);
    store<u8>(BATCH_OUT + <usize>j, <u8>(mode == MODE_AFFINE ? registeredVerdict(j, r) : verifyWithInverse(load<i32>(rec), rec + 32, r, e, WINV + <usize>j * 32)));
  }
}

/**
 * As p256_verify_batch, except that records with a one-off key (slot −1) end with verdict 2 and
 * their last step left to the host: u1·G + u2·Q = u2·(Q + (u1/u2)·G) = u2·T, where u1/u2 = e/r
 * (mod n) since u1 = e·s⁻¹ and u2 = r·s⁻¹. So x(u1·G + u2·Q) is the x-coordinate of one
 * variable-base multiplication u2·T, which is exactly what an ECDH primitive computes (the
 * "shared secret" of private scalar u2 and public point T); the host accepts when that x equals
 * r, or r + n when the flag says r + n < p (SEC 1 §4.1.4 step 7 with x mod n). Here T comes out
 * of the affine accumulation ((e·r⁻¹)·G from G's comb, plus Q), already affine, and r⁻¹ from the
 * batch inversion of s and r together. T = O means u1·G + u2·Q = O, which step 5 refuses
 * (verdict 0); otherwise u2 ≠ 0 and the group has prime order, so u2·T ≠ O. Registered keys are
 * verified here in full, as in p256_verify_batch.
 */
export function p256_verify_batch_deferred(n: i32): void {
  init();
  if (n < 1 || n > BATCH_MAX) return;
  prepareBatch(n, true);
  // Registers apart from those of verifyWithInverse, the point formulas and the inversions.
  const r = reg(50), e = reg(52), c = reg(80);
  const affine = n >= affineMin;
  for (let j = 0; j < n; j++) {
    store<u8>(REC_MODE + <usize>j, MODE_NONE);
    if (load<u8>(BATCH_OUT + <usize>j) == 0) continue;
    const rec = BATCH + <usize>j * REC;
    fromBE(r, rec + 96);
    fromBE(e, rec + 160);
    const slot = load<i32>(rec);
    if (slot >= 0) {
      if (slot >= KEY_SLOTS) store<u8>(BATCH_OUT + <usize>j, 0);
      else if (affine) queueRegistered(j, slot, r, e);
      else store<u8>(REC_MODE + <usize>j, MODE_FALLBACK);
      continue;
    }
    if (!loadPublicKey(rec + 32)) {
      store<u8>(BATCH_OUT + <usize>j, 0);
      continue;
    }
    if (!affine) {
      store<u8>(REC_MODE + <usize>j, MODE_FALLBACK);
      continue;
    }
    if (!lt(e, N)) subRaw(e, e, N);
    montMul(c, e, WINV + <usize>(n + j) * 32, N, N0N); // e·r⁻¹ (normal form)
    accumulate(2 * j, GCOMB, c);
    const q = AFF + <usize>(2 * j + 1) * AFFINE;
    copy(q, reg(40));
    copy(q + 32, reg(41));
    store<u8>(AFF_SET + <usize>(2 * j + 1), 1);
    store<u32>(AFF_COMB + (<usize>(2 * j + 1) << 2), 0);
    store<u8>(REC_MODE + <usize>j, MODE_AFFINE);
  }
  if (affine) accumulateAll(n);
  for (let j = 0; j < n; j++) {
    const mode = load<u8>(REC_MODE + <usize>j);
    if (mode == MODE_NONE) continue;
    const rec = BATCH + <usize>j * REC;
    fromBE(r, rec + 96);
    fromBE(e, rec + 160);
    const slot = load<i32>(rec);
    if (slot >= 0) {
      store<u8>(BATCH_OUT + <usize>j, <u8>(mode == MODE_AFFINE ? registeredVerdict(j, r) : verifyWithInverse(slot, rec + 32, r, e, WINV + <usize>j * 32)));
      continue;
    }
    const t = AFF + <usize>(2 * j) * AFFINE;
    if (mode == MODE_FALLBACK && !deferredJacobian(j, n, e, t)) {
      store<u8>(BATCH_OUT + <usize>j, 0);
      continue;
    }
    if (mode == MODE_AFFINE && load<u8>(AFF_SET + <usize>(2 * j)) == 0) {
      store<u8>(BATCH_OUT + <usize>j, 0); // T = O
      continue;
    }
    writeDeferred(j, r, t);
    store<u8>(BATCH_OUT + <usize>j, 2);
  }
}

/**
 * T = (e·r⁻¹)·G + Q for one-off record j through the Jacobian formulas, which handle the doubling
 * and O cases the chord rule cannot, made affine at `out` with its own inversion. False if T = O.
 */
function deferredJacobian(j: i32, n: i32, e: usize, out: usize): bool {
  const rec = BATCH + <usize>j * REC;
  const c = reg(80), zi = reg(82), zi2 = reg(84);
  loadPublicKey(rec + 32); // checked when the record was queued
  if (!lt(e, N)) subRaw(e, e, N);
  montMul(c, e, WINV + <usize>(n + j) * 32, N, N0N);
  pointSetInfinity(ACC);
  addComb(GCOMB, c);
  pointAddAffine(ACC, ACC, reg(40)); // + Q (affine: reg(40), reg(41))
  if (isInfinity(ACC)) return false;
  invModP(zi, ACC + 64);
  fsqr(zi2, zi);
  fmul(out, ACC, zi2);
  fmul(zi2, zi2, zi);
  fmul(out + 32, ACC + 32, zi2);
  return true;
}

/** DEFER record j (see DEFER_REC) for T affine at t: x(T), y(T), u2 = r·s⁻¹, r + n and its flag. */
function writeDeferred(j: i32, r: usize, t: usize): void {
  const out = DEFER + <usize>j * DEFER_REC;
  const u2 = reg(81), rn = reg(85);
  toBE(out, t);
  toBE(out + 32, t + 32);
  montMul(u2, r, WINV + <usize>j * 32, N, N0N); // r·s⁻¹
  toBE(out + 64, u2);
  const alt = addRaw(rn, r, N) == 0 && lt(rn, P);
  if (alt) toBE(out + 96, rn);
  else memory.fill(out + 96, 0, 32);
  store<u8>(out + 128, alt ? 1 : 0);
}

/** dst (32 bytes, big-endian) ← the 256-bit value at src. */
function toBE(dst: usize, src: usize): void {
  for (let i = 0; i < LIMBS; i++) store<u32>(dst + (<usize>i << 2), bswap<u32>(limb(src, 7 - i)));
}

/**
 * The point part of SEC 1 §4.1.4 for one signature, given r and e (normal form), w = s⁻¹·R mod n,
 * and the key: a registered slot, or (slot −1) the big-endian coordinates at `q`.
 */
function verifyWithInverse(slot: i32, q: usize, r: usize, e: usize, w: usize): i32 {
  const u1 = reg(55), u2 = reg(56);
  let comb: usize = 0;
  if (slot < 0) {
    if (!loadPublicKey(q)) return 0;
    buildOdd(reg(40), reg(41));
  } else {
    if (slot >= KEY_SLOTS) return 0;
    comb = KTABLES + <usize>slot * <usize>KEY_COMB_BYTES;
  }
  // e is the leftmost 256 bits of the hash, reduced mod n (§4.1.4 steps 3–4).
  if (!lt(e, N)) subRaw(e, e, N);
  montMul(u1, e, w, N, N0N); // e·s⁻¹ (normal form: one Montgomery operand)
  montMul(u2, r, w, N, N0N); // r·s⁻¹
  pointSetInfinity(ACC);
  if (comb == 0) {
    // Arbitrary key: width-5 NAF of u2, most significant digit first.
    const len = wnaf5(NAF, u2);
    const zero = reg(62);
    setZero(zero);
    for (let i = len - 1; i >= 0; i--) {
      pointDouble(ACC, ACC);
      const d = <i32>load<i8>(NAF + <usize>i);
      if (d > 0) {
        pointAdd(ACC, ACC, ODD + <usize>((d - 1) >> 1) * POINT);
      } else if (d < 0) {
        const src = ODD + <usize>((-d - 1) >> 1) * POINT;
        copy(NEG, src);
        fsub(NEG + 32, zero, src + 32);
        copy(NEG + 64, src + 64);
        pointAdd(ACC, ACC, NEG);
      }
    }
  } else {
    addComb(comb, u2);
  }
  // u1·G from G's comb: one addition per non-zero digit, no doublings.
  addComb(GCOMB, u1);
  return xMatchesR(ACC, r) ? 1 : 0;
}

/**
 * SEC 1 §4.1.4 steps 5–7 for a Jacobian point R: R ≠ O and x(R) ≡ r (mod n). Without the
 * inversion: X/Z² ≡ r (mod n) ⇔ X ≡ r'·Z² (mod p) for r' ∈ {r, r + n} with r' < p.
 */
function xMatchesR(R: usize, r: usize): bool {
  if (isInfinity(R)) return false;
  const z2 = reg(57), t = reg(59), rn = reg(61);
  fsqr(z2, R + 64);
  fmul(t, r, z2);
  if (eq(t, R)) return true;
  if (addRaw(rn, r, N) != 0 || !lt(rn, P)) return false;
  fmul(t, rn, z2);
  return eq(t, R);
}

// Finishing deferred records in the core, where no runtime multiplication is installed (browsers,
// CAIRN_WASM_ONLY=1): x(u2·T) by a width-5 NAF of u2, as verifyWithInverse does for u2·Q, but
// over an affine table of odd multiples T, 3T, …, 15T built for all the batch's deferred records
// together (one doubling round and seven addition rounds, each with one shared field inversion),
// so each of the NAF's additions is a mixed one (7M + 4S) instead of a general one (11M + 5S).
// T came affine out of the accumulation, and (e·r⁻¹)·G was summed there, not by a second comb pass.
const ODDA: usize = memory.data(BATCH_MAX * 8 * <i32>AFFINE, 16); // record j: (2i + 1)·T at i·64
const TWO_T: usize = memory.data(BATCH_MAX * <i32>AFFINE, 16);
const FIN_LIST: usize = memory.data(BATCH_MAX * 4, 16);
/**
 * Turns every record with verdict 2 after p256_verify_batch_deferred(n) into its final verdict
 * (0 or 1), the check the host would otherwise finish with ECDH: x(u2·T) ≡ r (mod n)
 * (xMatchesR). Call it right after
 * p256_verify_batch_deferred(n) on the same batch. The chords below always exist: T ≠ O (the
 * deferred step refused T = O) in a group of prime order n > 15, so 2T ≠ O and
 * (2i + 1)·T ≠ ±2T for i < 8.
 */
export function p256_finish_deferred(n: i32): void {
  init();
  if (n < 1 || n > BATCH_MAX) return;
  let m = 0;
  for (let j = 0; j < n; j++) {
    if (load<u8>(BATCH_OUT + <usize>j) != 2) continue;
    store<i32>(FIN_LIST + (<usize>m << 2), j);
    const t = ODDA + <usize>j * 8 * AFFINE;
    const d = DEFER + <usize>j * DEFER_REC;
    fromBE(t, d);
    fromBE(t + 32, d + 32);
    m++;
  }
  if (m == 0) return;
  const t = reg(93), lam = reg(94), x3 = reg(95);
  // 2T: λ = (3x² − 3)/(2y) (a = −3), x3 = λ² − 2x, y3 = λ·(x − x3) − y.
  for (let k = 0; k < m; k++) {
    const p = ODDA + <usize>load<i32>(FIN_LIST + (<usize>k << 2)) * 8 * AFFINE;
    fadd(ADD_DEN + <usize>k * 32, p + 32, p + 32);
  }
  invertDens(m);
  for (let k = 0; k < m; k++) {
    const j = load<i32>(FIN_LIST + (<usize>k << 2));
    const p = ODDA + <usize>j * 8 * AFFINE, q = TWO_T + <usize>j * AFFINE;
    fsqr(t, p);
    fsub(t, t, ONE_P);
    fmulSmall(t, t, 3);
    fmul(lam, t, ADD_INV + <usize>k * 32);
    fsqr(x3, lam);
    fsub(x3, x3, p);
    fsub(x3, x3, p);
    fsub(t, p, x3);
    fmul(t, lam, t);
    fsub(q + 32, t, p + 32);
    copy(q, x3);
  }
  // (2i + 1)·T = (2i − 1)·T + 2T, by the chord rule.
  for (let i = 1; i < 8; i++) {
    for (let k = 0; k < m; k++) {
      const j = load<i32>(FIN_LIST + (<usize>k << 2));
      fsub(ADD_DEN + <usize>k * 32, TWO_T + <usize>j * AFFINE, ODDA + (<usize>j * 8 + <usize>(i - 1)) * AFFINE);
    }
    invertDens(m);
    for (let k = 0; k < m; k++) {
      const j = load<i32>(FIN_LIST + (<usize>k << 2));
      const p = ODDA + (<usize>j * 8 + <usize>(i - 1)) * AFFINE, q = TWO_T + <usize>j * AFFINE, o = p + AFFINE;
      fsub(t, q + 32, p + 32);
      fmul(lam, t, ADD_INV + <usize>k * 32);
      fsqr(x3, lam);
      fsub(x3, x3, p);
      fsub(x3, x3, q);
      fsub(t, p, x3);
      fmul(t, lam, t);
      fsub(o + 32, t, p + 32);
      copy(o, x3);
    }
  }
  const u2 = reg(81), r = reg(50);
  for (let k = 0; k < m; k++) {
    const j = load<i32>(FIN_LIST + (<usize>k << 2));
    const d = DEFER + <usize>j * DEFER_REC;
    const table = ODDA + <usize>j * 8 * AFFINE;
    fromBE(u2, d + 64);
    const len = wnaf5(NAF, u2);
    pointSetInfinity(ACC);
    for (let i = len - 1; i >= 0; i--) {
      pointDouble(ACC, ACC);
      const w = <i32>load<i8>(NAF + <usize>i);
      if (w > 0) pointAddAffine(ACC, ACC, table + <usize>((w - 1) >> 1) * AFFINE);
      else if (w < 0) {
        const src = table + <usize>((-w - 1) >> 1) * AFFINE;
        copy(NEG_ENTRY, src);
        fsub(NEG_ENTRY + 32, ZERO_P, src + 32);
        pointAddAffine(ACC, ACC, NEG_ENTRY);
      }
    }
    fromBE(r, BATCH + <usize>j * REC + 96);
    store<u8>(BATCH_OUT + <usize>j, xMatchesR(ACC, r) ? 1 : 0);
  }
}
