/**
 * TypeScript glue over the WASM SHA-256 (assembly/sha256.ts).
 *
 * ABI discipline (STYLE.md point 7): the module exposes fixed static buffers; this file builds its
 * typed-array views once (rebuilt only if the memory was ever replaced by a grow), checks every
 * length before calling in (release builds strip the module's asserts), splits batches that do not
 * fit the buffers, and offers `xxxInto(out)` variants that write into caller-owned memory.
 */
import { coreExports, loadCore } from './wasm.js';
import { CoreError } from './errors.js';

export const HASH_BYTES = 32;

interface ShaExports {
  memory: { buffer: ArrayBuffer };
  sha256_input(): number;
  sha256_input_capacity(): number;
  sha256_ends(): number;
  sha256_output(): number;
  sha256_batch_capacity(): number;
  sha256_set_simd(on: number): void;
  sha256_simd(): number;
  sha256_batch(count: number, prefix: number): void;
  sha256_init(): void;
  sha256_update(len: number): void;
  sha256_final(): void;
}

/** Views over the module's static buffers, built once per memory buffer. */
export interface ShaViews {
  x: ShaExports;
  buffer: ArrayBuffer;
  mem: Uint8Array;
  input: Uint8Array;
  ends: Uint32Array;
  output: Uint8Array;
  inputCap: number;
  batchCap: number;
}

let views: ShaViews | undefined;

/** The SHA views; throws CORE_NOT_INITIALISED before `initCore()`. */
export function shaViews(): ShaViews {
  const x = coreExports() as unknown as ShaExports;
  const buffer = x.memory.buffer;
  if (views && views.buffer === buffer) return views;
  const inputCap = x.sha256_input_capacity();
  const batchCap = x.sha256_batch_capacity();
  views = {
    x,
    buffer,
    mem: new Uint8Array(buffer),
    input: new Uint8Array(buffer, x.sha256_input(), inputCap),
    ends: new Uint32Array(buffer, x.sha256_ends(), batchCap),
    output: new Uint8Array(buffer, x.sha256_output(), batchCap * HASH_BYTES),
    inputCap,
    batchCap,
  };
  return views;
}

/** Loads the module (idempotent); every synchronous function here needs it first. */
export async function initSha256(): Promise<void> {
  await loadCore();
  shaViews();
}

/**
 * Selects the 4-lane SIMD multi-buffer path (default) or the scalar path for every batch routine:
 * leaf hashing, level hashing, roots and proofs. Both give identical results; tests and the
 * benchmark run both.
 */
export function setSimd(enabled: boolean): void {
  shaViews().x.sha256_set_simd(enabled ? 1 : 0);
}

export function simdEnabled(): boolean {
  return shaViews().x.sha256_simd() === 1;
}

function checkBytes(data: unknown, what: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new CoreError('CORE_BAD_LENGTH', `${what} must be a Uint8Array`);
}

function checkOut(out: Uint8Array, offset: number, bytes: number): void {
  checkBytes(out, 'out');
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + bytes > out.length) {
    throw new CoreError('CORE_BAD_LENGTH', `out needs ${bytes} bytes from offset ${offset}, has ${out.length}`);
  }
}

/** Streams [prefix] || data through init/update/final; for messages larger than the input buffer. */
function streamInto(v: ShaViews, prefix: number, data: Uint8Array, out: Uint8Array, offset: number): void {
  v.x.sha256_init();
  if (prefix >= 0) {
    v.input[0] = prefix;
    v.x.sha256_update(1);
  }
  for (let p = 0; p < data.length; p += v.inputCap) {
    const chunk = data.subarray(p, Math.min(p + v.inputCap, data.length));
    v.input.set(chunk);
    v.x.sha256_update(chunk.length);
  }
  v.x.sha256_final();
  out.set(v.output.subarray(0, HASH_BYTES), offset);
}

/**
 * SHA-256([prefix] || msgs[i]) for every i into out[offset + 32 i ..]. Messages are packed into the
 * input buffer in runs that fit it; a message larger than the whole buffer is streamed alone.
 * Callers have checked `msgs` and `out`.
 */
export function hashManyInto(prefix: number, msgs: readonly Uint8Array[], out: Uint8Array, offset: number): void {
  const v = shaViews();
  const n = msgs.length;
  let i = 0;
  while (i < n) {
    const first = msgs[i]!;
    if (first.length > v.inputCap) {
      streamInto(v, prefix, first, out, offset + i * HASH_BYTES);
      i++;
      continue;
    }
    let count = 0;
    let used = 0;
    // One set() per message: measured as fast as coalescing runs of adjacent views, and reading
    // .buffer of a small on-heap typed array would make V8 materialise one.
    const input = v.input;
    const ends = v.ends;
    const cap = v.inputCap;
    const limit = Math.min(n - i, v.batchCap);
    while (count < limit) {
      const m = msgs[i + count]!;
      const len = m.length;
      if (used + len > cap) break;
      input.set(m, used);
      used += len;
      ends[count++] = used;
    }
    v.x.sha256_batch(count, prefix);
    out.set(v.output.subarray(0, count * HASH_BYTES), offset + i * HASH_BYTES);
    i += count;
  }
}

function checkMessages(msgs: readonly Uint8Array[], what: string): void {
  if (!Array.isArray(msgs)) throw new CoreError('CORE_BAD_LENGTH', `${what} must be an array of Uint8Array`);
  for (let i = 0; i < msgs.length; i++) {
    // The message is built only on failure: this loop runs once per leaf.
    if (!(msgs[i] instanceof Uint8Array)) checkBytes(msgs[i], `${what}[${i}]`);
  }
}

/** SHA-256 (FIPS 180-4) of data into out[offset..offset+32). */
export function sha256Into(data: Uint8Array, out: Uint8Array, offset = 0): void {
  checkBytes(data, 'data');
  checkOut(out, offset, HASH_BYTES);
  hashManyInto(-1, [data], out, offset);
}

/** SHA-256 (FIPS 180-4) of data. */
export function sha256(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HASH_BYTES);
  sha256Into(data, out, 0);
  return out;
}

/** SHA-256 of every message, packed (32 bytes each), hashed four at a time on the SIMD path. */
export function sha256Batch(msgs: readonly Uint8Array[]): Uint8Array {
  checkMessages(msgs, 'messages');
  const out = new Uint8Array(msgs.length * HASH_BYTES);
  hashManyInto(-1, msgs, out, 0);
  return out;
}

export { checkBytes, checkMessages, checkOut };
