/**
 * A compact range over [0, size) (the Merkle "frontier"): the roots of the perfect subtrees that
 * RFC 6962's tree over [0, size) decomposes into, largest first, at most log2(size) + 1 hashes.
 * Appending a leaf merges equal-sized subtrees from the right; the root of the whole tree folds
 * them right to left (RFC 6962 §2.1: MTH(D[0:n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])),
 * where D[0:k] is the largest perfect subtree). Pure, O(log n) state: a monitor that has seen
 * every leaf can recompute every checkpoint's root without trusting any proof.
 */
import { nodeHash } from '../core/index.js';

export class CompactRange {
  /** Perfect subtree roots, largest first; `sizes[i]` leaves under `hashes[i]`. */
  private constructor(
    public size: number,
    private readonly hashes: Uint8Array[],
    private readonly sizes: number[],
  ) {}

  /** The (level, index) of each perfect subtree of [0, size), largest first: what a compact range holds. */
  static positions(size: number): [level: number, index: number][] {
    const out: [number, number][] = [];
    let offset = 0;
    for (let level = Math.floor(Math.log2(Math.max(size, 1))); level >= 0; level--) {
      const n = 2 ** level;
      if (Math.floor(size / n) % 2 === 1) {
        out.push([level, offset / n]);
        offset += n;
      }
    }
    return out;
  }

  static empty(): CompactRange {
    return new CompactRange(0, [], []);
  }

  /** From saved state; the hashes must be the perfect subtree roots of [0, size), largest first. */
  static from(size: number, hashes: Uint8Array[]): CompactRange {
    const sizes: number[] = [];
    for (let bit = 2 ** Math.floor(Math.log2(Math.max(size, 1))); bit >= 1; bit /= 2) if (Math.floor(size / bit) % 2 === 1) sizes.push(bit);
    if (sizes.length !== hashes.length || hashes.some((h) => h.length !== 32)) throw new Error(`a compact range of size ${size} has ${sizes.length} hashes, not ${hashes.length}`);
    return new CompactRange(size, hashes.map((h) => new Uint8Array(h)), sizes);
  }

  append(leafHash: Uint8Array): void {
    let h = leafHash;
    let n = 1;
    while (this.sizes.length > 0 && this.sizes[this.sizes.length - 1] === n) {
      h = nodeHash(this.hashes.pop()!, h);
      this.sizes.pop();
      n *= 2;
    }
    this.hashes.push(h);
    this.sizes.push(n);
    this.size++;
  }

  /** MTH of [0, size); undefined for the empty tree (its root is SHA-256 of nothing). */
  root(): Uint8Array | undefined {
    if (this.hashes.length === 0) return undefined;
    let h = this.hashes[this.hashes.length - 1]!;
    for (let i = this.hashes.length - 2; i >= 0; i--) h = nodeHash(this.hashes[i]!, h);
    return h;
  }

  state(): { size: number; hashes: string[] } {
    return { size: this.size, hashes: this.hashes.map((h) => Buffer.from(h).toString('hex')) };
  }
}
