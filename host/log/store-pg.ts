/**
 * The log's PostgreSQL store, for deployments where several log processes (on one machine or
 * many) serve one log (ARCHITECTURE.md "Scale"). Every node admits entries and checks their
 * signatures itself, which is where a log spends its CPU; sequencing is what must stay single:
 *
 *  - `exclusive` runs the sequencer's whole step (read the tree's right edge and the last
 *    checkpoint, dedup, compute the new nodes and root, check consistency, sign, append) in one
 *    transaction holding a transaction-scoped advisory lock (pg_advisory_xact_lock), so nodes take
 *    turns and each starts from the tree the previous one committed. COMMIT with PostgreSQL's
 *    default synchronous_commit=on returns after the WAL is flushed, which is the durability point
 *    the log waits for before acknowledging (STYLE.md point 6).
 *  - The committing transaction also sends NOTIFY with the new size; every node LISTENs, so a node
 *    that did not write catches up on the new checkpoint within a round trip instead of polling.
 *  - Complete subtree nodes never change once written, so every node may cache them forever.
 *  - Roles only one node may hold (the static tiles writer) are session advisory locks on a
 *    connection of their own (`lease`), released by PostgreSQL when that session ends.
 *
 * One log per schema: the Rekor and CT personalities of a deployment use two. Tables mirror the
 * SQLite store (host/log/store.ts). int8 columns come back from node-postgres as strings; indices
 * stay below 2^53, so they are read with Number().
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { LogError } from './errors.js';
import { mergeCosignature, type LogStore, type LogWriter, type NewEntry, type NewNodes, type StoredCheckpoint, type StoredEntry } from './store.js';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (libpq connection URI). Never logged. */
  url: string;
  /** Schema holding this log's tables: [a-z_][a-z0-9_]*. */
  schema: string;
  /** Pool size (default 8). */
  max?: number;
  /**
   * How long the writing node may sit idle inside its transaction before the server ends its
   * session and frees the sequencing lock (ms, default 10,000). A healthy batch spends
   * milliseconds between its statements.
   */
  idleInTransactionMs?: number;
  /**
   * How long a node waits for the sequencing lock, or for a database connection, before
   * answering 503 (ms, default 30,000).
   */
  lockWaitMs?: number;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** PostgreSQL takes at most 65,535 parameters per statement. */
const MAX_PARAMS = 60_000;

/**
 * Packs INSERTs into as few statements as the parameter limit allows, each a chain of
 * data-modifying CTEs (all of them run, in one round trip).
 */
class StatementPacker {
  private done: { parts: string[]; params: unknown[] }[] = [];
  private cur: { parts: string[]; params: unknown[] } = { parts: [], params: [] };

  rows(target: string, types: string[], suffix: string, rows: unknown[][]): void {
    let values: string[] = [];
    const flush = (): void => {
      if (values.length > 0) this.cur.parts.push(`INSERT INTO ${target} VALUES ${values.join(', ')} ${suffix}`);
      values = [];
    };
    for (const r of rows) {
      if (this.cur.params.length + r.length > MAX_PARAMS) {
        flush();
        this.done.push(this.cur);
        this.cur = { parts: [], params: [] };
      }
      values.push(`(${r.map((v, i) => `$${this.cur.params.push(v)}::${types[i]}`).join(', ')})`);
    }
    flush();
  }

  /** The statements, the last one ending with `SELECT <last>`. */
  statements(last: string): { sql: string; params: unknown[] }[] {
    return [...this.done, this.cur].map((st, k, all) => ({
      sql: `WITH ${st.parts.map((x, i) => `w${i} AS (${x})`).join(', ')} SELECT ${k === all.length - 1 ? last : '1'}`,
      params: st.params,
    }));
  }
}

const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * Lost connections, a server shutting down or recovering, and exhausted resources (SQLSTATE
 * classes 08, 57, 53 and 58; socket errors; node-postgres's own connection errors), a
 * serialization failure or deadlock the server rolled back (40001, 40P01), a sequencing lock
 * not granted within lock_timeout (55P03) and a session ended for idling in its transaction
 * (25P03) are the caller's to retry: 503. Anything else is a bug or a broken schema and stays what it is.
 */
function unavailable(e: unknown): never {
  const code = (e as { code?: string }).code ?? '';
  if (/^(08|57|53|58)/.test(code) || ['40001', '40P01', '55P03', '25P03'].includes(code) || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NOTFOUND)$/.test(code) || /Connection terminated|connection timeout|connection error|not queryable|timeout exceeded when trying to connect|Query read timeout/i.test((e as Error).message ?? '')) {
    throw new LogError('LOG_STORE_UNAVAILABLE', 'the log database is unavailable; retry later', { retryAfter: 1, cause: e });
  }
  throw e;
}

