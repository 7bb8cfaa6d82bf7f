// Ed25519 signature verification (RFC 8032 §5.1.7) with batch verification, in WebAssembly.
//
// Verification rule (documented in README and host/core/signatures.ts): strict encodings and the
// COFACTORED equation.
//   - S must be canonical (S < L, §5.1.7 step 1 / §8.4): high-S malleated signatures fail.
//   - A and R must be canonical point encodings (y < p; x = 0 with the sign bit set is refused;
//     §5.1.3). Wycheproof's "InvalidEncoding" vectors require this for R.
//   - Public keys must not be of small order (8·A = O, which includes the identity): with such a
//     key one signature would verify for every message.
//   - The check is [8][S]B = [8]R + [8][k]A, k = SHA-512(R ‖ A ‖ M) mod L (§5.1.7 step 3 allows
//     either form; the cofactored one is the only one a random-linear-combination batch can agree
//     with). Single and batch verification therefore give the same verdict for every input (the
//     ZIP-215 argument); they differ from a cofactorless verifier such as OpenSSL only on
//     signatures built with a small-order component in R, which only the signer can produce.
//
// Field: p = 2^255 − 19 in ten signed limbs of 26 and 25 bits (radix 2^25.5, Bernstein et al.,
// "High-speed high-security signatures", 2011), products through i64 with the 19-fold wrap.
// Points: extended twisted Edwards coordinates (X:Y:Z:T), a = −1 (Hisil, Wong, Carter, Dawson,
// "Twisted Edwards curves revisited", 2008): unified addition "add-2008-hwcd-3" (complete on this
// curve, so no special cases) and doubling "dbl-2008-hwcd".
// Scalars mod L = 2^252 + 27742317777372353535851937790883648493 use the Montgomery product in
// assembly/bigint256.ts.
//
// Batch (Bernstein et al. 2011 §5, cofactored): with host-supplied random 128-bit z_i,
//   [8]( [Σ z_i S_i]B − Σ z_i R_i − Σ_keys [Σ_{i∈key} z_i k_i] A_key ) = O,
// evaluated as one Straus multi-scalar multiplication (interleaved width-5 NAFs, shared doublings;
// signatures by the same key share one term), plus fixed-base combs for B and registered keys.
// If the batch equation fails the host re-checks each item singly, so every verdict is exact.
//
// NOT constant-time, and it does not need to be: verification handles only public data.

import { lt, subRaw, addMod, montMul, negInv32, r2, setHexConst, wnaf5 } from './bigint256';
import { sha512Init, sha512Update, sha512Final } from './sha512';

// ---------------------------------------------------------------------------------------------
// Field elements: 10 × i32 (40 bytes), limb i has weight 2^ceil(25.5·i).

const FE: usize = 40;
const FREG: usize = memory.data(48 * 40, 16);
@inline function fr(i: i32): usize { return FREG + <usize>i * FE; }

const D: usize = memory.data(40, 16); // d = −121665/121666
const D2: usize = memory.data(40, 16); // 2d
const SQRTM1: usize = memory.data(40, 16); // √−1 = 2^((p−1)/4)
const FONE: usize = memory.data(40, 16);
const BYTES: usize = memory.data(32, 16);
const BYTES2: usize = memory.data(32, 16);

/** Carries the 64-bit limb sums down to 26/25 bits (2^255 ≡ 19) and stores them. Output limbs are
 *  non-negative and below 2^26 (odd limbs below 2^25 + 2^16), the bound fmul/fsq expect. */
@inline function carryStore(o: usize, h0: i64, h1: i64, h2: i64, h3: i64, h4: i64, h5: i64, h6: i64, h7: i64, h8: i64, h9: i64): void {
  let c: i64;
  c = h0 >> 26; h1 += c; h0 -= c << 26;
  c = h4 >> 26; h5 += c; h4 -= c << 26;
  c = h1 >> 25; h2 += c; h1 -= c << 25;
  c = h5 >> 25; h6 += c; h5 -= c << 25;
  c = h2 >> 26; h3 += c; h2 -= c << 26;
  c = h6 >> 26; h7 += c; h6 -= c << 26;
  c = h3 >> 25; h4 += c; h3 -= c << 25;
  c = h7 >> 25; h8 += c; h7 -= c << 25;
  c = h4 >> 26; h5 += c; h4 -= c << 26;
  c = h8 >> 26; h9 += c; h8 -= c << 26;
  c = h9 >> 25; h0 += c * 19; h9 -= c << 25;
  c = h0 >> 26; h1 += c; h0 -= c << 26;
  store<i32>(o, <i32>h0, 0); store<i32>(o, <i32>h1, 4); store<i32>(o, <i32>h2, 8); store<i32>(o, <i32>h3, 12);
  store<i32>(o, <i32>h4, 16); store<i32>(o, <i32>h5, 20); store<i32>(o, <i32>h6, 24); store<i32>(o, <i32>h7, 28);
  store<i32>(o, <i32>h8, 32); store<i32>(o, <i32>h9, 36);
}

