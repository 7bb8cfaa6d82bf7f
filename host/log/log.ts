/**
 * The log engine: sequence → integrate → publish (Tessera's split, STYLE.md point 6).
 *
 *  - `add` queues an entry and resolves with its index ONLY after the batch holding it is durably
 *    committed (SQLite COMMIT with synchronous=FULL, or PostgreSQL's COMMIT). It MUST NOT resolve
 *    earlier: a client that has an index may rely on it surviving a crash.
 *  - Batches close at `batchSize` entries or `batchAgeMs` after the first entry, whichever is first,
 *    and (unless `closeQuietBatches` is false) as soon as a whole event-loop turn passes in which
 *    the open batch did not grow: its submitters are all waiting on it, so holding it open only
 *    adds latency. Under steady load entries keep arriving every turn and batches fill up to the
 *    age limit, which is what amortises the fsync.
 *  - Integration hashes the batch's leaves in one WASM call and derives the new complete subtree
 *    nodes (host/log/tree.ts newNodes); the new root comes from O(log n) stored nodes.
 *  - Publishing signs a checkpoint for the new size in the same transaction, after checking that
 *    the new tree is consistent with the last published checkpoint: an inconsistent checkpoint is
 *    never published (it would be proof of a fork).
 *  - The queue is bounded; when full, `add` fails with LOG_OVERLOADED (503 + Retry-After).
 *  - Each batch is sequenced inside `store.exclusive` (host/log/store.ts): with PostgreSQL several
 *    nodes share one tree, so the step starts by catching up on what another node committed.
 *
 * Stored subtree hashes are read asynchronously and cached forever (they never change). The tree
 * algorithms (host/log/tree.ts) stay synchronous: their reads depend only on positions, so
 * `withNodes` runs one against the cache, lists the nodes it missed, fetches them in one query and
 * runs it again.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { initCore, leafHashes, verifyConsistency } from '../core/index.js';
import { LogError } from './errors.js';
import { formatCheckpoint, formatNote, parseCheckpoint, parseNote, signNoteBody, verifyCosignature, type NoteSignature, type WitnessKey } from './note.js';
import { mergeCosignature, type LogReader, type LogStore, type LogWriter, type NewEntry, type NewNodes, type StoredEntry } from './store.js';
import { consistencyPath, inclusionPath, newNodes, treeRoot, type NodeSource } from './tree.js';

export interface LogOptions {
  store: LogStore;
  /** The log's private key (Ed25519 or ECDSA P-256): checkpoints, SETs, SCTs. */
  key: KeyObject;
  /** Checkpoint origin and signed-note key name. */
  origin: string;
  batchSize?: number;
  batchAgeMs?: number;
  /** Close a batch at the first event-loop turn in which it did not grow (default true). */
  closeQuietBatches?: boolean;
  /** Maximum entries waiting to be sequenced. */
  queueLimit?: number;
  /** Refuse an entry whose leaf is already in the log (Rekor); the CT log accepts resubmissions. */
  dedup?: boolean;
  witnesses?: WitnessKey[];
  now?: () => number;
  /**
   * Signs each entry's inclusion promise (Rekor v1's signedEntryTimestamp) before its batch is
   * committed; the promise is stored with the entry, so reads serve it instead of signing again.
   */
  promise?: (e: { body: Uint8Array; index: number; integratedTime: number }) => Promise<Uint8Array>;
  /**
   * Publish interval: when no batch has published a checkpoint for this long, the current tree is
   * signed again, so witnesses and monitors see a fresh signature on a quiet log (C2SP
   * tlog-witness cosignatures carry their own timestamps). 0 turns it off.
   */
  checkpointIntervalMs?: number;
}

export interface Added {
  index: number;
  integratedTime: number;
  /** The stored inclusion promise, when the log signs them (LogOptions.promise). */
  promise?: Uint8Array;
}

interface Pending {
  entry: Omit<NewEntry, 'leafHash' | 'integratedTime'> & { integratedTime?: number };
  leaf?: Uint8Array;
  resolve: (a: Added) => void;
  reject: (e: unknown) => void;
}

const EMPTY_ROOT = new Uint8Array(createHash('sha256').digest());
/** The longest entry body: C2SP tlog-tiles entry bundles frame each entry with a big-endian uint16 length. */
export const MAX_ENTRY_BYTES = 0xffff;

