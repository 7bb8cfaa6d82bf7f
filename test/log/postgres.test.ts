/**
 * Several log nodes on one PostgreSQL database (host/log/store-pg.ts): both admit and sequence
 * entries, indices stay distinct and dense, every proof either node hands out verifies against
 * one consistent tree, duplicates are caught across nodes, a node signing with another key is
 * refused, and the database crashing under load costs clients 503s with Retry-After, never an
 * acknowledged entry. The database is a real PostgreSQL started here (scripts/postgres.mjs);
 * skipped, with the reason printed, when its server is not installed (CI installs it).
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pgc from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCore, leafHash, rootFromLeafHashes, verifyConsistency, verifyInclusion } from '../../host/core/index.js';
import { TransparencyLog } from '../../host/log/log.js';
import { PostgresLogStore } from '../../host/log/store-pg.js';
import { checkpointFileSize } from '../../host/log/static-tiles.js';
import { noteKeyFor, parseCheckpoint, parseNote, verifyNoteSignature } from '../../host/log/note.js';
import { postgresBin, startPostgres, type RunningPostgres } from '../../scripts/postgres.mjs';
import { ecSigner, hashedrekord, startLog, type RunningLog } from './helpers.js';

const bin = postgresBin();
if (!bin) console.warn('test/log/postgres.test.ts skipped: no PostgreSQL server (initdb) installed (CI installs the postgresql package)');

let pg: RunningPostgres;
const logs: RunningLog[] = [];
beforeAll(async () => {
  if (!bin) return;
  await initCore();
  pg = await startPostgres();
});
afterAll(async () => {
  for (const l of logs.splice(0)) await l.close();
  await pg?.stop();
});

const config = (schema: string): string => `postgres: { url: "${pg.url}", schema: ${schema} }\nbatchAgeMs: 5\n`;
const first = (m: Record<string, any>): [string, any] => Object.entries(m)[0]!;
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

async function node(schema: string, dataDir?: string, extra = ''): Promise<RunningLog> {
  const l = await startLog(config(schema) + extra, dataDir ? { dataDir } : {});
  logs.push(l);
  return l;
}

/** The inclusion proof, root and signed checkpoint of a v1 entry all agree (what a Sigstore client checks). */
function checkProof(e: any, key: ReturnType<typeof createPublicKey>): void {
  const p = e.verification.inclusionProof;
  expect(verifyInclusion(leafHash(Buffer.from(e.body, 'base64')), e.logIndex, p.treeSize, p.hashes.map(hex), hex(p.rootHash))).toBe(true);
  const note = parseNote(p.checkpoint);
  expect(parseCheckpoint(note.body).size).toBe(p.treeSize);
  expect(Buffer.from(parseCheckpoint(note.body).root)).toEqual(hex(p.rootHash));
  expect(verifyNoteSignature(note, noteKeyFor('127.0.0.1', key))).toBe(true);
}