// Products: inputs may have limbs up to 2^27 in magnitude (a sum or difference of two carried
// elements), or one input up to 3·2^26: the largest column, 267·2^54.6, stays below 2^63.
function fmul(o: usize, a: usize, b: usize): void {
  const f0: i64 = <i64>load<i32>(a, 0); const g0: i64 = <i64>load<i32>(b, 0);
  const f1: i64 = <i64>load<i32>(a, 4); const g1: i64 = <i64>load<i32>(b, 4);
  const f2: i64 = <i64>load<i32>(a, 8); const g2: i64 = <i64>load<i32>(b, 8);
  const f3: i64 = <i64>load<i32>(a, 12); const g3: i64 = <i64>load<i32>(b, 12);
  const f4: i64 = <i64>load<i32>(a, 16); const g4: i64 = <i64>load<i32>(b, 16);
  const f5: i64 = <i64>load<i32>(a, 20); const g5: i64 = <i64>load<i32>(b, 20);
  const f6: i64 = <i64>load<i32>(a, 24); const g6: i64 = <i64>load<i32>(b, 24);
  const f7: i64 = <i64>load<i32>(a, 28); const g7: i64 = <i64>load<i32>(b, 28);
  const f8: i64 = <i64>load<i32>(a, 32); const g8: i64 = <i64>load<i32>(b, 32);
  const f9: i64 = <i64>load<i32>(a, 36); const g9: i64 = <i64>load<i32>(b, 36);
  const g1_19 = g1 * 19;
  const g2_19 = g2 * 19;
  const g3_19 = g3 * 19;
  const g4_19 = g4 * 19;
  const g5_19 = g5 * 19;
  const g6_19 = g6 * 19;
  const g7_19 = g7 * 19;
  const g8_19 = g8 * 19;
  const g9_19 = g9 * 19;
  const f1_2 = f1 * 2;
  const f3_2 = f3 * 2;
  const f5_2 = f5 * 2;
  const f7_2 = f7 * 2;
  const f9_2 = f9 * 2;
  let h0: i64 = f0 * g0 + f1_2 * g9_19 + f2 * g8_19 + f3_2 * g7_19 + f4 * g6_19 + f5_2 * g5_19 + f6 * g4_19 + f7_2 * g3_19 + f8 * g2_19 + f9_2 * g1_19;
  let h1: i64 = f0 * g1 + f1 * g0 + f2 * g9_19 + f3 * g8_19 + f4 * g7_19 + f5 * g6_19 + f6 * g5_19 + f7 * g4_19 + f8 * g3_19 + f9 * g2_19;
  let h2: i64 = f0 * g2 + f1_2 * g1 + f2 * g0 + f3_2 * g9_19 + f4 * g8_19 + f5_2 * g7_19 + f6 * g6_19 + f7_2 * g5_19 + f8 * g4_19 + f9_2 * g3_19;
  let h3: i64 = f0 * g3 + f1 * g2 + f2 * g1 + f3 * g0 + f4 * g9_19 + f5 * g8_19 + f6 * g7_19 + f7 * g6_19 + f8 * g5_19 + f9 * g4_19;
  let h4: i64 = f0 * g4 + f1_2 * g3 + f2 * g2 + f3_2 * g1 + f4 * g0 + f5_2 * g9_19 + f6 * g8_19 + f7_2 * g7_19 + f8 * g6_19 + f9_2 * g5_19;
  let h5: i64 = f0 * g5 + f1 * g4 + f2 * g3 + f3 * g2 + f4 * g1 + f5 * g0 + f6 * g9_19 + f7 * g8_19 + f8 * g7_19 + f9 * g6_19;
  let h6: i64 = f0 * g6 + f1_2 * g5 + f2 * g4 + f3_2 * g3 + f4 * g2 + f5_2 * g1 + f6 * g0 + f7_2 * g9_19 + f8 * g8_19 + f9_2 * g7_19;
  let h7: i64 = f0 * g7 + f1 * g6 + f2 * g5 + f3 * g4 + f4 * g3 + f5 * g2 + f6 * g1 + f7 * g0 + f8 * g9_19 + f9 * g8_19;
  let h8: i64 = f0 * g8 + f1_2 * g7 + f2 * g6 + f3_2 * g5 + f4 * g4 + f5_2 * g3 + f6 * g2 + f7_2 * g1 + f8 * g0 + f9_2 * g9_19;
  let h9: i64 = f0 * g9 + f1 * g8 + f2 * g7 + f3 * g6 + f4 * g5 + f5 * g4 + f6 * g3 + f7 * g2 + f8 * g1 + f9 * g0;
  carryStore(o, h0, h1, h2, h3, h4, h5, h6, h7, h8, h9);
}

