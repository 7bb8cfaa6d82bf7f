/**
 * A transparency-log witness (C2SP tlog-witness, add-checkpoint): it keeps, per log origin, the
 * latest checkpoint it cosigned, and cosigns a new one only if it is signed by a key it trusts for
 * that origin and a consistency proof shows the log only grew since. Logs collect these
 * cosignatures (host/log/witness-client.ts) so anyone holding the witness keys can tell that the
 * log showed everyone the same tree (the seed: "witness cosignatures prove the log never forked").
 *
 * Pure core plus a SQLite store (one row per origin). The check of the old size against the
 * stored one and the update are one synchronous transaction, so two requests can never roll the
 * recorded size back (the race the spec warns about).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import Database from 'better-sqlite3';
import { verifyConsistency } from '../core/index.js';
import { cosign, decodeNoteBytes, noteKeyFor, parseCheckpoint, parseNote, parseNoteVkey, verifyNoteSignature, type NoteKey } from '../log/note.js';

/** RFC 6962 §2.1: the root of the empty tree is SHA-256 of the empty string. */
const EMPTY_ROOT = createHash('sha256').digest();
const MAX_PROOF_LINES = 63;

export interface WitnessResponse {
  status: number;
  body: string;
  contentType: string;
}

const text = (status: number, body: string): WitnessResponse => ({ status, body: body.endsWith('\n') ? body : `${body}\n`, contentType: 'text/plain; charset=utf-8' });

/** Stable codes of the refusals (STYLE.md point 3); the spec fixes only their HTTP statuses. */
export type WitnessErrorCode = 'WITNESS_MALFORMED' | 'WITNESS_UNKNOWN_LOG' | 'WITNESS_BAD_SIGNATURE' | 'WITNESS_INCONSISTENT';
const STATUS: Record<WitnessErrorCode, number> = { WITNESS_MALFORMED: 400, WITNESS_UNKNOWN_LOG: 404, WITNESS_BAD_SIGNATURE: 403, WITNESS_INCONSISTENT: 422 };

/**
 * A refusal in the JSON form every Cairn service answers with ({code, error, message}). C2SP
 * tlog-witness fixes the statuses (400 malformed, 403 bad signature, 404 unknown log, 409 with
 * the size as text/x.tlog.size, 422 inconsistent) and leaves the other bodies free; clients act
 * on the status.
 */
const refuse = (code: WitnessErrorCode, message: string): WitnessResponse => ({ status: STATUS[code], body: JSON.stringify({ code: STATUS[code], error: code, message }), contentType: 'application/json; charset=utf-8' });

