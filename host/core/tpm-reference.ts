/**
 * TPM 2.0 quote checks in plain TypeScript (node:crypto): the reference twin of the WASM routine
 * in assembly/tpm.ts, wrapped by host/core/tpm.ts. Both implement `QuoteChecker` and run the same
 * test suite (test/spiffe/tpm-core.test.ts). See assembly/tpm.ts for the spec references and why
 * each check exists (CVE-2024-29038, CVE-2024-29039).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { CairnError } from '../errors.js';

/** Result codes shared with the WASM routine (index = code). */
export const TPM_QUOTE_ERRORS = [
  'OK',
  'TPM_QUOTE_TRUNCATED',
  'TPM_QUOTE_BAD_MAGIC',
  'TPM_QUOTE_BAD_TYPE',
  'TPM_QUOTE_NONCE_MISMATCH',
  'TPM_QUOTE_SELECTION_MISMATCH',
  'TPM_QUOTE_DIGEST_MISMATCH',
  'TPM_QUOTE_TRAILING_BYTES',
  'TPM_QUOTE_BAD_ARGUMENT',
  'TPM_QUOTE_UNSUPPORTED_DIGEST',
] as const;
export type TpmQuoteErrorCode = Exclude<(typeof TPM_QUOTE_ERRORS)[number], 'OK'>;

export class TpmQuoteError extends CairnError<TpmQuoteErrorCode> {
  constructor(code: TpmQuoteErrorCode, message: string) {
    super(code, message, { status: 400 });
    this.name = 'TpmQuoteError';
  }
}

export const TPM_GENERATED = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;
export const TPM_ALG_SHA256 = 0x000b;
export const MAX_ATTEST_BYTES = 4096;
export const MAX_NONCE_BYTES = 64;

export interface QuoteCheckInput {
  /** Marshalled TPMS_ATTEST (tpm2_quote -m). */
  attest: Uint8Array;
  /** The verifier's nonce; must equal extraData. */
  nonce: Uint8Array;
  /** PCR indices (SHA-256 bank) the verifier asked for. */
  pcrs: readonly number[];
  /** The claimed values of those PCRs, in ascending index order, 32 bytes each. */
  pcrValues: readonly Uint8Array[];
}

export interface QuoteInfo {
  /** TPM2B_NAME of the signing key (nameAlg || H(TPMT_PUBLIC)). */
  qualifiedSigner: Uint8Array;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: bigint;
  /** The PCR digest recomputed from pcrValues (equal to the attested one). */
  pcrDigest: Uint8Array;
}

export interface QuoteChecker {
  readonly name: string;
  /** Throws TpmQuoteError on the first failed check. */
  checkQuote(input: QuoteCheckInput): QuoteInfo;
}

export function fail(code: number): never {
  const name = TPM_QUOTE_ERRORS[code] ?? 'TPM_QUOTE_BAD_ARGUMENT';
  if (name === 'OK') throw new Error('fail(0)');
  throw new TpmQuoteError(name, messages[name]);
}

const messages: Record<TpmQuoteErrorCode, string> = {
  TPM_QUOTE_TRUNCATED: 'TPMS_ATTEST is truncated or malformed',
  TPM_QUOTE_BAD_MAGIC: 'TPMS_ATTEST magic is not TPM_GENERATED_VALUE',
  TPM_QUOTE_BAD_TYPE: 'TPMS_ATTEST type is not TPM_ST_ATTEST_QUOTE',
  TPM_QUOTE_NONCE_MISMATCH: 'quote extraData does not equal the nonce',
  TPM_QUOTE_SELECTION_MISMATCH: 'attested PCR selection differs from the requested one',
  TPM_QUOTE_DIGEST_MISMATCH: 'PCR values do not match the attested PCR digest',
  TPM_QUOTE_TRAILING_BYTES: 'TPMS_ATTEST has trailing bytes',
  TPM_QUOTE_BAD_ARGUMENT: 'quote check arguments out of range',
  TPM_QUOTE_UNSUPPORTED_DIGEST: 'only a SHA-256 PCR digest is supported',
};