function fsq(o: usize, a: usize): void {
  const f0: i64 = <i64>load<i32>(a, 0);
  const f1: i64 = <i64>load<i32>(a, 4);
  const f2: i64 = <i64>load<i32>(a, 8);
  const f3: i64 = <i64>load<i32>(a, 12);
  const f4: i64 = <i64>load<i32>(a, 16);
  const f5: i64 = <i64>load<i32>(a, 20);
  const f6: i64 = <i64>load<i32>(a, 24);
  const f7: i64 = <i64>load<i32>(a, 28);
  const f8: i64 = <i64>load<i32>(a, 32);
  const f9: i64 = <i64>load<i32>(a, 36);
  const f0_2 = f0 * 2;
  const f1_2 = f1 * 2;
  const f2_2 = f2 * 2;
  const f3_2 = f3 * 2;
  const f4_2 = f4 * 2;
  const f5_2 = f5 * 2;
  const f6_2 = f6 * 2;
  const f7_2 = f7 * 2;
  const f8_2 = f8 * 2;
  const f9_2 = f9 * 2;
  const f1_19 = f1 * 19;
  const f2_19 = f2 * 19;
  const f3_19 = f3 * 19;
  const f4_19 = f4 * 19;
  const f5_19 = f5 * 19;
  const f6_19 = f6 * 19;
  const f7_19 = f7 * 19;
  const f8_19 = f8 * 19;
  const f9_19 = f9 * 19;
  const f1_38 = f1 * 38;
  const f3_38 = f3 * 38;
  const f5_38 = f5 * 38;
  const f7_38 = f7 * 38;
  const f9_38 = f9 * 38;
  let h0: i64 = f0 * f0 + f1_2 * f9_38 + f2_2 * f8_19 + f3_2 * f7_38 + f4_2 * f6_19 + f5_38 * f5;
  let h1: i64 = f0_2 * f1 + f2_2 * f9_19 + f3_2 * f8_19 + f4_2 * f7_19 + f5_2 * f6_19;
  let h2: i64 = f0_2 * f2 + f1_2 * f1 + f3_2 * f9_38 + f4_2 * f8_19 + f5_2 * f7_38 + f6_19 * f6;
  let h3: i64 = f0_2 * f3 + f1_2 * f2 + f4_2 * f9_19 + f5_2 * f8_19 + f6_2 * f7_19;
  let h4: i64 = f0_2 * f4 + f1_2 * f3_2 + f2 * f2 + f5_2 * f9_38 + f6_2 * f8_19 + f7_38 * f7;
  let h5: i64 = f0_2 * f5 + f1_2 * f4 + f2_2 * f3 + f6_2 * f9_19 + f7_2 * f8_19;
  let h6: i64 = f0_2 * f6 + f1_2 * f5_2 + f2_2 * f4 + f3_2 * f3 + f7_2 * f9_38 + f8_19 * f8;
  let h7: i64 = f0_2 * f7 + f1_2 * f6 + f2_2 * f5 + f3_2 * f4 + f8_2 * f9_19;
  let h8: i64 = f0_2 * f8 + f1_2 * f7_2 + f2_2 * f6 + f3_2 * f5_2 + f4 * f4 + f9_38 * f9;
  let h9: i64 = f0_2 * f9 + f1_2 * f8 + f2_2 * f7 + f3_2 * f6 + f4_2 * f5;
  carryStore(o, h0, h1, h2, h3, h4, h5, h6, h7, h8, h9);
}


@inline function fadd(o: usize, a: usize, b: usize): void {
  for (let i: usize = 0; i < 40; i += 4) store<i32>(o + i, load<i32>(a + i) + load<i32>(b + i));
}
@inline function fsub(o: usize, a: usize, b: usize): void {
  for (let i: usize = 0; i < 40; i += 4) store<i32>(o + i, load<i32>(a + i) - load<i32>(b + i));
}
function fcarry(o: usize, a: usize): void {
  carryStore(o, <i64>load<i32>(a, 0), <i64>load<i32>(a, 4), <i64>load<i32>(a, 8), <i64>load<i32>(a, 12), <i64>load<i32>(a, 16),
    <i64>load<i32>(a, 20), <i64>load<i32>(a, 24), <i64>load<i32>(a, 28), <i64>load<i32>(a, 32), <i64>load<i32>(a, 36));
}
@inline function fcopy(o: usize, a: usize): void { memory.copy(o, a, 40); }
function fsetSmall(o: usize, v: i32): void { memory.fill(o, 0, 40); store<i32>(o, v); }
function fneg(o: usize, a: usize): void {
  for (let i: usize = 0; i < 40; i += 4) store<i32>(o + i, 0 - load<i32>(a + i));
  fcarry(o, o);
}

/** The canonical 32-byte little-endian encoding of a (fully reduced mod p) into `out`. */
function ftobytes(out: usize, a: usize): void {
  let h0 = <i64>load<i32>(a, 0), h1 = <i64>load<i32>(a, 4), h2 = <i64>load<i32>(a, 8), h3 = <i64>load<i32>(a, 12), h4 = <i64>load<i32>(a, 16);
  let h5 = <i64>load<i32>(a, 20), h6 = <i64>load<i32>(a, 24), h7 = <i64>load<i32>(a, 28), h8 = <i64>load<i32>(a, 32), h9 = <i64>load<i32>(a, 36);
  // Three sequential carry rounds bring any input with limbs below 2^30 into [0, 2^255).
  for (let round = 0; round < 3; round++) {
    let c: i64;
    c = h0 >> 26; h1 += c; h0 -= c << 26;
    c = h1 >> 25; h2 += c; h1 -= c << 25;
    c = h2 >> 26; h3 += c; h2 -= c << 26;
    c = h3 >> 25; h4 += c; h3 -= c << 25;
    c = h4 >> 26; h5 += c; h4 -= c << 26;
    c = h5 >> 25; h6 += c; h5 -= c << 25;
    c = h6 >> 26; h7 += c; h6 -= c << 26;
    c = h7 >> 25; h8 += c; h7 -= c << 25;
    c = h8 >> 26; h9 += c; h8 -= c << 26;
    c = h9 >> 25; h0 += c * 19; h9 -= c << 25;
  }
  // Now 0 ≤ h < 2^255; subtract p once if h ≥ p, i.e. if h + 19 ≥ 2^255.
  let q: i64 = (h0 + 19) >> 26;
  q = (h1 + q) >> 25; q = (h2 + q) >> 26; q = (h3 + q) >> 25; q = (h4 + q) >> 26;
  q = (h5 + q) >> 25; q = (h6 + q) >> 26; q = (h7 + q) >> 25; q = (h8 + q) >> 26; q = (h9 + q) >> 25;
  h0 += 19 * q;
  let c: i64;
  c = h0 >> 26; h1 += c; h0 -= c << 26;
  c = h1 >> 25; h2 += c; h1 -= c << 25;
  c = h2 >> 26; h3 += c; h2 -= c << 26;
  c = h3 >> 25; h4 += c; h3 -= c << 25;
  c = h4 >> 26; h5 += c; h4 -= c << 26;
  c = h5 >> 25; h6 += c; h5 -= c << 25;
  c = h6 >> 26; h7 += c; h6 -= c << 26;
  c = h7 >> 25; h8 += c; h7 -= c << 25;
  c = h8 >> 26; h9 += c; h8 -= c << 26;
  h9 &= 0x1ffffff; // drops 2^255 (the subtraction of p's top bit)
  // Pack 255 bits little-endian.
  const lo0: u64 = <u64>h0 | (<u64>h1 << 26) | (<u64>h2 << 51); // bits 0..76 (h2 spills)
  store<u64>(out, lo0, 0);
  const w1: u64 = (<u64>h2 >> 13) | (<u64>h3 << 13) | (<u64>h4 << 38); // bits 64..127
  store<u64>(out, w1, 8);
  const w2: u64 = <u64>h5 | (<u64>h6 << 25) | (<u64>h7 << 51); // bits 128..191
  store<u64>(out, w2, 16);
  const w3: u64 = (<u64>h7 >> 13) | (<u64>h8 << 12) | (<u64>h9 << 38); // bits 192..254
  store<u64>(out, w3, 24);
}

