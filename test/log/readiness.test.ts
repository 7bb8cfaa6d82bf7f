/**
 * The log's /readyz (host/http/ops.ts, host/log/plugin.ts): not ready exactly while the log cannot
 * take entries — its store cannot be read (PostgreSQL down) or its sequencing queue is full — and
 * ready again once that passes, so a load balancer stops sending appends that could only get 503s.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { LogError } from '../../host/log/errors.js';
import { TransparencyLog } from '../../host/log/log.js';
import { build } from '../../host/log/plugin.js';
import { SqliteLogStore, type LogWriter, type StoredCheckpoint } from '../../host/log/store.js';

/** A store whose database can be taken down (every read and write fails as store-pg.ts reports it) or made to hold its writer. */
class FlakyStore extends SqliteLogStore {
  down = false;
  /** Reads as a database restored from a backup taken before any entry (LOG_STORE_BEHIND). */
  restored = false;
  hold: Promise<void> | undefined;
  private check(): void {
    if (this.down) throw new LogError('LOG_STORE_UNAVAILABLE', 'the log database is unavailable; retry later', { retryAfter: 1 });
  }
  override async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    this.check();
    if (this.restored) return undefined;
    return super.latestCheckpoint();
  }
  override async exclusive<T>(fn: (w: LogWriter) => Promise<T>): Promise<T> {
    if (this.hold) await this.hold;
    this.check();
    return super.exclusive(fn);
  }
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function open(queueLimit: number) {
  await initCore();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-log-ready-'));
  dirs.push(dir);
  const store = new FlakyStore(join(dir, 'log.db'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const log = await TransparencyLog.open({ store, key: privateKey, origin: 'ready.test', batchSize: 1, queueLimit });
  const app = await build({ rekor: log, rekorKey: privateKey, treeId: '0000000000000001' });
  await app.ready();
  return { store, log, app };
}

it('/readyz is 503 while the log store is unreachable, and 200 again when it is back', async () => {
  const { store, log, app } = await open(100);
  try {
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    store.down = true;
    const r = await app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ status: 'unready', reason: expect.stringMatching(/database is unavailable/) });
    store.down = false;
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  } finally {
    await app.close();
    await log.close();
    store.close();
  }
});

it('/readyz is 503 while the sequencing queue is full (appends get LOG_OVERLOADED), and 200 once it drains', async () => {
  const { store, log, app } = await open(2);
  let release!: () => void;
  store.hold = new Promise<void>((r) => (release = r));
  try {
    // The first entry's batch waits on the store; the next two fill the queue behind it.
    const first = log.add({ body: Buffer.from('{"q":1}'), searchKeys: [] });
    await new Promise((r) => setTimeout(r, 20));
    const queued = [2, 3].map((i) => log.add({ body: Buffer.from(`{"q":${i}}`), searchKeys: [] }));
    await expect(log.add({ body: Buffer.from('{"q":4}'), searchKeys: [] })).rejects.toMatchObject({ code: 'LOG_OVERLOADED' });
    const r = await app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json().reason).toMatch(/queue is full/);
    store.hold = undefined;
    release();
    await Promise.all([first, ...queued]);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  } finally {
    store.hold = undefined;
    release();
    await app.close();
    await log.close();
    store.close();
  }
});

it('/readyz is 503 while the store holds less than this node published (it would refuse every batch with LOG_STORE_BEHIND)', async () => {
  const { store, log, app } = await open(100);
  try {
    await log.add({ body: Buffer.from('{"b":1}'), searchKeys: [] });
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    store.restored = true;
    await expect(log.add({ body: Buffer.from('{"b":2}'), searchKeys: [] })).rejects.toMatchObject({ code: 'LOG_STORE_BEHIND' });
    const r = await app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json().reason).toMatch(/published 1: acknowledged entries were lost/);
  } finally {
    store.restored = false;
    await app.close();
    await log.close();
    store.close();
  }
});
