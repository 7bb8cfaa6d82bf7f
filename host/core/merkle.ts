/**
 * RFC 6962 Merkle API over the WASM core (assembly/merkle.ts). Same functions, same semantics and
 * the same coded errors as the node:crypto twin host/core/reference.ts; one shared test suite runs
 * against both (STYLE.md point 8).
 *
 * Hashing per RFC 6962 §2.1: leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || l || r), the MTH of
 * the empty tree is SHA-256(""). Proofs per RFC 6962 §2.1.1–2.1.2, verification per RFC 9162
 * §2.1.3.2 and §2.1.4.2. All hashing and all proof arithmetic over the buffer run in WASM.
 *
 * Trees larger than the module's buffer (MERKLE_CAPACITY = 2^16 leaves, a power of two) are split
 * into aligned chunks: a chunk of 2^16 leaves starting at a multiple of 2^16 is a node of the RFC
 * 6962 tree (its split points are powers of two >= 2^16 above that level), so the root of n leaves
 * is the root over the chunk roots, and a proof is the proof inside one chunk followed by the
 * proof of that chunk among the chunk roots.
 */
import { installRuntimeScalarMul } from './signatures.js';
import { CoreError } from './errors.js';
import { loadCore, type WasmSource } from './wasm.js';
import { HASH_BYTES, checkBytes, checkMessages, checkOut, hashManyInto, initSha256, shaViews } from './sha256.js';

interface MerkleExports {
  memory: { buffer: ArrayBuffer };
  merkle_buffer(): number;
  merkle_capacity(): number;
  merkle_proof(): number;
  merkle_proof_capacity(): number;
  merkle_io(): number;
  merkle_level(count: number): number;
  merkle_root(count: number): void;
  merkle_node_path(count: number, level: number, index: number, withNode: number): number;
  merkle_node_hash(): void;
  merkle_verify_inclusion(index: number, size: number, proofLen: number): number;
  merkle_verify_consistency(size1: number, size2: number, proofLen: number): number;
}

interface MerkleViews {
  x: MerkleExports;
  buffer: ArrayBuffer;
  buf: Uint8Array;
  proof: Uint8Array;
  io: Uint8Array;
  cap: number;
  capLog2: number;
  proofCap: number;
}

let views: MerkleViews | undefined;

function mv(): MerkleViews {
  const v = shaViews(); // throws CORE_NOT_INITIALISED before initCore()
  const x = v.x as unknown as MerkleExports;
  if (views && views.buffer === v.buffer) return views;
  const cap = x.merkle_capacity();
  const proofCap = x.merkle_proof_capacity();
  views = {
    x,
    buffer: v.buffer,
    buf: new Uint8Array(v.buffer, x.merkle_buffer(), cap * HASH_BYTES),
    proof: new Uint8Array(v.buffer, x.merkle_proof(), proofCap * HASH_BYTES),
    io: new Uint8Array(v.buffer, x.merkle_io(), 2 * HASH_BYTES),
    cap,
    capLog2: Math.log2(cap),
    proofCap,
  };
  return views;
}

/** Loads the WASM core once; later calls return at once. */
/**
 * Loads the module (once) and readies every API. Embedders outside Node (browsers, Deno, Bun
 * without node:fs) pass the module bytes or a fetch Response as `source`, e.g.
 * `await initCore({ source: fetch(new URL('cairn.wasm', import.meta.url)) })`.
 */
export async function initCore(opts: { source?: WasmSource | Promise<WasmSource>; flavour?: 'release' | 'debug' } = {}): Promise<void> {
  if (opts.source !== undefined || opts.flavour !== undefined) await loadCore({ ...(opts.source !== undefined ? { source: await opts.source } : {}), ...(opts.flavour ? { flavour: opts.flavour } : {}) });
  await initSha256();
  mv();
  if (!runtimeMulTried) {
    runtimeMulTried = true;
    // CAIRN_WASM_ONLY=1 keeps every signature step in the core (no node:crypto ECDH step).
    let wasmOnly = false;
    try {
      wasmOnly = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.CAIRN_WASM_ONLY === '1';
    } catch {
      // Deno's process.env throws NotCapable without --allow-env; an embedder there needs no env
      // permission for the core, and setP256ScalarMul(undefined) gives WASM only without it.
    }
    // Deno's node:crypto ECDH costs about 800 µs per step (setPrivateKey + computeSecret, measured
    // with Deno 2.9.6), five times a whole check in WASM there (bench/runtimes.ts): Deno keeps WASM.
    if (!wasmOnly && !('Deno' in globalThis)) await installRuntimeScalarMul();
  }
}
let runtimeMulTried = false;