export class PostgresLogStore implements LogStore {
  private readonly pool: pg.Pool;
  private readonly s: string;
  private readonly channel: string;
  /** Advisory lock key: the first 8 bytes of SHA-256("cairn-log:" + schema), as a signed int8. */
  private readonly lockKey: string;
  private readonly listeners = new Set<() => void>();
  private listener: pg.Client | undefined;
  private relisten: NodeJS.Timeout | undefined;
  private closed = false;
  /** The connection whose session holds the roles in `held` (LogStore.lease). */
  private leaseClient: pg.Client | undefined;
  private readonly held = new Set<string>();
  /** lease() calls run one after another: two first calls would each open a session, and one would hold its lock for ever. */
  private leasing: Promise<unknown> = Promise.resolve();
  private readonly idleMs: number;
  private readonly lockWaitMs: number;

  private constructor(private readonly o: PostgresStoreOptions) {
    if (!/^[a-z_][a-z0-9_]{0,50}$/.test(o.schema)) throw new LogError('LOG_BAD_CONFIG', 'the PostgreSQL schema name must match [a-z_][a-z0-9_]{0,50}');
    for (const [k, v] of [['idleInTransactionMs', o.idleInTransactionMs], ['lockWaitMs', o.lockWaitMs]] as const) {
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 100)) throw new LogError('LOG_BAD_CONFIG', `postgres.${k} must be a whole number of milliseconds, at least 100`);
    }
    this.idleMs = o.idleInTransactionMs ?? 10_000;
    this.lockWaitMs = o.lockWaitMs ?? 30_000;
    // keepAlive with a 10 s first probe: a server that vanished without a FIN fails the query in
    // flight within about a minute, instead of leaving it (and every batch behind it) waiting.
    // query_timeout backs that up for a server that answers TCP but never the query.
    // connectionTimeoutMillis bounds the wait for a connection, a new one (a server that accepts
    // and then says nothing) or a pooled one (all of them busy): without it each read and each
    // batch queued in the pool for as long as that lasted. It is the lock wait's bound, and like
    // it ends in 503 LOG_STORE_UNAVAILABLE ("timeout exceeded when trying to connect").
    this.pool = new pg.Pool({ connectionString: o.url, max: o.max ?? 8, keepAlive: true, keepAliveInitialDelayMillis: 10_000, query_timeout: this.lockWaitMs + 30_000, connectionTimeoutMillis: this.lockWaitMs });
    // An idle client's error (the server restarting) must not take the process down; the next query reconnects.
    this.pool.on('error', () => undefined);
    this.s = o.schema;
    this.channel = `cairn_log_${o.schema}`;
    this.lockKey = createHash('sha256').update(`cairn-log:${o.schema}`).digest().readBigInt64BE(0).toString();
  }

  /** Connects and creates the schema on first use (under the writer's lock, so nodes starting together do not race). */
  static async open(o: PostgresStoreOptions): Promise<PostgresLogStore> {
    const store = new PostgresLogStore(o);
    try {
      await store.exclusive(async () => undefined, async (c) => {
        const s = store.s;
        await c.query(`
          CREATE SCHEMA IF NOT EXISTS ${s};
          CREATE TABLE IF NOT EXISTS ${s}.entries (idx int8 PRIMARY KEY, leaf bytea NOT NULL, body bytea NOT NULL, time int8 NOT NULL, extra bytea, promise bytea);
          CREATE INDEX IF NOT EXISTS entries_leaf ON ${s}.entries (leaf);
          CREATE TABLE IF NOT EXISTS ${s}.nodes (level int4 NOT NULL, idx int8 NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx));
          CREATE TABLE IF NOT EXISTS ${s}.search (k text NOT NULL, idx int8 NOT NULL, PRIMARY KEY (k, idx));
          CREATE TABLE IF NOT EXISTS ${s}.checkpoints (size int8 PRIMARY KEY, note text NOT NULL, cosigs text NOT NULL DEFAULT '[]');
          CREATE TABLE IF NOT EXISTS ${s}.meta (k text PRIMARY KEY, v text NOT NULL);
          CREATE TABLE IF NOT EXISTS ${s}.blobs (k bytea PRIMARY KEY, v bytea NOT NULL);
        `);
      });
    } catch (e) {
      await store.pool.end().catch(() => undefined);
      throw e;
    }
    return store;
  }

  private async q(sql: string, params: unknown[] = [], c: Queryable = this.pool): Promise<pg.QueryResult> {
    try {
      return await c.query(sql, params);
    } catch (e) {
      return unavailable(e);
    }
  }

  async exclusive<T>(fn: (w: LogWriter) => Promise<T>, setup?: (c: pg.PoolClient) => Promise<void>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      return unavailable(e);
    }
    let broken = false;
    // A connection lost between queries is reported as an event on the checked-out client; the
    // query that follows fails with it, so the event itself needs no more than a listener.
    const ignore = (): void => undefined;
    c.on('error', ignore);
    try {
      // One round trip for all of it (simple query protocol; the key is our own integer literal):
      // with nodes on other machines, every round trip under the lock is time no node sequences.
      // Each setting is pinned here rather than trusted to the server's defaults:
      // - READ COMMITTED: every statement after the lock sees what the previous holder committed.
      //   Under REPEATABLE READ the snapshot is taken before the lock is granted, and the step
      //   would read the tree as it was before the other node's batch (then fail with 40001).
      // - synchronous_commit = on: COMMIT returns only after the WAL flush, and only then is
      //   anything acknowledged. With it off (server, role or database default), a crash loses
      //   acknowledged entries and the nodes' published checkpoints run ahead of the store.
      // - idle_in_transaction_session_timeout: a node that goes silent (partition, paused VM)
      //   while holding the lock has its session ended by the server, so the other nodes wait
      //   seconds, not the two hours of the kernel's default keepalive.
      // - lock_timeout: a node waiting longer than that answers 503 (55P03) instead of hanging.
      await this.q(
        `BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = on; ` +
          `SET LOCAL idle_in_transaction_session_timeout = ${this.idleMs}; SET LOCAL lock_timeout = ${this.lockWaitMs}; ` +
          `SELECT pg_advisory_xact_lock(${this.lockKey}::int8)`,
        [],
        c,
      );
      if (setup) await setup(c);
      const out = await fn(this.writer(c));
      // COMMIT returns after the WAL flush (synchronous_commit=on): only then is anything acknowledged.
      await this.q('COMMIT', [], c);
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => (broken = true));
      throw e;
    } finally {
      c.off('error', ignore);
      c.release(broken);
    }
  }

  private writer(c: pg.PoolClient): LogWriter {
    return {
      size: () => this.sizeOn(c),
      latestCheckpoint: () => this.latestOn(c),
      nodes: (at) => this.nodesOn(at, c),
      findLeaves: (leaves) => this.findOn(leaves, c),
      saveCheckpoint: (size, note) => this.saveCheckpointOn(size, note, c),
      append: async (entries: NewEntry[], nodes: NewNodes[], cp: { size: number; note: string }) => {
        // Few statements and round trips for the whole batch (data-modifying CTEs). Rows go as
        // VALUES lists rather than arrays: node-postgres sends a Buffer parameter in binary, but
        // would hex-encode every element of a bytea[] on the event loop.
        const first = cp.size - entries.length;
        const w = new StatementPacker();
        w.rows(`${this.s}.entries (idx, leaf, body, time, extra, promise)`, ['int8', 'bytea', 'bytea', 'int8', 'bytea', 'bytea'], '',
          entries.map((e, i) => [first + i, buf(e.leafHash), buf(e.body), e.integratedTime, e.extra ? buf(e.extra) : null, e.promise ? buf(e.promise) : null]));
        w.rows(`${this.s}.search (k, idx)`, ['text', 'int8'], 'ON CONFLICT DO NOTHING', entries.flatMap((e, i) => e.searchKeys.map((k) => [k, first + i])));
        w.rows(`${this.s}.nodes (level, idx, hash)`, ['int4', 'int8', 'bytea'], 'ON CONFLICT DO NOTHING', nodes.flatMap((l) => l.hashes.map((h, i) => [l.level, l.first + i, buf(h)])));
        w.rows(`${this.s}.checkpoints (size, note)`, ['int8', 'text'], 'ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note', [[cp.size, cp.note]]);
        // NOTIFY is delivered to every listening node when (and only if) this transaction commits.
        for (const st of w.statements(`pg_notify('${this.channel}', '${cp.size}')`)) await this.q(st.sql, st.params, c);
      },
    };
  }

  private async sizeOn(c: Queryable): Promise<number> {
    return Number((await this.q(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${this.s}.entries`, [], c)).rows[0].n);
  }

  private async latestOn(c: Queryable): Promise<StoredCheckpoint | undefined> {
    const r = (await this.q(`SELECT size, note, cosigs FROM ${this.s}.checkpoints ORDER BY size DESC LIMIT 1`, [], c)).rows[0] as { size: string; note: string; cosigs: string } | undefined;
    return r && { size: Number(r.size), note: r.note, cosignatures: JSON.parse(r.cosigs) as string[] };
  }

  private async nodesOn(at: [number, number][], c: Queryable): Promise<(Uint8Array | undefined)[]> {
    const found = new Map<string, Uint8Array>();
    const leaves = at.filter(([l]) => l === 0).map(([, i]) => i);
    const inner = at.filter(([l]) => l > 0);
    if (leaves.length > 0) {
      for (const r of (await this.q(`SELECT idx, leaf FROM ${this.s}.entries WHERE idx = ANY($1::int8[])`, [leaves], c)).rows) found.set(`0/${r.idx}`, u8(r.leaf));
    }
    if (inner.length > 0) {
      const rows = (await this.q(`SELECT n.level, n.idx, n.hash FROM ${this.s}.nodes n JOIN unnest($1::int4[], $2::int8[]) AS w(level, idx) USING (level, idx)`, [inner.map((x) => x[0]), inner.map((x) => x[1])], c)).rows;
      for (const r of rows) found.set(`${r.level}/${r.idx}`, u8(r.hash));
    }
    return at.map(([l, i]) => found.get(`${l}/${i}`));
  }

  private async findOn(leaves: Uint8Array[], c: Queryable): Promise<(number | undefined)[]> {
    if (leaves.length === 0) return [];
    const rows = (await this.q(`SELECT leaf, MIN(idx) AS idx FROM ${this.s}.entries WHERE leaf = ANY($1::bytea[]) GROUP BY leaf`, [leaves.map(buf)], c)).rows;
    const by = new Map<string, number>(rows.map((r) => [(r.leaf as Buffer).toString('hex'), Number(r.idx)]));
    return leaves.map((l) => by.get(buf(l).toString('hex')));
  }

  private async saveCheckpointOn(size: number, note: string, c: Queryable): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.checkpoints (size, note) VALUES ($1, $2) ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note`, [size, note], c);
  }

  size(): Promise<number> {
    return this.sizeOn(this.pool);
  }

  latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.latestOn(this.pool);
  }

  nodes(at: [number, number][]): Promise<(Uint8Array | undefined)[]> {
    return this.nodesOn(at, this.pool);
  }

  findLeaves(leaves: Uint8Array[]): Promise<(number | undefined)[]> {
    return this.findOn(leaves, this.pool);
  }

  onForeignPublish(fn: () => void): () => void {
    this.listeners.add(fn);
    if (!this.listener && !this.relisten) void this.listen();
    return () => this.listeners.delete(fn);
  }

  /** A dedicated connection for LISTEN; after losing it, reconnect and tell listeners to catch up on what they missed. */
  private async listen(): Promise<void> {
    if (this.closed) return;
    // keepAlive as the pool's: a server that vanished without a FIN would otherwise leave this
    // connection waiting for notifications forever, and the node would stop catching up.
    const c = new pg.Client({ connectionString: this.o.url, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    const retry = (): void => {
      if (this.listener === c) this.listener = undefined;
      c.end().catch(() => undefined);
      if (this.closed || this.relisten) return;
      this.relisten = setTimeout(() => {
        this.relisten = undefined;
        void this.listen();
      }, 1000);
      this.relisten.unref();
    };
    c.on('error', retry);
    c.on('end', retry);
    c.on('notification', () => this.fire());
    try {
      await c.connect();
      await c.query(`LISTEN ${this.channel}`);
      this.listener = c;
      if (this.closed) await c.end();
      else this.fire();
    } catch {
      retry();
    }
  }

  lease(name: string): Promise<boolean> {
    const run = this.leasing.then(() => this.leaseNow(name));
    this.leasing = run.catch(() => undefined);
    return run;
  }

  private async leaseNow(name: string): Promise<boolean> {
    if (this.closed) return false;
    try {
      let c = this.leaseClient;
      if (!c) {
        // keepAlive (with a short first probe) notices a server that vanished without a FIN: the
        // 'error' below drops the role here. The server's side is its own tcp_keepalives_*: the
        // session below asks for probes after 10 s, so a node that vanished loses the lock (and
        // another node takes the role) within about a minute rather than two hours.
        const fresh = new pg.Client({ connectionString: this.o.url, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
        const lost = (): void => {
          if (this.leaseClient === fresh) {
            this.leaseClient = undefined;
            this.held.clear();
          }
          fresh.end().catch(() => undefined);
        };
        fresh.on('error', lost);
        fresh.on('end', lost);
        await fresh.connect();
        // The server's keepalive on this session: a node that vanished (no FIN) loses the lock
        // after about 10 + 3 × 5 s, instead of holding the role for the kernel's default 2 h.
        await fresh.query('SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3');
        if (this.closed) {
          await fresh.end();
          return false;
        }
        this.leaseClient = c = fresh;
      }
      if (this.held.has(name)) {
        // A round trip on the session that holds the lock: the role is still ours if it answers.
        await c.query('SELECT 1');
        return this.held.has(name);
      }
      const key = createHash('sha256').update(`cairn-lease:${this.s}:${name}`).digest().readBigInt64BE(0).toString();
      const r = await c.query(`SELECT pg_try_advisory_lock(${key}::int8) AS ok`);
      if ((r.rows[0] as { ok: boolean }).ok && this.leaseClient === c) this.held.add(name);
      return this.held.has(name);
    } catch {
      return false;
    }
  }

  private fire(): void {
    for (const f of this.listeners) {
      try {
        f();
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  async entry(index: number): Promise<StoredEntry | undefined> {
    return (await this.entries(index, index + 1))[0];
  }

  async entries(from: number, to: number): Promise<StoredEntry[]> {
    const rows = (await this.q(`SELECT idx, leaf, body, time, extra, promise FROM ${this.s}.entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`, [from, to])).rows;
    return rows.map((r) => ({
      index: Number(r.idx),
      leafHash: u8(r.leaf),
      body: u8(r.body),
      integratedTime: Number(r.time),
      ...(r.extra ? { extra: u8(r.extra) } : {}),
      ...(r.promise ? { promise: u8(r.promise) } : {}),
    }));
  }

  async search(key: string, limit: number): Promise<number[]> {
    return (await this.q(`SELECT idx FROM ${this.s}.search WHERE k = $1 ORDER BY idx LIMIT $2`, [key, limit])).rows.map((r) => Number(r.idx));
  }

  saveCheckpoint(size: number, note: string): Promise<void> {
    return this.saveCheckpointOn(size, note, this.pool);
  }

  async addCosignature(size: number, line: string): Promise<void> {
    // Read-modify-write under a row lock, so two nodes adding cosignatures at once keep both.
    await this.exclusive(async () => undefined, async (c) => {
      const r = (await this.q(`SELECT cosigs FROM ${this.s}.checkpoints WHERE size = $1 FOR UPDATE`, [size], c)).rows[0] as { cosigs: string } | undefined;
      if (!r) return;
      await this.q(`UPDATE ${this.s}.checkpoints SET cosigs = $1 WHERE size = $2`, [JSON.stringify(mergeCosignature(JSON.parse(r.cosigs) as string[], line)), size], c);
    });
  }

  async meta(key: string): Promise<string | undefined> {
    return (await this.q(`SELECT v FROM ${this.s}.meta WHERE k = $1`, [key])).rows[0]?.v;
  }

  async initMeta(key: string, value: string): Promise<string> {
    await this.q(`INSERT INTO ${this.s}.meta (k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [key, value]);
    return (await this.meta(key))!;
  }

  async putBlobs(blobs: { key: Uint8Array; value: Uint8Array }[]): Promise<void> {
    if (blobs.length === 0) return;
    await this.q(`INSERT INTO ${this.s}.blobs (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT DO NOTHING`, [blobs.map((b) => buf(b.key)), blobs.map((b) => buf(b.value))]);
  }

  async blob(key: Uint8Array): Promise<Uint8Array | undefined> {
    const r = (await this.q(`SELECT v FROM ${this.s}.blobs WHERE k = $1`, [buf(key)])).rows[0];
    return r && u8(r.v);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.relisten) clearTimeout(this.relisten);
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => undefined);
    const c = this.leaseClient;
    this.leaseClient = undefined;
    this.held.clear();
    await c?.end().catch(() => undefined);
    await this.pool.end();
  }
}
