import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ref from '../../host/core/reference.js';
import { CoreError, coreFlavour, simdEnabled } from '../../host/core/index.js';
import { coreExports } from '../../host/core/wasm.js';
import { hex, impls, prng, unhex, type CoreApi } from './impls.js';

const VECTORS = fileURLToPath(new URL('../../conformance/vectors/transparency-dev-merkle/', import.meta.url));

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? jsonFiles(p) : name.endsWith('.json') ? [p] : [];
  });
}

const b64 = (s: string | null | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? '', 'base64'));

/** "Error" in the transparency-dev sense: false, or a coded CoreError for a malformed input. */
function outcome(fn: () => boolean): 'ok' | 'error' {
  try {
    return fn() ? 'ok' : 'error';
  } catch (err) {
    if (err instanceof CoreError) return 'error';
    throw err;
  }
}

interface InclusionProbe { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; desc: string; wantErr: boolean }
interface ConsistencyProbe { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; desc: string; wantErr: boolean }

const inclusionProbes = jsonFiles(join(VECTORS, 'testdata/inclusion')).map((f) => ({ f, v: JSON.parse(readFileSync(f, 'utf8')) as InclusionProbe }));
const consistencyProbes = jsonFiles(join(VECTORS, 'testdata/consistency')).map((f) => ({ f, v: JSON.parse(readFileSync(f, 'utf8')) as ConsistencyProbe }));
const rfc = JSON.parse(readFileSync(join(VECTORS, 'rfc6962-reference.json'), 'utf8')) as {
  hasher: { desc: string; input_hex?: string; left_hex?: string; right_hex?: string; want: string }[];
  leafInputs: string[];
  leafHashes: string[];
  rootsBySize: string[];
  publishedInclusionProofs: { leafIndex: number; treeSize: number; root: string; leafHash: string; proof: string[] }[];
  derivedAllInclusionProofs: { leafIndex: number; treeSize: number; root: string; leafHash: string; proof: string[] }[];
  publishedConsistencyProofs: { size1: number; size2: number; root1: string; root2: string; proof: string[] }[];
  derivedAllConsistencyProofs: { size1: number; size2: number; root1: string; root2: string; proof: string[] }[];
};

/** Leaf hashes of a random tree, computed with node:crypto directly (independent of both impls). */
const trees = new Map<string, { leaves: Uint8Array[]; packed: Uint8Array }>();
function randomTree(n: number, seed: number): { leaves: Uint8Array[]; packed: Uint8Array } {
  const key = `${n}:${seed}`;
  const hit = trees.get(key);
  if (hit) return hit;
  const r = prng(seed);
  const leaves = Array.from({ length: n }, () => r.bytes(r.int(5) === 0 ? 32 : r.int(120)));
  const packed = new Uint8Array(n * 32);
  leaves.forEach((l, i) => packed.set(createHash('sha256').update(Uint8Array.of(0)).update(l).digest(), i * 32));
  if (n > 1000) trees.set(key, { leaves, packed }); // shared by the three implementations
  return { leaves, packed };
}

/** Indices / sizes to probe in a tree of n: all of them for small n, edges and a sample above. */
function probes(n: number, from: number, r: ReturnType<typeof prng>, all: number): number[] {
  if (n - from <= all) return Array.from({ length: n - from }, (_, i) => from + i);
  const s = new Set<number>([from, n - 1, Math.floor(n / 2)]);
  for (let p = 32; p < n; p *= 2) for (const q of [p, p + 1]) if (q >= from && q < n) s.add(q);
  for (let i = 0; i < 3; i++) s.add(from + r.int(n - from));
  return [...s].sort((a, b) => a - b);
}

const nodeSha = (l: Uint8Array, r: Uint8Array): Uint8Array =>
  new Uint8Array(createHash('sha256').update(Uint8Array.of(1)).update(l).update(r).digest());

/**
 * Test oracle, independent of both implementations: every node of the tree, level by level, as
 * [lo, hi) ranges of RFC 6962 §2.1 (an odd last node is the same subtree one level up). Proofs
 * are then plain look-ups; the reference twin's recursive PATH/SUBPROOF must agree with it, and
 * rfc6962-reference.json (an independent implementation) pins both for sizes 1..8.
 */
