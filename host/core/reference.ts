/**
 * Reference twin of the WASM Merkle core, on node:crypto (STYLE.md point 8). Same API and the same
 * coded errors as host/core/index.ts (sha256, leafHash, nodeHash, leafHashes, levelHashes,
 * rootFromLeafHashes, inclusionProof, consistencyProof, verifyInclusion, verifyConsistency); the
 * shared suite in test/core/ runs against both. Deliberately the plain recursive RFC 6962 form,
 * unlike the level-by-level WASM core, so the two formulations check each other.
 *
 * Hashing per RFC 6962 §2.1: leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || l || r); the MTH of
 * an empty tree is SHA-256(""). Proof generation per RFC 6962 §2.1.1 (PATH) and §2.1.2 (PROOF/SUBPROOF);
 * verification per RFC 9162 §2.1.3.2 and §2.1.4.2.
 */
import { createHash } from 'node:crypto';
import { CoreError } from './errors.js';

const HASH = 32;

function sha256Parts(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function checkBytes(data: unknown, what: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new CoreError('CORE_BAD_LENGTH', `${what} must be a Uint8Array`);
}

/** SHA-256 (FIPS 180-4) of data. */
export function sha256(data: Uint8Array): Uint8Array {
  checkBytes(data, 'data');
  return sha256Parts(data);
}

const LEAF_PREFIX = Uint8Array.of(0);
const NODE_PREFIX = Uint8Array.of(1);

export function leafHash(leaf: Uint8Array): Uint8Array {
  checkBytes(leaf, 'leaf');
  return sha256Parts(LEAF_PREFIX, leaf);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  checkHash(left, 'left');
  checkHash(right, 'right');
  return sha256Parts(NODE_PREFIX, left, right);
}

export async function initCore(): Promise<void> {
  /* nothing to load */
}

export function leafHashes(leaves: Uint8Array[]): Uint8Array {
  if (!Array.isArray(leaves)) throw new CoreError('CORE_BAD_LENGTH', 'leaves must be an array of Uint8Array');
  leaves.forEach((l, i) => {
    if (!(l instanceof Uint8Array)) checkBytes(l, `leaves[${i}]`);
  });
  const out = new Uint8Array(leaves.length * HASH);
  leaves.forEach((l, i) => out.set(leafHash(l), i * HASH));
  return out;
}

function checkPacked(packed: Uint8Array): number {
  if (!(packed instanceof Uint8Array) || packed.length % HASH !== 0) {
    throw new CoreError('CORE_BAD_LENGTH', 'packed leaf hashes must be a multiple of 32 bytes');
  }
  return packed.length / HASH;
}

function checkHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH) {
    throw new CoreError('CORE_BAD_LENGTH', `${what} must be 32 bytes`);
  }
}

function checkProof(proof: Uint8Array[]): void {
  if (!Array.isArray(proof)) throw new CoreError('CORE_BAD_LENGTH', 'proof must be an array of 32-byte hashes');
}

/** Exact for every safe integer (Math.log2 rounds 2^50 + 1 to 50). */
function isPowerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}

function isSafeCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Largest power of two strictly less than n (n >= 2). RFC 6962 §2.1 "k". */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function mth(packed: Uint8Array, lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 0) return sha256Parts();
  if (n === 1) return packed.slice(lo * HASH, (lo + 1) * HASH);
  const k = splitPoint(n);
  return nodeHash(mth(packed, lo, lo + k), mth(packed, lo + k, hi));
}

export function rootFromLeafHashes(packed: Uint8Array): Uint8Array {
  const n = checkPacked(packed);
  return mth(packed, 0, n);
}

/** Parents of adjacent pairs, packed; an odd last node is left out (see host/core/merkle.ts). */
export function levelHashes(packed: Uint8Array): Uint8Array {
  const n = checkPacked(packed);
  const out = new Uint8Array(Math.floor(n / 2) * HASH);
  for (let i = 0; i + 1 < n; i += 2) {
    out.set(nodeHash(packed.subarray(i * HASH, (i + 1) * HASH), packed.subarray((i + 1) * HASH, (i + 2) * HASH)), (i / 2) * HASH);
  }
  return out;
}

function path(packed: Uint8Array, m: number, lo: number, hi: number, out: Uint8Array[]): void {
  const n = hi - lo;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    path(packed, m, lo, lo + k, out);
    out.push(mth(packed, lo + k, hi));
  } else {
    path(packed, m - k, lo + k, hi, out);
    out.push(mth(packed, lo, lo + k));
  }
}

export function inclusionProof(packedLeafHashes: Uint8Array, index: number): Uint8Array[] {
  const n = checkPacked(packedLeafHashes);
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new CoreError('CORE_BAD_INDEX', `index ${index} out of range for tree size ${n}`);
  }
  const out: Uint8Array[] = [];
  path(packedLeafHashes, index, 0, n, out);
  return out;
}

function subproof(packed: Uint8Array, m: number, lo: number, hi: number, b: boolean, out: Uint8Array[]): void {
  const n = hi - lo;
  if (m === n) {
    if (!b) out.push(mth(packed, lo, hi));
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproof(packed, m, lo, lo + k, b, out);
    out.push(mth(packed, lo + k, hi));
  } else {
    subproof(packed, m - k, lo + k, hi, false, out);
    out.push(mth(packed, lo, lo + k));
  }
}

export function consistencyProof(packedLeafHashes: Uint8Array, size1: number): Uint8Array[] {
  const n = checkPacked(packedLeafHashes);
  if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > n) {
    throw new CoreError('CORE_BAD_SIZE', `size1 ${size1} must be in [1, ${n}]`);
  }
  const out: Uint8Array[] = [];
  if (size1 === n) return out;
  subproof(packedLeafHashes, size1, 0, n, true, out);
  return out;
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** RFC 9162 §2.1.3.2. Returns false for any proof that does not verify, including wrong shapes. */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: Uint8Array[],
  root: Uint8Array,
): boolean {
  checkHash(leafHash, 'leaf hash');
  checkHash(root, 'root');
  checkProof(proof);
  if (!isSafeCount(index) || !isSafeCount(treeSize) || index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (!(p instanceof Uint8Array) || p.length !== HASH) return false;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(r, root);
}

/**
 * RFC 9162 §2.1.4.2. size1 = 0 is always rejected (the transparency-dev vectors treat any proof
 * from the empty tree as an error); size1 = size2 needs an empty proof and equal roots. Roots that
 * are not Uint8Array throw CORE_BAD_LENGTH; roots of another length than 32 simply do not verify.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  checkBytes(root1, 'root1');
  checkBytes(root2, 'root2');
  checkProof(proof);
  if (!isSafeCount(size1) || !isSafeCount(size2) || size1 < 1 || size1 > size2) return false;
  for (const p of proof) if (!(p instanceof Uint8Array) || p.length !== HASH) return false;
  // Equal sizes are a plain comparison of the two roots, whatever their length (transparency-dev
  // vector consistency/additional/sizes-are-equal-one-and-proof-is-empty uses 12-byte "roots").
  if (size1 === size2) return proof.length === 0 && eq(root1, root2);
  if (root1.length !== HASH || root2.length !== HASH) return false;
  if (proof.length === 0) return false;
  let path = proof;
  // If size1 is an exact power of two, root1 is the first node of the subtree (RFC 9162 step 2).
  if (isPowerOfTwo(size1)) path = [root1, ...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(fr, root1) && eq(sr, root2);
}
