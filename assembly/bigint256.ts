// Unsigned 256-bit integers as 8 little-endian u32 limbs in linear memory, shared by the P-256
// (assembly/p256.ts) and Ed25519 (assembly/ed25519.ts) verifiers: comparison, add/sub with
// carry, modular add/sub, and Montgomery multiplication (CIOS, Koç et al. 1996, R = 2^256) for
// any odd modulus < 2^256 (P-256's n, Ed25519's L).

export const LIMBS: i32 = 8;

@inline export function limb(a: usize, i: i32): u32 { return load<u32>(a + (<usize>i << 2)); }
@inline export function setLimb(a: usize, i: i32, v: u32): void { store<u32>(a + (<usize>i << 2), v); }

export function copy(dst: usize, src: usize): void { memory.copy(dst, src, 32); }
export function setZero(a: usize): void { memory.fill(a, 0, 32); }
export function isZero(a: usize): bool {
  return (load<u64>(a) | load<u64>(a, 8) | load<u64>(a, 16) | load<u64>(a, 24)) == 0;
}
export function eq(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8) &&
    load<u64>(a, 16) == load<u64>(b, 16) && load<u64>(a, 24) == load<u64>(b, 24);
}
/** a < b as unsigned 256-bit integers. */
export function lt(a: usize, b: usize): bool {
  for (let i = LIMBS - 1; i >= 0; i--) {
    const x = limb(a, i), y = limb(b, i);
    if (x != y) return x < y;
  }
  return false;
}
/** out = a + b, returns the carry. */
export function addRaw(out: usize, a: usize, b: usize): u32 {
  let c: u64 = 0;
  c += <u64>load<u32>(a, 0) + <u64>load<u32>(b, 0); store<u32>(out, <u32>c, 0); c >>= 32;
  c += <u64>load<u32>(a, 4) + <u64>load<u32>(b, 4); store<u32>(out, <u32>c, 4); c >>= 32;
  c += <u64>load<u32>(a, 8) + <u64>load<u32>(b, 8); store<u32>(out, <u32>c, 8); c >>= 32;
  c += <u64>load<u32>(a, 12) + <u64>load<u32>(b, 12); store<u32>(out, <u32>c, 12); c >>= 32;
  c += <u64>load<u32>(a, 16) + <u64>load<u32>(b, 16); store<u32>(out, <u32>c, 16); c >>= 32;
  c += <u64>load<u32>(a, 20) + <u64>load<u32>(b, 20); store<u32>(out, <u32>c, 20); c >>= 32;
  c += <u64>load<u32>(a, 24) + <u64>load<u32>(b, 24); store<u32>(out, <u32>c, 24); c >>= 32;
  c += <u64>load<u32>(a, 28) + <u64>load<u32>(b, 28); store<u32>(out, <u32>c, 28); c >>= 32;
  return <u32>c;
}
/** out = a − b, returns the borrow (1 if a < b). */
export function subRaw(out: usize, a: usize, b: usize): u32 {
  let br: i64 = 0;
  br += <i64>load<u32>(a, 0) - <i64>load<u32>(b, 0); store<u32>(out, <u32>br, 0); br >>= 32;
  br += <i64>load<u32>(a, 4) - <i64>load<u32>(b, 4); store<u32>(out, <u32>br, 4); br >>= 32;
  br += <i64>load<u32>(a, 8) - <i64>load<u32>(b, 8); store<u32>(out, <u32>br, 8); br >>= 32;
  br += <i64>load<u32>(a, 12) - <i64>load<u32>(b, 12); store<u32>(out, <u32>br, 12); br >>= 32;
  br += <i64>load<u32>(a, 16) - <i64>load<u32>(b, 16); store<u32>(out, <u32>br, 16); br >>= 32;
  br += <i64>load<u32>(a, 20) - <i64>load<u32>(b, 20); store<u32>(out, <u32>br, 20); br >>= 32;
  br += <i64>load<u32>(a, 24) - <i64>load<u32>(b, 24); store<u32>(out, <u32>br, 24); br >>= 32;
  br += <i64>load<u32>(a, 28) - <i64>load<u32>(b, 28); store<u32>(out, <u32>br, 28); br >>= 32;
  return <u32>(br & 1);
}
export function addMod(out: usize, a: usize, b: usize, m: usize): void {
  const c = addRaw(out, a, b);
  if (c != 0 || !lt(out, m)) subRaw(out, out, m);
}
export function subMod(out: usize, a: usize, b: usize, m: usize): void {
  if (subRaw(out, a, b) != 0) addRaw(out, out, m);
}