/** Loads 255 bits (bit 255, the sign of x in point encodings, is ignored); not reduced mod p. */
function ffrombytes(o: usize, s: usize): void {
  store<i32>(o, <i32>(load<u32>(s, 0) & 0x3ffffff), 0);
  store<i32>(o, <i32>((load<u32>(s, 3) >> 2) & 0x1ffffff), 4);
  store<i32>(o, <i32>((load<u32>(s, 6) >> 3) & 0x3ffffff), 8);
  store<i32>(o, <i32>((load<u32>(s, 9) >> 5) & 0x1ffffff), 12);
  store<i32>(o, <i32>((load<u32>(s, 12) >> 6) & 0x3ffffff), 16);
  store<i32>(o, <i32>(load<u32>(s, 16) & 0x1ffffff), 20);
  store<i32>(o, <i32>((load<u32>(s, 19) >> 1) & 0x3ffffff), 24);
  store<i32>(o, <i32>((load<u32>(s, 22) >> 3) & 0x1ffffff), 28);
  store<i32>(o, <i32>((load<u32>(s, 25) >> 4) & 0x3ffffff), 32);
  store<i32>(o, <i32>((load<u32>(s, 28) >> 6) & 0x1ffffff), 36);
}

function fisZero(a: usize): bool {
  ftobytes(BYTES, a);
  return (load<u64>(BYTES) | load<u64>(BYTES, 8) | load<u64>(BYTES, 16) | load<u64>(BYTES, 24)) == 0;
}
function fisNegative(a: usize): bool {
  ftobytes(BYTES, a);
  return (load<u8>(BYTES) & 1) == 1;
}
function feq(a: usize, b: usize): bool {
  const t = fr(47);
  fsub(t, a, b);
  return fisZero(t);
}
function fsqn(o: usize, a: usize, n: i32): void {
  fsq(o, a);
  for (let i = 1; i < n; i++) fsq(o, o);
}

/** out = z^(2^250 − 1); z11 = z^11. The addition chain of ref10 (2 + 11 multiplications). */
function pow250(out: usize, z11: usize, z: usize): void {
  const t0 = fr(40), t1 = fr(41), t2 = fr(42), t3 = fr(43);
  fsq(t0, z); // z^2
  fsqn(t1, t0, 2); // z^8
  fmul(t1, z, t1); // z^9
  fmul(t0, t0, t1); // z^11
  fcopy(z11, t0);
  fsq(t2, t0); // z^22
  fmul(t1, t1, t2); // z^31 = z^(2^5 − 1)
  fsqn(t2, t1, 5); fmul(t1, t2, t1); // 2^10 − 1
  fsqn(t2, t1, 10); fmul(t2, t2, t1); // 2^20 − 1
  fsqn(t3, t2, 20); fmul(t2, t3, t2); // 2^40 − 1
  fsqn(t2, t2, 10); fmul(t1, t2, t1); // 2^50 − 1
  fsqn(t2, t1, 50); fmul(t2, t2, t1); // 2^100 − 1
  fsqn(t3, t2, 100); fmul(t2, t3, t2); // 2^200 − 1
  fsqn(t2, t2, 50); fmul(out, t2, t1); // 2^250 − 1
}
/** out = z^(p − 2) = z^(2^255 − 21) = (z^(2^250 − 1))^(2^5) · z^11. */
function finv(out: usize, z: usize): void {
  const t = fr(44), z11 = fr(45);
  pow250(t, z11, z);
  fsqn(t, t, 5);
  fmul(out, t, z11);
}
/** out = z^((p − 5)/8) = z^(2^252 − 3) = (z^(2^250 − 1))^4 · z. */
function fpow22523(out: usize, z: usize): void {
  const t = fr(44), z11 = fr(45);
  pow250(t, z11, z);
  fsqn(t, t, 2);
  fmul(out, t, z);
}