// ---------------------------------------------------------------------------------------------
// Input checks (identical to reference.ts)

function checkPacked(packed: Uint8Array): number {
  if (!(packed instanceof Uint8Array) || packed.length % HASH_BYTES !== 0) {
    throw new CoreError('CORE_BAD_LENGTH', 'packed leaf hashes must be a multiple of 32 bytes');
  }
  return packed.length / HASH_BYTES;
}

function checkHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) {
    throw new CoreError('CORE_BAD_LENGTH', `${what} must be 32 bytes`);
  }
}

function checkProof(proof: Uint8Array[]): void {
  if (!Array.isArray(proof)) throw new CoreError('CORE_BAD_LENGTH', 'proof must be an array of 32-byte hashes');
}

function isSafeCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

// ---------------------------------------------------------------------------------------------
// Hashing

/** RFC 6962 leaf hashes of every leaf into out[offset..offset + 32 n). */
export function leafHashesInto(leaves: Uint8Array[], out: Uint8Array, offset = 0): void {
  checkMessages(leaves, 'leaves');
  checkOut(out, offset, leaves.length * HASH_BYTES);
  hashManyInto(0x00, leaves, out, offset);
}

/** Packed RFC 6962 leaf hashes H(0x00 || leaf), 32 bytes each. */
export function leafHashes(leaves: Uint8Array[]): Uint8Array {
  checkMessages(leaves, 'leaves');
  const out = new Uint8Array(leaves.length * HASH_BYTES);
  hashManyInto(0x00, leaves, out, 0);
  return out;
}

/** RFC 6962 leaf hash H(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Uint8Array {
  return leafHashes([leaf]);
}

/** RFC 6962 interior node hash H(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  checkHash(left, 'left');
  checkHash(right, 'right');
  const v = mv();
  v.io.set(left, 0);
  v.io.set(right, HASH_BYTES);
  v.x.merkle_node_hash();
  return v.io.slice(0, HASH_BYTES);
}

/**
 * The next level up of a run of nodes: H(0x01 || a || b) for every adjacent pair, packed. An odd
 * last node has no parent yet and is left out (C2SP tlog-tiles stores only full nodes; a caller
 * building a left-balanced root carries it up itself). This is how tile hashes are computed: eight
 * applications turn a full 256-hash tile of level L into its hash in the tile of level L + 1.
 */