/** Montgomery product out = a·b·2^−256 mod m (CIOS, fully unrolled over u64 locals). out may alias a or b. */
export function montMul(out: usize, a: usize, b: usize, m: usize, m0inv: u32): void {
  const M: u64 = 0xffffffff;
  const n0: u64 = <u64>m0inv;
  const b0 = <u64>load<u32>(b, 0); const m0 = <u64>load<u32>(m, 0);
  const b1 = <u64>load<u32>(b, 4); const m1 = <u64>load<u32>(m, 4);
  const b2 = <u64>load<u32>(b, 8); const m2 = <u64>load<u32>(m, 8);
  const b3 = <u64>load<u32>(b, 12); const m3 = <u64>load<u32>(m, 12);
  const b4 = <u64>load<u32>(b, 16); const m4 = <u64>load<u32>(m, 16);
  const b5 = <u64>load<u32>(b, 20); const m5 = <u64>load<u32>(m, 20);
  const b6 = <u64>load<u32>(b, 24); const m6 = <u64>load<u32>(m, 24);
  const b7 = <u64>load<u32>(b, 28); const m7 = <u64>load<u32>(m, 28);
  let t0: u64 = 0, t1: u64 = 0, t2: u64 = 0, t3: u64 = 0, t4: u64 = 0, t5: u64 = 0, t6: u64 = 0, t7: u64 = 0, t8: u64 = 0, t9: u64 = 0;
  let c: u64 = 0;
  let ai: u64 = 0;
  let q: u64 = 0;
  ai = <u64>load<u32>(a, 0);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  ai = <u64>load<u32>(a, 4);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  ai = <u64>load<u32>(a, 8);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  ai = <u64>load<u32>(a, 12);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  ai = <u64>load<u32>(a, 16);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  ai = <u64>load<u32>(a, 20);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  ai = <u64>load<u32>(a, 24);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  ai = <u64>load<u32>(a, 28);
  c = t0 + ai * b0; t0 = c & M; c >>= 32;
  c += t1 + ai * b1; t1 = c & M; c >>= 32;
  c += t2 + ai * b2; t2 = c & M; c >>= 32;
  c += t3 + ai * b3; t3 = c & M; c >>= 32;
  c += t4 + ai * b4; t4 = c & M; c >>= 32;
  c += t5 + ai * b5; t5 = c & M; c >>= 32;
  c += t6 + ai * b6; t6 = c & M; c >>= 32;
  c += t7 + ai * b7; t7 = c & M; c >>= 32;
  c += t8; t8 = c & M; t9 = c >> 32;
  q = (t0 * n0) & M;
  c = (t0 + q * m0) >> 32;
  c += t1 + q * m1; t0 = c & M; c >>= 32;
  c += t2 + q * m2; t1 = c & M; c >>= 32;
  c += t3 + q * m3; t2 = c & M; c >>= 32;
  c += t4 + q * m4; t3 = c & M; c >>= 32;
  c += t5 + q * m5; t4 = c & M; c >>= 32;
  c += t6 + q * m6; t5 = c & M; c >>= 32;
  c += t7 + q * m7; t6 = c & M; c >>= 32;
  c += t8; t7 = c & M; t8 = t9 + (c >> 32);
  store<u32>(out, <u32>t0, 0);
  store<u32>(out, <u32>t1, 4);
  store<u32>(out, <u32>t2, 8);
  store<u32>(out, <u32>t3, 12);
  store<u32>(out, <u32>t4, 16);
  store<u32>(out, <u32>t5, 20);
  store<u32>(out, <u32>t6, 24);
  store<u32>(out, <u32>t7, 28);
  if (t8 != 0 || !lt(out, m)) subRaw(out, out, m);
}

/** −m^−1 mod 2^32 by Newton iteration (m odd). */
export function negInv32(m0: u32): u32 {
  let x: u32 = 1;
  for (let i = 0; i < 5; i++) x = x * (2 - m0 * x);
  return 0 - x;
}

/** 2^512 mod m, by doubling 1 five hundred and twelve times. */
export function r2(out: usize, m: usize): void {
  setZero(out);
  setLimb(out, 0, 1);
  for (let i = 0; i < 512; i++) addMod(out, out, out, m);
}

export function fromBE(out: usize, src: usize): void {
  for (let i = 0; i < LIMBS; i++) setLimb(out, i, bswap<u32>(load<u32>(src + <usize>((7 - i) << 2))));
}

export function setHexConst(out: usize, a: u64, b: u64, c: u64, d: u64): void {
  // a is the most significant 64 bits.
  store<u64>(out, d);
  store<u64>(out, c, 8);
  store<u64>(out, b, 16);
  store<u64>(out, a, 24);
}

/**
 * Width-5 NAF of the 256-bit scalar at `k` into `dst` (Hankerson, Menezes, Vanstone, "Guide to
 * ECC", Alg. 3.35): ≤ 257 signed odd digits in [−15, 15], least significant first, about one
 * non-zero digit in six. Returns the number of digits; dst must hold 257 bytes.
 */
const KBUF: usize = memory.data(40, 16);
export function wnaf5(dst: usize, k: usize): i32 {
  memory.copy(KBUF, k, 32);
  store<u32>(KBUF, 0, 32);
  memory.fill(dst, 0, 257);
  let len = 0;
  let top = 8;
  for (;;) {
    while (top >= 0 && load<u32>(KBUF + (<usize>top << 2)) == 0) top--;
    if (top < 0) break;
    const low = load<u32>(KBUF);
    if (low & 1) {
      let d = <i32>(low & 31);
      if (d >= 16) d -= 32;
      let c: i64 = -<i64>d;
      for (let i = 0; i < 9 && c != 0; i++) {
        const v = <i64>load<u32>(KBUF + (<usize>i << 2)) + c;
        store<u32>(KBUF + (<usize>i << 2), <u32>v);
        c = v >> 32;
      }
      store<i8>(dst + <usize>len, <i8>d);
      if (top < 8 && load<u32>(KBUF + (<usize>(top + 1) << 2)) != 0) top++;
    }
    len++;
    for (let i = 0; i <= top; i++) {
      const cur = load<u32>(KBUF + (<usize>i << 2));
      const next: u32 = load<u32>(KBUF + (<usize>(i + 1) << 2));
      store<u32>(KBUF + (<usize>i << 2), (cur >> 1) | (next << 31));
    }
  }
  return len;
}
