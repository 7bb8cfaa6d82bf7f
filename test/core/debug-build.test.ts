import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import * as core from '../../host/core/index.js';
import * as ref from '../../host/core/reference.js';
import { hex, prng } from './impls.js';

// Its own file, so the module graph is fresh and this process loads the unoptimised debug build
// (assertions kept, no -O3): a smaller cross-check of both paths against node:crypto and the twin.
describe('debug build of the WASM core', () => {
  beforeAll(async () => {
    await core.loadCore({ flavour: 'debug' });
    await core.initCore();
  });

  it('is the debug flavour', () => {
    expect(core.coreFlavour()).toBe('debug');
  });

  for (const simd of [true, false]) {
    it(`${simd ? 'SIMD' : 'scalar'}: SHA-256 of lengths 0..300 and trees 0..40 with every proof`, () => {
      core.setSimd(simd);
      const r = prng(simd ? 21 : 22);
      const msgs = Array.from({ length: 301 }, (_, i) => r.bytes(i));
      const batch = core.sha256Batch(msgs);
      msgs.forEach((m, i) => expect(hex(batch.subarray(i * 32, i * 32 + 32))).toBe(createHash('sha256').update(m).digest('hex')));
      for (let n = 0; n <= 40; n++) {
        const leaves = Array.from({ length: n }, () => r.bytes(r.int(70)));
        const packed = core.leafHashes(leaves);
        expect(hex(packed)).toBe(hex(ref.leafHashes(leaves)));
        const root = core.rootFromLeafHashes(packed);
        expect(hex(root)).toBe(hex(ref.rootFromLeafHashes(packed)));
        for (let i = 0; i < n; i++) {
          const proof = core.inclusionProof(packed, i);
          expect(proof.map(hex)).toEqual(ref.inclusionProof(packed, i).map(hex));
          expect(core.verifyInclusion(packed.subarray(i * 32, i * 32 + 32), i, n, proof, root)).toBe(true);
          const cons = core.consistencyProof(packed, i + 1);
          expect(cons.map(hex)).toEqual(ref.consistencyProof(packed, i + 1).map(hex));
          expect(core.verifyConsistency(i + 1, n, cons, ref.rootFromLeafHashes(packed.subarray(0, (i + 1) * 32)), root)).toBe(true);
        }
      }
    });
  }

  it('signatures: ECDSA P-256 and an Ed25519 batch (one tampered item) give the node:crypto verdicts, with and without the runtime multiplication', async () => {
    const items: core.SignatureItem[] = [];
    const expected: boolean[] = [];
    for (let i = 0; i < 12; i++) {
      const ec = i < 4;
      const { privateKey, publicKey } = ec ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
      const msg = Buffer.from(`debug ${i}`);
      const sig = new Uint8Array(ec ? sign('sha256', msg, privateKey) : sign(null, msg, privateKey));
      if (i === 2 || i === 9) sig[20] ^= 1;
      const digest = new Uint8Array(createHash('sha256').update(msg).digest());
      items.push({ alg: ec ? 'ecdsa-p256-sha256' : 'ed25519', publicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), digestOrMessage: ec ? digest : msg, signature: sig });
      expected.push(i !== 2 && i !== 9);
    }
    expect(core.verifyBatch(items)).toEqual(expected);
    // The same P-256 items in the core alone (no runtime multiplication), batched and one by one.
    expect(core.p256ScalarMulInstalled()).toBe(true);
    core.setP256ScalarMul(undefined);
    try {
      expect(core.verifyBatch(items)).toEqual(expected);
      expect(items.map((it) => core.verifySignature(it))).toEqual(expected);
    } finally {
      expect(await core.installRuntimeScalarMul()).toBe(true);
    }
  });
});