async function until(what: string, f: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!bin)('two log nodes on one PostgreSQL database', () => {
  it('both sequence entries into one tree: dense indices, proofs that verify on either node, one consistent history', async () => {
    const a = await node('shared');
    const b = await node('shared', a.dataDir); // the same keys, as a second node of one log
    const key = createPublicKey((await a.get('/api/v1/log/publicKey')).text);
    expect((await b.get('/api/v1/log/publicKey')).text).toBe((await a.get('/api/v1/log/publicKey')).text);

    const s = ecSigner();
    const N = 160;
    const bodies = Array.from({ length: N }, (_, i) => hashedrekord(s, Buffer.from(`two nodes ${i}`)).body);
    const rs = await Promise.all(bodies.map((body, i) => (i % 2 ? b : a).post('/api/v1/log/entries', body)));
    expect(rs.map((r) => r.status)).toEqual(rs.map(() => 201));
    const entries = rs.map((r) => first(r.json));
    expect(entries.map(([, e]) => e.logIndex).sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
    for (const [, e] of entries) checkProof(e, key);
    // Both nodes committed batches of their own (their checkpoints interleave).
    const sizesBy = (l: RunningLog) => new Set(entries.filter((_, i) => (i % 2 ? b : a) === l).map(([, e]) => e.verification.inclusionProof.treeSize));
    expect(sizesBy(a).size).toBeGreaterThan(0);
    expect(sizesBy(b).size).toBeGreaterThan(0);

    // Each node catches up on the other's commits (LISTEN/NOTIFY) and serves the same tree.
    // Within 3 s: without the notification, only the 10 s publish timer would bring a node up to date.
    await until('both nodes at the full size', async () => (await a.get('/api/v1/log')).json.treeSize === N && (await b.get('/api/v1/log')).json.treeSize === N, 3000);
    const headA = (await a.get('/api/v1/log')).json;
    expect((await b.get('/api/v1/log')).json.rootHash).toBe(headA.rootHash);

    // Every checkpoint handed out is consistent with the final tree, by either node's proof.
    for (const size of new Set(entries.map(([, e]) => e.verification.inclusionProof.treeSize as number))) {
      if (size === N) continue;
      const at = entries.find(([, e]) => e.verification.inclusionProof.treeSize === size)![1].verification.inclusionProof;
      const p = (await (size % 2 ? a : b).get(`/api/v1/log/proof?firstSize=${size}&lastSize=${N}`)).json;
      expect(verifyConsistency(size, N, p.hashes.map(hex), hex(at.rootHash), hex(headA.rootHash))).toBe(true);
    }

    // An entry sequenced by one node reads, with a verifying proof, from the other.
    for (const [uuid, e] of entries.slice(0, 20)) {
      const other = e.logIndex % 2 ? a : b;
      const r = await other.get(`/api/v1/log/entries/${uuid}`);
      expect(r.status).toBe(200);
      checkProof(first(r.json)[1], key);
    }

    // Duplicates are caught across nodes: resubmitted to the other node, and raced to both.
    expect((await b.post('/api/v1/log/entries', bodies[0])).status).toBe(409);
    const race = hashedrekord(s, Buffer.from('raced')).body;
    const both = await Promise.all([a.post('/api/v1/log/entries', race), b.post('/api/v1/log/entries', race)]);
    expect(both.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it('one batch larger than a statement may carry (65,535 parameters) is split and stored whole', async () => {
    const store = await PostgresLogStore.open({ url: pg.url, schema: 'big' });
    const { privateKey } = generateKeyPairSync('ed25519');
    const log = await TransparencyLog.open({ store, key: privateKey, origin: 'big.test', batchSize: 12_000, batchAgeMs: 50 });
    const bodies = Array.from({ length: 11_000 }, (_, i) => Buffer.from(`{"big":${i}}`));
    const added = await Promise.all(bodies.map((body, i) => log.add({ body, searchKeys: [`k:${i % 7}`, `i:${i}`] })));
    expect(new Set(added.map((a) => a.index)).size).toBe(11_000);
    expect(log.size()).toBe(11_000);
    const leaves = Buffer.concat(bodies.map((b) => leafHash(b)));
    expect(Buffer.from(await log.rootAt(11_000))).toEqual(Buffer.from(rootFromLeafHashes(leaves)));
    expect((await store.entries(10_998, 11_000)).map((e) => Buffer.from(e.body).toString())).toEqual(['{"big":10998}', '{"big":10999}']);
    expect(await store.search('i:10999', 10)).toEqual([10_999]);
    await log.close();
    await store.close();
    // A fresh store object (as after a restart) reads the same tree.
    const again = await PostgresLogStore.open({ url: pg.url, schema: 'big' });
    expect(await again.size()).toBe(11_000);
    expect(parseCheckpoint(parseNote((await again.latestCheckpoint())!.note).body).size).toBe(11_000);
    await again.close();
  });

  it('a node signing with another key is refused by the store it would fork', async () => {
    const a = await node('keyed');
    expect((await a.post('/api/v1/log/entries', hashedrekord(ecSigner(), Buffer.from('keyed')).body)).status).toBe(201);
    await expect(node('keyed')).rejects.toMatchObject({ code: 'LOG_STORE_MISMATCH' });
    // The refused node changed nothing.
    expect((await a.get('/api/v1/log')).json.treeSize).toBe(1);
  });

  it('with one static tiles directory, one node writes it; when that node stops, the other takes over, and the checkpoint never goes back', async () => {
    const www = await mkdtemp(join(tmpdir(), 'cairn-pg-tiles-'));
    try {
      const extra = `tilesDir: ${www}\ntilesIntervalMs: 50\n`;
      const a = await node('tiles', undefined, extra);
      const b = await node('tiles', a.dataDir, extra);
      const s = ecSigner();
      const add = async (from: number, to: number): Promise<void> => {
        const rs = await Promise.all(Array.from({ length: to - from }, (_, i) => (i % 2 ? b : a).post('/api/v1/log/entries', hashedrekord(s, Buffer.from(`tiles ${from + i}`)).body)));
        expect(rs.map((r) => r.status)).toEqual(rs.map(() => 201));
      };
      const onDisk = async (): Promise<number> => checkpointFileSize(await readFile(join(www, 'checkpoint'), 'utf8').catch(() => undefined));
      const writer = async (l: RunningLog): Promise<number> => Number(/^cairn_log_static_tiles_writer (\d)$/m.exec((await l.get('/metrics')).text)?.[1]);
      // Every size the directory's checkpoint shows, sampled throughout.
      const seen: number[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          seen.push(await onDisk());
          await new Promise((r) => setTimeout(r, 5));
        }
      })();

      await add(0, 40);
      await until('the mirror at 40', async () => (await onDisk()) === 40);
      expect([await writer(a), await writer(b)].sort()).toEqual([0, 1]);
      const [first, other] = (await writer(a)) === 1 ? [a, b] : [b, a];

      // The writer stops (its session ends, and the lease with it); the other node carries on alone.
      await first.close();
      logs.splice(logs.indexOf(first), 1);
      const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => other.post('/api/v1/log/entries', hashedrekord(s, Buffer.from(`after ${i}`)).body)));
      expect(rs.map((r) => r.status)).toEqual(rs.map(() => 201));
      await until('the other node writing the mirror at 70', async () => (await onDisk()) === 70);
      expect(await writer(other)).toBe(1);
      expect((await other.get('/metrics')).text).toMatch(/^cairn_log_tree_size\{log="rekor"\} 70$/m);
      sampling = false;
      await sampler;

      expect(seen.length).toBeGreaterThan(10);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
      // What the new writer put there is what the log serves.
      expect(await readFile(join(www, 'checkpoint'), 'utf8')).toBe((await other.get('/checkpoint')).text);
      expect(await readFile(join(www, 'tile/0/000.p/70'))).toEqual((await other.get('/tile/0/000.p/70')).bytes);
      expect(await readFile(join(www, 'tile/entries/000.p/70'))).toEqual((await other.get('/tile/entries/000.p/70')).bytes);
    } finally {
      await rm(www, { recursive: true, force: true });
    }
  });

  it('the database crashing under load costs 503s with Retry-After, never an acknowledged entry', async () => {
    const l = await node('crash');
    const s = ecSigner();
    const acked = new Map<number, string>();
    const statuses = new Map<number, number>();
    const unexpected: string[] = [];
    let n = 0;
    let crashed = false;
    let stop = false;
    const client = async (): Promise<void> => {
      while (!stop) {
        const i = n++;
        const r = await l.post('/api/v1/log/entries', hashedrekord(s, Buffer.from(`crash ${i}`)).body);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 201) {
          const [, e] = first(r.json);
          acked.set(e.logIndex, e.body);
        } else {
          if (r.status !== 503 || r.json?.error !== 'LOG_STORE_UNAVAILABLE' || !(Number(r.headers.get('retry-after')) > 0)) unexpected.push(`${r.status} ${r.text}`);
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, client));
    await until('entries before the crash', async () => acked.size >= 100);
    await pg.halt({ crash: true }); // immediate shutdown: no checkpoint, WAL replay on restart
    crashed = true;
    const during = acked.size;
    await until('503s while the database is down', async () => (statuses.get(503) ?? 0) >= 5);
    await pg.start();
    await until('entries after the restart', async () => acked.size >= during + 100, 60_000);
    stop = true;
    await load;
    expect(crashed).toBe(true);
    expect(unexpected).toEqual([]); // every refusal was a 503 LOG_STORE_UNAVAILABLE with Retry-After
    expect([...statuses.keys()].sort()).toEqual([201, 503]);

    // Every acknowledged entry is in the log at the index it was given, with a verifying proof.
    const key = createPublicKey((await l.get('/api/v1/log/publicKey')).text);
    for (const [index, body] of acked) {
      const r = await l.get(`/api/v1/log/entries?logIndex=${index}`);
      expect(r.status).toBe(200);
      const [, e] = first(r.json);
      expect(e.body).toBe(body);
      checkProof(e, key);
    }
    // A node that comes up on the recovered database agrees.
    await l.restart();
    const head = (await l.get('/api/v1/log')).json;
    expect(head.treeSize).toBeGreaterThanOrEqual(acked.size);
    expect(Math.max(...acked.keys())).toBeLessThan(head.treeSize);
  });
});

