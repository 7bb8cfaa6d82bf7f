/**
 * The WASM P-256 field arithmetic (assembly/p256.ts) against BigInt, operation by operation.
 * Signature tests reach these routines only through whole verifications, where the rare paths
 * are practically never taken: a sum landing in [p, 2^256) (probability about 2^−32 for random
 * operands), a difference that borrows into a value just under p, and the NIST reduction's
 * carry folding back more than once. The operands here are chosen to land on those paths.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { coreExports } from '../../host/core/wasm.js';

const p = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
type FieldExports = { memory: { buffer: ArrayBuffer }; p256_io(): number; p256_field_op(op: number): number };
let x: FieldExports;
beforeAll(async () => {
  await initCore();
  x = coreExports() as unknown as FieldExports;
});

const be = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
function op(code: number, a: bigint, b: bigint): bigint {
  const io = new Uint8Array(x.memory.buffer, x.p256_io(), 96);
  io.set(be(a), 0);
  io.set(be(b), 32);
  expect(x.p256_field_op(code)).toBe(1);
  return BigInt(`0x${Buffer.from(io.subarray(64, 96)).toString('hex')}`);
}
const mod = (v: bigint): bigint => ((v % p) + p) % p;
const rand = (): bigint => mod(BigInt(`0x${randomBytes(32).toString('hex')}`));
const small = (bits: number): bigint => BigInt(`0x${randomBytes(Math.ceil(bits / 8)).toString('hex')}`) % 2n ** BigInt(bits);

/** Operands on the edges: 0, 1, p − 1, (p ± 1)/2, the window [p/2, 2^255) whose doubles land in [p, 2^256), limb patterns, and random values near them. */
function edges(): bigint[] {
  const half = (p - 1n) / 2n;
  const fixed = [0n, 1n, 2n, 3n, p - 1n, p - 2n, p - 3n, half, half + 1n, half + 2n, 2n ** 255n - 1n, 2n ** 255n - 2n ** 223n, 2n ** 224n, 2n ** 224n - 1n, 2n ** 192n, 2n ** 192n - 1n, 2n ** 96n, 2n ** 96n - 1n, 2n ** 32n - 1n, 2n ** 64n - 1n, p - 2n ** 96n, p - 2n ** 192n, p - 2n ** 224n + 2n ** 192n];
  const near: bigint[] = [];
  for (let i = 0; i < 24; i++) {
    near.push(p - 1n - small(64), half + small(200), 2n ** 255n - 1n - small(200), small(64), (2n ** 224n + small(190)) % p, mod(p - 2n ** 224n - small(100)));
  }
  return [...fixed, ...near].map(mod);
}

describe('WASM P-256 field operations agree with BigInt', () => {
  it('a + b and a − b on every pair of edge operands, including sums in [p, 2^256)', () => {
    const e = edges();
    let landed = 0;
    for (const a of e) {
      for (const b of e) {
        expect(op(0, a, b)).toBe(mod(a + b));
        expect(op(1, a, b)).toBe(mod(a - b));
        if (a + b >= p && a + b < 2n ** 256n) landed++;
      }
    }
    // The rare window is really reached (it is the branch random inputs miss).
    expect(landed).toBeGreaterThan(100);
  });

  it('a·b, a² and k·a on edge and random operands', () => {
    const e = [...edges(), ...Array.from({ length: 40 }, rand)];
    for (const a of e) {
      expect(op(3, a, 0n)).toBe(mod(a * a));
      for (const k of [2n, 3n, 4n, 8n, 2n ** 32n - 1n]) expect(op(4, a, k)).toBe(mod(a * k));
      for (const b of e) expect(op(2, a, b)).toBe(mod(a * b));
    }
  });

  it('10,000 random products, squares, sums and differences', () => {
    for (let i = 0; i < 10_000; i++) {
      const a = rand(), b = rand();
      expect(op(2, a, b)).toBe(mod(a * b));
      expect(op(3, a, 0n)).toBe(mod(a * a));
      expect(op(0, a, b)).toBe(mod(a + b));
      expect(op(1, a, b)).toBe(mod(a - b));
    }
  });

  it('a⁻¹ (invModP: several factors of 2 per step) on edge and random operands, and powers of 2 that need the 32-bit step cap', () => {
    const inv = (a: bigint): bigint => {
      let [r, e, b] = [1n, p - 2n, a];
      while (e > 0n) {
        if (e & 1n) r = (r * b) % p;
        b = (b * b) % p;
        e >>= 1n;
      }
      return r;
    };
    const ops = [...edges().filter((a) => a !== 0n), ...Array.from({ length: 300 }, rand), ...[1n, 32n, 33n, 63n, 64n, 65n, 128n, 200n, 255n].map((k) => 2n ** k % p), 2n ** 200n + 1n, 3n * 2n ** 100n];
    for (const a of ops) {
      const got = op(5, a, 0n);
      expect(got).toBe(inv(a));
      expect((got * a) % p).toBe(1n);
    }
    // 0 has no inverse: 0 comes out, and the call returns (the binary algorithm would loop forever on it).
    expect(op(5, 0n, 0n)).toBe(0n);
  });

  it('refuses an unknown operation', () => {
    expect(x.p256_field_op(9)).toBe(0);
  });
});
