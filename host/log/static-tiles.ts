/**
 * A static mirror of the log's C2SP tlog-tiles read API, written to a directory that any file
 * server or CDN can serve (ARCHITECTURE.md "Scale": tiles and entry bundles as static files).
 * Paths are exactly the API's: `checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`.
 *
 * After checkpoints are published (at most once per `intervalMs`), the writer brings the
 * directory up to the newest one:
 *  - every tile and entry bundle that became full since the last write, once (they never change);
 *  - the partial tiles at the right edge of the new tree, under their own `.p/<W>` names, so a
 *    client holding any published checkpoint finds the tiles it needs (superseded partial tiles
 *    are kept: an older checkpoint still names them);
 *  - then the checkpoint itself, last, so a reader never sees a checkpoint whose tiles are not
 *    there yet.
 * Every file is written to a temporary name and renamed into place. The size written so far is
 * kept in `.cairn-tiles-size`; after a restart the writer resumes from it (from nothing if it is
 * missing, rewriting every tile in the background). The directory is a cache of the store: it
 * can be deleted and rebuilt at any time.
 *
 * Several nodes of one log (PostgreSQL store) may all be given the same directory: only the node
 * holding the store's `static-tiles` lease writes (LogStore.lease), and the others ask again every
 * `leaseRetryMs`, so when the writer dies another takes over from the mark it left. Tiles are the
 * same bytes whoever writes them; the checkpoint is not, so it is never replaced by one of a
 * smaller tree, which keeps a reader from seeing the log roll back even while a lease changes
 * hands (a writer that lost its lease mid-write finishes that write). That compare-and-replace
 * runs under a lock directory in the mirror (`.cairn-checkpoint.lock`; mkdir(2) is atomic, NFS
 * included), because two writers reading the old checkpoint before either renames could
 * otherwise put the smaller one last. A lock left by a writer that died is broken after
 * `LOCK_STALE_MS`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TransparencyLog } from './log.js';
import { parseCheckpoint, parseNote } from './note.js';
import { TILE_HEIGHT, TILE_WIDTH, tilePath, type TileRef } from './tiles.js';

export interface StaticTilesOptions {
  /** Minimum time between two writes (default 1000 ms); the newest checkpoint is always written. */
  intervalMs?: number;
  /** How often a node without the writer's lease asks for it again (default 2000 ms). */
  leaseRetryMs?: number;
  onError?: (e: unknown) => void;
}

const MARK = '.cairn-tiles-size';
const LEASE = 'static-tiles';
const LOCK = '.cairn-checkpoint.lock';
/** A lock this old belongs to a writer that died: the section it guards takes milliseconds. */
export const LOCK_STALE_MS = 30_000;
/** How long a writer waits for the lock before giving up until its next interval. */
const LOCK_WAIT_MS = 5_000;

/** The tree size of a checkpoint file's contents, or -1 for none or one that does not parse. */
export function checkpointFileSize(text: string | undefined): number {
  if (text === undefined) return -1;
  try {
    return parseCheckpoint(parseNote(text).body).size;
  } catch {
    return -1;
  }
}

/**
 * Tiles of one level to write when the tree grows from `from` to `to` hashes at that level:
 * tiles that became full, and the partial tile at the new edge.
 */
export function tilesBetween(level: TileRef['level'], from: number, to: number): TileRef[] {
  const out: TileRef[] = [];
  for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < to; n++) {
    const width = Math.min(TILE_WIDTH, to - n * TILE_WIDTH);
    if (width === TILE_WIDTH && (n + 1) * TILE_WIDTH <= from) continue; // full before: already written
    out.push({ level, index: n, width });
  }
  return out;
}

