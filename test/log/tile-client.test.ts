/**
 * Inclusion proofs from tiles (host/log/tile-client.ts) equal the log's own, for leaves in full
 * and partial tiles, at tile levels 0, 1 and 2 (70,000 leaves: level-16 nodes exist), with the
 * tiles served exactly as tlog-tiles names them (width checked against the tree size).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initCore, leafHashes, verifyInclusion } from '../../host/core/index.js';
import { TransparencyLog } from '../../host/log/log.js';
import { SqliteLogStore } from '../../host/log/store.js';
import { inclusionProofFromTiles } from '../../host/log/tile-client.js';
import { parseTilePath } from '../../host/log/tiles.js';

let dir: string;
let log: TransparencyLog;
let store: SqliteLogStore;
const N = 70_000;

beforeAll(async () => {
  await initCore();
  dir = await mkdtemp(join(tmpdir(), 'cairn-tiles-'));
  store = new SqliteLogStore(join(dir, 'log.db'));
  log = await TransparencyLog.open({ store, key: generateKeyPairSync('ed25519').privateKey, origin: 'tiles.test', batchSize: 4096, dedup: false });
  for (let i = 0; i < N; i += 5000) await Promise.all(Array.from({ length: Math.min(5000, N - i) }, (_, j) => log.add({ body: Buffer.from(`leaf ${i + j}`), searchKeys: [] })));
}, 120_000);

afterAll(async () => {
  await log?.close();
  store?.close();
  await rm(dir, { recursive: true, force: true });
});

it('matches the log\'s own audit paths, fetching only correctly named tiles', async () => {
  const fetched: string[] = [];
  let treeSize = 0;
  const fetchTile = async (url: string): Promise<Uint8Array> => {
    fetched.push(url);
    const t = parseTilePath(url.slice(url.indexOf('/tile/') + '/tile/'.length));
    const level = t.level as number;
    const available = Math.floor(treeSize / 2 ** (8 * level)) - t.index * 256;
    expect(t.width).toBe(Math.min(256, available)); // full when full, else the exact partial width
    return log.nodeRange(8 * level, t.index * 256, t.width);
  };
  for (const [index, size] of [[0, 1], [5, 6], [255, 256], [256, 700], [699, 700], [12_345, 65_536], [65_535, 65_537], [69_999, N], [1, N], [40_000, 66_000]] as const) {
    treeSize = size;
    const got = await inclusionProofFromTiles('http://log.test', index, size, fetchTile);
    const want = await log.inclusionProof(index, size);
    expect(got.map((h) => Buffer.from(h).toString('hex')), `${index}@${size}`).toEqual(want.map((h) => Buffer.from(h).toString('hex')));
    const leaf = leafHashes([Buffer.from(`leaf ${index}`)]);
    expect(verifyInclusion(leaf, index, size, got, await log.rootAt(size))).toBe(true);
  }
  expect(fetched.some((u) => /\/tile\/2\//.test(u))).toBe(true); // level-2 tiles were needed
});
