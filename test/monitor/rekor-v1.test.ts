/**
 * `cairn monitor --rekor-v1` (host/monitor/monitor.ts rekorV1Source): a Rekor v1 log that shards.
 * Cairn's own log has one tree, so the test serves a fake Rekor on 127.0.0.1, shaped after
 * sigstore/rekor's openapi.yaml (LogInfo with inactiveShards, SearchLogQuery by logIndexes, log
 * indices running on across shards as pkg/sharding numbers them). Its checkpoints are signed for
 * real with host/log/note.ts, so every signature the monitor checks is a real one.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCore, leafHash, rootFromLeafHashes } from '../../host/core/index.js';
import { formatCheckpoint, formatNote, signNoteBody } from '../../host/log/note.js';
import { CompactRange } from '../../host/monitor/compact-range.js';
import { keyVerifier, monitorOnce, rekorV1Source, type MonitorState } from '../../host/monitor/monitor.js';
import { certSigner, ecSigner, hashedrekord } from '../log/helpers.js';

const HOST = 'rekor.test';
const WATCH = [/^spiffe:\/\/a\.test\//];

interface Tree {
  id: bigint;
  entries: Buffer[];
  /** The final signed head, once frozen: signed once and cached, as Rekor caches it. */
  final?: string;
}

/** A sharded Rekor v1 log: trees oldest first, the last one active. */
class FakeRekor {
  readonly key: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  readonly pem = createPublicKey(this.key).export({ format: 'pem', type: 'spki' }) as string;
  readonly trees: Tree[] = [];
  /** Rewrites the log info before it is served: a log that lies. */
  info?: (j: LogInfo) => unknown;
  /** Rewrites the retrieve answer before it is served. */
  retrieve?: (entries: Record<string, Record<string, unknown>>[]) => unknown;
  /** Raw bytes to answer GET /api/v1/log with. */
  raw?: Buffer;
  url = '';
  private server?: Server;
  private nextId = 1000n;

  constructor() {
    this.rotate();
  }

  origin(t: Tree): string {
    return `${HOST} - ${t.id}`;
  }

  static root(entries: Buffer[]): Buffer {
    if (entries.length === 0) return createHash('sha256').digest();
    return Buffer.from(rootFromLeafHashes(Buffer.concat(entries.map((e) => leafHash(e)))));
  }

  /** A Rekor v1 checkpoint: origin "<host> - <tree id>", signed under the host name (util.CreateAndSignCheckpoint). */
  head(t: Tree, o: { size?: number; root?: Buffer; key?: KeyObject } = {}): string {
    const size = o.size ?? t.entries.length;
    const body = formatCheckpoint({ origin: this.origin(t), size, root: o.root ?? FakeRekor.root(t.entries.slice(0, size)) });
    return formatNote({ body, signatures: [signNoteBody(body, HOST, o.key ?? this.key)] });
  }

  get active(): Tree {
    return this.trees[this.trees.length - 1]!;
  }

  /** Freezes the active tree at its size and starts a new, empty one. */
  rotate(): Tree {
    const old = this.trees[this.trees.length - 1];
    if (old) old.final = this.head(old);
    const t: Tree = { id: this.nextId++, entries: [] };
    this.trees.push(t);
    return t;
  }

  /** The log index of tree `t`'s first entry (pkg/sharding VirtualLogIndex). */
  offset(t: Tree): number {
    let n = 0;
    for (const x of this.trees) {
      if (x === t) return n;
      n += x.entries.length;
    }
    throw new Error('no such tree');
  }