// ---------------------------------------------------------------------------------------------
// Points. Extended (X, Y, Z, T) = 160 bytes; cached (Y+X, Y−X, 2Z, 2dT) = 160 bytes; affine
// "niels" (y+x, y−x, 2dxy) = 120 bytes for comb tables.

const PT: usize = 160;
const NIELS: usize = 120;
const TMP_PT: usize = memory.data(160, 16);
const TMP_PT2: usize = memory.data(160, 16);
const TMP_C: usize = memory.data(160, 16);
const ACC: usize = memory.data(160, 16);
const BASE: usize = memory.data(160, 16);

function pIdentity(p: usize): void {
  fsetSmall(p, 0);
  fsetSmall(p + 40, 1);
  fsetSmall(p + 80, 1);
  fsetSmall(p + 120, 0);
}

/** out = 2·p (dbl-2008-hwcd with a = −1, signs folded as in ref10); T is computed only if wanted. */
function pDouble(out: usize, p: usize, withT: bool): void {
  const A = fr(0), B = fr(1), C = fr(2), H = fr(3), E = fr(4), G = fr(5), F = fr(6), t = fr(7);
  fsq(A, p);
  fsq(B, p + 40);
  fsq(t, p + 80);
  fadd(C, t, t);
  fadd(H, A, B);
  fadd(t, p, p + 40);
  fsq(t, t);
  fsub(E, H, t);
  fsub(G, A, B);
  fadd(F, C, G);
  fmul(out, E, F);
  fmul(out + 40, G, H);
  fmul(out + 80, F, G);
  if (withT) fmul(out + 120, E, H);
}

/** out = p ± q for q cached (add-2008-hwcd-3, a = −1, k = 2d); negating q swaps Y+X/Y−X and the sign of 2dT. */
function pAddCached(out: usize, p: usize, q: usize, neg: bool): void {
  const A = fr(0), B = fr(1), C = fr(2), Dd = fr(3), E = fr(4), F = fr(5), G = fr(6), H = fr(7), t = fr(8);
  fsub(t, p + 40, p);
  fmul(A, t, neg ? q : q + 40);
  fadd(t, p + 40, p);
  fmul(B, t, neg ? q + 40 : q);
  fmul(C, p + 120, q + 120);
  fmul(Dd, p + 80, q + 80);
  fsub(E, B, A);
  fadd(H, B, A);
  if (neg) { fadd(F, Dd, C); fsub(G, Dd, C); } else { fsub(F, Dd, C); fadd(G, Dd, C); }
  fmul(out, E, F);
  fmul(out + 40, G, H);
  fmul(out + 80, F, G);
  fmul(out + 120, E, H);
}

/** out = p ± q for q in affine niels form (Z = 1). */
function pAddNiels(out: usize, p: usize, q: usize, neg: bool): void {
  const A = fr(0), B = fr(1), C = fr(2), Dd = fr(3), E = fr(4), F = fr(5), G = fr(6), H = fr(7), t = fr(8);
  fsub(t, p + 40, p);
  fmul(A, t, neg ? q : q + 40);
  fadd(t, p + 40, p);
  fmul(B, t, neg ? q + 40 : q);
  fmul(C, p + 120, q + 80);
  fadd(t, p + 80, p + 80);
  fcarry(Dd, t);
  fsub(E, B, A);
  fadd(H, B, A);
  if (neg) { fadd(F, Dd, C); fsub(G, Dd, C); } else { fsub(F, Dd, C); fadd(G, Dd, C); }
  fmul(out, E, F);
  fmul(out + 40, G, H);
  fmul(out + 80, F, G);
  fmul(out + 120, E, H);
}

function toCached(c: usize, p: usize): void {
  const t = fr(9);
  fadd(t, p + 40, p); fcarry(c, t);
  fsub(t, p + 40, p); fcarry(c + 40, t);
  fadd(t, p + 80, p + 80); fcarry(c + 80, t);
  fmul(c + 120, p + 120, D2);
}

/** Writes p in affine niels form (one inversion). */
function toNiels(n: usize, p: usize): void {
  const zi = fr(10), x = fr(11), y = fr(12), t = fr(13);
  finv(zi, p + 80);
  fmul(x, p, zi);
  fmul(y, p + 40, zi);
  fadd(t, y, x); fcarry(n, t);
  fsub(t, y, x); fcarry(n + 40, t);
  fmul(t, x, y);
  fmul(n + 80, t, D2);
}

function pIsIdentity(p: usize): bool {
  if (!fisZero(p)) return false;
  return feq(p + 40, p + 80);
}

/**
 * Decodes a 32-byte point encoding (RFC 8032 §5.1.3), strictly: y < p, and x = 0 with the sign
 * bit set is refused. Writes extended coordinates with Z = 1. Returns false if not a point.
 */
