import { beforeAll, describe, expect, it } from 'vitest';
import { CompactRange, initCore, rootFromLeafHashes } from '../../host/core/index.js';
import * as ref from '../../host/core/reference.js';
import { hex, prng } from './impls.js';

const variants = [
  { name: 'WASM core', make: () => new CompactRange(), from: (s: number, h: Uint8Array[]) => CompactRange.from(s, h) },
  {
    name: 'reference twin',
    make: () => new CompactRange({ node: ref.nodeHash, runRoot: ref.rootFromLeafHashes }),
    from: (s: number, h: Uint8Array[]) => CompactRange.from(s, h, { node: ref.nodeHash, runRoot: ref.rootFromLeafHashes }),
  },
];

describe.each(variants)('CompactRange over the $name', ({ make, from }) => {
  beforeAll(() => initCore());

  it('root after every append equals the MTH of the prefix (sizes 0..300)', () => {
    const packed = prng(11).bytes(300 * 32);
    const r = make();
    expect(hex(r.root())).toBe(hex(ref.rootFromLeafHashes(new Uint8Array(0))));
    for (let n = 1; n <= 300; n++) {
      r.append(packed.subarray((n - 1) * 32, n * 32));
      expect(r.size).toBe(n);
      expect(hex(r.root()), `size ${n}`).toBe(hex(ref.rootFromLeafHashes(packed.subarray(0, n * 32))));
      expect(r.hashes().length).toBe(n.toString(2).replace(/0/g, '').length);
    }
  });

  it('batches of random sizes, resumed from stored hashes, match the one-shot root', () => {
    const rnd = prng(12);
    const total = 150_000;
    const packed = rnd.bytes(total * 32);
    let r = make();
    let n = 0;
    while (n < total) {
      const k = Math.min(total - n, rnd.int(4) === 0 ? rnd.int(70_000) : rnd.int(700));
      r.appendMany(packed.subarray(n * 32, (n + k) * 32));
      n += k;
      if (rnd.int(3) === 0) r = from(r.size, r.hashes());
      if (n < 3000) expect(hex(r.root()), `size ${n}`).toBe(hex(ref.rootFromLeafHashes(packed.subarray(0, n * 32))));
    }
    expect(hex(r.root())).toBe(hex(rootFromLeafHashes(packed)));
  });

  it('rejects malformed input with coded errors', () => {
    const r = make();
    expect(() => r.append(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'CORE_BAD_LENGTH' }));
    expect(() => r.appendMany(new Uint8Array(33))).toThrow(expect.objectContaining({ code: 'CORE_BAD_LENGTH' }));
    expect(() => from(3, [new Uint8Array(32)])).toThrow(expect.objectContaining({ code: 'CORE_BAD_LENGTH' }));
    expect(() => from(-1, [])).toThrow(expect.objectContaining({ code: 'CORE_BAD_SIZE' }));
  });
});