  /** Appends `n` entries to the active tree; those at positions in `certified` under certificates for their URI. Returns the log indices of the watched ones. */
  async add(n: number, certified = new Map<number, string>()): Promise<number[]> {
    const plain = ecSigner();
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const uri = certified.get(i);
      const s = uri ? await certSigner(uri, `ops${i}@example.com`) : plain;
      if (uri?.startsWith('spiffe://a.test/')) out.push(this.offset(this.active) + this.active.entries.length);
      this.active.entries.push(Buffer.from(JSON.stringify(hashedrekord(s, randomBytes(16)).body)));
    }
    return out;
  }

  logInfo(): LogInfo {
    const t = this.active;
    const inactive = this.trees.slice(0, -1).map((x) => ({ rootHash: FakeRekor.root(x.entries).toString('hex'), treeSize: x.entries.length, signedTreeHead: x.final!, treeID: String(x.id) }));
    // Go marshals a nil slice as null: a log that never sharded answers "inactiveShards": null.
    return { rootHash: FakeRekor.root(t.entries).toString('hex'), treeSize: t.entries.length, signedTreeHead: this.head(t), treeID: String(t.id), inactiveShards: inactive.length > 0 ? inactive : null };
  }

  entry(index: number): Record<string, Record<string, unknown>> | undefined {
    // pkg/sharding ResolveVirtualIndex: past every inactive shard's length, the index is the active tree's.
    let left = index;
    for (const t of this.trees) {
      if (left < t.entries.length) {
        const body = t.entries[left]!;
        const uuid = t.id.toString(16).padStart(16, '0') + Buffer.from(leafHash(body)).toString('hex');
        return { [uuid]: { body: body.toString('base64'), integratedTime: 1, logID: 'ab'.repeat(32), logIndex: index, verification: {} } };
      }
      left -= t.entries.length;
    }
    return undefined;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const send = (v: unknown) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(Buffer.isBuffer(v) ? v : JSON.stringify(v));
        };
        if (req.method === 'GET' && req.url === '/api/v1/log') return send(this.raw ?? (this.info ? this.info(this.logInfo()) : this.logInfo()));
        if (req.method === 'POST' && req.url === '/api/v1/log/entries/retrieve') {
          const q = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { logIndexes: number[] };
          if (q.logIndexes.length > 10) {
            res.writeHead(422).end();
            return;
          }
          // Rekor leaves out what it cannot find.
          const found = q.logIndexes.map((i) => this.entry(i)).filter((e) => e !== undefined);
          return send(this.retrieve ? this.retrieve(found) : found);
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}

interface LogInfo {
  rootHash: string;
  treeSize: number;
  signedTreeHead: string;
  treeID: string;
  inactiveShards: { rootHash: string; treeSize: number; signedTreeHead: string; treeID: string }[] | null;
}

const fakes: FakeRekor[] = [];
async function fake(): Promise<FakeRekor> {
  const f = new FakeRekor();
  await f.start();
  fakes.push(f);
  return f;
}
const source = (f: FakeRekor, pem = f.pem) => rekorV1Source({ base: f.url, verifyCheckpoint: keyVerifier(pem) });
const round = (f: FakeRekor, state?: MonitorState) => monitorOnce({ source: source(f), identities: WATCH, ...(state ? { state } : {}) });

beforeAll(() => initCore());
afterAll(() => Promise.all(fakes.map((f) => f.close())));