const duplicate = (index: number): LogError => Object.assign(new LogError('LOG_DUPLICATE', 'an equivalent entry already exists in the log'), { existingIndex: index });
const ZERO = new Uint8Array(32);

interface Staged {
  accepted: { p: Pending; leaf: Uint8Array }[];
  /** Duplicates of entries accepted in the same batch, answered 409 after the commit. */
  twins: { p: Pending; index: number }[];
  rows: NewEntry[];
  levels: NewNodes[];
  fresh: Map<string, Uint8Array>;
  from: number;
  size: number;
  root: Uint8Array;
  note: string;
}

export class TransparencyLog {
  readonly store: LogStore;
  readonly origin: string;
  private readonly key: KeyObject;
  private readonly batchSize: number;
  private readonly batchAgeMs: number;
  private readonly closeQuiet: boolean;
  /** Counts opened batches, so a quiet check scheduled for one batch never closes the next. */
  private batchNo = 0;
  private readonly queueLimit: number;
  private readonly dedup: boolean;
  private readonly witnesses: WitnessKey[];
  private readonly now: () => number;
  private readonly promiseOf: LogOptions['promise'];
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private publishedAt = 0;
  private publisher: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly published = new Set<() => void>();
  private cache = new Map<string, Uint8Array>();
  private unlisten: () => void = () => undefined;
  private current: { size: number; root: Uint8Array; note: string };
  /** Witness cosignature lines for the current checkpoint (mirrors the store; read on every entry served). */
  private cosignatures: string[] = [];

  private constructor(o: LogOptions) {
    this.store = o.store;
    this.key = o.key;
    this.origin = o.origin;
    this.batchSize = o.batchSize ?? 1024;
    this.batchAgeMs = o.batchAgeMs ?? 10;
    this.closeQuiet = o.closeQuietBatches ?? true;
    this.queueLimit = o.queueLimit ?? 50_000;
    this.dedup = o.dedup ?? true;
    this.witnesses = o.witnesses ?? [];
    this.now = o.now ?? Date.now;
    this.promiseOf = o.promise;
    this.current = { size: 0, root: EMPTY_ROOT, note: '' };
  }

  static async open(o: LogOptions): Promise<TransparencyLog> {
    await initCore();
    const log = new TransparencyLog(o);
    // Nodes sharing a database must sign with one key: checkpoints from two keys would look like
    // two logs (or a fork) to every client. The first node to open the store records it.
    const keyId = createHash('sha256').update(createPublicKey(o.key).export({ format: 'der', type: 'spki' })).digest('hex');
    const owner = await log.store.initMeta('logKey', keyId);
    if (owner !== keyId) throw new LogError('LOG_STORE_MISMATCH', `this store belongs to the log with key ${owner.slice(0, 16)}…, not ${keyId.slice(0, 16)}…`);
    await log.store.exclusive(async (w) => {
      const size = await w.size();
      const root = size === 0 ? EMPTY_ROOT : await log.withNodes(w, (get) => treeRoot(get, size));
      const last = await w.latestCheckpoint();
      if (last && last.size === size) {
        log.current = { size, root, note: last.note };
        log.cosignatures = last.cosignatures;
      } else {
        // No checkpoint for the stored size yet (first start, or a new origin): publish one.
        log.current = { size, root, note: log.signCheckpoint(size, root) };
        await w.saveCheckpoint(size, log.current.note);
      }
    });
    log.publishedAt = log.now();
    log.unlisten = log.store.onForeignPublish(() => {
      log.flushing = log.flushing.then(() => log.refresh(log.store)).catch(() => undefined); // the next batch retries
    });
    const every = o.checkpointIntervalMs ?? 0;
    if (every > 0) {
      log.publisher = setInterval(() => log.republish(every), Math.max(10, Math.floor(every / 2)));
      log.publisher.unref();
    }
    return log;
  }