export class StaticTiles {
  private written = -1;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRun = 0;
  private closed = false;
  private leading = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: TransparencyLog,
    private readonly dir: string,
    private readonly o: StaticTilesOptions = {},
  ) {
    this.unsubscribe = log.onPublished(() => this.notify());
  }

  /** Schedules a write of the newest checkpoint (coalesced; at most one per interval). */
  notify(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.lastRun + (this.o.intervalMs ?? 1000) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.idle = this.run();
    }, wait);
  }

  private async run(): Promise<void> {
    this.running = true;
    this.lastRun = Date.now();
    try {
      await this.writeNewest();
    } catch (e) {
      this.again = true; // retried at the next interval
      this.o.onError?.(e);
    } finally {
      this.running = false;
      if (this.again && !this.closed) {
        this.again = false;
        this.notify();
      }
    }
  }

  /** The size whose tiles are all in the directory (-1 before the first write or read). */
  size(): number {
    return this.written;
  }

  /** Whether this node was the writer at its last attempt (always, on a store without leases). */
  writing(): boolean {
    return this.leading;
  }

  private async writeNewest(): Promise<void> {
    const store = this.log.store;
    this.leading = store.lease ? await store.lease(LEASE) : true;
    if (!this.leading) {
      // Another node writes; when it stops, this one resumes from the mark that node left.
      this.written = -1;
      if (!this.retry && !this.closed) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.notify();
        }, this.o.leaseRetryMs ?? 2000);
        this.retry.unref();
      }
      return;
    }
    if (this.written < 0) {
      const mark = await readFile(join(this.dir, MARK), 'utf8').catch(() => '0');
      this.written = /^\d+$/.test(mark.trim()) ? Number(mark.trim()) : 0;
    }
    // The checkpoint and its size are read together, before any await: the tiles written are the
    // ones this checkpoint needs, even if the log publishes a newer one meanwhile.
    const size = this.log.size();
    const checkpoint = this.log.checkpoint();
    const from = Math.min(this.written, size);
    for (let level = 0; size >= TILE_WIDTH ** level; level++) {
      const per = TILE_WIDTH ** level; // leaves under one hash of tree level 8·level
      for (const t of tilesBetween(level, Math.floor(from / per), Math.floor(size / per))) {
        await this.put(tilePath(t), await this.log.nodeRange(TILE_HEIGHT * level, t.index * TILE_WIDTH, t.width));
      }
    }
    for (const t of tilesBetween('entries', from, size)) {
      const parts: Buffer[] = [];
      for (const e of await this.log.store.entries(t.index * TILE_WIDTH, t.index * TILE_WIDTH + t.width)) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(e.body.length);
        parts.push(len, Buffer.from(e.body));
      }
      await this.put(tilePath(t), Buffer.concat(parts));
    }
    // Never a smaller tree's checkpoint over a larger one's (see the header).
    await this.locked(async () => {
      if (checkpointFileSize(await readFile(join(this.dir, 'checkpoint'), 'utf8').catch(() => undefined)) <= size) {
        await this.put('checkpoint', Buffer.from(checkpoint));
        await this.put(MARK, Buffer.from(String(size)));
      }
    });
    this.written = size;
  }

  /** Runs `f` holding the mirror's checkpoint lock (see the header). */
  private async locked(f: () => Promise<void>): Promise<void> {
    const lock = join(this.dir, LOCK);
    // The lock's own mkdir is not recursive (it must fail on EEXIST), and for an empty tree no
    // tile was put before it to create the mirror directory.
    await mkdir(this.dir, { recursive: true });
    const end = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await mkdir(lock);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const st = await stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        // Moved aside before removal, so two writers breaking it at once remove it once.
        const aside = `${lock}.stale-${randomBytes(6).toString('hex')}`;
        if (await rename(lock, aside).then(() => true, () => false)) await rm(aside, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > end) throw new Error(`static tiles: ${lock} is held by another writer`);
      await new Promise((r) => setTimeout(r, 20));
    }
    try {
      await f();
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }

  private async put(rel: string, data: Uint8Array): Promise<void> {
    const path = join(this.dir, rel);
    await mkdir(dirname(path), { recursive: true });
    // A random suffix: nodes on different machines sharing the directory may have the same pid.
    const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, data);
    await rename(tmp, path);
  }

  /** Stops scheduling and finishes a write in progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    if (this.retry) clearTimeout(this.retry);
    await this.idle;
  }
}
