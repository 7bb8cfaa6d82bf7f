import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreError, initCore, setSimd, sha256Batch, sha256Into, simdEnabled } from '../../host/core/index.js';
import { hex, impls, prng } from './impls.js';

const nodeSha = (...parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe.each(impls)('sha256: $name', ({ api, setup, wasm, name }) => {
  beforeAll(setup);

  it('runs on the selected path', () => {
    if (wasm) expect(simdEnabled()).toBe(name.includes('SIMD'));
  });

  it('matches the FIPS 180-4 / NIST example digests', () => {
    const enc = new TextEncoder();
    expect(hex(api.sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(api.sha256(enc.encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(api.sha256(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    // One million 'a' (FIPS 180-2 appendix B.3): crosses the 1 MiB input buffer, so it streams.
    expect(hex(api.sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  it('equals node:crypto for every length 0..1000', () => {
    const r = prng(1);
    const data = r.bytes(1001);
    for (let len = 0; len <= 1000; len++) {
      // Sliding windows: every start alignment mod 16 shows up as well.
      const msg = data.subarray(len % 17, len % 17 + Math.min(len, 1001 - (len % 17)));
      expect(hex(api.sha256(msg)), `length ${msg.length}`).toBe(nodeSha(msg));
    }
  });

  it('equals node:crypto for random lengths, including ones larger than the input buffer', () => {
    const r = prng(2);
    const lengths = [1 << 20, (1 << 20) - 1, (1 << 20) + 1, (1 << 20) + 55, 2 * (1 << 20) + 63, 3_000_001];
    for (let i = 0; i < 20; i++) lengths.push(r.int(200_000));
    for (const len of lengths) {
      const msg = r.bytes(len);
      expect(hex(api.sha256(msg)), `length ${len}`).toBe(nodeSha(msg));
    }
  });

  it('rejects what is not bytes with a coded error', () => {
    expect(() => api.sha256('abc' as unknown as Uint8Array)).toThrow(CoreError);
  });
});

describe.each(impls.filter((i) => i.wasm))('sha256 batch (4 lanes): $name', ({ setup }) => {
  beforeAll(setup);

  it('hashes mixed-length messages like node:crypto, four at a time', () => {
    const r = prng(3);
    const msgs: Uint8Array[] = [];
    // Groups of equal and unequal block counts, empty messages, and the 55/56/64-byte padding edges.
    for (let i = 0; i < 400; i++) msgs.push(r.bytes([0, 1, 32, 55, 56, 63, 64, 65, 119, 120, 300][i % 11]! + (i % 3 === 0 ? r.int(3) : 0)));
    for (let i = 0; i < 40; i++) msgs.push(r.bytes(r.int(5000)));
    const packed = sha256Batch(msgs);
    msgs.forEach((m, i) => expect(hex(packed.subarray(i * 32, i * 32 + 32)), `message ${i}`).toBe(nodeSha(m)));
  });

  it('splits batches larger than the static buffers (message count and bytes)', () => {
    const r = prng(4);
    const msgs: Uint8Array[] = [];
    for (let i = 0; i < 40_000; i++) msgs.push(r.bytes(1 + (i % 40)));
    msgs.push(r.bytes(1_200_000)); // larger than the whole input buffer: streamed alone
    for (let i = 0; i < 30; i++) msgs.push(r.bytes(50_000));
    const packed = sha256Batch(msgs);
    for (let i = 0; i < msgs.length; i += i < 39_990 ? 997 : 1) {
      expect(hex(packed.subarray(i * 32, i * 32 + 32)), `message ${i}`).toBe(nodeSha(msgs[i]!));
    }
  });

  it('writes into caller memory at an offset and checks the room', () => {
    const out = new Uint8Array(40);
    sha256Into(new Uint8Array([1, 2, 3]), out, 8);
    expect(hex(out.subarray(8))).toBe(nodeSha(new Uint8Array([1, 2, 3])));
    expect(() => sha256Into(new Uint8Array(1), out, 9)).toThrow(expect.objectContaining({ code: 'CORE_BAD_LENGTH' }));
  });
});

describe('sha256 SIMD vs scalar', () => {
  it('SIMD and scalar agree on the same batch', async () => {
    await initCore();
    const r = prng(5);
    const msgs = Array.from({ length: 101 }, (_, i) => r.bytes(i * 7));
    setSimd(true);
    const a = sha256Batch(msgs);
    setSimd(false);
    const b = sha256Batch(msgs);
    setSimd(true);
    expect(hex(a)).toBe(hex(b));
  });
});