function pDecode(out: usize, s: usize): bool {
  const y = fr(14), u = fr(15), v = fr(16), v3 = fr(17), x = fr(18), t = fr(19), vx2 = fr(20), y2 = fr(21);
  ffrombytes(y, s);
  // Canonical: re-encode and compare, ignoring the sign bit.
  ftobytes(BYTES2, y);
  if (load<u64>(BYTES2) != load<u64>(s) || load<u64>(BYTES2, 8) != load<u64>(s, 8) ||
      load<u64>(BYTES2, 16) != load<u64>(s, 16) || load<u64>(BYTES2, 24) != (load<u64>(s, 24) & 0x7fffffffffffffff)) return false;
  const sign = (load<u8>(s, 31) >> 7) & 1;
  fsq(y2, y);
  fsub(u, y2, FONE); // u = y² − 1
  fmul(v, y2, D);
  fadd(v, v, FONE); // v = d·y² + 1
  fsq(t, v);
  fmul(v3, t, v); // v³
  fsq(t, v3);
  fmul(t, t, v); // v⁷
  fmul(t, t, u); // u·v⁷
  fpow22523(x, t);
  fmul(x, x, v3);
  fmul(x, x, u); // x = u·v³·(u·v⁷)^((p−5)/8)
  fsq(t, x);
  fmul(vx2, t, v);
  fsub(t, vx2, u);
  if (!fisZero(t)) {
    fadd(t, vx2, u);
    if (!fisZero(t)) return false; // u/v is not a square: no such point
    fmul(x, x, SQRTM1);
  }
  const xzero = fisZero(x);
  if (xzero && sign == 1) return false;
  if (<u32>fisNegative(x) != <u32>sign) fneg(x, x);
  fcarry(out, x);
  fcarry(out + 40, y);
  fsetSmall(out + 80, 1);
  fmul(out + 120, x, y);
  return true;
}

/** 8·p = O: p has small order (includes the identity). */
function pSmallOrder(p: usize): bool {
  pDouble(TMP_PT2, p, false);
  pDouble(TMP_PT2, TMP_PT2, false);
  pDouble(TMP_PT2, TMP_PT2, false);
  return pIsIdentity(TMP_PT2);
}

// ---------------------------------------------------------------------------------------------
// Scalars mod L, as 8 little-endian u32 limbs (the byte order of Ed25519 encodings).

const L: usize = memory.data(32, 16);
const R2L: usize = memory.data(32, 16);
let L0INV: u32 = 0;
const SC_T: usize = memory.data(32, 16);
const SC_U: usize = memory.data(32, 16);
const DIGEST: usize = memory.data(64, 16);

/** out = the 64-byte little-endian value at h, mod L: lo + hi·2^256 with hi·2^256 = mont(hi, 2^512). */
function scReduce512(out: usize, h: usize): void {
  memory.copy(SC_T, h, 32);
  while (!lt(SC_T, L)) subRaw(SC_T, SC_T, L); // lo < 2^256 < 16·L
  montMul(SC_U, h + 32, R2L, L, L0INV);
  addMod(out, SC_T, SC_U, L);
}

/** tbl[j] = (2j + 1)·p in cached form, j = 0..7. */
function oddMultiples(tbl: usize, p: usize): void {
  toCached(tbl, p);
  pDouble(TMP_PT, p, true);
  toCached(TMP_C, TMP_PT);
  memory.copy(TMP_PT, p, PT);
  for (let j = 1; j < 8; j++) {
    pAddCached(TMP_PT, TMP_PT, TMP_C, false);
    toCached(tbl + <usize>j * PT, TMP_PT);
  }
}

// ---------------------------------------------------------------------------------------------
// Fixed-base combs: COMB[i][k−1] = k·16^i·P (k = 1..15, i = 0..63) in niels form, so u·P for a
// 256-bit u is at most 64 additions and no doublings.

const COMB_BYTES: usize = 64 * 15 * 120;
const KEY_SLOTS: i32 = 8;
const BCOMB: usize = memory.data(<i32>COMB_BYTES, 16);
const KCOMB: usize = memory.data(KEY_SLOTS * <i32>COMB_BYTES, 16);
const KPOINT: usize = memory.data(KEY_SLOTS * 160, 16); // the registered keys, extended

function buildComb(comb: usize, p: usize): void {
  memory.copy(BASE, p, PT);
  for (let i = 0; i < 64; i++) {
    const row = comb + <usize>i * 15 * NIELS;
    memory.copy(TMP_PT, BASE, PT);
    toCached(TMP_C, BASE);
    toNiels(row, TMP_PT);
    for (let k = 2; k <= 15; k++) {
      pAddCached(TMP_PT, TMP_PT, TMP_C, false);
      toNiels(row + <usize>(k - 1) * NIELS, TMP_PT);
    }
    for (let j = 0; j < 4; j++) pDouble(BASE, BASE, j == 3);
  }
}

/** acc ±= u·P with P's comb. */
function combAdd(acc: usize, comb: usize, u: usize, neg: bool): void {
  for (let i = 0; i < 64; i++) {
    const w = (load<u32>(u + (<usize>(i >> 3) << 2)) >> (<u32>(i & 7) << 2)) & 15;
    if (w != 0) pAddNiels(acc, acc, comb + (<usize>i * 15 + <usize>(w - 1)) * NIELS, neg);
  }
}

let ready = false;
function init(): void {
  if (ready) return;
  fsetSmall(FONE, 1);
  // d = −121665/121666 (RFC 8032 §5.1).
  const t = fr(30), u = fr(31);
  fsetSmall(t, 121666);
  finv(u, t);
  fsetSmall(t, 121665);
  fmul(u, u, t);
  fneg(D, u);
  fadd(t, D, D);
  fcarry(D2, t);
  // √−1 = 2^((p−1)/4) = 2^((2^250 − 1)·8 + 3).
  const z11 = fr(32);
  fsetSmall(t, 2);
  pow250(u, z11, t);
  fsqn(u, u, 3);
  fsetSmall(t, 8);
  fmul(SQRTM1, u, t);
  // L (RFC 8032 §5.1) and 2^512 mod L for the Montgomery product.
  setHexConst(L, 0x1000000000000000, 0x0000000000000000, 0x14def9dea2f79cd6, 0x5812631a5cf5d3ed);
  L0INV = negInv32(load<u32>(L));
  r2(R2L, L);
  // B: y = 4/5, x even (§5.1). Encoded, then decoded like any point.
  fsetSmall(t, 5);
  finv(u, t);
  fsetSmall(t, 4);
  fmul(u, u, t);
  ftobytes(BYTES2, u);
  const enc = SC_U;
  memory.copy(enc, BYTES2, 32);
  pDecode(BPOINT, enc);
  buildComb(BCOMB, BPOINT);
  ready = true;
}
const BPOINT: usize = memory.data(160, 16);

