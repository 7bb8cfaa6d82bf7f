/**
 * Entry admission off the event loop (host/log/admission.ts): the pooled path must give exactly
 * the verdicts of the inline path, item by item, including for items that share one batch.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { inlineAdmission, PooledAdmission } from '../../host/log/admission.js';
import { prepareEntry, prepareEntryAsync } from '../../host/log/entries.js';
import { LogError } from '../../host/log/errors.js';
import type { SignatureItem } from '../../host/core/signature-formats.js';

let pooled: PooledAdmission;
beforeAll(async () => {
  await initCore();
  pooled = new PooledAdmission(2, 8);
});
afterAll(async () => pooled?.close());

function item(valid: boolean, i: number): SignatureItem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const msg = Buffer.from(`artifact ${i}`);
  const sig = sign('sha256', msg, privateKey);
  if (!valid) sig[sig.length - 1]! ^= 1;
  return { alg: 'ecdsa-p256-sha256', publicKey: publicKey.export({ format: 'der', type: 'spki' }), digestOrMessage: createHash('sha256').update(msg).digest(), signature: sig };
}

it('pooled verdicts equal inline verdicts for every item, across several batches', async () => {
  const items = Array.from({ length: 30 }, (_, i) => item(i % 3 !== 1, i));
  const inline = await Promise.all(items.map((x) => inlineAdmission.verify(x)));
  const viaPool = await Promise.all(items.map((x) => pooled.verify(x)));
  expect(viaPool).toEqual(inline);
  expect(inline.filter(Boolean)).toHaveLength(20);
});

it('prepareEntryAsync accepts and refuses exactly what prepareEntry does', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const artifact = Buffer.from('hello');
  const entry = (sig: Buffer) => ({
    apiVersion: '0.0.1', kind: 'hashedrekord',
    spec: { data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(artifact).digest('hex') } }, signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(publicKey.export({ format: 'pem', type: 'spki' }) as string).toString('base64') } } },
  });
  const good = entry(sign('sha256', artifact, privateKey));
  expect(Buffer.from((await prepareEntryAsync(good, pooled)).body)).toEqual(Buffer.from(prepareEntry(good).body));
  const bad = entry(sign('sha256', Buffer.from('other'), privateKey));
  expect(() => prepareEntry(bad)).toThrow(LogError);
  await expect(prepareEntryAsync(bad, pooled)).rejects.toMatchObject({ code: 'LOG_BAD_SIGNATURE' });
  // The right signature in IEEE P1363 form (r‖s): the core can read it, Rekor (ecdsa.VerifyASN1)
  // cannot, and neither path takes it.
  const p1363 = entry(sign('sha256', artifact, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  expect(() => prepareEntry(p1363)).toThrow(expect.objectContaining({ code: 'LOG_BAD_SIGNATURE' }));
  await expect(prepareEntryAsync(p1363, pooled)).rejects.toMatchObject({ code: 'LOG_BAD_SIGNATURE' });
  await expect(prepareEntryAsync(p1363, inlineAdmission)).rejects.toMatchObject({ code: 'LOG_BAD_SIGNATURE' });
});

it('a dead worker neither hangs nor fails entries: the pool rejects at once and admission checks inline', async () => {
  const a = new PooledAdmission(1, 8);
  try {
    const items = Array.from({ length: 6 }, (_, i) => item(i % 2 === 0, i));
    expect(await Promise.all(items.map((x) => a.verify(x)))).toEqual([true, false, true, false, true, false]);
    const pool = (a as unknown as { batcher: { pool: { workers: { terminate(): Promise<number> }[]; verifyBatch(i: unknown[]): Promise<boolean[]> } } }).batcher.pool;
    await pool.workers[0]!.terminate();
    await expect(pool.verifyBatch(items)).rejects.toThrow(/exited/);
    expect(await Promise.all(items.map((x) => a.verify(x)))).toEqual([true, false, true, false, true, false]);
  } finally {
    await a.close();
  }
});
