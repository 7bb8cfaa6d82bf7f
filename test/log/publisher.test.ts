/**
 * The publish step on a timer (host/log/log.ts checkpointIntervalMs): a quiet log re-signs its
 * current checkpoint; the body (origin, size, root) stays, the new signature verifies, the store
 * holds it, and a log without the interval leaves its checkpoint alone.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { TransparencyLog } from '../../host/log/log.js';
import { noteKeyFor, parseNote, verifyNoteSignature } from '../../host/log/note.js';
import { SqliteLogStore } from '../../host/log/store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function open(checkpointIntervalMs: number) {
  await initCore();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-publisher-'));
  dirs.push(dir);
  const store = new SqliteLogStore(join(dir, 'log.db'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const log = await TransparencyLog.open({ store, key: privateKey, origin: 'publisher.test', checkpointIntervalMs });
  await log.add({ body: Buffer.from('{"x":1}'), searchKeys: [] });
  return { log, store, pub: createPublicKey(privateKey) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('re-signs the current checkpoint on a quiet log, keeping its body', async () => {
  const { log, store, pub } = await open(40);
  const before = log.checkpoint();
  await sleep(200);
  const after = log.checkpoint();
  expect(after).not.toBe(before); // ECDSA signatures are randomized: a new signature differs
  const a = parseNote(after);
  expect(a.body).toBe(parseNote(before).body);
  expect(verifyNoteSignature(a, noteKeyFor('publisher.test', pub))).toBe(true);
  expect((await store.latestCheckpoint())!.note).toBe(after);
  await log.close();
  store.close();
});

it('leaves the checkpoint alone without an interval', async () => {
  const { log, store } = await open(0);
  const before = log.checkpoint();
  await sleep(120);
  expect(log.checkpoint()).toBe(before);
  await log.close();
  store.close();
});