  /** The publish step on a timer: re-sign the current tree if no checkpoint was published within `every` ms. */
  private republish(every: number): void {
    if (this.closing) return;
    this.flushing = this.flushing.then(async () => {
      if (this.closing || this.now() - this.publishedAt < every) return;
      await this.store.exclusive(async (w) => {
        await this.refresh(w);
        if (this.now() - this.publishedAt < every) return; // another node just published
        const { size, root } = this.current;
        const note = this.signCheckpoint(size, root);
        await w.saveCheckpoint(size, note);
        this.current = { size, root, note };
      });
      this.publishedAt = this.now();
      this.announce();
    }).catch(() => undefined); // a failed re-sign leaves the previous checkpoint; the next tick retries
  }

  /**
   * Catch up on checkpoints another node sharing the store has published (or on cosignatures it
   * added). The stored nodes must hash to the checkpoint's root and its origin must be ours;
   * otherwise the store holds another log and nothing more is served from it.
   */
  private async refresh(r: LogReader): Promise<void> {
    const last = await r.latestCheckpoint();
    const size = last?.size ?? 0;
    if (size < this.current.size) {
      // The store lost commits this node acknowledged and published (synchronous_commit off on
      // the server, failover to an asynchronous replica, a restore from an older backup). Going
      // on would hand out the lost indices again: a fork of every checkpoint published past
      // `size`, and later a store no node can open. Refuse until an operator restores it.
      this.cache.clear();
      throw new LogError('LOG_STORE_BEHIND', `the log store holds ${size} entries but this node published a checkpoint of ${this.current.size}: acknowledged entries were lost from the database; refusing to sequence until it is restored`);
    }
    if (!last) return;
    if (last.size === this.current.size && last.note === this.current.note) {
      this.cosignatures = last.cosignatures;
      return;
    }
    const cp = parseCheckpoint(parseNote(last.note).body);
    // Both roots from the store's own nodes, not the cache (one query): cached nodes of the tree
    // this node published would hide a store that lost it and had it re-sequenced since.
    const mine = this.current.size;
    const [root, ours] = await this.withNodes(r, (get) => [treeRoot(get, last.size), mine === 0 ? EMPTY_ROOT : treeRoot(get, mine)] as const, false);
    if (Buffer.compare(Buffer.from(ours), Buffer.from(this.current.root)) !== 0) {
      this.cache.clear();
      throw new LogError('LOG_STORE_BEHIND', `the log store's tree of size ${mine} is not the one this node published: it lost acknowledged entries and they were sequenced again; refusing to sequence until it is restored`);
    }
    if (cp.origin !== this.origin || cp.size !== last.size || Buffer.compare(Buffer.from(cp.root), Buffer.from(root)) !== 0) {
      throw new LogError('LOG_STORE_MISMATCH', `the store's checkpoint at size ${last.size} is not this log's (origin ${cp.origin}) or does not match its nodes`);
    }
    this.current = { size: last.size, root, note: last.note };
    this.cosignatures = last.cosignatures;
    this.publishedAt = this.now();
    this.announce();
  }

  /**
   * Runs a tree computation (host/log/tree.ts) over stored nodes. Their positions never depend on
   * their values, so a first run against the cache (with zeros for misses) lists exactly the nodes
   * it lacks; they are fetched in one query and the computation runs again.
   */
  async withNodes<T>(r: LogReader, f: (get: NodeSource) => T, cached = true): Promise<T> {
    if (r.nodeNow) return this.withNodesNow(r, f, cached);
    const missing = new Map<string, [number, number]>();
    const first = f((level, index) => {
      const k = `${level}/${index}`;
      const h = cached ? this.cache.get(k) : undefined;
      if (h) return h;
      missing.set(k, [level, index]);
      return ZERO;
    });
    if (missing.size === 0) return first;
    const at = [...missing.values()];
    const got = await r.nodes(at);
    const local = new Map<string, Uint8Array>();
    at.forEach(([level, index], i) => {
      const h = got[i];
      if (!h) throw new LogError('LOG_NOT_FOUND', `no node at level ${level} index ${index}`, { status: 404 });
      local.set(`${level}/${index}`, h);
    });
    const out = f((level, index) => {
      const k = `${level}/${index}`;
      const h = local.get(k) ?? (cached ? this.cache.get(k) : undefined);
      if (!h) throw new LogError('LOG_NOT_FOUND', `no node at level ${level} index ${index}`, { status: 404 });
      return h;
    });
    this.remember(local);
    return out;
  }