describe.skipIf(!bin)('a log store on PostgreSQL when the database or a node misbehaves', () => {
  const sql = async (text: string, db = 'postgres'): Promise<pgc.QueryResult> => {
    const c = new pgc.Client({ connectionString: pg.url.replace(/\/postgres$/, `/${db}`) });
    await c.connect();
    try {
      return await c.query(text);
    } finally {
      await c.end();
    }
  };
  const urlOf = (db: string): string => pg.url.replace(/\/postgres$/, `/${db}`);
  const ed = () => generateKeyPairSync('ed25519').privateKey;

  it("pins READ COMMITTED and synchronous_commit in the sequencing transaction, whatever the server's defaults", async () => {
    await sql('CREATE DATABASE skewed');
    // Defaults a DBA may well set: both broke the log (40001 under REPEATABLE READ or SERIALIZABLE,
    // acknowledged-then-lost commits with synchronous_commit off).
    await sql("ALTER DATABASE skewed SET default_transaction_isolation = 'serializable'");
    await sql('ALTER DATABASE skewed SET synchronous_commit = off');
    const a = await PostgresLogStore.open({ url: urlOf('skewed'), schema: 'skew' });
    const b = await PostgresLogStore.open({ url: urlOf('skewed'), schema: 'skew' });
    let seen: Record<string, string> = {};
    await a.exclusive(async () => undefined, async (c) => {
      const r = await c.query("SELECT current_setting('transaction_isolation') AS iso, current_setting('synchronous_commit') AS sync, current_setting('idle_in_transaction_session_timeout') AS idle, current_setting('lock_timeout') AS wait");
      seen = r.rows[0];
    });
    expect(seen).toEqual({ iso: 'read committed', sync: 'on', idle: '10s', wait: '30s' });

    // Two nodes under concurrent load: every entry sequenced, none refused.
    const key = ed();
    const la = await TransparencyLog.open({ store: a, key, origin: 'skew.test', batchAgeMs: 2, batchSize: 16 });
    const lb = await TransparencyLog.open({ store: b, key, origin: 'skew.test', batchAgeMs: 2, batchSize: 16 });
    const out = await Promise.allSettled(Array.from({ length: 600 }, (_, i) => (i % 2 ? lb : la).add({ body: Buffer.from(`{"skew":${i}}`), searchKeys: [] })));
    expect(out.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
    expect(new Set(out.map((o) => (o as PromiseFulfilledResult<{ index: number }>).value.index)).size).toBe(600);
    await la.close();
    await lb.close();
    await a.close();
    await b.close();
  });

  it('a node silent inside its write loses the sequencing lock after idleInTransactionMs; a node that waits past lockWaitMs gets a 503', async () => {
    const opts = { url: pg.url, schema: 'stall', idleInTransactionMs: 400, lockWaitMs: 5_000 };
    const a = await PostgresLogStore.open(opts);
    const b = await PostgresLogStore.open(opts);
    // A holds the lock and goes quiet (a paused VM, a partition) for far longer than allowed.
    let aEntered!: () => void;
    const inA = new Promise<void>((r) => (aEntered = r));
    let aResumed = false;
    const stalled = a.exclusive(async () => {
      aEntered();
      await new Promise((r) => setTimeout(r, 4_000));
      aResumed = true;
      return 'a';
    });
    await inA;
    // B gets the lock while A is still stalled: the server ended A's session, nobody waited for A.
    expect(await b.exclusive(async () => (aResumed ? 'b, after A resumed' : 'b'))).toBe('b');
    // A's transaction was ended by the server: nothing it did is acknowledged.
    await expect(stalled).rejects.toMatchObject({ code: 'LOG_STORE_UNAVAILABLE', status: 503 });

    // lock_timeout: a waiter gives up with a 503, which clients retry.
    const c = await PostgresLogStore.open({ ...opts, idleInTransactionMs: 10_000, lockWaitMs: 300 });
    let held!: () => void;
    const inHold = new Promise<void>((r) => (held = r));
    let letGo!: () => void;
    const hold = a.exclusive(async () => {
      held();
      await new Promise<void>((r) => (letGo = r));
    });
    await inHold;
    // The holder never lets go before this settles: only lock_timeout can end the wait.
    await expect(c.exclusive(async () => 'c')).rejects.toMatchObject({ code: 'LOG_STORE_UNAVAILABLE', status: 503 });
    letGo();
    await hold;
    expect(await c.exclusive(async () => 'c')).toBe('c');
    await expect(PostgresLogStore.open({ ...opts, lockWaitMs: 5 })).rejects.toMatchObject({ code: 'LOG_BAD_CONFIG' });
    for (const s of [a, b, c]) await s.close();
  });

  it('a store that lost acknowledged entries (restored from an older backup) is refused: no index is handed out twice', async () => {
    const key = ed();
    const store = await PostgresLogStore.open({ url: pg.url, schema: 'lost' });
    const log = await TransparencyLog.open({ store, key, origin: 'lost.test', batchAgeMs: 1, batchSize: 4 });
    const before = await Promise.all(Array.from({ length: 20 }, (_, i) => log.add({ body: Buffer.from(`{"lost":${i}}`), searchKeys: [] })));
    expect(Math.max(...before.map((a) => a.index))).toBe(19);
    // The database goes back to size 5 (what synchronous_commit=off, an async replica or a backup restore do).
    await sql('BEGIN; DELETE FROM lost.entries WHERE idx >= 5; DELETE FROM lost.search WHERE idx >= 5; ' +
      'DELETE FROM lost.nodes WHERE (idx + 1) * (1::int8 << level) > 5; DELETE FROM lost.checkpoints WHERE size > 5; COMMIT');
    await expect(log.add({ body: Buffer.from('{"after":1}'), searchKeys: [] })).rejects.toMatchObject({ code: 'LOG_STORE_BEHIND', status: 500 });
    expect(log.size()).toBe(20); // it keeps serving what it published, and acknowledges nothing new

    // A node that starts on the restored store sequences new entries at 5..: a different tree of
    // the sizes the first node published. The first node notices, whatever its cache holds.
    const store2 = await PostgresLogStore.open({ url: pg.url, schema: 'lost' });
    const log2 = await TransparencyLog.open({ store: store2, key, origin: 'lost.test', batchAgeMs: 1 });
    expect(log2.size()).toBe(5);
    await Promise.all(Array.from({ length: 20 }, (_, i) => log2.add({ body: Buffer.from(`{"again":${i}}`), searchKeys: [] })));
    await expect(log.add({ body: Buffer.from('{"after":2}'), searchKeys: [] })).rejects.toMatchObject({ code: 'LOG_STORE_BEHIND' });
    expect(await store.size()).toBe(25);
    await log.close();
    await log2.close();
    await store.close();
    await store2.close();
  });

  it('concurrent lease calls share one session: the lease is held once, and freed on close', async () => {
    const locks = async (): Promise<number> => Number((await sql("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted")).rows[0].n);
    const base = await locks(); // leases other tests' nodes still hold
    const a = await PostgresLogStore.open({ url: pg.url, schema: 'leases' });
    const b = await PostgresLogStore.open({ url: pg.url, schema: 'leases' });
    expect(await Promise.all([a.lease('tiles'), a.lease('tiles'), a.lease('tiles')])).toEqual([true, true, true]);
    expect(await b.lease('tiles')).toBe(false);
    expect(await locks()).toBe(base + 1);
    await a.close();
    await until('the lease free again', async () => b.lease('tiles'), 5_000);
    await b.close();
  });
});
