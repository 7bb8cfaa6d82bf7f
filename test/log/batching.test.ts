/**
 * Batch closing (host/log/log.ts): a batch closes at batchSize, at batchAgeMs, or at the first
 * event-loop turn in which it did not grow; entries submitted together share one batch (one
 * checkpoint), and with closeQuietBatches off a lone entry waits for the age limit.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { TransparencyLog, type LogOptions } from '../../host/log/log.js';
import { SqliteLogStore } from '../../host/log/store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function open(o: Partial<LogOptions>) {
  await initCore();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-batching-'));
  dirs.push(dir);
  const store = new SqliteLogStore(join(dir, 'log.db'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const log = await TransparencyLog.open({ store, key: privateKey, origin: 'batching.test', ...o });
  return { log, store };
}

/** Checkpoints stored so far: one per committed batch (plus the empty tree's). */
const checkpoints = (store: SqliteLogStore): number => (store as unknown as { db: { prepare(s: string): { get(): { n: number } } } }).db.prepare('SELECT COUNT(*) AS n FROM checkpoints').get().n;

it('closes a quiet batch at once instead of waiting out its age', async () => {
  const { log, store } = await open({ batchAgeMs: 60_000 });
  const t0 = performance.now();
  await log.add({ body: Buffer.from('{"a":1}'), searchKeys: [] });
  expect(performance.now() - t0).toBeLessThan(5_000);
  // Entries submitted in the same turn share a batch: one more checkpoint, not three.
  const before = checkpoints(store);
  const r = await Promise.all([1, 2, 3].map((i) => log.add({ body: Buffer.from(`{"b":${i}}`), searchKeys: [] })));
  expect(r.map((x) => x.index)).toEqual([1, 2, 3]);
  expect(checkpoints(store)).toBe(before + 1);
  await log.close();
  store.close();
});

it('keeps a growing batch open: entries arriving turn after turn share one commit', async () => {
  const { log, store } = await open({ batchAgeMs: 60_000, batchSize: 1_000 });
  const before = checkpoints(store);
  const pending: Promise<unknown>[] = [];
  // One new entry in each of 20 event-loop turns, each arriving before the log's quiet check of
  // that turn runs: the batch grows every turn, so it stays open and commits once.
  await new Promise<void>((done) => {
    let i = 0;
    const arrive = (): void => {
      if (i === 20) return done();
      setImmediate(arrive); // the next turn's arrival is queued ahead of this turn's quiet check
      pending.push(log.add({ body: Buffer.from(`{"c":${i++}}`), searchKeys: [] }));
    };
    setImmediate(arrive);
  });
  await Promise.all(pending);
  expect(checkpoints(store) - before).toBe(1);
  await log.close();
  store.close();
});

it('without closeQuietBatches a lone entry waits for batchAgeMs', async () => {
  const { log, store } = await open({ batchAgeMs: 300, closeQuietBatches: false });
  const t0 = performance.now();
  await log.add({ body: Buffer.from('{"d":1}'), searchKeys: [] });
  expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  await log.close();
  store.close();
});

it('answers a duplicate of an entry in the same batch only after that batch is committed, and with its error if the commit fails', async () => {
  await initCore();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-batching-'));
  dirs.push(dir);
  // A store whose commits wait for a gate: the batch is staged, and not yet durable.
  let open!: () => void;
  let fail = false;
  class GatedStore extends SqliteLogStore {
    override async append(...a: Parameters<SqliteLogStore['append']>): Promise<void> {
      await new Promise<void>((r) => (open = r));
      if (fail) throw new Error('disk full');
      return super.append(...a);
    }
  }
  const store = new GatedStore(join(dir, 'log.db'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const log = await TransparencyLog.open({ store, key: privateKey, origin: 'batching.test', batchAgeMs: 1 });
  const settled: string[] = [];
  const body = Buffer.from('{"twin":1}');
  const original = log.add({ body, searchKeys: [] }).then((r) => settled.push(`original ${r.index}`));
  const twin = log.add({ body, searchKeys: [] }).catch((e: { code: string; existingIndex: number }) => settled.push(`twin ${e.code} ${e.existingIndex}`));
  await new Promise((r) => setTimeout(r, 50));
  expect(settled).toEqual([]); // staged, not committed: neither is answered yet
  open();
  await Promise.all([original, twin]);
  expect(settled).toEqual(['original 0', 'twin LOG_DUPLICATE 0']);
  // When the commit fails, the twin gets that failure, not a 409 naming an index that was never written.
  fail = true;
  const body2 = Buffer.from('{"twin":2}');
  const o2 = log.add({ body: body2, searchKeys: [] }).then(() => 'stored', (e: Error) => e.message);
  const t2 = log.add({ body: body2, searchKeys: [] }).then(() => 'stored', (e: Error & { code?: string }) => e.code ?? e.message);
  await new Promise((r) => setTimeout(r, 50));
  open();
  expect([await o2, await t2]).toEqual(['disk full', 'disk full']);
  fail = false;
  const again = log.add({ body: body2, searchKeys: [] });
  await new Promise((r) => setTimeout(r, 20));
  open();
  expect((await again).index).toBe(1); // the failed batch left no trace
  await log.close();
  store.close();
});