  /** withNodes for a store with synchronous reads (SQLite): one pass, reading misses as it goes. */
  private withNodesNow<T>(r: LogReader, f: (get: NodeSource) => T, cached: boolean): T {
    const read = new Map<string, Uint8Array>();
    const out = f((level, index) => {
      const k = `${level}/${index}`;
      const hit = read.get(k) ?? (cached ? this.cache.get(k) : undefined);
      if (hit) return hit;
      const h = r.nodeNow!(level, index);
      if (!h) throw new LogError('LOG_NOT_FOUND', `no node at level ${level} index ${index}`, { status: 404 });
      read.set(k, h);
      return h;
    });
    this.remember(read);
    return out;
  }

  private remember(nodes: Map<string, Uint8Array>): void {
    if (this.cache.size + nodes.size > 65_536) this.cache.clear();
    for (const [k, h] of nodes) this.cache.set(k, h);
  }

  /** `width` consecutive stored nodes at `level` from `first` (a C2SP tile), concatenated. */
  async nodeRange(level: number, first: number, width: number): Promise<Buffer> {
    return this.withNodes(this.store, (get) => Buffer.concat(Array.from({ length: width }, (_, i) => get(level, first + i))));
  }

  size(): number {
    return this.current.size;
  }

  /**
   * Readiness (/readyz): undefined while this log can take entries, otherwise why not. A full
   * queue (every add is LOG_OVERLOADED) or a store that cannot be read (PostgreSQL down: every
   * batch is LOG_STORE_UNAVAILABLE) or that lost published entries (every batch is
   * LOG_STORE_BEHIND) leaves the node alive but unable to do its job, so it must leave rotation.
   * The store check is one indexed read, the one each batch starts with (refresh).
   */
  async unready(): Promise<string | undefined> {
    if (this.closing) return 'the log is shutting down';
    if (this.queue.length >= this.queueLimit) return 'the sequencing queue is full';
    // Read before the store: a batch committing meanwhile only makes the stored checkpoint larger.
    const published = this.current.size;
    let stored: number;
    try {
      stored = (await this.store.latestCheckpoint())?.size ?? 0;
    } catch (e) {
      // LogError messages are ours (store-pg.ts never puts the URL or credentials in them).
      return e instanceof LogError ? e.message : 'the log store cannot be read';
    }
    if (stored < published) return `the log store holds a checkpoint of ${stored} entries but this node published ${published}: acknowledged entries were lost from the database`;
    return undefined;
  }

  root(): Uint8Array {
    return this.current.root;
  }

  /** The latest signed checkpoint, with witness cosignature lines appended. */
  /** Calls `fn` after each new checkpoint is published (a batch, or a re-sign); returns the unsubscribe. */
  onPublished(fn: () => void): () => void {
    this.published.add(fn);
    return () => this.published.delete(fn);
  }