// ---------------------------------------------------------------------------------------------
// Batch state and the ABI.
//
// IO: A (32 bytes) @0, R‖S (64) @32, z (16 random bytes, batch only) @96, message chunk @128.
// Per item: ed25519_begin() hashes R ‖ A, ed25519_update(len) hashes len chunk bytes (repeat for
// long messages), ed25519_push(key) finishes k = H(R ‖ A ‖ M) mod L, checks S < L and decodes R.
// Keys are added per batch with ed25519_batch_key(slot) (slot −1: decode A from IO), so that
// signatures by one key share one term of the multi-scalar multiplication.

const CHUNK: i32 = 16384;
const IO: usize = memory.data(128 + CHUNK, 16);
const MAX_ITEMS: i32 = 64;
const MAX_KEYS: i32 = 64;

// Keys: extended point, registered slot (or −1), merged scalar, wNAF, odd-multiple table.
const K_PT: usize = memory.data(MAX_KEYS * 160, 16);
const K_SLOT: usize = memory.data(MAX_KEYS * 4, 16);
const K_SC: usize = memory.data(MAX_KEYS * 32, 16);
// Items: R (extended), S, k, z, key index.
const I_R: usize = memory.data(MAX_ITEMS * 160, 16);
const I_S: usize = memory.data(MAX_ITEMS * 32, 16);
const I_K: usize = memory.data(MAX_ITEMS * 32, 16);
const I_Z: usize = memory.data(MAX_ITEMS * 32, 16);
const I_KEY: usize = memory.data(MAX_ITEMS * 4, 16);
// Straus: up to MAX_ITEMS + MAX_KEYS points, each with a NAF and 8 cached odd multiples.
const MAX_PTS: i32 = MAX_ITEMS + MAX_KEYS;
const NAFS: usize = memory.data(MAX_PTS * 260, 16);
const NAF_LEN: usize = memory.data(MAX_PTS * 4, 16);
const TABLES: usize = memory.data(MAX_PTS * 8 * 160, 16);
const HAS: usize = memory.data(260, 16);
const SUMB: usize = memory.data(32, 16);
const ZM: usize = memory.data(32, 16);
const SC_V: usize = memory.data(32, 16);

let nItems: i32 = 0;
let nKeys: i32 = 0;

export function ed25519_io(): usize { return IO; }
export function ed25519_chunk(): i32 { return CHUNK; }
export function ed25519_key_slots(): i32 { return KEY_SLOTS; }
export function ed25519_max_batch(): i32 { return MAX_ITEMS; }

/** Validates the key at IO[0..32] and builds its comb in `slot`. 1 on success. */
export function ed25519_register_key(slot: i32): i32 {
  init();
  if (slot < 0 || slot >= KEY_SLOTS) return 0;
  const p = KPOINT + <usize>slot * PT;
  if (!pDecode(p, IO) || pSmallOrder(p)) return 0;
  buildComb(KCOMB + <usize>slot * COMB_BYTES, p);
  return 1;
}

/** Checks the key at IO[0..32] only: canonical, on the curve, not of small order. */
export function ed25519_check_key(): i32 {
  init();
  return pDecode(TMP_PT, IO) && !pSmallOrder(TMP_PT) ? 1 : 0;
}

export function ed25519_batch_reset(): void {
  init();
  nItems = 0;
  nKeys = 0;
}

/** Adds a batch key: the registered `slot`, or (slot −1) the key at IO[0..32]. Its index, or −1 if invalid / full. */
export function ed25519_batch_key(slot: i32): i32 {
  init();
  if (nKeys >= MAX_KEYS || slot >= KEY_SLOTS) return -1;
  const p = K_PT + <usize>nKeys * PT;
  if (slot >= 0) {
    memory.copy(p, KPOINT + <usize>slot * PT, PT);
  } else if (!pDecode(p, IO) || pSmallOrder(p)) {
    return -1;
  }
  store<i32>(K_SLOT + (<usize>nKeys << 2), slot);
  return nKeys++;
}

/** Starts H(R ‖ A ‖ M) with R = IO[32..64] and A = IO[0..32]. */
export function ed25519_begin(): void {
  sha512Init();
  sha512Update(IO + 32, 32);
  sha512Update(IO, 32);
}

/** Hashes `len` message bytes from the chunk at IO + 128. */
export function ed25519_update(len: i32): void {
  if (len < 0 || len > CHUNK) return;
  sha512Update(IO + 128, len);
}

/**
 * Finishes the item for batch key `key`: k = H(…) mod L, S < L, R decoded. Stores it with the
 * random z at IO[96..112]. Returns its index, or −1 if the signature is invalid on its face.
 */
