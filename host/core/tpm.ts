/**
 * TypeScript glue over the WASM TPM quote checks (assembly/tpm.ts); the node:crypto twin with the
 * same interface is host/core/tpm-reference.ts. Views over the module's static buffers are built
 * once per memory buffer; every length is checked here before calling in (release builds strip
 * the module's asserts). Import this file directly (host/core/index.ts is the Merkle API).
 */
import { coreExports, loadCore } from './wasm.js';
import { checkArguments, fail, type QuoteCheckInput, type QuoteChecker, type QuoteInfo } from './tpm-reference.js';

export { TpmQuoteError, TPM_QUOTE_ERRORS, referenceQuoteChecker, type QuoteCheckInput, type QuoteChecker, type QuoteInfo, type TpmQuoteErrorCode } from './tpm-reference.js';

interface TpmExports {
  memory: { buffer: ArrayBuffer };
  tpm_attest(): number;
  tpm_attest_capacity(): number;
  tpm_nonce(): number;
  tpm_nonce_capacity(): number;
  tpm_pcrs(): number;
  tpm_pcr_slots(): number;
  tpm_info(): number;
  tpm_check_quote(attestLen: number, nonceLen: number, pcrMask: number): number;
  tpm_pcr_digest(count: number): number;
}

interface Views {
  x: TpmExports;
  buffer: ArrayBuffer;
  attest: Uint8Array;
  nonce: Uint8Array;
  pcrs: Uint8Array;
  info: DataView;
  infoBytes: Uint8Array;
  mem: Uint8Array;
}

let views: Views | undefined;

function tpmViews(): Views {
  const x = coreExports() as unknown as TpmExports;
  const buffer = x.memory.buffer;
  if (views && views.buffer === buffer) return views;
  views = {
    x,
    buffer,
    attest: new Uint8Array(buffer, x.tpm_attest(), x.tpm_attest_capacity()),
    nonce: new Uint8Array(buffer, x.tpm_nonce(), x.tpm_nonce_capacity()),
    pcrs: new Uint8Array(buffer, x.tpm_pcrs(), x.tpm_pcr_slots() * 32),
    info: new DataView(buffer, x.tpm_info(), 72),
    infoBytes: new Uint8Array(buffer, x.tpm_info(), 72),
    mem: new Uint8Array(buffer),
  };
  return views;
}

/** Loads the module (idempotent); `wasmQuoteChecker` needs it first. */
export async function initTpm(): Promise<void> {
  await loadCore();
  tpmViews();
}

export const wasmQuoteChecker: QuoteChecker = {
  name: 'wasm',
  checkQuote(input: QuoteCheckInput): QuoteInfo {
    const mask = checkArguments(input);
    const v = tpmViews();
    v.attest.set(input.attest);
    v.nonce.set(input.nonce);
    for (let i = 0; i < input.pcrValues.length; i++) v.pcrs.set(input.pcrValues[i]!, i * 32);
    const rc = v.x.tpm_check_quote(input.attest.length, input.nonce.length, mask);
    if (rc !== 0) fail(rc);
    const off = v.info.getUint32(0, true);
    const len = v.info.getUint32(4, true);
    return {
      qualifiedSigner: v.attest.slice(off, off + len),
      clock: v.info.getBigUint64(8, true),
      resetCount: v.info.getUint32(16, true),
      restartCount: v.info.getUint32(20, true),
      safe: v.info.getUint32(24, true) !== 0,
      firmwareVersion: v.info.getBigUint64(32, true),
      pcrDigest: v.infoBytes.slice(40, 72),
    };
  },
};
