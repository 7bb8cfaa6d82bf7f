/**
 * The static tiles mirror (host/log/static-tiles.ts): the directory holds exactly what the
 * log's tlog-tiles API serves, byte for byte, and a tiles client reading it through a plain file
 * server gets the log's own inclusion proofs; it follows the log as it grows, and resumes after
 * a restart.
 */
import { createReadStream } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initCore, leafHash, verifyInclusion } from '../../host/core/index.js';
import { parseCheckpoint, parseNote } from '../../host/log/note.js';
import { checkpointFileSize, LOCK_STALE_MS, StaticTiles, tilesBetween } from '../../host/log/static-tiles.js';
import { TransparencyLog } from '../../host/log/log.js';
import { SqliteLogStore } from '../../host/log/store.js';
import { inclusionProofFromTiles } from '../../host/log/tile-client.js';
import { keyVerifier, monitorOnce, tilesSource } from '../../host/monitor/monitor.js';
import { ecSigner, hashedrekord, startLog, type RunningLog } from './helpers.js';

let dir: string;
let log: RunningLog;
let files: Server;
let filesUrl: string;

beforeAll(async () => {
  await initCore();
  dir = await mkdtemp(join(tmpdir(), 'cairn-static-tiles-'));
  log = await startLog(`tilesDir: ${join(dir, 'www')}\ntilesIntervalMs: 50\nbatchAgeMs: 5\n`);
  // A plain static file server: what a CDN or nginx would do with the directory.
  files = createServer((req, res) => {
    const path = join(dir, 'www', decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    stat(path).then(
      (st) => (st.isFile() ? createReadStream(path).pipe(res) : res.writeHead(404).end()),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => files.close(r));
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

const mirrored = async (): Promise<number> => {
  try {
    return parseCheckpoint(parseNote(await readFile(join(dir, 'www', 'checkpoint'), 'utf8')).body).size;
  } catch {
    return -1;
  }
};

async function until(f: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 20_000;
  while (!(await f())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function append(n: number, tag: string): Promise<void> {
  const s = ecSigner();
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => log.post('/api/v1/log/entries', hashedrekord(s, Buffer.from(`${tag} ${i}`)).body)));
  expect(rs.every((r) => r.status === 201)).toBe(true);
}

async function walk(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await walk(join(d, e.name))));
    else out.push(join(d, e.name));
  }
  return out;
}

it('lists the tiles a growing tree needs: newly full ones once, and the new edge', () => {
  expect(tilesBetween(0, 0, 600)).toEqual([{ level: 0, index: 0, width: 256 }, { level: 0, index: 1, width: 256 }, { level: 0, index: 2, width: 88 }]);
  expect(tilesBetween(0, 600, 700)).toEqual([{ level: 0, index: 2, width: 188 }]);
  expect(tilesBetween(0, 700, 768)).toEqual([{ level: 0, index: 2, width: 256 }]);
  expect(tilesBetween('entries', 768, 768)).toEqual([]);
  expect(tilesBetween(1, 0, 2)).toEqual([{ level: 1, index: 0, width: 2 }]);
});

it('mirrors the tiles API byte for byte, and a tiles client reading the files gets the log’s proofs', async () => {
  await append(600, 'static');
  const size = (await log.get('/api/v1/log')).json.treeSize;
  await until(async () => (await mirrored()) === size);
  const cp = (await log.get('/checkpoint')).text;
  expect(await readFile(join(dir, 'www', 'checkpoint'), 'utf8')).toBe(cp);
  const paths = (await walk(join(dir, 'www'))).map((p) => relative(join(dir, 'www'), p)).filter((p) => p.startsWith('tile/'));
  // Full level-0 tiles 000 and 001, the partial edge, a level-1 edge tile, and the entry bundles alike.
  expect(paths).toEqual(expect.arrayContaining(['tile/0/000', 'tile/0/001', 'tile/0/002.p/88', 'tile/1/000.p/2', 'tile/entries/000', 'tile/entries/001', 'tile/entries/002.p/88']));
  for (const p of paths) expect(Buffer.compare(await readFile(join(dir, 'www', p)), (await log.get(`/${p}`)).bytes), p).toBe(0);
  const root = Buffer.from(parseCheckpoint(parseNote(cp).body).root);
  for (const index of [0, 255, 256, 511, 599]) {
    const viaFiles = await inclusionProofFromTiles(filesUrl, index, size);
    const api = (await log.get(`/api/v1/log/entries?logIndex=${index}`)).json;
    const e = Object.values(api)[0] as { body: string; verification: { inclusionProof: { hashes: string[] } } };
    expect(viaFiles.map((h) => Buffer.from(h).toString('hex'))).toEqual(e.verification.inclusionProof.hashes);
    expect(verifyInclusion(leafHash(Buffer.from(e.body, 'base64')), index, size, viaFiles, root)).toBe(true);
  }
});

it('follows the log as it grows, keeps the older edge for older checkpoints, and resumes after a restart', async () => {
  await append(100, 'grow');
  const size = (await log.get('/api/v1/log')).json.treeSize;
  await until(async () => (await mirrored()) === size);
  expect((await stat(join(dir, 'www', 'tile/0/002.p/88'))).isFile()).toBe(true); // a client at size 600 still needs it
  expect((await stat(join(dir, 'www', `tile/0/002.p/${size - 512}`))).isFile()).toBe(true);
  await log.restart();
  await append(100, 'after restart');
  const after = (await log.get('/api/v1/log')).json.treeSize;
  await until(async () => (await mirrored()) === after);
  expect(after).toBe(size + 100);
  // The edge tile became full: written once, and equal to the API's.
  expect(Buffer.compare(await readFile(join(dir, 'www', 'tile/0/002')), (await log.get('/tile/0/002')).bytes)).toBe(0);
  // The newest entry is provable from the files alone, against the mirrored checkpoint.
  const root = Buffer.from(parseCheckpoint(parseNote(await readFile(join(dir, 'www', 'checkpoint'), 'utf8')).body).root);
  const e = Object.values((await log.get(`/api/v1/log/entries?logIndex=${after - 1}`)).json)[0] as { body: string };
  const viaFiles = await inclusionProofFromTiles(filesUrl, after - 1, after);
  expect(verifyInclusion(leafHash(Buffer.from(e.body, 'base64')), after - 1, after, viaFiles, root)).toBe(true);
  expect(verifyInclusion(leafHash(Buffer.from(e.body, 'base64')), after - 2, after, viaFiles, root)).toBe(false);
  // A monitor auditing the mirror alone (host/monitor) hashes every mirrored entry to the signed root.
  const audit = await monitorOnce({ source: tilesSource({ base: filesUrl, verifyCheckpoint: keyVerifier((await log.get('/api/v1/log/publicKey')).text) }), identities: [] });
  expect(audit.read).toBe(after);
});

it('a writer holding a smaller tree never replaces a larger tree’s checkpoint (a lease changing hands, host/log/static-tiles.ts)', async () => {
  const size = (await log.get('/api/v1/log')).json.treeSize;
  await until(async () => (await mirrored()) === size);
  // A copy of the mirror, and a second log three entries long writing into it: it stands for a
  // writer that lost its lease while a newer one went on.
  const copy = join(dir, 'copy');
  await cp(join(dir, 'www'), copy, { recursive: true });
  const before = await readFile(join(copy, 'checkpoint'), 'utf8');
  const store = new SqliteLogStore(join(dir, 'stale.db'));
  const stale = await TransparencyLog.open({ store, key: generateKeyPairSync('ed25519').privateKey, origin: '127.0.0.1', batchSize: 8, batchAgeMs: 1, queueLimit: 64 });
  const writer = new StaticTiles(stale, copy, { intervalMs: 10 });
  try {
    for (let i = 0; i < 3; i++) await stale.add({ body: Buffer.from(`{"stale":${i}}`), searchKeys: [] });
    writer.notify();
    await until(async () => writer.size() === 3);
    expect(writer.writing()).toBe(true); // a store without leases: always the writer
    expect(await readFile(join(copy, 'checkpoint'), 'utf8')).toBe(before);
    expect(checkpointFileSize(before)).toBe(size);
    expect(await readFile(join(copy, '.cairn-tiles-size'), 'utf8')).toBe(String(size));
  } finally {
    await writer.close();
    await stale.close();
    await store.close();
  }
});

it('the compare-and-replace of the checkpoint waits for the mirror’s lock, so a writer never puts its checkpoint over one written meanwhile', async () => {
  // The test holds the lock, as a second writer between its check and its rename would. Before
  // the lock, the writer below compared with the old file and renamed its own over whatever the
  // other writer then put there.
  const copy = join(dir, 'locked');
  await cp(join(dir, 'www'), copy, { recursive: true });
  await rm(join(copy, 'checkpoint'));
  const lock = join(copy, '.cairn-checkpoint.lock');
  await mkdir(lock);
  const store = new SqliteLogStore(join(dir, 'locked.db'));
  const small = await TransparencyLog.open({ store, key: generateKeyPairSync('ed25519').privateKey, origin: '127.0.0.1', batchSize: 8, batchAgeMs: 1, queueLimit: 64 });
  const writer = new StaticTiles(small, copy, { intervalMs: 10 });
  try {
    for (let i = 0; i < 3; i++) await small.add({ body: Buffer.from(`{"locked":${i}}`), searchKeys: [] });
    writer.notify();
    // Its entry bundle is written before the checkpoint step; then it must wait.
    await until(async () => (await readFile(join(copy, 'tile/entries/000.p/3')).catch(() => undefined)) !== undefined);
    await new Promise((r) => setTimeout(r, 200));
    await expect(readFile(join(copy, 'checkpoint'))).rejects.toThrow();
    // The "other writer" puts a larger tree's checkpoint and lets go.
    const larger = await readFile(join(dir, 'www', 'checkpoint'), 'utf8');
    await writeFile(join(copy, 'checkpoint'), larger);
    await rm(lock, { recursive: true });
    await until(async () => writer.size() === 3);
    expect(await readFile(join(copy, 'checkpoint'), 'utf8')).toBe(larger);
    await expect(stat(lock)).rejects.toThrow(); // released
  } finally {
    await writer.close();
    await small.close();
    await store.close();
  }
});

it('breaks a lock left by a writer that died, once it is LOCK_STALE_MS old', async () => {
  const copy = join(dir, 'stale-lock');
  await mkdir(copy);
  const lock = join(copy, '.cairn-checkpoint.lock');
  await mkdir(lock);
  const old = (Date.now() - LOCK_STALE_MS - 1000) / 1000;
  await utimes(lock, old, old);
  const store = new SqliteLogStore(join(dir, 'stale-lock.db'));
  const one = await TransparencyLog.open({ store, key: generateKeyPairSync('ed25519').privateKey, origin: '127.0.0.1', batchSize: 8, batchAgeMs: 1, queueLimit: 64 });
  const writer = new StaticTiles(one, copy, { intervalMs: 10 });
  try {
    await one.add({ body: Buffer.from('{"one":1}'), searchKeys: [] });
    writer.notify();
    await until(async () => checkpointFileSize(await readFile(join(copy, 'checkpoint'), 'utf8').catch(() => undefined)) === 1);
    expect((await readdir(copy)).filter((n) => n.includes('lock'))).toEqual([]);
  } finally {
    await writer.close();
    await one.close();
    await store.close();
  }
});

it('reads a checkpoint file’s tree size, or -1 for none or an unreadable one', async () => {
  expect(checkpointFileSize(await readFile(join(dir, 'www', 'checkpoint'), 'utf8'))).toBe((await log.get('/api/v1/log')).json.treeSize);
  expect(checkpointFileSize(undefined)).toBe(-1);
  expect(checkpointFileSize('not a note')).toBe(-1);
});

it('writes an empty log’s checkpoint into a mirror directory that does not exist yet', async () => {
  // Nothing else is written for size 0, so the checkpoint step is the first to need the
  // directory: its lock (mkdir without recursive) once failed with ENOENT at every interval.
  const copy = join(dir, 'fresh', 'www');
  const errors: unknown[] = [];
  const store = new SqliteLogStore(join(dir, 'fresh.db'));
  const empty = await TransparencyLog.open({ store, key: generateKeyPairSync('ed25519').privateKey, origin: '127.0.0.1', batchSize: 8, batchAgeMs: 1, queueLimit: 64 });
  const writer = new StaticTiles(empty, copy, { intervalMs: 10, onError: (e) => errors.push(e) });
  try {
    writer.notify();
    await until(async () => writer.size() === 0 || errors.length > 0);
    expect(errors).toEqual([]);
    expect(await readFile(join(copy, 'checkpoint'), 'utf8')).toBe(empty.checkpoint());
  } finally {
    await writer.close();
    await empty.close();
    await store.close();
  }
});