export function ed25519_push(key: i32): i32 {
  if (key < 0 || key >= nKeys || nItems >= MAX_ITEMS) return -1;
  sha512Final(DIGEST);
  const i = <usize>nItems;
  const s = I_S + i * 32;
  memory.copy(s, IO + 64, 32);
  if (!lt(s, L)) return -1; // §5.1.7 step 1: S must be in [0, L)
  if (!pDecode(I_R + i * PT, IO + 32)) return -1;
  scReduce512(I_K + i * 32, DIGEST);
  memory.fill(I_Z + i * 32, 0, 32);
  memory.copy(I_Z + i * 32, IO + 96, 16);
  store<i32>(I_KEY + (i << 2), key);
  return nItems++;
}

/** 8·acc = O. */
function cofactoredIdentity(acc: usize): bool {
  pDouble(acc, acc, false);
  pDouble(acc, acc, false);
  pDouble(acc, acc, false);
  return pIsIdentity(acc);
}

/**
 * Straus over `n` points whose NAFs and tables are in NAFS/TABLES: acc = Σ d_j·P_j. The doubling
 * before a position with no digit skips computing T.
 */
function straus(acc: usize, n: i32): void {
  let maxLen = 0;
  for (let j = 0; j < n; j++) maxLen = max(maxLen, load<i32>(NAF_LEN + (<usize>j << 2)));
  memory.fill(HAS, 0, 260);
  for (let j = 0; j < n; j++) {
    const naf = NAFS + <usize>j * 260;
    const len = load<i32>(NAF_LEN + (<usize>j << 2));
    for (let i = 0; i < len; i++) if (load<i8>(naf + <usize>i) != 0) store<u8>(HAS + <usize>i, 1);
  }
  pIdentity(acc);
  for (let i = maxLen - 1; i >= 0; i--) {
    const has = load<u8>(HAS + <usize>i) != 0;
    pDouble(acc, acc, has || i == 0); // T is needed by the next addition, and after the loop
    if (!has) continue;
    for (let j = 0; j < n; j++) {
      const d = <i32>load<i8>(NAFS + <usize>j * 260 + <usize>i);
      if (d == 0) continue;
      const tbl = TABLES + <usize>j * 8 * PT;
      if (d > 0) pAddCached(acc, acc, tbl + <usize>((d - 1) >> 1) * PT, false);
      else pAddCached(acc, acc, tbl + <usize>((-d - 1) >> 1) * PT, true);
    }
  }
}

function addPoint(n: i32, p: usize, scalar: usize): i32 {
  store<i32>(NAF_LEN + (<usize>n << 2), wnaf5(NAFS + <usize>n * 260, scalar));
  oddMultiples(TABLES + <usize>n * 8 * PT, p);
  return n + 1;
}

/** Single cofactored verification of stored item `i`: 8·(k·A + R − S·B) = O. */
export function ed25519_verify_item(i: i32): i32 {
  if (i < 0 || i >= nItems) return 0;
  const key = load<i32>(I_KEY + (<usize>i << 2));
  const slot = load<i32>(K_SLOT + (<usize>key << 2));
  const k = I_K + <usize>i * 32;
  if (slot >= 0) {
    pIdentity(ACC);
    combAdd(ACC, KCOMB + <usize>slot * COMB_BYTES, k, false);
  } else {
    addPoint(0, K_PT + <usize>key * PT, k);
    straus(ACC, 1);
  }
  toCached(TMP_C, I_R + <usize>i * PT);
  pAddCached(ACC, ACC, TMP_C, false);
  combAdd(ACC, BCOMB, I_S + <usize>i * 32, true);
  return cofactoredIdentity(ACC) ? 1 : 0;
}

/**
 * The batch equation over every pushed item: 8·(Σ z_i·R_i + Σ_key c_key·A_key − (Σ z_i·S_i)·B) = O
 * with c_key = Σ_{i∈key} z_i·k_i. 1 if it holds (then every item is valid), 0 otherwise.
 */
export function ed25519_verify_batch(): i32 {
  if (nItems == 0) return 1;
  memory.fill(SUMB, 0, 32);
  for (let j = 0; j < nKeys; j++) memory.fill(K_SC + <usize>j * 32, 0, 32);
  let n = 0;
  for (let i = 0; i < nItems; i++) {
    const z = I_Z + <usize>i * 32;
    montMul(ZM, z, R2L, L, L0INV); // z·R mod L
    montMul(SC_V, ZM, I_S + <usize>i * 32, L, L0INV);
    addMod(SUMB, SUMB, SC_V, L);
    const key = load<i32>(I_KEY + (<usize>i << 2));
    montMul(SC_V, ZM, I_K + <usize>i * 32, L, L0INV);
    addMod(K_SC + <usize>key * 32, K_SC + <usize>key * 32, SC_V, L);
    n = addPoint(n, I_R + <usize>i * PT, z);
  }
  for (let j = 0; j < nKeys; j++) {
    if (load<i32>(K_SLOT + (<usize>j << 2)) < 0) n = addPoint(n, K_PT + <usize>j * PT, K_SC + <usize>j * 32);
  }
  straus(ACC, n);
  for (let j = 0; j < nKeys; j++) {
    const slot = load<i32>(K_SLOT + (<usize>j << 2));
    if (slot >= 0) combAdd(ACC, KCOMB + <usize>slot * COMB_BYTES, K_SC + <usize>j * 32, false);
  }
  combAdd(ACC, BCOMB, SUMB, true);
  return cofactoredIdentity(ACC) ? 1 : 0;
}
