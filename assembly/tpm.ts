// TPM 2.0 quote checks: parse a marshalled TPMS_ATTEST (TPM 2.0 Library Part 2 §10.12.12) and
// verify everything about a quote that does not need the AK's signature:
//   magic == TPM_GENERATED_VALUE 0xff544347 (Part 2 §6.2), type == TPM_ST_ATTEST_QUOTE 0x8018
//   (§6.9), extraData == the verifier's nonce, the attested TPML_PCR_SELECTION == the one the
//   verifier asked for, and pcrDigest == H(selected PCR values in selection order) recomputed
//   here from the values the host supplies (Part 1 §18.4 / TPM2_Quote in Part 3 §18.4).
// Skipping the nonce or the selection check is exactly what CVE-2024-29038 (tpm2_checkquote did
// not compare the attested selection with the PCR file) and CVE-2024-29039 (it did not verify
// that the PCR values match the digest) were about.
//
// Only the SHA-256 bank and a SHA-256 pcrDigest are accepted. Everything is big-endian (Part 1
// §10.3 "marshaling"). The AK signature is verified by the host (node:crypto).
//
// ABI (STYLE.md point 7): fixed static buffers, no allocation per call. The host writes the
// attestation into tpm_attest(), the nonce into tpm_nonce(), the PCR values (32 bytes each, in
// ascending PCR index order) into tpm_pcrs(), then calls tpm_check_quote(...) and reads the
// parsed fields from tpm_info(). The return value is 0 or one of the TPM_ERR_* codes below.

import { compress, initState, writeDigest } from './sha256-core';

const ATTEST_CAP: i32 = 4096;
const NONCE_CAP: i32 = 64;
const PCR_SLOTS: i32 = 24;

const ATTEST: usize = memory.data(ATTEST_CAP, 16);
const NONCE: usize = memory.data(NONCE_CAP, 16);
const PCRS: usize = memory.data(PCR_SLOTS * 32, 16);
// Parsed fields for the host (little-endian in WASM memory):
//   0 u32 qualifiedSigner offset into ATTEST   4 u32 its length
//   8 u64 clock   16 u32 resetCount   20 u32 restartCount   24 u32 safe   32 u64 firmwareVersion
//  40 [32] the PCR digest recomputed here
const INFO: usize = memory.data(72, 16);
const STATE: usize = memory.data(32, 16);
const BLOCK: usize = memory.data(64, 16);

const TPM_GENERATED: u32 = 0xff544347;
const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
const TPM_ALG_SHA256: u16 = 0x000b;

// Stable result codes; host/core/tpm-reference.ts names them (TPM_QUOTE_ERRORS).
const OK: i32 = 0;
const ERR_TRUNCATED: i32 = 1;
const ERR_BAD_MAGIC: i32 = 2;
const ERR_BAD_TYPE: i32 = 3;
const ERR_NONCE_MISMATCH: i32 = 4;
const ERR_SELECTION_MISMATCH: i32 = 5;
const ERR_DIGEST_MISMATCH: i32 = 6;
const ERR_TRAILING_BYTES: i32 = 7;
const ERR_BAD_ARGUMENT: i32 = 8;
const ERR_UNSUPPORTED_DIGEST: i32 = 9;

export function tpm_attest(): usize { return ATTEST; }
export function tpm_attest_capacity(): i32 { return ATTEST_CAP; }
export function tpm_nonce(): usize { return NONCE; }
export function tpm_nonce_capacity(): i32 { return NONCE_CAP; }
export function tpm_pcrs(): usize { return PCRS; }
export function tpm_pcr_slots(): i32 { return PCR_SLOTS; }
export function tpm_info(): usize { return INFO; }

// @ts-ignore: decorator
@inline function be16(p: usize): u32 { return <u32>bswap<u16>(load<u16>(p)); }
// @ts-ignore: decorator
@inline function be32(p: usize): u32 { return bswap<u32>(load<u32>(p)); }
// @ts-ignore: decorator
@inline function be64(p: usize): u64 { return bswap<u64>(load<u64>(p)); }

/** SHA-256 of mem[data, data+len) into out, over the shared scalar compression function. */
function sha256Into(data: usize, len: u32, out: usize): void {
  initState(STATE);
  let p = data;
  let rest = len;
  while (rest >= 64) {
    compress(STATE, p);
    p += 64;
    rest -= 64;
  }
  // FIPS 180-4 §5.1.1 padding: 0x80, zeros, 64-bit big-endian bit length.
  memory.fill(BLOCK, 0, 64);
  memory.copy(BLOCK, p, rest);
  store<u8>(BLOCK + rest, 0x80);
  if (rest >= 56) {
    compress(STATE, BLOCK);
    memory.fill(BLOCK, 0, 64);
  }
  store<u64>(BLOCK, bswap<u64>(<u64>len << 3), 56);
  compress(STATE, BLOCK);
  writeDigest(STATE, out);
}

/** Digest of `count` 32-byte PCR values from PCRS (exposed for tests and the benchmark). */
export function tpm_pcr_digest(count: i32): i32 {
  if (count < 0 || count > PCR_SLOTS) return ERR_BAD_ARGUMENT;
  sha256Into(PCRS, <u32>count << 5, INFO + 40);
  return OK;
}

