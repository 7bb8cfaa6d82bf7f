/**
 * A log store created before inclusion promises were stored opens, gains the column, keeps its
 * entries (served with a SET signed on read), and stores promises for new entries.
 */
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { TransparencyLog } from '../../host/log/log.js';
import { setPayload, setSigner } from '../../host/log/set.js';
import { SqliteLogStore } from '../../host/log/store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('migrates an old entries table and stores a verifying promise for new entries', async () => {
  await initCore();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
  dirs.push(dir);
  const path = join(dir, 'rekor.db');
  const old = new Database(path);
  old.exec('CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, body BLOB NOT NULL, time INTEGER NOT NULL, extra BLOB)');
  old.close();
  const store = new SqliteLogStore(path);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const log = await TransparencyLog.open({ store, key: privateKey, origin: 'test', promise: setSigner(privateKey) });
  const added = await log.add({ body: Buffer.from('{"a":1}'), searchKeys: [] });
  const stored = (await store.entry(added.index))!;
  expect(stored.promise).toBeDefined();
  expect(Buffer.from(stored.promise!)).toEqual(Buffer.from(added.promise!));
  const pub = createPublicKey(privateKey);
  const logId = createHash('sha256').update(pub.export({ format: 'der', type: 'spki' })).digest('hex');
  expect(verify('sha256', setPayload(stored.body, stored.integratedTime, logId, added.index), pub, stored.promise!)).toBe(true);
  // A promise over another index does not verify: the check can fail.
  expect(verify('sha256', setPayload(stored.body, stored.integratedTime, logId, added.index + 1), pub, stored.promise!)).toBe(false);
  await log.close();
  store.close();
});