describe('monitoring a Rekor v1 log across shards', () => {
  it('finishes a frozen shard at its final signed head, then reads the new shard from its first entry, reporting log indices', async () => {
    const f = await fake();
    const a = f.active;
    const first = await f.add(5, new Map([[2, 'spiffe://a.test/one'], [3, 'spiffe://b.test/other']]));
    const r1 = await round(f);
    expect(r1).toMatchObject({ read: 5, state: { origin: `${HOST} - ${a.id}`, size: 5 } });
    expect(r1.state.finished).toBeUndefined();
    expect(r1.matches.map((m) => m.index)).toEqual(first);

    // Three more entries in the old tree, then Rekor freezes it and starts another.
    const late = await f.add(3, new Map([[1, 'spiffe://a.test/late']]));
    const b = f.rotate();
    const fresh = await f.add(4, new Map([[1, 'spiffe://a.test/fresh']]));
    expect(fresh).toEqual([9]); // 8 entries in the frozen shard, then the new one's second
    const r2 = await round(f, r1.state);
    expect(r2.read).toBe(3 + 4);
    expect(r2.matches.map((m) => m.index)).toEqual([...late, ...fresh]);
    expect(r2.state).toMatchObject({ origin: `${HOST} - ${b.id}`, size: 4, finished: [{ origin: `${HOST} - ${a.id}`, size: 8, root: FakeRekor.root(a.entries).toString('hex'), checkpoint: a.final }] });

    // The next round carries on in the new shard; the frozen one is only checked.
    const more = await f.add(2, new Map([[0, 'spiffe://a.test/more']]));
    const r3 = await round(f, r2.state);
    expect(r3.read).toBe(2);
    expect(r3.matches.map((m) => m.index)).toEqual(more);
    expect(r3.state.finished).toEqual(r2.state.finished);

    // With no state, the whole history: every shard from its first entry, to the same state.
    const all = await round(f);
    expect(all.read).toBe(14);
    expect(all.matches.map((m) => m.index)).toEqual([...first, ...late, ...fresh, ...more]);
    expect({ ...all.state, checkpoint: '' }).toEqual({ ...r3.state, checkpoint: '' }); // the active head is signed afresh each time

    // Two rotations between rounds: the shard in between is read whole.
    const c = f.rotate();
    const mid = await f.add(3, new Map([[2, 'spiffe://a.test/mid']]));
    const d = f.rotate();
    const last = await f.add(2, new Map([[0, 'spiffe://a.test/last']]));
    const r4 = await round(f, r3.state);
    expect(r4.read).toBe(5);
    expect(r4.matches.map((m) => m.index)).toEqual([...mid, ...last]);
    expect(r4.state.origin).toBe(`${HOST} - ${d.id}`);
    expect(r4.state.finished!.map((x) => [x.origin, x.size])).toEqual([[`${HOST} - ${a.id}`, 8], [`${HOST} - ${b.id}`, 6], [`${HOST} - ${c.id}`, 3]]);
  });

  it('keeps the alarms: an unexplained origin change, a frozen shard that ends short, forks or changes, a shard listed twice', async () => {
    const f = await fake();
    const a = f.active;
    await f.add(6);
    const seen = (await round(f)).state;
    f.rotate();
    await f.add(2);
    const shardA = (j: LogInfo) => j.inactiveShards![0]!;

    // A new origin the log does not list as a frozen shard: a log replaced, not rotated.
    f.info = (j) => ({ ...j, inactiveShards: null });
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_ROLLBACK', message: expect.stringMatching(/^the head is for .*, not rekor\.test - /) });
    const stranger: Tree = { id: 9999n, entries: a.entries };
    f.info = (j) => ({ ...j, inactiveShards: [{ ...shardA(j), signedTreeHead: f.head(stranger), treeID: '9999' }] });
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_ROLLBACK', message: expect.stringMatching(/not among the log's inactive shards/) });
    // The frozen shard's final head: smaller than what was seen, another root (signed with the
    // log's key: only the audit finds it), another key.
    f.info = (j) => ({ ...j, inactiveShards: [{ ...shardA(j), signedTreeHead: f.head(a, { size: 4 }) }] });
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_ROLLBACK' });
    f.info = (j) => ({ ...j, inactiveShards: [{ ...shardA(j), signedTreeHead: f.head(a, { root: createHash('sha256').update('fork').digest() }) }] });
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT' });
    f.info = (j) => ({ ...j, inactiveShards: [{ ...shardA(j), signedTreeHead: f.head(a, { key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }) }] });
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
    f.info = (j) => ({ ...j, inactiveShards: [shardA(j), shardA(j)] });
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE', message: expect.stringMatching(/two of its shards/) });
    f.info = undefined;

    // Past the rotation, the frozen shard must stay listed, before the active tree, as it ended.
    const after = (await round(f, seen)).state;
    expect(after.finished).toHaveLength(1);
    const forged = f.head(a, { root: createHash('sha256').update('fork').digest() });
    f.info = (j) => ({ ...j, inactiveShards: [{ ...shardA(j), signedTreeHead: forged }] });
    await expect(round(f, after)).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT', message: expect.stringMatching(/frozen shard .* ended at size 6/) });
    f.info = (j) => ({ ...j, inactiveShards: [{ ...shardA(j), signedTreeHead: f.head(a, { size: 5 }) }] });
    await expect(round(f, after)).rejects.toMatchObject({ code: 'MONITOR_ROLLBACK' });
    f.info = (j) => ({ ...j, inactiveShards: null });
    await expect(round(f, after)).rejects.toMatchObject({ code: 'MONITOR_ROLLBACK', message: expect.stringMatching(/no longer lists/) });
    // The frozen tree made active again, the one the monitor is in listed as frozen.
    f.info = (j) => ({ ...j, signedTreeHead: a.final!, inactiveShards: [{ ...shardA(j), signedTreeHead: f.head(f.active) }] });
    await expect(round(f, after)).rejects.toMatchObject({ code: 'MONITOR_ROLLBACK' });
    f.info = undefined;
    expect((await round(f, after)).read).toBe(0);
  });

  it('a frozen shard that appears before the tree it was in, or shards listed in another order, is an alarm: never entries left unread', async () => {
    const f = await fake();
    const a = f.active;
    await f.add(6);
    const seen = (await round(f)).state;
    // The log now shows a shard X, with a watched entry, listed before A: a shard the monitor
    // never read, served consistently (log indices and all) as if it had always been there.
    const x = f.rotate();
    await f.add(2, new Map([[1, 'spiffe://a.test/hidden']]));
    f.rotate();
    f.trees.splice(f.trees.indexOf(x), 1);
    f.trees.unshift(x);
    expect(f.logInfo().inactiveShards!.map((s) => s.treeID)).toEqual([String(x.id), String(a.id)]);
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT', message: expect.stringMatching(/never read/) });

    // The same log, honest: X after A. Both frozen shards are then read and kept.
    f.trees.splice(0, 1);
    f.trees.splice(1, 0, x);
    const after = await round(f, seen);
    expect(after.matches.map((m) => m.index)).toEqual([7]);
    expect(after.state.finished!.map((s) => s.origin)).toEqual([f.origin(a), f.origin(x)]);
    // Later, the two frozen shards swapped (which renumbers every log index after them), or one
    // slipped in between them: alarms too.
    f.info = (j) => ({ ...j, inactiveShards: [j.inactiveShards![1]!, j.inactiveShards![0]!] });
    await expect(round(f, after.state)).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT' });
    const y: Tree = { id: 7777n, entries: [] };
    f.info = (j) => ({ ...j, inactiveShards: [j.inactiveShards![0]!, { rootHash: '', treeSize: 0, signedTreeHead: f.head(y), treeID: '7777' }, j.inactiveShards![1]!] });
    await expect(round(f, after.state)).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT', message: expect.stringMatching(/rekor\.test - 7777/) });
    f.info = undefined;
    expect((await round(f, after.state)).read).toBe(0);
  });

  it('a sharded log watched from its head (a source that serves its tree nodes) pins the frozen shards it skipped', async () => {
    const f = await fake();
    await f.add(3);
    const a = f.active;
    f.rotate();
    await f.add(2);
    const v1 = source(f);
    // Rekor v1 serves no tree nodes; this source has them, from the fake's entries.
    const withNodes = {
      ...v1,
      frontier: async (size: number) => {
        const r = CompactRange.empty();
        for (const e of f.active.entries.slice(0, size)) r.append(leafHash(e));
        return r.state().hashes.map((h) => Buffer.from(h, 'hex'));
      },
    };
    const first = await monitorOnce({ source: withNodes, identities: WATCH, fromHead: true });
    expect(first.read).toBe(0);
    expect(first.state.finished!.map((x) => [x.origin, x.size])).toEqual([[f.origin(a), 3]]);
    await f.add(1);
    expect((await monitorOnce({ source: withNodes, identities: WATCH, state: first.state })).read).toBe(1);
  });

  it('refuses entries it did not ask for, and audits the frozen shard’s entries like any other', async () => {
    const f = await fake();
    await f.add(12);
    const seen = (await round(f)).state;
    await f.add(3);
    f.rotate();
    await f.add(1);
    // An entry under another log index than the one asked for.
    f.retrieve = (es) => es.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, { ...v, logIndex: (v.logIndex as number) + 1 }])));
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE', message: expect.stringMatching(/asked for log index 12/) });
    // Fewer entries than asked for (Rekor leaves out what it cannot find).
    f.retrieve = (es) => es.slice(1);
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
    // One changed byte in an entry of the frozen shard, past what the monitor had seen.
    f.retrieve = (es) =>
      es.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => {
        if (v.logIndex !== 13) return [k, v];
        const b = Buffer.from(v.body as string, 'base64');
        b[b.length - 3]! ^= 1;
        return [k, { ...v, body: b.toString('base64') }];
      })));
    await expect(round(f, seen)).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT' });
    f.retrieve = undefined;
    expect((await round(f, seen)).read).toBe(4);
  });

  it('decodes the signed heads strictly: a byte that is not UTF-8 is refused, not replaced', async () => {
    const f = await fake();
    await f.add(2);
    const good = JSON.stringify(f.logInfo());
    expect((await round(f)).read).toBe(2);
    // An extra signature line, by a key named with a byte that is not UTF-8, inside the JSON string.
    const at = good.indexOf('\\n"', good.indexOf('signedTreeHead'));
    f.raw = Buffer.concat([Buffer.from(good.slice(0, at + 2)), Buffer.from('\u2014 bad'), Buffer.from([0xff]), Buffer.from('name AAAAAAAA\\n'), Buffer.from(good.slice(at + 2))]);
    await expect(round(f)).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE', message: expect.stringMatching(/UTF-8/) });
    f.raw = undefined;
  });
});