/**
 * Checks the TPMS_ATTEST in ATTEST[0..attestLen) against NONCE[0..nonceLen) and the requested
 * selection: SHA-256 bank, PCRs given as a bitmask (bit i = PCR i, i < 24), whose values are
 * PCRS[0..popcount(mask)*32) in ascending index order.
 */
export function tpm_check_quote(attestLen: i32, nonceLen: i32, pcrMask: u32): i32 {
  if (attestLen < 0 || attestLen > ATTEST_CAP || nonceLen < 0 || nonceLen > NONCE_CAP) return ERR_BAD_ARGUMENT;
  if (pcrMask == 0 || (pcrMask >>> 24) != 0) return ERR_BAD_ARGUMENT;
  const end: usize = ATTEST + <usize>attestLen;
  let p: usize = ATTEST;

  // magic (UINT32) and type (TPMI_ST_ATTEST, UINT16)
  if (p + 6 > end) return ERR_TRUNCATED;
  if (be32(p) != TPM_GENERATED) return ERR_BAD_MAGIC;
  if (be16(p + 4) != <u32>TPM_ST_ATTEST_QUOTE) return ERR_BAD_TYPE;
  p += 6;

  // qualifiedSigner: TPM2B_NAME
  if (p + 2 > end) return ERR_TRUNCATED;
  const signerLen = be16(p);
  p += 2;
  if (p + signerLen > end) return ERR_TRUNCATED;
  store<u32>(INFO, <u32>(p - ATTEST), 0);
  store<u32>(INFO, signerLen, 4);
  p += signerLen;

  // extraData: TPM2B_DATA — must be exactly the nonce (constant-time compare over its length).
  if (p + 2 > end) return ERR_TRUNCATED;
  const extraLen = be16(p);
  p += 2;
  if (p + extraLen > end) return ERR_TRUNCATED;
  let diff: u32 = extraLen ^ <u32>nonceLen;
  if (diff == 0) {
    for (let i: u32 = 0; i < extraLen; i++) diff |= <u32>(load<u8>(p + i) ^ load<u8>(NONCE + i));
  }
  const nonceOk = diff == 0;
  p += extraLen;

  // clockInfo: TPMS_CLOCK_INFO (clock u64, resetCount u32, restartCount u32, safe u8)
  if (p + 17 > end) return ERR_TRUNCATED;
  store<u64>(INFO, be64(p), 8);
  store<u32>(INFO, be32(p + 8), 16);
  store<u32>(INFO, be32(p + 12), 20);
  store<u32>(INFO, <u32>load<u8>(p + 16), 24);
  p += 17;

  // firmwareVersion: UINT64
  if (p + 8 > end) return ERR_TRUNCATED;
  store<u64>(INFO, be64(p), 32);
  p += 8;

  // attested.quote: TPMS_QUOTE_INFO { TPML_PCR_SELECTION pcrSelect; TPM2B_DIGEST pcrDigest }
  if (p + 4 > end) return ERR_TRUNCATED;
  const selCount = be32(p);
  p += 4;
  // The selection must be exactly one SHA-256 bank with exactly the requested PCRs. A bitmap is
  // sizeofSelect bytes, PCR i = bit (i % 8) of byte (i / 8) (Part 2 §10.6.1).
  let selOk = selCount == 1;
  for (let s: u32 = 0; s < selCount; s++) {
    if (s >= 16) return ERR_TRUNCATED; // TPML_PCR_SELECTION holds at most HASH_COUNT entries
    if (p + 3 > end) return ERR_TRUNCATED;
    const alg = be16(p);
    const size = <u32>load<u8>(p + 2);
    p += 3;
    if (p + size > end) return ERR_TRUNCATED;
    if (alg != <u32>TPM_ALG_SHA256 || size < 3 || size > 4) selOk = false;
    let bits: u32 = 0;
    for (let i: u32 = 0; i < size; i++) bits |= <u32>load<u8>(p + i) << (i << 3);
    if (bits != pcrMask) selOk = false;
    p += size;
  }

  if (p + 2 > end) return ERR_TRUNCATED;
  const digestLen = be16(p);
  p += 2;
  if (p + digestLen > end) return ERR_TRUNCATED;
  const digestAt = p;
  p += digestLen;
  if (p != end) return ERR_TRAILING_BYTES;

  // Structural checks first (a malformed blob is "malformed"), then the semantic ones in a fixed
  // order so that a caller always learns the first broken rule.
  if (!nonceOk) return ERR_NONCE_MISMATCH;
  if (!selOk) return ERR_SELECTION_MISMATCH;
  if (digestLen != 32) return ERR_UNSUPPORTED_DIGEST;
  sha256Into(PCRS, <u32>popcnt<u32>(pcrMask) << 5, INFO + 40);
  let d: u32 = 0;
  for (let i: usize = 0; i < 32; i++) d |= <u32>(load<u8>(digestAt + i) ^ load<u8>(INFO + 40 + i));
  if (d != 0) return ERR_DIGEST_MISMATCH;
  return OK;
}