/** Argument checks both implementations share; returns the PCR bitmask. */
export function checkArguments(input: QuoteCheckInput): number {
  const { attest, nonce, pcrs, pcrValues } = input;
  if (!(attest instanceof Uint8Array) || attest.length > MAX_ATTEST_BYTES) fail(8);
  if (!(nonce instanceof Uint8Array) || nonce.length > MAX_NONCE_BYTES) fail(8);
  let mask = 0;
  let prev = -1;
  for (const i of pcrs) {
    // Ascending and unique, so that the values line up with the digest order.
    if (!Number.isInteger(i) || i < 0 || i > 23 || i <= prev) fail(8);
    mask |= 1 << i;
    prev = i;
  }
  if (mask === 0 || pcrValues.length !== pcrs.length || pcrValues.some((v) => !(v instanceof Uint8Array) || v.length !== 32)) fail(8);
  return mask >>> 0;
}

export const referenceQuoteChecker: QuoteChecker = {
  name: 'node:crypto',
  checkQuote(input: QuoteCheckInput): QuoteInfo {
    const mask = checkArguments(input);
    const b = Buffer.from(input.attest.buffer, input.attest.byteOffset, input.attest.byteLength);
    let p = 0;
    const need = (n: number): void => {
      if (p + n > b.length) fail(1);
    };
    need(6);
    if (b.readUInt32BE(0) !== TPM_GENERATED) fail(2);
    if (b.readUInt16BE(4) !== TPM_ST_ATTEST_QUOTE) fail(3);
    p = 6;
    need(2);
    const signerLen = b.readUInt16BE(p);
    p += 2;
    need(signerLen);
    const qualifiedSigner = new Uint8Array(b.subarray(p, p + signerLen));
    p += signerLen;
    need(2);
    const extraLen = b.readUInt16BE(p);
    p += 2;
    need(extraLen);
    const extra = b.subarray(p, p + extraLen);
    const nonceOk = extra.length === input.nonce.length && timingSafeEqual(extra, input.nonce);
    p += extraLen;
    need(17);
    const clock = b.readBigUInt64BE(p);
    const resetCount = b.readUInt32BE(p + 8);
    const restartCount = b.readUInt32BE(p + 12);
    const safe = b[p + 16]! !== 0;
    p += 17;
    need(8);
    const firmwareVersion = b.readBigUInt64BE(p);
    p += 8;
    need(4);
    const selCount = b.readUInt32BE(p);
    p += 4;
    let selOk = selCount === 1;
    for (let s = 0; s < selCount; s++) {
      if (s >= 16) fail(1);
      need(3);
      const alg = b.readUInt16BE(p);
      const size = b[p + 2]!;
      p += 3;
      need(size);
      if (alg !== TPM_ALG_SHA256 || size < 3 || size > 4) selOk = false;
      let bits = 0;
      for (let i = 0; i < size; i++) bits |= b[p + i]! << (i * 8);
      if (bits >>> 0 !== mask) selOk = false;
      p += size;
    }
    need(2);
    const digestLen = b.readUInt16BE(p);
    p += 2;
    need(digestLen);
    const attested = b.subarray(p, p + digestLen);
    p += digestLen;
    if (p !== b.length) fail(7);
    if (!nonceOk) fail(4);
    if (!selOk) fail(5);
    if (digestLen !== 32) fail(9);
    const h = createHash('sha256');
    for (const v of input.pcrValues) h.update(v);
    const pcrDigest = new Uint8Array(h.digest());
    if (!timingSafeEqual(pcrDigest, attested)) fail(6);
    return { qualifiedSigner, clock, resetCount, restartCount, safe, firmwareVersion, pcrDigest };
  },
};