export class WitnessStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL'); // the spec: persist before answering
    this.db.exec('CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, checkpoint TEXT NOT NULL, updated_at INTEGER NOT NULL)');
  }

  latest(origin: string): { size: number; root: Uint8Array; checkpoint: string } | undefined {
    const r = this.db.prepare('SELECT size, root, checkpoint FROM logs WHERE origin = ?').get(origin) as { size: number; root: Buffer; checkpoint: string } | undefined;
    return r && { size: r.size, root: new Uint8Array(r.root), checkpoint: r.checkpoint };
  }

  /** Runs `f` in one transaction: the read of the latest state and the write it decides on. */
  atomically<T>(f: () => T): T {
    return this.db.transaction(f).immediate();
  }

  record(origin: string, size: number, root: Uint8Array, checkpoint: string): void {
    this.db.prepare('INSERT INTO logs (origin, size, root, checkpoint, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, checkpoint = excluded.checkpoint, updated_at = excluded.updated_at')
      .run(origin, size, Buffer.from(root), checkpoint, Date.now());
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export interface WitnessedLog {
  origin: string;
  /** The log's checkpoint keys (signed-note verifier keys). */
  keys: NoteKey[];
}

/**
 * A log's key from config: a C2SP vkey (`<name>+<hex id>+<base64(type ‖ key)>`, Ed25519 0x01 or
 * ECDSA 0x02; host/log/note.ts parseNoteVkey), or a PEM
 * public key (Ed25519 or ECDSA P-256) with the key name (default: the origin).
 */
export function logKeyFrom(v: { vkey?: string; publicKey?: string; keyName?: string }, origin: string): NoteKey {
  if (v.vkey !== undefined) return parseNoteVkey(v.vkey);
  if (v.publicKey !== undefined) return noteKeyFor(v.keyName ?? origin, createPublicKey(v.publicKey));
  throw new Error('a witnessed log needs vkey or publicKey');
}

export class Witness {
  private readonly logs: Map<string, NoteKey[]>;

  constructor(
    readonly name: string,
    private readonly key: KeyObject,
    logs: WitnessedLog[],
    private readonly store: WitnessStore,
    private readonly now: () => number = Date.now,
  ) {
    this.logs = new Map(logs.map((l) => [l.origin, l.keys]));
  }

  /** POST <prefix>/add-checkpoint, per C2SP tlog-witness: the status, body and content type to answer with. */
  addCheckpoint(body: string | Uint8Array): WitnessResponse {
    // C2SP signed-note: notes MUST be valid UTF-8. Decoded strictly here, where the bytes are.
    const request = typeof body === 'string' ? body : decodeNoteBytes(body);
    if (request === undefined) return refuse('WITNESS_MALFORMED', 'the request is not valid UTF-8');
    // old <size>\n, up to 63 proof lines, an empty line, then the checkpoint note.
    const blank = request.indexOf('\n\n');
    if (blank < 0) return refuse('WITNESS_MALFORMED', 'the request needs an old size line, proof lines, an empty line and a checkpoint');
    const head = request.slice(0, blank).split('\n');
    const noteText = request.slice(blank + 2);
    const oldM = /^old (0|[1-9][0-9]{0,19})$/.exec(head[0] ?? '');
    if (!oldM) return refuse('WITNESS_MALFORMED', 'the first line must be "old <size>"');
    const oldSize = Number(oldM[1]);
    if (!Number.isSafeInteger(oldSize)) return refuse('WITNESS_MALFORMED', 'old size too large');
    const proofLines = head.slice(1);
    if (proofLines.length > MAX_PROOF_LINES) return refuse('WITNESS_MALFORMED', `at most ${MAX_PROOF_LINES} consistency proof lines`);
    const proof: Uint8Array[] = [];
    for (const l of proofLines) {
      if (!/^[A-Za-z0-9+/]{43}=$/.test(l)) return refuse('WITNESS_MALFORMED', 'each proof line must be one base64 SHA-256 hash');
      proof.push(new Uint8Array(Buffer.from(l, 'base64')));
    }
    let note;
    let cp;
    try {
      note = parseNote(noteText);
      cp = parseCheckpoint(note.body);
    } catch (e) {
      return refuse('WITNESS_MALFORMED', `not a signed checkpoint: ${(e as Error).message}`);
    }
    const keys = this.logs.get(cp.origin);
    if (!keys) return refuse('WITNESS_UNKNOWN_LOG', `unknown log origin ${cp.origin.slice(0, 200)}`);
    // Signatures from unknown keys are ignored; one by a trusted key must be present, and one
    // that names a trusted key but does not verify makes the note malformed (signed-note).
    const named = note.signatures.filter((s) => keys.some((k) => k.name === s.name && Buffer.compare(Buffer.from(k.keyId), Buffer.from(s.keyId)) === 0));
    if (named.length === 0) return refuse('WITNESS_BAD_SIGNATURE', 'no signature by a key trusted for this origin');
    for (const s of named) {
      const k = keys.find((x) => x.name === s.name && Buffer.compare(Buffer.from(x.keyId), Buffer.from(s.keyId)) === 0)!;
      if (!verifyNoteSignature({ body: note.body, signatures: [s] }, k)) return refuse('WITNESS_BAD_SIGNATURE', `the signature by ${s.name} does not verify`);
    }
    if (oldSize > cp.size) return refuse('WITNESS_MALFORMED', 'old size is larger than the checkpoint size');
    if (cp.size === 0 && Buffer.compare(Buffer.from(cp.root), EMPTY_ROOT) !== 0) return refuse('WITNESS_INCONSISTENT', 'a checkpoint of size 0 must have the empty tree root');
    return this.store.atomically(() => {
      const latest = this.store.latest(cp.origin);
      const stored = latest?.size ?? 0;
      if (oldSize !== stored) return { status: 409, body: `${stored}\n`, contentType: 'text/x.tlog.size' };
      if (oldSize === 0) {
        if (proof.length > 0) return refuse('WITNESS_INCONSISTENT', 'no consistency proof from the empty tree');
      } else if (oldSize === cp.size) {
        // A fork is reported as one first; then, RFC 9162 §2.1.4: the consistency proof between
        // two trees of one size is empty, and proof lines here prove nothing (422 in tlog-witness).
        if (Buffer.compare(Buffer.from(cp.root), Buffer.from(latest!.root)) !== 0) return refuse('WITNESS_INCONSISTENT', 'same size, different root: the log forked');
        if (proof.length > 0) return refuse('WITNESS_INCONSISTENT', 'the consistency proof between equal sizes is empty');
      } else if (!verifyConsistency(oldSize, cp.size, proof, latest!.root, cp.root)) {
        return refuse('WITNESS_INCONSISTENT', `the checkpoint is not consistent with the one of size ${oldSize} cosigned before`);
      }
      this.store.record(cp.origin, cp.size, cp.root, note.body);
      const s = cosign(note.body, this.name, this.key, BigInt(Math.floor(this.now() / 1000)));
      return text(200, `\u2014 ${s.name} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}`);
    });
  }
}

export { EMPTY_ROOT };
