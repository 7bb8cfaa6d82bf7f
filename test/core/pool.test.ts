/** The worker pool gives exactly verifyBatch's verdicts, in input order, with registered keys. */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initCore, verifyBatch, type SignatureItem } from '../../host/core/index.js';
import { VerifyPool } from '../../host/core/pool.js';

let pool: VerifyPool;
beforeAll(async () => {
  await initCore();
  pool = new VerifyPool(2);
});
afterAll(() => pool.close());

it('splits a batch over the workers and reports every item', async () => {
  const keys = [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ed25519')];
  await pool.registerKey(keys[0]!.publicKey.export({ format: 'der', type: 'spki' }));
  const items: SignatureItem[] = [];
  for (let i = 0; i < 301; i++) {
    const k = keys[i % 3]!;
    const ed = i % 3 === 2;
    const m = Buffer.from(`item ${i}`);
    const sig = ed ? sign(null, m, k.privateKey) : sign('sha256', m, k.privateKey);
    if (i % 17 === 5) sig[sig.length - 1] ^= 1;
    items.push({ alg: ed ? 'ed25519' : 'ecdsa-p256-sha256', publicKey: k.publicKey.export({ format: 'der', type: 'spki' }), digestOrMessage: ed ? m : createHash('sha256').update(m).digest(), signature: sig });
  }
  const got = await pool.verifyBatch(items);
  expect(got).toEqual(verifyBatch(items));
  expect(got.filter((x) => !x).length).toBe(items.filter((_, i) => i % 17 === 5).length);
  expect(await pool.verifyBatch([])).toEqual([]);
}, 30_000);