class Oracle {
  readonly levels: Uint8Array[][];
  constructor(packed: Uint8Array) {
    let level = Array.from({ length: packed.length / 32 }, (_, i) => packed.subarray(i * 32, i * 32 + 32));
    this.levels = [level];
    while (level.length > 1) {
      const up: Uint8Array[] = [];
      for (let i = 0; i + 1 < level.length; i += 2) up.push(nodeSha(level[i]!, level[i + 1]!));
      if (level.length % 2 === 1) up.push(level.at(-1)!);
      this.levels.push((level = up));
    }
  }
  root(): Uint8Array {
    return this.levels.length === 1 && this.levels[0]!.length === 0 ? new Uint8Array(createHash('sha256').digest()) : this.levels.at(-1)![0]!;
  }
  /** Siblings of node `index` of level `level` up to the root. */
  path(level: number, index: number): string[] {
    const out: string[] = [];
    for (let l = level; this.levels[l]!.length > 1; l++, index >>= 1) {
      const sib = this.levels[l]![index ^ 1];
      if (sib) out.push(hex(sib));
    }
    return out;
  }
  /** MTH(D[0:m]): the full subtrees that m's binary digits name, folded right to left. */
  prefixRoot(m: number): Uint8Array {
    if (m === 0) return new Uint8Array(createHash('sha256').digest());
    const nodes: Uint8Array[] = [];
    for (let b = 30, start = 0; b >= 0; b--) {
      if ((m >> b) & 1) {
        nodes.push(this.levels[b]![start >> b]!);
        start += 1 << b;
      }
    }
    return nodes.reduceRight((acc, node) => nodeSha(node, acc));
  }
  inclusion(i: number): string[] {
    return this.path(0, i);
  }
  /** RFC 6962 §2.1.2: the largest full subtree ending at m (omitted if it is root1), then its path. */
  consistency(m: number): string[] {
    const n = this.levels[0]!.length;
    if (m === n) return [];
    let l = 0;
    while (((m >> l) & 1) === 0) l++;
    const idx = (m - 1) >> l;
    return [...(idx === 0 ? [] : [hex(this.levels[l]![idx]!)]), ...this.path(l, idx)];
  }
}

function checkTree(api: CoreApi, n: number, seed: number, all: number, extra: number[] = []): void {
  const { leaves, packed } = randomTree(n, seed);
  const oracle = new Oracle(packed);
  expect(hex(api.leafHashes(leaves)), `leaf hashes n=${n}`).toBe(hex(packed));
  const root = api.rootFromLeafHashes(packed);
  expect(hex(root), `root n=${n}`).toBe(hex(oracle.root()));
  const r = prng(seed ^ 0x5eed);
  const sample = (from: number): number[] =>
    all > 0 ? probes(n + from, from, r, all) : [from, n - 1, from + r.int(n), ...extra].filter((x) => x >= from && x <= n - 1 + from);
  for (const i of sample(0)) {
    const proof = api.inclusionProof(packed, i);
    expect(proof.map(hex), `inclusion ${i}@${n}`).toEqual(oracle.inclusion(i));
    const leaf = packed.subarray(i * 32, i * 32 + 32);
    expect(api.verifyInclusion(leaf, i, n, proof, root), `verify inclusion ${i}@${n}`).toBe(true);
    if (proof.length > 0 && i % 3 === 0) {
      expect(api.verifyInclusion(leaf, i, n, proof.slice(0, -1), root)).toBe(false);
      expect(api.verifyInclusion(leaf, i, n, [...proof.slice(0, -1), flip(proof.at(-1)!, 255)], root)).toBe(false);
      expect(api.verifyInclusion(leaf, i, n, proof, flip(root, 7))).toBe(false);
    }
  }
  for (const m of sample(1)) {
    const proof = api.consistencyProof(packed, m);
    expect(proof.map(hex), `consistency ${m}->${n}`).toEqual(oracle.consistency(m));
    const root1 = oracle.prefixRoot(m);
    expect(api.verifyConsistency(m, n, proof, root1, root), `verify consistency ${m}->${n}`).toBe(true);
    if (proof.length > 0 && m % 3 === 0) {
      expect(api.verifyConsistency(m, n, proof.slice(0, -1), root1, root)).toBe(false);
      expect(api.verifyConsistency(m, n, proof, flip(root1), root)).toBe(false);
      expect(api.verifyConsistency(m, n, [flip(proof[0]!, 100), ...proof.slice(1)], root1, root)).toBe(false);
    }
  }
}

