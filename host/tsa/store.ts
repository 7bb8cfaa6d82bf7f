/**
 * Serial numbers for TSTInfo (RFC 3161 §2.4.2: "unique for each TimeStampToken issued by a given
 * TSA"). Serials are reserved from SQLite in durable blocks: the high-water mark is committed
 * (WAL, synchronous=FULL) BEFORE any serial of the block is handed out, so after a crash or
 * restart the next block starts above every serial ever used. Unused remainders of a block are
 * simply skipped — serials are unique and increasing, not dense. One fsync per block keeps the
 * per-request cost at an in-memory increment.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { TsaError } from './errors.js';

/** Where a TSA's serial numbers come from (RFC 3161 §2.4.2: unique per TSA, up to 160 bits). */
export interface SerialSource {
  nextSerial(): bigint;
  close(): void;
}

export interface SerialStoreOptions {
  /** File path, or ':memory:' for tests. */
  path: string;
  /** Serials reserved per durable write. */
  blockSize?: number;
}

export class SerialStore implements SerialSource {
  private readonly db: Database.Database;
  private readonly blockSize: bigint;
  private next = 0n;
  private limit = 0n;
  private readonly reserve: () => bigint;

  constructor(opts: SerialStoreOptions) {
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    // MUST be FULL: a reservation that is not on disk could be handed out again after power loss.
    this.db.pragma('synchronous = FULL');
    // Several processes may share one file (BEGIN IMMEDIATE serialises their reservations).
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS tsa_serial (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      high TEXT NOT NULL
    )`);
    this.blockSize = BigInt(opts.blockSize ?? 1024);
    if (this.blockSize < 1n) throw new RangeError('blockSize must be >= 1');
    const get = this.db.prepare<[], { high: string }>('SELECT high FROM tsa_serial WHERE id = 1');
    const put = this.db.prepare<[string]>('INSERT INTO tsa_serial (id, high) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET high = excluded.high');
    // Stored as decimal TEXT: serials may outgrow SQLite's 64-bit INTEGER long before 160 bits.
    this.reserve = this.db.transaction((): bigint => {
      const row = get.get();
      const start = row ? BigInt(row.high) : 1n;
      put.run(String(start + this.blockSize));
      return start;
    }).immediate as unknown as () => bigint;
  }

  /** The next unused serial number (positive, strictly increasing within this process). */
  nextSerial(): bigint {
    if (this.next >= this.limit) {
      try {
        this.next = this.reserve();
      } catch (e) {
        throw new TsaError('TSA_UNAVAILABLE', 'serial number store unavailable', { status: 503, cause: e });
      }
      this.limit = this.next + this.blockSize;
    }
    return this.next++;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Random serial numbers: 159 random bits, so the DER INTEGER is positive and at most 20 octets,
 * within the 160 bits every requester must handle (RFC 3161 §2.4.2). Nothing is stored, so any
 * number of TSA nodes sharing one key issue unique serials without coordinating: two of 2^40
 * tokens collide with probability below 2^-78. Serials no longer rise with time, which RFC 3161
 * does not ask of them (ordering comes from genTime).
 */
export class RandomSerials implements SerialSource {
  nextSerial(): bigint {
    for (;;) {
      const b = randomBytes(20);
      b[0]! &= 0x7f;
      const v = BigInt(`0x${b.toString('hex')}`);
      if (v !== 0n) return v;
    }
  }

  close(): void {}
}