export function levelHashes(packed: Uint8Array): Uint8Array {
  const n = checkPacked(packed);
  const parents = Math.floor(n / 2);
  const out = new Uint8Array(parents * HASH_BYTES);
  const v = mv();
  // Chunks of an even number of nodes so pairs never straddle two calls.
  for (let p = 0; p < parents * 2; p += v.cap) {
    const count = Math.min(v.cap, parents * 2 - p);
    v.buf.set(packed.subarray(p * HASH_BYTES, (p + count) * HASH_BYTES));
    const made = v.x.merkle_level(count);
    out.set(v.buf.subarray(0, made * HASH_BYTES), (p / 2) * HASH_BYTES);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Roots

/** MTH of n <= capacity leaf hashes in WASM. */
function smallRoot(v: MerkleViews, packed: Uint8Array, n: number): Uint8Array {
  v.buf.set(packed.subarray(0, n * HASH_BYTES));
  v.x.merkle_root(n);
  return v.buf.slice(0, HASH_BYTES);
}

/** Roots of the aligned capacity-sized chunks: the nodes of level log2(capacity). */
function chunkRoots(v: MerkleViews, packed: Uint8Array, n: number): Uint8Array {
  const chunks = Math.ceil(n / v.cap);
  const out = new Uint8Array(chunks * HASH_BYTES);
  for (let c = 0; c < chunks; c++) {
    const lo = c * v.cap;
    const len = Math.min(v.cap, n - lo);
    v.buf.set(packed.subarray(lo * HASH_BYTES, (lo + len) * HASH_BYTES));
    v.x.merkle_root(len);
    out.set(v.buf.subarray(0, HASH_BYTES), c * HASH_BYTES);
  }
  return out;
}

function rootOf(v: MerkleViews, packed: Uint8Array, n: number): Uint8Array {
  if (n <= v.cap) return smallRoot(v, packed, n);
  return rootOf(v, chunkRoots(v, packed, n), Math.ceil(n / v.cap));
}

/** MTH (RFC 6962 §2.1) of packed leaf hashes; n = 0 gives SHA-256(""). */
export function rootFromLeafHashes(packed: Uint8Array): Uint8Array {
  const n = checkPacked(packed);
  return rootOf(mv(), packed, n);
}

/** MTH written into out[offset..offset+32). */
export function rootFromLeafHashesInto(packed: Uint8Array, out: Uint8Array, offset = 0): void {
  checkOut(out, offset, HASH_BYTES);
  out.set(rootFromLeafHashes(packed), offset);
}

// ---------------------------------------------------------------------------------------------
// Proof generation

/**
 * Audit path of node `index` at `level` (optionally preceded by the node itself), deepest first.
 * See merkle_node_path in assembly/merkle.ts for why inclusion and consistency proofs are both
 * this shape.
 */
function nodePath(v: MerkleViews, packed: Uint8Array, n: number, level: number, index: number, withNode: boolean): Uint8Array[] {
  if (n <= v.cap) {
    v.buf.set(packed.subarray(0, n * HASH_BYTES));
    const count = v.x.merkle_node_path(n, level, index, withNode ? 1 : 0);
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) out.push(v.proof.slice(i * HASH_BYTES, (i + 1) * HASH_BYTES));
    return out;
  }
  const B = v.capLog2;
  const roots = chunkRoots(v, packed, n);
  const chunks = roots.length / HASH_BYTES;
  if (level >= B) return nodePath(v, roots, chunks, level - B, index, withNode);
  // The node lies inside one chunk: its path to the chunk root, then the chunk root's path.
  const perChunk = 2 ** (B - level);
  const c = Math.floor(index / perChunk);
  const lo = c * v.cap;
  const len = Math.min(v.cap, n - lo);
  const inner = nodePath(v, packed.subarray(lo * HASH_BYTES, (lo + len) * HASH_BYTES), len, level, index - c * perChunk, withNode);
  return inner.concat(nodePath(v, roots, chunks, 0, c, false));
}

/** RFC 6962 §2.1.1 audit path for leaf `index`, deepest first. */
export function inclusionProof(packedLeafHashes: Uint8Array, index: number): Uint8Array[] {
  const n = checkPacked(packedLeafHashes);
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new CoreError('CORE_BAD_INDEX', `index ${index} out of range for tree size ${n}`);
  }
  return nodePath(mv(), packedLeafHashes, n, 0, index, false);
}

/** RFC 6962 §2.1.2 consistency proof from the tree of size1 leaves to the tree of all n leaves. */
export function consistencyProof(packedLeafHashes: Uint8Array, size1: number): Uint8Array[] {
  const n = checkPacked(packedLeafHashes);
  if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > n) {
    throw new CoreError('CORE_BAD_SIZE', `size1 ${size1} must be in [1, ${n}]`);
  }
  if (size1 === n) return [];
  // The largest full subtree ending at size1: level = ctz(size1), node (size1 - 1) >> level.
  let level = 0;
  while (((size1 / 2 ** level) & 1) === 0) level++;
  const index = Math.floor((size1 - 1) / 2 ** level);
  // index 0 <=> size1 is a power of two: that node is root1 and RFC 6962 SUBPROOF omits it.
  return nodePath(mv(), packedLeafHashes, n, level, index, index !== 0);
}

// ---------------------------------------------------------------------------------------------
// Proof verification

function loadProof(v: MerkleViews, proof: Uint8Array[]): boolean {
  if (proof.length > v.proofCap) return false; // longer than any proof for a size below 2^64
  for (let i = 0; i < proof.length; i++) {
    const p = proof[i];
    if (!(p instanceof Uint8Array) || p.length !== HASH_BYTES) return false;
    v.proof.set(p, i * HASH_BYTES);
  }
  return true;
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
  const v = mv();
  if (!loadProof(v, proof)) return false;
  v.io.set(leafHash, 0);
  v.io.set(root, HASH_BYTES);
  return v.x.merkle_verify_inclusion(index, treeSize, proof.length) === 1;
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
  // Equal sizes are a plain comparison of the two roots, whatever their length (transparency-dev
  // vector consistency/additional/sizes-are-equal-one-and-proof-is-empty uses 12-byte "roots").
  if (size1 === size2) {
    if (proof.length !== 0 || root1.length !== root2.length) return false;
    for (let i = 0; i < root1.length; i++) if (root1[i] !== root2[i]) return false;
    return true;
  }
  if (root1.length !== HASH_BYTES || root2.length !== HASH_BYTES) return false;
  const v = mv();
  if (!loadProof(v, proof)) return false;
  v.io.set(root1, 0);
  v.io.set(root2, HASH_BYTES);
  return v.x.merkle_verify_consistency(size1, size2, proof.length) === 1;
}

