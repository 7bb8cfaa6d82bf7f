/**
 * The log's storage, behind a narrow interface so a PostgreSQL store can follow for multi-node
 * deployments (ARCHITECTURE.md "Scale"). The SQLite implementation runs better-sqlite3 in WAL mode
 * with synchronous=FULL: a batch's COMMIT returns only after the WAL is fsynced, and the log
 * acknowledges an entry only after that (durability contract, STYLE.md point 6).
 *
 * Tables: entries (index, leaf hash, canonical body, integrated time, extra data for CT),
 * nodes (complete subtree hashes for levels ≥ 1; level 0 is entries.leaf), search (index keys),
 * checkpoints (every published signed note, with witness cosignatures), meta (tree ID, ...),
 * blobs (content-addressed bytes shared by many entries: the CT personality's issuer certificates).
 */
import Database from 'better-sqlite3';
import { LogError } from './errors.js';

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

export interface LogStore {
  size(): number;
  /** Complete subtree hash; level 0 is a leaf hash. Throws LOG_NOT_FOUND when absent. */
  node(level: number, index: number): Uint8Array;
  /** Atomically appends entries at indices size()..size()+n-1 with their new subtree nodes and checkpoint. */
  append(entries: NewEntry[], nodes: { level: number; first: number; hashes: Uint8Array[] }[], checkpoint: { size: number; note: string }): void;
  indexOfLeaf(leafHash: Uint8Array): number | undefined;
  entry(index: number): StoredEntry | undefined;
  entries(from: number, to: number): StoredEntry[];
  search(key: string, limit: number): number[];
  latestCheckpoint(): { size: number; note: string; cosignatures: string[] } | undefined;
  saveCheckpoint(size: number, note: string): void;
  addCosignature(size: number, line: string): void;
  meta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  /**
   * Stores content-addressed bytes (key = SHA-256 of value), durably, before it returns: an entry
   * appended later may refer to them. Storing a key again is a no-op.
   */
  putBlobs(blobs: { key: Uint8Array; value: Uint8Array }[]): void;
  blob(key: Uint8Array): Uint8Array | undefined;
  close(): void;
}

export class SqliteLogStore implements LogStore {
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
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)'),
      putBlob: this.db.prepare('INSERT OR IGNORE INTO blobs (k, v) VALUES (?, ?)'),
      blob: this.db.prepare('SELECT v FROM blobs WHERE k = ?').pluck(),
    };
    this.count = (this.q.count!.get() as { n: number }).n;
  }

  size(): number {
    return this.count;
  }

  node(level: number, index: number): Uint8Array {
    const h = (level === 0 ? this.q.leaf!.get(index) : this.q.node!.get(level, index)) as Buffer | undefined;
    if (!h) throw new LogError('LOG_NOT_FOUND', `no node at level ${level} index ${index}`, { status: 404 });
    return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  }

  append(entries: NewEntry[], nodes: { level: number; first: number; hashes: Uint8Array[] }[], checkpoint: { size: number; note: string }): void {
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

  indexOfLeaf(leafHash: Uint8Array): number | undefined {
    return this.q.byLeaf!.get(leafHash) as number | undefined;
  }

  private row(r: { idx: number; leaf: Buffer; body: Buffer; time: number; extra: Buffer | null; promise: Buffer | null } | undefined): StoredEntry | undefined {
    if (!r) return undefined;
    return { index: r.idx, leafHash: new Uint8Array(r.leaf), body: new Uint8Array(r.body), integratedTime: r.time, ...(r.extra ? { extra: new Uint8Array(r.extra) } : {}), ...(r.promise ? { promise: new Uint8Array(r.promise) } : {}) };
  }

  entry(index: number): StoredEntry | undefined {
    return this.row(this.q.entry!.get(index) as Parameters<SqliteLogStore['row']>[0]);
  }

  entries(from: number, to: number): StoredEntry[] {
    return (this.q.range!.all(from, to) as Parameters<SqliteLogStore['row']>[0][]).map((r) => this.row(r)!);
  }

  search(key: string, limit: number): number[] {
    return this.q.search!.all(key, limit) as number[];
  }

  latestCheckpoint(): { size: number; note: string; cosignatures: string[] } | undefined {
    const r = this.q.latest!.get() as { size: number; note: string; cosigs: string } | undefined;
    return r ? { size: r.size, note: r.note, cosignatures: JSON.parse(r.cosigs) as string[] } : undefined;
  }

  saveCheckpoint(size: number, note: string): void {
    this.q.saveCp!.run(size, note, size);
  }

  addCosignature(size: number, line: string): void {
    this.db.transaction(() => {
      // One cosignature per witness key name: a newer one (a fresh timestamp on the same tree,
      // from a quiet log's re-signed checkpoint) replaces the older.
      const name = line.split(' ')[1];
      const cur = (JSON.parse((this.q.getCosigs!.get(size) as string | undefined) ?? '[]') as string[]).filter((l) => l.split(' ')[1] !== name);
      cur.push(line);
      this.q.setCosigs!.run(JSON.stringify(cur), size);
    })();
  }

  meta(key: string): string | undefined {
    return this.q.meta!.get(key) as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.q.setMeta!.run(key, value);
  }

  putBlobs(blobs: { key: Uint8Array; value: Uint8Array }[]): void {
    // One transaction (one fsync with synchronous=FULL) for the lot.
    this.db.transaction(() => {
      for (const b of blobs) this.q.putBlob!.run(b.key, b.value);
    })();
  }

  blob(key: Uint8Array): Uint8Array | undefined {
    const v = this.q.blob!.get(key) as Buffer | undefined;
    return v && new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
