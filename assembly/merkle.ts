// RFC 6962 Merkle trees over the SHA-256 core: level hashing, tree roots (MTH), inclusion and
// consistency proof generation (RFC 6962 §2.1.1–2.1.2) and verification (RFC 9162 §2.1.3–2.1.4).
//
// Trees are handled level by level, the way RFC 6962's recursive MTH unrolls: at every level the
// nodes are hashed in adjacent pairs and an odd last node is carried up unchanged. Node j of level
// l is then MTH(D[j·2^l : min((j+1)·2^l, n)]) — exactly the subtrees RFC 6962 §2.1 splits into,
// because its split point k (the largest power of two below n) always falls on a level boundary.
// That gives proofs as "siblings on the way up" and lets whole levels go through the 4-lane
// SIMD node hasher.
//
// ABI: the host writes up to MERKLE_CAPACITY packed 32-byte hashes into MERKLE_BUFFER; routines
// work on it IN PLACE (it is scratch; the host copies its input in for every call) and write
// proofs into MERKLE_PROOF and roots into MERKLE_BUFFER[0..32). Trees larger than the buffer are
// split by the host into aligned chunks of MERKLE_CAPACITY leaves (a power of two), whose roots
// are themselves the nodes of level log2(MERKLE_CAPACITY).

import { hashNodePairs, nodeHashScalar, emptyHash } from './sha256-core';

/** Leaf hashes per call; a power of two so chunk roots are tree nodes. */
const MERKLE_CAPACITY: i32 = 1 << 16;
/** Longest proof accepted or produced: inclusion <= 64, consistency <= 2·64 for 64-bit sizes. */
const MERKLE_PROOF_CAPACITY: i32 = 130;

// 16 bytes of slack before the buffer: the SIMD node loader reads the byte before each pair.
const BUF: usize = memory.data(MERKLE_CAPACITY * 32 + 32, 16) + 16;
const PROOF: usize = memory.data(MERKLE_PROOF_CAPACITY * 32, 16);
// Verification inputs: leaf hash / root1 at IO[0..32), root / root2 at IO[32..64); also the
// operands of merkle_node_hash. FR/SR are the running hashes of RFC 9162's algorithms.
const IO: usize = memory.data(64, 16);
const FR: usize = memory.data(32, 16);
const SR: usize = memory.data(32, 16);

/** Replaces the `count` nodes of a level by the next level up (odd last node carried up). */
function reduce(count: i32): i32 {
  const half = count >> 1;
  hashNodePairs(BUF, half, BUF);
  if (count & 1) {
    memory.copy(BUF + (<usize>half << 5), BUF + (<usize>(count - 1) << 5), 32);
    return half + 1;
  }
  return half;
}

function equal32(a: usize, b: usize): bool {
  // Not constant-time on purpose: roots and proofs are public.
  return load<u64>(a, 0) == load<u64>(b, 0) && load<u64>(a, 8) == load<u64>(b, 8) &&
    load<u64>(a, 16) == load<u64>(b, 16) && load<u64>(a, 24) == load<u64>(b, 24);
}

// ---------------------------------------------------------------------------------------------
// Exports for the host

export function merkle_buffer(): usize { return BUF; }
export function merkle_capacity(): i32 { return MERKLE_CAPACITY; }
export function merkle_proof(): usize { return PROOF; }
export function merkle_proof_capacity(): i32 { return MERKLE_PROOF_CAPACITY; }
export function merkle_io(): usize { return IO; }

/**
 * Hashes the `count` nodes in MERKLE_BUFFER in adjacent pairs, in place: the floor(count/2)
 * parents land in slots 0.. (an odd last node is NOT carried up; tiles never contain it).
 * Returns the number of parents.
 */
export function merkle_level(count: i32): i32 {
  const half = count >> 1;
  hashNodePairs(BUF, half, BUF);
  return half;
}

/**
 * MTH (RFC 6962 §2.1) of the `count` leaf hashes in MERKLE_BUFFER, written to MERKLE_BUFFER[0..32).
 * count = 0 gives SHA-256 of the empty string. Destroys the buffer.
 */
export function merkle_root(count: i32): void {
  if (count == 0) {
    emptyHash(BUF);
    return;
  }
  while (count > 1) count = reduce(count);
}