  private announce(): void {
    for (const f of this.published) {
      try {
        f();
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  checkpoint(): string {
    return this.cosignatures.length === 0 ? this.current.note : this.current.note + this.cosignatures.join('');
  }

  private signCheckpoint(size: number, root: Uint8Array): string {
    const body = formatCheckpoint({ origin: this.origin, size, root });
    return formatNote({ body, signatures: [signNoteBody(body, this.origin, this.key)] });
  }

  leafHashOf(body: Uint8Array): Uint8Array {
    return leafHashes([body]);
  }

  /** Index of an entry already in the log with this leaf hash. */
  async find(leaf: Uint8Array): Promise<number | undefined> {
    return (await this.store.findLeaves([leaf]))[0];
  }

  add(entry: Pending['entry']): Promise<Added> {
    // C2SP tlog-tiles frames each entry of an entry bundle with a 16-bit length: a longer body
    // could be logged but never served as tiles.
    if (entry.body.length > MAX_ENTRY_BYTES) return Promise.reject(new LogError('LOG_ENTRY_TOO_LARGE', `the entry's canonical body is ${entry.body.length} bytes; a log entry is at most ${MAX_ENTRY_BYTES} bytes (C2SP tlog-tiles entry bundles)`));
    if (this.closing) return Promise.reject(new LogError('LOG_CLOSING', 'the log is shutting down', { retryAfter: 5 }));
    if (this.queue.length >= this.queueLimit) {
      return Promise.reject(new LogError('LOG_OVERLOADED', 'the sequencing queue is full; retry later', { retryAfter: 1 }));
    }
    return new Promise<Added>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (this.queue.length >= this.batchSize) this.kick();
      else if (!this.timer) {
        this.timer = setTimeout(() => this.kick(), this.batchAgeMs);
        if (this.closeQuiet) this.watchQuiet(++this.batchNo, this.queue.length);
      }
    });
  }

  /** After each event-loop turn (setImmediate runs after the I/O phase): close the batch if it did not grow. */
  private watchQuiet(batch: number, seen: number): void {
    setImmediate(() => {
      if (!this.timer || batch !== this.batchNo) return; // already closed (by age or size)
      if (this.queue.length === seen) this.kick();
      else this.watchQuiet(batch, this.queue.length);
    });
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = this.flushing.then(() => this.flush());
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      try {
        const staged = await this.store.exclusive(async (w) => {
          await this.refresh(w);
          const st = await this.stage(batch, w);
          if (!st) return undefined;
          // Inclusion promises are signed (on the thread pool) before the commit that makes the
          // entries visible, so every stored entry has its promise. Nothing else commits
          // meanwhile: flushes are chained, and other nodes wait on the store's lock.
          if (this.promiseOf) {
            const f = this.promiseOf;
            const promises = await Promise.all(st.rows.map((r, i) => f({ body: r.body, index: st.from + i, integratedTime: r.integratedTime })));
            st.rows.forEach((r, i) => (r.promise = promises[i]));
          }
          await w.append(st.rows, st.levels, { size: st.size, note: st.note });
          return st;
        });
        if (staged) this.commit(staged);
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
  }

  /** Sequence + integrate one batch (leaves, new nodes, root, consistency, checkpoint), without storing it. */
  private async stage(batch: Pending[], w: LogWriter): Promise<Staged | undefined> {
    const leaves = leafHashes(batch.map((p) => p.entry.body));
    const time = Math.floor(this.now() / 1000);
    const accepted: { p: Pending; leaf: Uint8Array }[] = [];
    // A duplicate of an entry earlier in this same batch is answered only once the batch is
    // committed (commit/flush): its 409 points at an index that must exist by then.
    const twins: { p: Pending; index: number }[] = [];
    const seen = new Map<string, number>();
    const stored = this.dedup ? await w.findLeaves(batch.map((_, i) => leaves.subarray(i * 32, i * 32 + 32))) : [];
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const leaf = leaves.subarray(i * 32, i * 32 + 32);
      if (this.dedup) {
        const hex = Buffer.from(leaf).toString('hex');
        if (stored[i] !== undefined) {
          p.reject(duplicate(stored[i]!));
          continue;
        }
        const twin = seen.get(hex);
        if (twin !== undefined) {
          twins.push({ p, index: twin });
          continue;
        }
        seen.set(hex, this.current.size + accepted.length);
      }
      accepted.push({ p, leaf: new Uint8Array(leaf) });
    }
    if (accepted.length === 0) return undefined; // no twins either: a twin has an accepted original
    const from = this.current.size;
    const size = from + accepted.length;
    const fresh = new Map<string, Uint8Array>();
    const { levels, root, proof } = await this.withNodes(w, (stored) => {
      const levels = newNodes(stored, from, accepted.map((a) => a.leaf));
      // Root of the new tree from old stored nodes plus the batch's new ones.
      fresh.clear();
      accepted.forEach((a, i) => fresh.set(`0/${from + i}`, a.leaf));
      for (const l of levels) l.hashes.forEach((h, i) => fresh.set(`${l.level}/${l.first + i}`, h));
      const get: NodeSource = (level, index) => fresh.get(`${level}/${index}`) ?? stored(level, index);
      return { levels, root: treeRoot(get, size), proof: from > 0 ? consistencyPath(get, from, size) : [] };
    });
    if (from > 0 && !verifyConsistency(from, size, proof, this.current.root, root)) {
      throw new LogError('LOG_INCONSISTENT', 'refusing to publish a checkpoint inconsistent with the previous one');
    }
    const note = this.signCheckpoint(size, root);
    const rows: NewEntry[] = accepted.map((a) => ({
      leafHash: a.leaf,
      body: a.p.entry.body,
      integratedTime: a.p.entry.integratedTime ?? time,
      searchKeys: a.p.entry.searchKeys,
      ...(a.p.entry.extra ? { extra: a.p.entry.extra } : {}),
    }));
    return { accepted, twins, rows, levels, fresh, from, size, root, note };
  }

  /** After a staged batch is durably stored: publish its checkpoint, acknowledge its entries. */
  private commit(st: Staged): void {
    const { accepted, twins, rows, fresh, from, size, root, note } = st;
    this.current = { size, root, note };
    this.publishedAt = this.now();
    this.cosignatures = [];
    // The batch's new nodes (and leaves) are what the next inclusion proofs read first.
    this.remember(fresh);
    accepted.forEach((a, i) => a.p.resolve({ index: from + i, integratedTime: rows[i]!.integratedTime, ...(rows[i]!.promise ? { promise: rows[i]!.promise } : {}) }));
    for (const t of twins) t.p.reject(duplicate(t.index));
    this.announce();
  }

  async entry(index: number): Promise<StoredEntry> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.current.size) throw new LogError('LOG_NOT_FOUND', `no entry at index ${index}`, { status: 404 });
    const e = await this.store.entry(index);
    if (!e) throw new LogError('LOG_NOT_FOUND', `no entry at index ${index}`, { status: 404 });
    return e;
  }

  inclusionProof(index: number, size = this.current.size): Promise<Uint8Array[]> {
    if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(size) || index >= size || size > this.current.size) {
      return Promise.reject(new LogError('LOG_BAD_RANGE', `no inclusion proof for index ${index} in size ${size}`));
    }
    return this.withNodes(this.store, (get) => inclusionPath(get, index, size));
  }

  consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second || second > this.current.size) {
      return Promise.reject(new LogError('LOG_BAD_RANGE', `no consistency proof from ${first} to ${second} (tree size ${this.current.size})`));
    }
    return this.withNodes(this.store, (get) => consistencyPath(get, first, second));
  }

  async rootAt(size: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.current.size) throw new LogError('LOG_BAD_RANGE', `no tree of size ${size}`);
    if (size === this.current.size) return this.current.root;
    return size === 0 ? EMPTY_ROOT : this.withNodes(this.store, (get) => treeRoot(get, size));
  }

  /**
   * Accept a witness cosignature over the current checkpoint (C2SP tlog-cosignature). The note
   * must be exactly our latest checkpoint body; the cosignature must verify with a configured key.
   */
  async addCosignature(noteText: string): Promise<{ size: number; witness: string }> {
    const note = parseNote(noteText);
    const cp = parseCheckpoint(note.body);
    if (cp.origin !== this.origin) throw new LogError('LOG_BAD_COSIGNATURE', 'the checkpoint is for another origin');
    if (cp.size > this.current.size || Buffer.compare(Buffer.from(cp.root), Buffer.from(await this.rootAt(cp.size))) !== 0) {
      throw new LogError('LOG_BAD_COSIGNATURE', 'the checkpoint does not match this log');
    }
    let accepted: { w: WitnessKey; s: NoteSignature } | undefined;
    for (const s of note.signatures) {
      const w = this.witnesses.find((x) => x.name === s.name);
      if (w && verifyCosignature(note.body, s, w) !== undefined) accepted = { w, s };
    }
    if (!accepted) throw new LogError('LOG_BAD_COSIGNATURE', 'no valid cosignature from a configured witness', { status: 403 });
    const line = `\u2014 ${accepted.s.name} ${Buffer.concat([accepted.s.keyId, accepted.s.signature]).toString('base64')}\n`;
    // Cosignatures are stored with the checkpoint of that size; only the latest is served inline.
    if (cp.size === this.current.size) {
      await this.store.addCosignature(cp.size, line);
      // The store may have waited on the sequencing lock while a batch committed: a line for the
      // previous size must not be served beside the newer checkpoint (it would not verify).
      if (cp.size === this.current.size) this.cosignatures = mergeCosignature(this.cosignatures, line);
    }
    return { size: cp.size, witness: accepted.w.name };
  }

  /** Stop taking entries, then finish every batch already queued (nothing accepted is lost). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.publisher) clearInterval(this.publisher);
    this.unlisten();
    this.kick();
    await this.flushing;
  }
}