function flip(b: Uint8Array, bit = 0): Uint8Array {
  const c = b.slice();
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

describe.each(impls)('merkle: $name', ({ api, setup, wasm, name }) => {
  beforeAll(setup);

  it('runs on the selected path (release build)', () => {
    if (!wasm) return;
    expect(simdEnabled()).toBe(name.includes('SIMD'));
    expect(coreFlavour()).toBe('release');
  });

  describe('transparency-dev/merkle probes', () => {
    it(`inclusion: all ${inclusionProbes.length} probes`, () => {
      expect(inclusionProbes.length).toBe(98);
      for (const { f, v } of inclusionProbes) {
        const got = outcome(() => api.verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64), b64(v.root)));
        expect(got, `${f}: ${v.desc}`).toBe(v.wantErr ? 'error' : 'ok');
      }
    });

    it(`consistency: all ${consistencyProbes.length} probes`, () => {
      expect(consistencyProbes.length).toBe(98);
      for (const { f, v } of consistencyProbes) {
        const got = outcome(() => api.verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2)));
        expect(got, `${f}: ${v.desc}`).toBe(v.wantErr ? 'error' : 'ok');
      }
    });
  });

  describe('RFC 6962 reference tree (rfc6962-reference.json)', () => {
    const leaves = rfc.leafInputs.map(unhex);

    it('hasher vectors', () => {
      expect(hex(api.rootFromLeafHashes(new Uint8Array(0)))).toBe(rfc.hasher[0]!.want);
      expect(hex(api.leafHash(unhex(rfc.hasher[1]!.input_hex!)))).toBe(rfc.hasher[1]!.want);
      expect(hex(api.leafHash(unhex(rfc.hasher[2]!.input_hex!)))).toBe(rfc.hasher[2]!.want);
      // The node vector uses 4-byte children, so it is SHA-256(0x01 || l || r) on raw bytes.
      const node = rfc.hasher[3]!;
      expect(hex(api.sha256(unhex('01' + node.left_hex! + node.right_hex!)))).toBe(node.want);
    });

    it('leaf hashes and the root of every prefix', () => {
      const packed = api.leafHashes(leaves);
      expect(rfc.leafHashes.map((h, i) => hex(packed.subarray(i * 32, i * 32 + 32)) === h)).not.toContain(false);
      for (let k = 0; k <= 8; k++) expect(hex(api.rootFromLeafHashes(packed.subarray(0, k * 32))), `size ${k}`).toBe(rfc.rootsBySize[k]);
    });

    it('generates the published and all derived inclusion proofs byte for byte', () => {
      const packed = api.leafHashes(leaves);
      for (const p of [...rfc.publishedInclusionProofs, ...rfc.derivedAllInclusionProofs]) {
        const proof = api.inclusionProof(packed.subarray(0, p.treeSize * 32), p.leafIndex);
        expect(proof.map(hex), `${p.leafIndex}@${p.treeSize}`).toEqual(p.proof);
        expect(api.verifyInclusion(unhex(p.leafHash), p.leafIndex, p.treeSize, proof, unhex(p.root))).toBe(true);
      }
    });

    it('generates the published and all derived consistency proofs byte for byte', () => {
      const packed = api.leafHashes(leaves);
      for (const p of [...rfc.publishedConsistencyProofs, ...rfc.derivedAllConsistencyProofs]) {
        const proof = api.consistencyProof(packed.subarray(0, p.size2 * 32), p.size1);
        expect(proof.map(hex), `${p.size1}->${p.size2}`).toEqual(p.proof);
        expect(api.verifyConsistency(p.size1, p.size2, proof, unhex(p.root1), unhex(p.root2))).toBe(true);
      }
    });
  });

  it('random trees of every size 0..300: roots, every proof up to size 64, a wide sample above', () => {
    for (let n = 0; n <= 300; n++) checkTree(api, n, 1000 + n, 64);
  });

  // The twin's O(n)-per-proof recursion makes big trees slow there; the WASM paths are what chunk.
  it.runIf(wasm)('large trees spanning several WASM buffer chunks (2^16 leaves each)', () => {
    for (const n of [65537, 2 * 65536 + 3]) checkTree(api, n, 7 + n, 0, [65535, 65536]);
  });

  it('leaf hashes of leaves larger than the WASM input buffer (streamed) mixed with small ones', () => {
    const r = prng(77);
    const leaves = [r.bytes(10), r.bytes((1 << 20) + 3), r.bytes(32), r.bytes(3 << 20), r.bytes(0)];
    const want = leaves.map((l) => createHash('sha256').update(Uint8Array.of(0)).update(l).digest('hex')).join('');
    expect(hex(api.leafHashes(leaves))).toBe(want);
  });

  it('level hashes: adjacent pairs, odd last node left out', () => {
    const { packed } = randomTree(9, 99);
    const level = api.levelHashes(packed);
    expect(level.length).toBe(4 * 32);
    for (let i = 0; i < 4; i++) {
      const want = ref.nodeHash(packed.subarray(64 * i, 64 * i + 32), packed.subarray(64 * i + 32, 64 * i + 64));
      expect(hex(level.subarray(32 * i, 32 * i + 32))).toBe(hex(want));
    }
    // A full 8-leaf subtree reduced three times is its root.
    const eight = packed.subarray(0, 8 * 32);
    expect(hex(api.levelHashes(api.levelHashes(api.levelHashes(eight))))).toBe(hex(api.rootFromLeafHashes(eight)));
  });

  describe('negative cases', () => {
    const { packed } = randomTree(13, 42);
    const root = ref.rootFromLeafHashes(packed);
    const leaf = packed.subarray(0, 32);
    const proof = ref.inclusionProof(packed, 5);
    const code = (c: string) => expect.objectContaining({ code: c });

    it('wrong sizes throw CORE_BAD_LENGTH', () => {
      expect(() => api.rootFromLeafHashes(new Uint8Array(31))).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.inclusionProof(new Uint8Array(33), 0)).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.consistencyProof(new Uint8Array(65), 1)).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.levelHashes(new Uint8Array(1))).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.leafHashes([new Uint8Array(1), 'x' as unknown as Uint8Array])).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.leafHashes('x' as unknown as Uint8Array[])).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.nodeHash(new Uint8Array(32), new Uint8Array(31))).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.verifyInclusion(leaf.subarray(1), 5, 13, proof, root)).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.verifyInclusion(leaf, 5, 13, proof, new Uint8Array(33))).toThrow(code('CORE_BAD_LENGTH'));
      expect(() => api.verifyConsistency(1, 2, [], 'x' as unknown as Uint8Array, root)).toThrow(code('CORE_BAD_LENGTH'));
      expect(api.verifyConsistency(7, 13, ref.consistencyProof(packed, 7), new Uint8Array(31), root)).toBe(false);
      expect(() => api.verifyInclusion(leaf, 5, 13, 'x' as unknown as Uint8Array[], root)).toThrow(code('CORE_BAD_LENGTH'));
    });

    it('index >= size and non-integer indices throw CORE_BAD_INDEX', () => {
      for (const i of [13, 14, -1, 1.5, Number.NaN, 2 ** 53]) expect(() => api.inclusionProof(packed, i)).toThrow(code('CORE_BAD_INDEX'));
      expect(() => api.inclusionProof(new Uint8Array(0), 0)).toThrow(code('CORE_BAD_INDEX'));
    });

    it('consistency from size 0 or beyond the tree throws CORE_BAD_SIZE', () => {
      for (const m of [0, 14, -1, 2.5]) expect(() => api.consistencyProof(packed, m)).toThrow(code('CORE_BAD_SIZE'));
      expect(() => api.consistencyProof(new Uint8Array(0), 0)).toThrow(code('CORE_BAD_SIZE'));
      expect(api.consistencyProof(packed, 13)).toEqual([]);
    });

    it('inclusion verification rejects bad shapes and numbers', () => {
      const leaf5 = packed.subarray(5 * 32, 6 * 32);
      expect(api.verifyInclusion(leaf5, 5, 13, proof, root)).toBe(true);
      expect(api.verifyInclusion(leaf5, 5, 13, proof.slice(0, -1), root)).toBe(false); // truncated
      expect(api.verifyInclusion(leaf5, 5, 13, [...proof, proof[0]!], root)).toBe(false); // trailing
      expect(api.verifyInclusion(leaf5, 5, 13, [proof[0]!.subarray(1), ...proof.slice(1)], root)).toBe(false);
      expect(api.verifyInclusion(leaf5, 13, 13, proof, root)).toBe(false); // index >= size
      expect(api.verifyInclusion(leaf5, 5, 0, [], root)).toBe(false);
      expect(api.verifyInclusion(leaf5, 5, 8, proof, root)).toBe(false); // shape of another size
      expect(api.verifyInclusion(leaf5, -5, 13, proof, root)).toBe(false);
      expect(api.verifyInclusion(leaf5, 5, 2 ** 53, proof, root)).toBe(false);
      expect(api.verifyInclusion(leaf5, 5.5, 13, proof, root)).toBe(false);
      expect(api.verifyInclusion(leaf5, 5, 13, Array.from({ length: 200 }, () => proof[0]!), root)).toBe(false);
    });

    it('consistency verification rejects size 0, size1 > size2 and bad proofs', () => {
      const root7 = ref.rootFromLeafHashes(packed.subarray(0, 7 * 32));
      const proof7 = ref.consistencyProof(packed, 7);
      expect(api.verifyConsistency(7, 13, proof7, root7, root)).toBe(true);
      expect(api.verifyConsistency(0, 13, proof7, root7, root)).toBe(false);
      expect(api.verifyConsistency(0, 0, [], root, root)).toBe(false); // even 0 -> 0
      expect(api.verifyConsistency(13, 7, proof7, root, root7)).toBe(false);
      expect(api.verifyConsistency(7, 13, proof7.slice(0, -1), root7, root)).toBe(false);
      expect(api.verifyConsistency(7, 13, [], root7, root)).toBe(false);
      expect(api.verifyConsistency(7, 13, [...proof7, proof7[0]!], root7, root)).toBe(false);
      expect(api.verifyConsistency(7, 13, proof7, root, root7)).toBe(false);
      expect(api.verifyConsistency(13, 13, [], root, root)).toBe(true);
      expect(api.verifyConsistency(13, 13, [root], root, root)).toBe(false);
      expect(api.verifyConsistency(13, 13, [], root, root7)).toBe(false);
      expect(api.verifyConsistency(7, 2 ** 53, proof7, root7, root)).toBe(false);
    });
  });

  it.runIf(wasm)('WASM memory does not grow over 100,000 calls', () => {
    const memory = (coreExports() as unknown as { memory: { buffer: ArrayBuffer } }).memory;
    const before = memory.buffer;
    const bytes = before.byteLength;
    const { packed } = randomTree(33, 5);
    const root = api.rootFromLeafHashes(packed);
    const proof = api.inclusionProof(packed, 17);
    const leaf = packed.subarray(17 * 32, 18 * 32);
    const msg = new Uint8Array(100);
    for (let i = 0; i < 100_000; i++) {
      switch (i % 5) {
        case 0: api.sha256(msg); break;
        case 1: api.leafHash(msg); break;
        case 2: api.nodeHash(leaf, root); break;
        case 3: if (!api.verifyInclusion(leaf, 17, 33, proof, root)) throw new Error('verify failed'); break;
        default: api.rootFromLeafHashes(packed.subarray(0, (i % 33) * 32));
      }
    }
    expect(memory.buffer).toBe(before);
    expect(memory.buffer.byteLength).toBe(bytes);
  });
});
