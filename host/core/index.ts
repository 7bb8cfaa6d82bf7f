/**
 * The typed API over the Cairn WebAssembly core (build/cairn.wasm). This file only aggregates:
 * each concept lives in its own module and adds one export line here.
 *
 * Call `await initCore()` once (idempotent) before any synchronous function; before that they throw
 * CoreError('CORE_NOT_INITIALISED'). host/core/reference.ts is the node:crypto twin of the Merkle
 * and SHA-256 API with identical semantics and error codes.
 */
export { CoreError } from './errors.js';
export type { CoreErrorCode } from './errors.js';
export { loadCore, coreFlavour } from './wasm.js';
export type { WasmSource } from './wasm.js';
export { sha256, sha256Into, sha256Batch, setSimd, simdEnabled, HASH_BYTES } from './sha256.js';
export {
  initCore,
  leafHash,
  leafHashes,
  leafHashesInto,
  nodeHash,
  levelHashes,
  rootFromLeafHashes,
  rootFromLeafHashesInto,
  inclusionProof,
  consistencyProof,
  verifyInclusion,
  verifyConsistency,
} from './merkle.js';
export { CompactRange } from './compact.js';
export type { NodeHasher, RunRooter } from './compact.js';
export { verifyBatch, verifySignature, registerKey, isKeyRegistered, keySlots, setP256ScalarMul, installRuntimeScalarMul, p256ScalarMulInstalled } from './signatures.js';
export type { P256ScalarMul } from './signatures.js';
export type { SignatureAlg, SignatureItem } from './signatures.js';
