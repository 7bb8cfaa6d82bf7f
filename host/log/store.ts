/**
 * The log's storage, behind a narrow asynchronous interface with two implementations:
 *
 *  - SqliteLogStore (this file), the embedded default: better-sqlite3 in WAL mode with
 *    synchronous=FULL, so a batch's COMMIT returns only after the WAL is fsynced, and the log
 *    acknowledges an entry only after that (durability contract, STYLE.md point 6). One process
 *    owns the file.
 *  - PostgresLogStore (host/log/store-pg.ts), for multi-node deployments (ARCHITECTURE.md "Scale"):
 *    several log processes share one database; `exclusive` serialises their sequencers.
 *
 * Tables: entries (index, leaf hash, canonical body, integrated time, extra data for CT),
 * nodes (complete subtree hashes for levels ≥ 1; level 0 is entries.leaf), search (index keys),
 * checkpoints (every published signed note, with witness cosignatures), meta (tree ID, ...),
 * blobs (content-addressed bytes shared by many entries: the CT personality's issuer certificates).
 */
import Database from 'better-sqlite3';

export interface StoredEntry {
  index: number;
  leafHash: Uint8Array;
  body: Uint8Array;
  integratedTime: number;
  extra?: Uint8Array;
  /** The inclusion promise signed when the entry was sequenced (Rekor v1 SET), if any. */
  promise?: Uint8Array;
}

export interface NewEntry {
  leafHash: Uint8Array;
  body: Uint8Array;
  integratedTime: number;
  searchKeys: string[];
  extra?: Uint8Array;
  promise?: Uint8Array;
}

export interface NewNodes {
  level: number;
  first: number;
  hashes: Uint8Array[];
}

export interface StoredCheckpoint {
  size: number;
  note: string;
  cosignatures: string[];
}

/** Reads of the tree, by anyone; inside LogStore.exclusive they see what the previous writer committed. */
export interface LogReader {
  size(): Promise<number>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** Complete subtree hashes (level 0: leaf hashes), in the order asked; undefined where absent. */
  nodes(at: [level: number, index: number][]): Promise<(Uint8Array | undefined)[]>;
  /** For each leaf hash, the lowest index holding it, if any. */
  findLeaves(leaves: Uint8Array[]): Promise<(number | undefined)[]>;
  /** One stored node, synchronously, for a store that can (SQLite): proofs then skip the listing pass (TransparencyLog.withNodes). */
  nodeNow?(level: number, index: number): Uint8Array | undefined;
}

/** What only the sequencer does, holding the writer's lock (LogStore.exclusive). */
export interface LogWriter extends LogReader {
  /** Appends entries at indices size()..size()+n-1 with their new subtree nodes and checkpoint, in one transaction. */
  append(entries: NewEntry[], nodes: NewNodes[], checkpoint: { size: number; note: string }): Promise<void>;
  saveCheckpoint(size: number, note: string): Promise<void>;
}

export interface LogStore extends LogReader {
  /**
   * Runs `fn` as the log's only writer and makes what it wrote durable before resolving. SQLite:
   * one process owns the file and its flushes are chained, so this only runs `fn`. PostgreSQL: one
   * transaction holding an advisory lock, so sequencers on several nodes take turns, each starting
   * from the tree the previous one committed.
   */
  exclusive<T>(fn: (w: LogWriter) => Promise<T>): Promise<T>;
  /**
   * Calls `fn` when another process has published a checkpoint (PostgreSQL LISTEN/NOTIFY), so a
   * node serving reads catches up without polling. Returns the unsubscribe. SQLite never calls it.
   */
  onForeignPublish(fn: () => void): () => void;
  /**
   * Whether this process holds the named role that only one node of the log may run at a time
   * (the static tiles writer, host/log/static-tiles.ts). A store without it (SQLite: one process
   * owns the file) holds every role. PostgreSQL: a session advisory lock, tried again on each call
   * until it is held, and lost with its connection, so a node that dies hands the role on.
   */
  lease?(name: string): Promise<boolean>;
  entry(index: number): Promise<StoredEntry | undefined>;
  entries(from: number, to: number): Promise<StoredEntry[]>;
  search(key: string, limit: number): Promise<number[]>;
  addCosignature(size: number, line: string): Promise<void>;
  meta(key: string): Promise<string | undefined>;
  /** Stores `value` under `key` unless a value is already there; returns the stored value (first writer wins). */
  initMeta(key: string, value: string): Promise<string>;
  /**
   * Stores content-addressed bytes (key = SHA-256 of value), durably, before it returns: an entry
   * appended later may refer to them. Storing a key again is a no-op.
   */
  putBlobs(blobs: { key: Uint8Array; value: Uint8Array }[]): Promise<void>;
  blob(key: Uint8Array): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}

