/**
 * The implementations one shared suite runs against (STYLE.md point 8): the node:crypto twin and the
 * WASM core on its 4-lane SIMD and its scalar path. Test helper only.
 */
import * as wasm from '../../host/core/index.js';
import * as ref from '../../host/core/reference.js';

export interface CoreApi {
  initCore(): Promise<void>;
  sha256(data: Uint8Array): Uint8Array;
  leafHash(leaf: Uint8Array): Uint8Array;
  nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array;
  leafHashes(leaves: Uint8Array[]): Uint8Array;
  levelHashes(packed: Uint8Array): Uint8Array;
  rootFromLeafHashes(packed: Uint8Array): Uint8Array;
  inclusionProof(packed: Uint8Array, index: number): Uint8Array[];
  consistencyProof(packed: Uint8Array, size1: number): Uint8Array[];
  verifyInclusion(leafHash: Uint8Array, index: number, treeSize: number, proof: Uint8Array[], root: Uint8Array): boolean;
  verifyConsistency(size1: number, size2: number, proof: Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean;
}

export interface Impl {
  name: string;
  api: CoreApi;
  wasm: boolean;
  /** Runs in beforeAll: loads the module and selects the path. */
  setup(): Promise<void>;
}

export const impls: Impl[] = [
  { name: 'reference (node:crypto)', api: ref, wasm: false, setup: () => ref.initCore() },
  {
    name: 'wasm SIMD',
    api: wasm,
    wasm: true,
    setup: async () => {
      await wasm.initCore();
      wasm.setSimd(true);
    },
  },
  {
    name: 'wasm scalar',
    api: wasm,
    wasm: true,
    setup: async () => {
      await wasm.initCore();
      wasm.setSimd(false);
    },
  },
];

/** Deterministic xorshift32 so failures reproduce; seeded per test. */
export function prng(seed: number): { next(): number; int(n: number): number; bytes(n: number): Uint8Array } {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    next,
    int: (n: number) => next() % n,
    bytes: (n: number) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = next() & 0xff;
      return b;
    },
  };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
