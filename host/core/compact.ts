/**
 * Incremental RFC 6962 root: the compact range [0, size) of a growing tree.
 *
 * A tree of `size` leaves decomposes into the full subtrees named by the binary digits of size,
 * largest (leftmost) first; their roots are all a log needs to keep to extend the tree and compute
 * every later root (transparency-dev/merkle calls this a compact range; RFC 9162 §2.1.1's MTH of
 * the whole tree is those roots folded right to left). Appending merges equal-sized neighbours,
 * one node hash per carry. Batches go through the WASM core: a run of 2^k leaf hashes that starts
 * at a multiple of 2^k is itself one full subtree, hashed level by level on the SIMD path.
 */
import { CoreError } from './errors.js';
import { nodeHash, rootFromLeafHashes } from './merkle.js';

const HASH = 32;
/** Largest run handed to the WASM root at once (a power of two). */
const MAX_RUN = 1 << 16;

export type NodeHasher = (left: Uint8Array, right: Uint8Array) => Uint8Array;
export type RunRooter = (packed: Uint8Array) => Uint8Array;

export class CompactRange {
  /** Roots of the full subtrees, largest first; levels[i] is the height of hashes[i]. */
  #hashes: Uint8Array[] = [];
  #levels: number[] = [];
  #size = 0;
  readonly #node: NodeHasher;
  readonly #runRoot: RunRooter;

  /** `node`/`runRoot` default to the WASM core (initCore() first); tests pass the reference twin. */
  constructor(opts: { node?: NodeHasher; runRoot?: RunRooter } = {}) {
    this.#node = opts.node ?? nodeHash;
    this.#runRoot = opts.runRoot ?? rootFromLeafHashes;
  }

  /**
   * Resumes from stored state: the subtree roots of a tree of `size` leaves, largest first (one per
   * set bit of size), e.g. kept next to a checkpoint.
   */
  static from(size: number, hashes: Uint8Array[], opts?: { node?: NodeHasher; runRoot?: RunRooter }): CompactRange {
    if (!Number.isSafeInteger(size) || size < 0) throw new CoreError('CORE_BAD_SIZE', `size ${size} is not a tree size`);
    const levels: number[] = [];
    for (let b = 52; b >= 0; b--) if (Math.floor(size / 2 ** b) % 2 === 1) levels.push(b);
    if (!Array.isArray(hashes) || hashes.length !== levels.length) {
      throw new CoreError('CORE_BAD_LENGTH', `a tree of size ${size} has ${levels.length} compact-range hashes`);
    }
    for (const h of hashes) {
      if (!(h instanceof Uint8Array) || h.length !== HASH) throw new CoreError('CORE_BAD_LENGTH', 'compact-range hashes must be 32 bytes');
    }
    const r = new CompactRange(opts);
    r.#hashes = hashes.map((h) => h.slice());
    r.#levels = levels;
    r.#size = size;
    return r;
  }

  get size(): number {
    return this.#size;
  }

  /** The subtree roots, largest first (copies). */
  hashes(): Uint8Array[] {
    return this.#hashes.map((h) => h.slice());
  }

  /** Pushes the root of a full subtree of height `level`; size must be a multiple of 2^level. */
  #push(hash: Uint8Array, level: number): void {
    let h = hash;
    let l = level;
    while (this.#levels.length > 0 && this.#levels.at(-1) === l) {
      this.#levels.pop();
      h = this.#node(this.#hashes.pop()!, h);
      l++;
    }
    this.#hashes.push(h);
    this.#levels.push(l);
    this.#size += 2 ** level;
  }

  /** Appends one RFC 6962 leaf hash. */
  append(leafHash: Uint8Array): void {
    if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH) throw new CoreError('CORE_BAD_LENGTH', 'leaf hash must be 32 bytes');
    this.#push(leafHash.slice(), 0);
  }

  /** Appends packed leaf hashes (32 bytes each), in the largest aligned full subtrees possible. */
  appendMany(packed: Uint8Array): void {
    if (!(packed instanceof Uint8Array) || packed.length % HASH !== 0) {
      throw new CoreError('CORE_BAD_LENGTH', 'packed leaf hashes must be a multiple of 32 bytes');
    }
    let at = 0;
    let left = packed.length / HASH;
    while (left > 0) {
      // Largest power of two that keeps alignment (divides size), fits what is left and the cap.
      let run = 1;
      while (run * 2 <= left && run * 2 <= MAX_RUN && this.#size % (run * 2) === 0) run *= 2;
      const slice = packed.subarray(at * HASH, (at + run) * HASH);
      this.#push(run === 1 ? slice.slice() : this.#runRoot(slice), Math.log2(run));
      at += run;
      left -= run;
    }
  }

  /** MTH of the leaves so far (SHA-256("") for none), without changing the range. */
  root(): Uint8Array {
    if (this.#hashes.length === 0) return this.#runRoot(new Uint8Array(0));
    let r = this.#hashes.at(-1)!;
    for (let i = this.#hashes.length - 2; i >= 0; i--) r = this.#node(this.#hashes[i]!, r);
    return r.slice();
  }
}