/** One cosignature per witness key name: a newer one (a fresh timestamp on the same tree, from a quiet log's re-signed checkpoint) replaces the older. */
export function mergeCosignature(lines: string[], line: string): string[] {
  const name = line.split(' ')[1];
  return [...lines.filter((l) => l.split(' ')[1] !== name), line];
}

type Row = { idx: number; leaf: Buffer; body: Buffer; time: number; extra: Buffer | null; promise: Buffer | null };

const view = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export class SqliteLogStore implements LogStore, LogWriter {
  private readonly db: Database.Database;
  private readonly q: Record<string, Database.Statement>;
  private count: number;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, body BLOB NOT NULL, time INTEGER NOT NULL, extra BLOB);
      CREATE INDEX IF NOT EXISTS entries_leaf ON entries(leaf);
      CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS search (k TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (k, idx)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, cosigs TEXT NOT NULL DEFAULT '[]');
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS blobs (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
    `);
    // Stores created before inclusion promises were kept gain the column (NULL: signed on read).
    const cols = this.db.prepare('PRAGMA table_info(entries)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'promise')) this.db.exec('ALTER TABLE entries ADD COLUMN promise BLOB');
    this.q = {
      count: this.db.prepare('SELECT COUNT(*) AS n FROM entries'),
      leaf: this.db.prepare('SELECT leaf FROM entries WHERE idx = ?').pluck(),
      node: this.db.prepare('SELECT hash FROM nodes WHERE level = ? AND idx = ?').pluck(),
      insEntry: this.db.prepare('INSERT INTO entries (idx, leaf, body, time, extra, promise) VALUES (?, ?, ?, ?, ?, ?)'),
      insNode: this.db.prepare('INSERT OR REPLACE INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      insSearch: this.db.prepare('INSERT OR IGNORE INTO search (k, idx) VALUES (?, ?)'),
      byLeaf: this.db.prepare('SELECT idx FROM entries WHERE leaf = ? ORDER BY idx LIMIT 1').pluck(),
      entry: this.db.prepare('SELECT idx, leaf, body, time, extra, promise FROM entries WHERE idx = ?'),
      range: this.db.prepare('SELECT idx, leaf, body, time, extra, promise FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx'),
      search: this.db.prepare('SELECT idx FROM search WHERE k = ? ORDER BY idx LIMIT ?').pluck(),
      latest: this.db.prepare('SELECT size, note, cosigs FROM checkpoints ORDER BY size DESC LIMIT 1'),
      saveCp: this.db.prepare('INSERT OR REPLACE INTO checkpoints (size, note, cosigs) VALUES (?, ?, COALESCE((SELECT cosigs FROM checkpoints WHERE size = ?), \'[]\'))'),
      getCosigs: this.db.prepare('SELECT cosigs FROM checkpoints WHERE size = ?').pluck(),
      setCosigs: this.db.prepare('UPDATE checkpoints SET cosigs = ? WHERE size = ?'),
      meta: this.db.prepare('SELECT v FROM meta WHERE k = ?').pluck(),
      initMeta: this.db.prepare('INSERT OR IGNORE INTO meta (k, v) VALUES (?, ?)'),
      putBlob: this.db.prepare('INSERT OR IGNORE INTO blobs (k, v) VALUES (?, ?)'),
      blob: this.db.prepare('SELECT v FROM blobs WHERE k = ?').pluck(),
    };
    this.count = (this.q.count!.get() as { n: number }).n;
  }

  async exclusive<T>(fn: (w: LogWriter) => Promise<T>): Promise<T> {
    return fn(this);
  }

  onForeignPublish(): () => void {
    return () => undefined;
  }

  async size(): Promise<number> {
    return this.count;
  }

  nodeNow(level: number, index: number): Uint8Array | undefined {
    const h = (level === 0 ? this.q.leaf!.get(index) : this.q.node!.get(level, index)) as Buffer | undefined;
    return h && view(h);
  }

  async nodes(at: [number, number][]): Promise<(Uint8Array | undefined)[]> {
    return at.map(([level, index]) => this.nodeNow(level, index));
  }

  async findLeaves(leaves: Uint8Array[]): Promise<(number | undefined)[]> {
    return leaves.map((l) => this.q.byLeaf!.get(l) as number | undefined);
  }

  async append(entries: NewEntry[], nodes: NewNodes[], checkpoint: { size: number; note: string }): Promise<void> {
    const first = this.count;
    this.db.transaction(() => {
      entries.forEach((e, i) => {
        this.q.insEntry!.run(first + i, e.leafHash, e.body, e.integratedTime, e.extra ?? null, e.promise ?? null);
        for (const k of e.searchKeys) this.q.insSearch!.run(k, first + i);
      });
      for (const l of nodes) l.hashes.forEach((h, i) => this.q.insNode!.run(l.level, l.first + i, h));
      this.q.saveCp!.run(checkpoint.size, checkpoint.note, checkpoint.size);
    })();
    this.count = first + entries.length;
  }

  private row(r: Row | undefined): StoredEntry | undefined {
    if (!r) return undefined;
    return { index: r.idx, leafHash: new Uint8Array(r.leaf), body: new Uint8Array(r.body), integratedTime: r.time, ...(r.extra ? { extra: new Uint8Array(r.extra) } : {}), ...(r.promise ? { promise: new Uint8Array(r.promise) } : {}) };
  }

  async entry(index: number): Promise<StoredEntry | undefined> {
    return this.row(this.q.entry!.get(index) as Row | undefined);
  }

  async entries(from: number, to: number): Promise<StoredEntry[]> {
    return (this.q.range!.all(from, to) as Row[]).map((r) => this.row(r)!);
  }

  async search(key: string, limit: number): Promise<number[]> {
    return this.q.search!.all(key, limit) as number[];
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const r = this.q.latest!.get() as { size: number; note: string; cosigs: string } | undefined;
    return r ? { size: r.size, note: r.note, cosignatures: JSON.parse(r.cosigs) as string[] } : undefined;
  }

  async saveCheckpoint(size: number, note: string): Promise<void> {
    this.q.saveCp!.run(size, note, size);
  }

  async addCosignature(size: number, line: string): Promise<void> {
    this.db.transaction(() => {
      const cur = JSON.parse((this.q.getCosigs!.get(size) as string | undefined) ?? '[]') as string[];
      this.q.setCosigs!.run(JSON.stringify(mergeCosignature(cur, line)), size);
    })();
  }

  async meta(key: string): Promise<string | undefined> {
    return this.q.meta!.get(key) as string | undefined;
  }

  async initMeta(key: string, value: string): Promise<string> {
    this.q.initMeta!.run(key, value);
    return this.q.meta!.get(key) as string;
  }

  async putBlobs(blobs: { key: Uint8Array; value: Uint8Array }[]): Promise<void> {
    // One transaction (one fsync with synchronous=FULL) for the lot.
    this.db.transaction(() => {
      for (const b of blobs) this.q.putBlob!.run(b.key, b.value);
    })();
  }

  async blob(key: Uint8Array): Promise<Uint8Array | undefined> {
    const v = this.q.blob!.get(key) as Buffer | undefined;
    return v && view(v);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
