/**
 * RFC 6962 / RFC 9162 tree arithmetic over stored perfect subtrees (pure: no SQLite, no I/O).
 *
 * The store keeps, for every level l, the hash of each complete aligned subtree of 2^l leaves
 * (level 0 = leaf hashes); that is exactly what C2SP tlog-tiles serves. Everything else — the root
 * of any size, inclusion paths (RFC 9162 §2.1.3.1) and consistency proofs (§2.1.4.1) — is derived
 * here from at most O(log n) of those nodes, so reads never touch more than a few rows.
 */
import { nodeHash } from '../core/index.js';

/** Hash of the complete subtree at `level` covering leaves [index·2^level, (index+1)·2^level). */
export type NodeSource = (level: number, index: number) => Uint8Array;

/** Largest power of two strictly smaller than n (n ≥ 2), RFC 6962 §2.1's k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Exact for every safe integer. An integral log2 alone is not enough: Math.log2(2^49 + 1) rounds
 * to exactly 49. Powers of two are exact in IEEE 754, so the candidate is checked by raising it.
 */
export function isPow2(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** MTH(D[lo:hi]) where lo is aligned to a power of two ≥ hi − lo (true of every range RFC 6962 recursion visits). */
export function rangeHash(get: NodeSource, lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (isPow2(n) && lo % n === 0) return get(Math.log2(n), lo / n);
  const k = splitPoint(n);
  return nodeHash(rangeHash(get, lo, lo + k), rangeHash(get, lo + k, hi));
}

/** Root of the tree of `size` leaves; SHA-256("") for the empty tree is the caller's business. */
export function treeRoot(get: NodeSource, size: number): Uint8Array {
  return rangeHash(get, 0, size);
}

/** Audit path for leaf `index` in the tree of `size` leaves, leaf to root order (RFC 6962 §2.1.1). */
export function inclusionPath(get: NodeSource, index: number, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const walk = (m: number, lo: number, hi: number): void => {
    if (hi - lo <= 1) return;
    const k = splitPoint(hi - lo);
    if (m < lo + k) {
      walk(m, lo, lo + k);
      out.push(rangeHash(get, lo + k, hi));
    } else {
      walk(m, lo + k, hi);
      out.push(rangeHash(get, lo, lo + k));
    }
  };
  walk(index, 0, size);
  return out;
}

/** Consistency proof between sizes m ≤ n (RFC 6962 §2.1.2 SUBPROOF), empty when m is 0 or n. */
export function consistencyPath(get: NodeSource, m: number, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (m === 0 || m === n) return out;
  const sub = (mm: number, lo: number, hi: number, complete: boolean): void => {
    const size = hi - lo;
    if (mm === size) {
      if (!complete) out.push(rangeHash(get, lo, hi));
      return;
    }
    const k = splitPoint(size);
    if (mm <= k) {
      sub(mm, lo, lo + k, complete);
      out.push(rangeHash(get, lo + k, hi));
    } else {
      sub(mm - k, lo + k, hi, false);
      out.push(rangeHash(get, lo, lo + k));
    }
  };
  sub(m, 0, n, true);
  return out;
}

/**
 * The new complete nodes at every level when leaves [from, to) are appended to a tree of `from`
 * leaves (the integrate step, STYLE.md point 6). `get` supplies already-stored nodes (left siblings
 * from before the batch). Returned per level, starting at level 1, as [firstIndex, hashes].
 */
export function newNodes(get: NodeSource, from: number, leafHashes: Uint8Array[]): { level: number; first: number; hashes: Uint8Array[] }[] {
  const out: { level: number; first: number; hashes: Uint8Array[] }[] = [];
  let a = from;
  let b = from + leafHashes.length;
  let cur = leafHashes; // nodes [a, b) at this level
  let level = 0;
  while (true) {
    const pa = Math.floor(a / 2);
    const pb = Math.floor(b / 2);
    if (pb <= pa) break;
    const next: Uint8Array[] = [];
    const at = (i: number): Uint8Array => (i >= a ? cur[i - a]! : get(level, i));
    for (let p = pa; p < pb; p++) next.push(nodeHash(at(2 * p), at(2 * p + 1)));
    level++;
    out.push({ level, first: pa, hashes: next });
    a = pa;
    b = pb;
    cur = next;
  }
  return out;
}
