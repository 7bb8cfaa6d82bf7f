/**
 * The log engine: sequence → integrate → publish (Tessera's split, STYLE.md point 6).
 *
 *  - `add` queues an entry and resolves with its index ONLY after the batch holding it is durably
 *    committed (SQLite COMMIT with synchronous=FULL). It MUST NOT resolve earlier: a client that
 *    has an index may rely on it surviving a crash.
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
 */
import { createHash, type KeyObject } from 'node:crypto';
import { initCore, leafHashes, verifyConsistency } from '../core/index.js';
import { LogError } from './errors.js';
import { formatCheckpoint, formatNote, parseCheckpoint, parseNote, signNoteBody, verifyCosignature, type NoteSignature, type WitnessKey } from './note.js';
import type { LogStore, NewEntry, StoredEntry } from './store.js';
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

interface Staged {
  accepted: { p: Pending; leaf: Uint8Array }[];
  rows: NewEntry[];
  levels: { level: number; first: number; hashes: Uint8Array[] }[];
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
    const size = log.store.size();
    const root = size === 0 ? EMPTY_ROOT : treeRoot(log.nodes, size);
    const last = log.store.latestCheckpoint();
    if (last && last.size === size) {
      log.current = { size, root, note: last.note };
      log.cosignatures = last.cosignatures;
    } else {
      // No checkpoint for the stored size yet (first start, or a new origin/key): publish one.
      log.current = { size, root, note: log.signCheckpoint(size, root) };
      log.store.saveCheckpoint(size, log.current.note);
    }
    log.publishedAt = log.now();
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
    this.flushing = this.flushing.then(() => {
      if (this.closing || this.now() - this.publishedAt < every) return;
      const { size, root } = this.current;
      const note = this.signCheckpoint(size, root);
      this.store.saveCheckpoint(size, note);
      this.current = { size, root, note };
      this.publishedAt = this.now();
      this.announce();
    }).catch(() => undefined); // a failed re-sign leaves the previous checkpoint; the next tick retries
  }

  /** Stored complete-subtree hashes, with a small cache for the hot right edge. */
  readonly nodes: NodeSource = (level, index) => {
    const k = `${level}/${index}`;
    const hit = this.cache.get(k);
    if (hit) return hit;
    const h = this.store.node(level, index);
    if (this.cache.size > 65_536) this.cache.clear();
    this.cache.set(k, h);
    return h;
  };

  size(): number {
    return this.current.size;
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
  find(leaf: Uint8Array): number | undefined {
    return this.store.indexOfLeaf(leaf);
  }

  add(entry: Pending['entry']): Promise<Added> {
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
        const staged = this.stage(batch);
        if (!staged) continue;
        // Inclusion promises are signed (on the thread pool) before the commit that makes the
        // entries visible, so every stored entry has its promise. Nothing else commits meanwhile:
        // flushes are chained.
        if (this.promiseOf) {
          const f = this.promiseOf;
          const promises = await Promise.all(staged.rows.map((r, i) => f({ body: r.body, index: staged.from + i, integratedTime: r.integratedTime })));
          staged.rows.forEach((r, i) => (r.promise = promises[i]));
        }
        this.commit(staged);
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
  }

  /** Sequence + integrate one batch (leaves, new nodes, root, consistency, checkpoint), without storing it. */
  private stage(batch: Pending[]): Staged | undefined {
    const leaves = leafHashes(batch.map((p) => p.entry.body));
    const time = Math.floor(this.now() / 1000);
    const accepted: { p: Pending; leaf: Uint8Array }[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const leaf = leaves.subarray(i * 32, i * 32 + 32);
      if (this.dedup) {
        const hex = Buffer.from(leaf).toString('hex');
        const existing = this.store.indexOfLeaf(leaf) ?? seen.get(hex);
        if (existing !== undefined) {
          p.reject(Object.assign(new LogError('LOG_DUPLICATE', 'an equivalent entry already exists in the log'), { existingIndex: existing }));
          continue;
        }
        seen.set(hex, this.current.size + accepted.length);
      }
      accepted.push({ p, leaf: new Uint8Array(leaf) });
    }
    if (accepted.length === 0) return undefined;
    const from = this.current.size;
    const size = from + accepted.length;
    const levels = newNodes(this.nodes, from, accepted.map((a) => a.leaf));
    // Root of the new tree from old stored nodes plus the batch's new ones.
    const fresh = new Map<string, Uint8Array>();
    accepted.forEach((a, i) => fresh.set(`0/${from + i}`, a.leaf));
    for (const l of levels) l.hashes.forEach((h, i) => fresh.set(`${l.level}/${l.first + i}`, h));
    const get: NodeSource = (level, index) => fresh.get(`${level}/${index}`) ?? this.nodes(level, index);
    const root = treeRoot(get, size);
    if (from > 0 && !verifyConsistency(from, size, consistencyPath(get, from, size), this.current.root, root)) {
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
    return { accepted, rows, levels, fresh, from, size, root, note };
  }

  /** Store one staged batch (one transaction, fsynced), publish its checkpoint, acknowledge its entries. */
  private commit(st: Staged): void {
    const { accepted, rows, levels, fresh, from, size, root, note } = st;
    this.store.append(rows, levels, { size, note });
    this.current = { size, root, note };
    this.publishedAt = this.now();
    this.cosignatures = [];
    // The batch's new nodes (and leaves) are what the next inclusion proofs read first.
    if (this.cache.size + fresh.size > 65_536) this.cache.clear();
    for (const [k, h] of fresh) this.cache.set(k, h);
    accepted.forEach((a, i) => a.p.resolve({ index: from + i, integratedTime: rows[i]!.integratedTime, ...(rows[i]!.promise ? { promise: rows[i]!.promise } : {}) }));
    this.announce();
  }

  entry(index: number): StoredEntry {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.current.size) throw new LogError('LOG_NOT_FOUND', `no entry at index ${index}`, { status: 404 });
    return this.store.entry(index)!;
  }

  inclusionProof(index: number, size = this.current.size): Uint8Array[] {
    if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(size) || index >= size || size > this.current.size) throw new LogError('LOG_BAD_RANGE', `no inclusion proof for index ${index} in size ${size}`);
    return inclusionPath(this.nodes, index, size);
  }

  consistencyProof(first: number, second: number): Uint8Array[] {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second || second > this.current.size) {
      throw new LogError('LOG_BAD_RANGE', `no consistency proof from ${first} to ${second} (tree size ${this.current.size})`);
    }
    return consistencyPath(this.nodes, first, second);
  }

  rootAt(size: number): Uint8Array {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.current.size) throw new LogError('LOG_BAD_RANGE', `no tree of size ${size}`);
    return size === 0 ? EMPTY_ROOT : treeRoot(this.nodes, size);
  }

  /**
   * Accept a witness cosignature over the current checkpoint (C2SP tlog-cosignature). The note
   * must be exactly our latest checkpoint body; the cosignature must verify with a configured key.
   */
  addCosignature(noteText: string): { size: number; witness: string } {
    const note = parseNote(noteText);
    const cp = parseCheckpoint(note.body);
    if (cp.origin !== this.origin) throw new LogError('LOG_BAD_COSIGNATURE', 'the checkpoint is for another origin');
    if (cp.size > this.current.size || Buffer.compare(Buffer.from(cp.root), Buffer.from(this.rootAt(cp.size))) !== 0) {
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
      this.store.addCosignature(cp.size, line);
      this.cosignatures = [...this.cosignatures.filter((l) => l.split(' ')[1] !== accepted!.s.name), line];
    }
    return { size: cp.size, witness: accepted.w.name };
  }

  /** Stop taking entries, then finish every batch already queued (nothing accepted is lost). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.publisher) clearInterval(this.publisher);
    this.kick();
    await this.flushing;
  }
}

