// SHA-256 per FIPS 180-4: the host ABI of the scalar and 4-lane SIMD (v128) multi-buffer core in
// sha256-core.ts.
//
// The host writes messages into sha256_input(), their end offsets into sha256_ends(), calls
// sha256_batch(count, prefix) and reads count packed digests from sha256_output(); messages longer
// than the input buffer go through sha256_init / sha256_update / sha256_final. Fixed static
// buffers, no allocation per call (STYLE.md point 7); the TypeScript glue checks every length.

import {
  INPUT, OFFSETS, OUTPUT, SHA_INPUT_CAP, SHA_BATCH_CAP,
  hashMessages, compress, initState, writeDigest, setSimd, simdEnabled,
} from './sha256-core';

// Streaming (init/update/final) state for messages larger than the input buffer.
const STREAM_STATE: usize = memory.data(32, 16);
const STREAM_BUF: usize = memory.data(64, 16);
let streamBuffered: i32 = 0;
let streamTotal: u64 = 0;

// ---------------------------------------------------------------------------------------------
// Exports for the host

export function sha256_input(): usize { return INPUT; }
export function sha256_input_capacity(): i32 { return SHA_INPUT_CAP; }
export function sha256_ends(): usize { return OFFSETS; }
export function sha256_output(): usize { return OUTPUT; }
export function sha256_batch_capacity(): i32 { return SHA_BATCH_CAP; }

/** Selects the 4-lane SIMD path (1) or the scalar path (0) for every batch routine. */
export function sha256_set_simd(on: i32): void { setSimd(on != 0); }
export function sha256_simd(): i32 { return simdEnabled() ? 1 : 0; }

/**
 * Hashes `count` messages from the input buffer (u32 end offsets in the ends table,
 * non-decreasing, last <= capacity) into the output buffer. prefix in 0..255 is hashed before each message; -1 for none.
 */
export function sha256_batch(count: i32, prefix: i32): void {
  hashMessages(prefix, count, INPUT, OFFSETS, OUTPUT);
}

/** Streaming SHA-256 for messages longer than the input buffer: init, update(len) per chunk, final. */
export function sha256_init(): void {
  initState(STREAM_STATE);
  streamBuffered = 0;
  streamTotal = 0;
}

/** Absorbs input[0..len). Any chunk length works, not only multiples of 64. */
export function sha256_update(len: i32): void {
  let p = INPUT;
  let rest = len;
  streamTotal += <u64>len;
  if (streamBuffered > 0) {
    const take = min(64 - streamBuffered, rest);
    memory.copy(STREAM_BUF + streamBuffered, p, take);
    streamBuffered += take;
    p += take;
    rest -= take;
    if (streamBuffered < 64) return;
    compress(STREAM_STATE, STREAM_BUF);
    streamBuffered = 0;
  }
  while (rest >= 64) {
    compress(STREAM_STATE, p);
    p += 64;
    rest -= 64;
  }
  if (rest > 0) {
    memory.copy(STREAM_BUF, p, rest);
    streamBuffered = rest;
  }
}

/** Pads (FIPS 180-4 §5.1.1) and writes the digest to output[0..32). */
export function sha256_final(): void {
  store<u8>(STREAM_BUF + streamBuffered, 0x80);
  memory.fill(STREAM_BUF + streamBuffered + 1, 0, 63 - streamBuffered);
  if (streamBuffered >= 56) {
    compress(STREAM_STATE, STREAM_BUF);
    memory.fill(STREAM_BUF, 0, 64);
  }
  store<u64>(STREAM_BUF, bswap<u64>(streamTotal << 3), 56);
  compress(STREAM_STATE, STREAM_BUF);
  writeDigest(STREAM_STATE, OUTPUT);
  streamBuffered = 0;
}
