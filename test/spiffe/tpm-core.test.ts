/**
 * One suite over both quote checkers: the WASM routine (assembly/tpm.ts via host/core/tpm.ts) and
 * its node:crypto twin (host/core/tpm-reference.ts). Quotes are marshalled here per TPM 2.0 Part 2
 * §10.12.12 so that every field can be bent; test/spiffe/tpm.test.ts uses real swtpm quotes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { coreExports } from '../../host/core/wasm.js';
import { initTpm, referenceQuoteChecker, wasmQuoteChecker, type QuoteChecker } from '../../host/core/tpm.js';

interface QuoteFields {
  magic?: number;
  type?: number;
  signer?: Buffer;
  extraData: Buffer;
  selections?: { alg: number; bitmap: number[] }[];
  digest?: Buffer;
  trailing?: Buffer;
}

const pcrValues = [0, 1, 7].map((i) => createHash('sha256').update(`pcr${i}`).digest());
const goodDigest = createHash('sha256').update(Buffer.concat(pcrValues)).digest();
const MASK_017 = [0b10000011, 0, 0];

function marshalQuote(f: QuoteFields): Buffer {
  const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
  const tpm2b = (b: Buffer) => Buffer.concat([u16(b.length), b]);
  const signer = f.signer ?? Buffer.concat([u16(0x000b), randomBytes(32)]);
  const sels = f.selections ?? [{ alg: 0x000b, bitmap: MASK_017 }];
  return Buffer.concat([
    u32(f.magic ?? 0xff544347),
    u16(f.type ?? 0x8018),
    tpm2b(signer),
    tpm2b(f.extraData),
    Buffer.alloc(8, 0x11), u32(7), u32(3), Buffer.from([1]), // clockInfo
    Buffer.alloc(8, 0x22), // firmwareVersion
    u32(sels.length),
    ...sels.map((s) => Buffer.concat([u16(s.alg), Buffer.from([s.bitmap.length]), Buffer.from(s.bitmap)])),
    tpm2b(f.digest ?? goodDigest),
    f.trailing ?? Buffer.alloc(0),
  ]);
}

const checkers: QuoteChecker[] = [wasmQuoteChecker, referenceQuoteChecker];

beforeAll(async () => {
  await initTpm();
});

function code(c: QuoteChecker, attest: Uint8Array, nonce: Uint8Array, pcrs = [0, 1, 7], values: Uint8Array[] = pcrValues): string {
  try {
    c.checkQuote({ attest, nonce, pcrs, pcrValues: values });
    return 'OK';
  } catch (e) {
    return (e as { code: string }).code;
  }
}

describe.each(checkers)('quote checks ($name)', (c) => {
  const nonce = randomBytes(32);

  it('accepts a well-formed quote and returns its fields', () => {
    const signer = Buffer.concat([Buffer.from([0, 0x0b]), randomBytes(32)]);
    const info = c.checkQuote({ attest: marshalQuote({ extraData: nonce, signer }), nonce, pcrs: [0, 1, 7], pcrValues });
    expect(Buffer.from(info.qualifiedSigner)).toEqual(signer);
    expect(Buffer.from(info.pcrDigest)).toEqual(goodDigest);
    expect(info.clock).toBe(0x1111111111111111n);
    expect(info.resetCount).toBe(7);
    expect(info.restartCount).toBe(3);
    expect(info.safe).toBe(true);
    expect(info.firmwareVersion).toBe(0x2222222222222222n);
  });

  it('rejects a wrong magic and a type other than TPM_ST_ATTEST_QUOTE', () => {
    expect(code(c, marshalQuote({ extraData: nonce, magic: 0xff544348 }), nonce)).toBe('TPM_QUOTE_BAD_MAGIC');
    expect(code(c, marshalQuote({ extraData: nonce, type: 0x8017 }), nonce)).toBe('TPM_QUOTE_BAD_TYPE'); // TPM_ST_ATTEST_CERTIFY
  });

  it('rejects extraData other than the nonce (also a prefix or an extension of it)', () => {
    expect(code(c, marshalQuote({ extraData: randomBytes(32) }), nonce)).toBe('TPM_QUOTE_NONCE_MISMATCH');
    expect(code(c, marshalQuote({ extraData: nonce.subarray(0, 31) }), nonce)).toBe('TPM_QUOTE_NONCE_MISMATCH');
    expect(code(c, marshalQuote({ extraData: Buffer.concat([nonce, Buffer.from([0])]) }), nonce)).toBe('TPM_QUOTE_NONCE_MISMATCH');
    expect(code(c, marshalQuote({ extraData: Buffer.alloc(0) }), nonce)).toBe('TPM_QUOTE_NONCE_MISMATCH');
  });

  it('rejects an attested PCR selection that differs from the requested one (CVE-2024-29038)', () => {
    const q = (selections: QuoteFields['selections']) => code(c, marshalQuote({ extraData: nonce, selections }), nonce);
    expect(q([{ alg: 0x000b, bitmap: [0b00000011, 0, 0] }])).toBe('TPM_QUOTE_SELECTION_MISMATCH'); // 0,1 only
    expect(q([{ alg: 0x000b, bitmap: [0b10000111, 0, 0] }])).toBe('TPM_QUOTE_SELECTION_MISMATCH'); // 0,1,2,7
    expect(q([{ alg: 0x0004, bitmap: MASK_017 }])).toBe('TPM_QUOTE_SELECTION_MISMATCH'); // SHA-1 bank
    expect(q([{ alg: 0x000b, bitmap: MASK_017 }, { alg: 0x0004, bitmap: MASK_017 }])).toBe('TPM_QUOTE_SELECTION_MISMATCH');
    expect(q([])).toBe('TPM_QUOTE_SELECTION_MISMATCH');
    expect(q([{ alg: 0x000b, bitmap: [0b10000011, 0, 0, 0x01] }])).toBe('TPM_QUOTE_SELECTION_MISMATCH'); // PCR 24+
    expect(q([{ alg: 0x000b, bitmap: [0b10000011, 0, 0, 0] }])).toBe('OK'); // 4-byte bitmap, same PCRs
  });

  it('recomputes the PCR digest from the supplied values (CVE-2024-29039)', () => {
    const attest = marshalQuote({ extraData: nonce });
    const altered = pcrValues.map((v) => Buffer.from(v));
    altered[2]![0]! ^= 1;
    expect(code(c, attest, nonce, [0, 1, 7], altered)).toBe('TPM_QUOTE_DIGEST_MISMATCH');
    expect(code(c, attest, nonce, [0, 1, 7], [pcrValues[1]!, pcrValues[0]!, pcrValues[2]!])).toBe('TPM_QUOTE_DIGEST_MISMATCH');
    expect(code(c, marshalQuote({ extraData: nonce, digest: randomBytes(32) }), nonce)).toBe('TPM_QUOTE_DIGEST_MISMATCH');
    expect(code(c, marshalQuote({ extraData: nonce, digest: randomBytes(20) }), nonce)).toBe('TPM_QUOTE_UNSUPPORTED_DIGEST');
  });

  it('rejects every truncation and trailing bytes', () => {
    const attest = marshalQuote({ extraData: nonce });
    for (let n = 0; n < attest.length; n++) expect(code(c, attest.subarray(0, n), nonce)).toBe('TPM_QUOTE_TRUNCATED');
    expect(code(c, marshalQuote({ extraData: nonce, trailing: Buffer.from([0]) }), nonce)).toBe('TPM_QUOTE_TRAILING_BYTES');
  });

  it('rejects bad arguments before looking at the quote', () => {
    const attest = marshalQuote({ extraData: nonce });
    expect(code(c, attest, nonce, [7, 1, 0], pcrValues)).toBe('TPM_QUOTE_BAD_ARGUMENT'); // not ascending
    expect(code(c, attest, nonce, [0, 1, 24], pcrValues)).toBe('TPM_QUOTE_BAD_ARGUMENT');
    expect(code(c, attest, nonce, [0, 1], pcrValues)).toBe('TPM_QUOTE_BAD_ARGUMENT');
    expect(code(c, attest, nonce, [0, 1, 7], [pcrValues[0]!, pcrValues[1]!, new Uint8Array(20)])).toBe('TPM_QUOTE_BAD_ARGUMENT');
    expect(code(c, new Uint8Array(4097), nonce)).toBe('TPM_QUOTE_BAD_ARGUMENT');
    expect(code(c, attest, new Uint8Array(65))).toBe('TPM_QUOTE_BAD_ARGUMENT');
  });
});

describe('WASM and twin agree', () => {
  it('on 3000 random single-byte mutations and truncations of a valid quote', () => {
    const nonce = randomBytes(32);
    const attest = marshalQuote({ extraData: nonce });
    for (let i = 0; i < 3000; i++) {
      const m = Buffer.from(attest);
      const pos = i % m.length;
      m[pos] = (m[pos]! + 1 + (i % 255)) & 0xff;
      const cut = i % 7 === 0 ? m.subarray(0, (i * 31) % m.length) : m;
      expect(code(wasmQuoteChecker, cut, nonce)).toBe(code(referenceQuoteChecker, cut, nonce));
    }
  });

  it('WASM memory does not grow over 100k checks (static buffers only)', () => {
    const nonce = randomBytes(32);
    const attest = marshalQuote({ extraData: nonce });
    const mem = coreExports().memory;
    const before = mem.buffer.byteLength;
    for (let i = 0; i < 100_000; i++) wasmQuoteChecker.checkQuote({ attest, nonce, pcrs: [0, 1, 7], pcrValues });
    expect(mem.buffer.byteLength).toBe(before);
  });
});