/**
 * The audit path of node `index` at level `level` in the tree whose `count` leaf hashes are in
 * MERKLE_BUFFER, into MERKLE_PROOF; with `withNode` the node itself comes first. Returns the
 * number of hashes written. Destroys the buffer.
 *
 *  - inclusion proof of leaf m (RFC 6962 §2.1.1 PATH): level 0, index m, without the node;
 *  - consistency proof from size m (§2.1.2 PROOF): the largest full subtree ending at m is node
 *    (m-1) >> l of level l = ctz(m); the proof is that node — omitted when m is a power of two,
 *    because then it is the old root the verifier already holds (SUBPROOF's b = true case) —
 *    followed by its path up the new tree. Each element matches the order of SUBPROOF's output.
 */
export function merkle_node_path(count: i32, level: i32, index: i32, withNode: i32): i32 {
  for (let l = 0; l < level; l++) count = reduce(count);
  let out = 0;
  if (withNode) {
    memory.copy(PROOF, BUF + (<usize>index << 5), 32);
    out = 1;
  }
  let m = index;
  while (count > 1) {
    const sibling = m ^ 1;
    if (sibling < count) {
      memory.copy(PROOF + (<usize>out << 5), BUF + (<usize>sibling << 5), 32);
      out++;
    }
    count = reduce(count);
    m >>= 1;
  }
  return out;
}

/** H(0x01 || IO[0..32) || IO[32..64)) into IO[0..32). */
export function merkle_node_hash(): void {
  nodeHashScalar(IO, IO + 32, IO);
}

/**
 * RFC 9162 §2.1.3.2: does the `proofLen` hashes in MERKLE_PROOF prove the leaf hash IO[0..32) at
 * `index` in the tree of `size` leaves with root IO[32..64)? Sizes come as f64 (exact integers up
 * to 2^53; the host rejects anything else). Returns 1 or 0.
 */
export function merkle_verify_inclusion(index: f64, size: f64, proofLen: i32): i32 {
  let fn = <u64>index;
  let sn = <u64>size;
  if (fn >= sn || proofLen > MERKLE_PROOF_CAPACITY) return 0;
  sn -= 1;
  memory.copy(FR, IO, 32);
  for (let i = 0; i < proofLen; i++) {
    if (sn == 0) return 0;
    const p = PROOF + (<usize>i << 5);
    if ((fn & 1) == 1 || fn == sn) {
      nodeHashScalar(p, FR, FR);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      nodeHashScalar(FR, p, FR);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && equal32(FR, IO + 32) ? 1 : 0;
}

/**
 * RFC 9162 §2.1.4.2: does the `proofLen` hashes in MERKLE_PROOF prove that the tree of size1
 * with root IO[0..32) is a prefix of the tree of size2 with root IO[32..64)? size1 = 0 is rejected
 * (as the transparency-dev verifier does); size1 = size2 needs an empty proof and equal roots.
 */
export function merkle_verify_consistency(size1: f64, size2: f64, proofLen: i32): i32 {
  const m = <u64>size1;
  const n = <u64>size2;
  if (m == 0 || m > n || proofLen > MERKLE_PROOF_CAPACITY) return 0;
  if (m == n) return proofLen == 0 && equal32(IO, IO + 32) ? 1 : 0;
  if (proofLen == 0) return 0;
  // Step 2: if size1 is a power of two, the path starts with root1 itself.
  const withRoot1 = (m & (m - 1)) == 0;
  let first: usize = withRoot1 ? IO : PROOF;
  let i = withRoot1 ? 0 : 1;
  let fn = m - 1;
  let sn = n - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  memory.copy(FR, first, 32);
  memory.copy(SR, first, 32);
  for (; i < proofLen; i++) {
    if (sn == 0) return 0;
    const c = PROOF + (<usize>i << 5);
    if ((fn & 1) == 1 || fn == sn) {
      nodeHashScalar(c, FR, FR);
      nodeHashScalar(c, SR, SR);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      nodeHashScalar(SR, c, SR);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && equal32(FR, IO) && equal32(SR, IO + 32) ? 1 : 0;
}
