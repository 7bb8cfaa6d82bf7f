/**
 * `cairn monitor`: watch a transparency log for entries signed under your identities, the way
 * rekor-monitor does for Rekor. It reads the log's C2SP tlog-tiles API (so it works against a
 * static tiles mirror or a CDN as well as the log itself), an RFC 6962 CT log, or a Rekor v1 log,
 * which it follows across shards.
 *
 * Each round:
 *  1. Read `checkpoint` and verify the log's signature on it.
 *  2. Refuse a checkpoint smaller than the last one seen (MONITOR_ROLLBACK).
 *  3. Read the entry bundles from the last size seen to the new one, and append every entry's leaf
 *     hash to a compact range (compact-range.ts) that summarises the whole tree seen so far.
 *  4. The range's root must equal the checkpoint's (MONITOR_INCONSISTENT otherwise). So every
 *     entry the monitor read is in the signed tree, the new tree extends the one seen before (a
 *     full audit, stronger than a consistency proof: no proof is trusted, every leaf is hashed),
 *     and no entry was skipped or changed.
 *  5. Report every entry whose certificate names a watched identity: a URI SAN (a SPIFFE ID) or an
 *     email SAN matching one of the patterns. An entry you did not make is a certificate someone
 *     else obtained for your identity.
 *
 * The state between rounds is small: the origin, the size, the compact range, the checkpoint.
 *
 * A Rekor v1 log is sharded (sigstore/rekor pkg/sharding): now and then it freezes its tree and
 * starts a new one, under a new origin ("<host> - <tree id>"), from size 0. `GET /api/v1/log`
 * then lists each frozen tree among `inactiveShards` with its final signed head. A monitor whose
 * tree has been frozen audits it to that final head, then reads the new tree from its first
 * entry; an origin change that the list does not explain is still MONITOR_ROLLBACK.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, SubjectAlternativeName, TBSCertificate } from '@peculiar/asn1-x509';
import { CairnError } from '../errors.js';
import { initCore, leafHashes } from '../core/index.js';
import { verifyTreeHead } from '../log/ct.js';
import { certificateIdentities } from '../log/entries.js';
import { decodePemOrDer } from '../verify/pipeline.js';
import { decodeNoteBytes, noteKeyFor, parseCheckpoint, parseNote, verifyNoteSignature } from '../log/note.js';
import { nodesFromTiles } from '../log/tile-client.js';
import { TILE_WIDTH, tilePath } from '../log/tiles.js';
import { CompactRange } from './compact-range.js';

export type MonitorErrorCode =
  /**
   * The log's checkpoint is smaller than one it signed before, or names another origin than a
   * Rekor v1 shard rotation explains, or a frozen shard ended short or is no longer listed.
   */
  | 'MONITOR_ROLLBACK'
  /** The entries the log serves do not hash to its signed root, or a frozen shard has another final head, or frozen shards appear or move before the tree the monitor is in: a changed, missing or forked history. */
  | 'MONITOR_INCONSISTENT'
  /** A malformed entry bundle or checkpoint, or a read that failed. */
  | 'MONITOR_BAD_RESPONSE';

export class MonitorError extends CairnError<MonitorErrorCode> {
  constructor(code: MonitorErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { status: 502, ...opts });
    this.name = 'MonitorError';
  }
}

export interface MonitorState {
  origin: string;
  size: number;
  /** Compact range of [0, size): perfect subtree roots, largest first, hex. */
  range: string[];
  checkpoint: string;
  /** Rekor v1: the frozen shards before the tree this monitor is in, at their final signed heads, oldest first. */
  finished?: FinishedShard[];
}

/** A frozen Rekor v1 shard, read to its end (or skipped by --from-head): a later listing of it must show the same final head. */
export interface FinishedShard {
  origin: string;
  size: number;
  /** Its final root, hex. */
  root: string;
  /** Its final signed head as served. */
  checkpoint: string;
}

export interface IdentityMatch {
  index: number;
  /** The watched identities the entry's certificate names, as `uri:<…>` / `email:<…>`. */
  identities: string[];
  kind: string;
}

export interface MonitorRound {
  state: MonitorState;
  matches: IdentityMatch[];
  /** Entries read this round. */
  read: number;
}

/** A signed tree head, from a tiles checkpoint, an RFC 6962 STH or a Rekor v1 log info. */
export interface LogHead {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The signed head as served, kept in the state. */
  text: string;
  /**
   * The log index of this tree's first entry: Rekor v1 numbers entries on across its shards
   * (sigstore/rekor pkg/sharding VirtualLogIndex). 0 when absent.
   */
  offset?: number;
  /** Rekor v1: the log's frozen shards, oldest first, each at its final signed head. */
  inactive?: LogHead[];
}

/** Where a monitor reads a log: its signed head, and the exact bytes each Merkle leaf hashes. */
export interface LogSource {
  head(): Promise<LogHead>;
  /** Leaf data for [from, to) of the tree `tree` (the head, or one of its inactive shards), in order, in as many chunks as the log serves. */
  read(from: number, to: number, tree: LogHead): AsyncIterable<Uint8Array[]>;
  /** The watchable identities in one leaf's data. */
  identities(leaf: Uint8Array): { kind: string; identities: string[] };
  /** The compact range of the tree of `size` leaves, read from the log (tiles logs can; RFC 6962 logs cannot). */
  frontier?(size: number): Promise<Uint8Array[]>;
}

/** Verifies a signed checkpoint's text and returns what it signs. */
export type CheckpointVerifier = (text: string) => { origin: string; size: number; root: Uint8Array };

export interface MonitorOptions {
  source: LogSource;
  /** Patterns matched against SAN values (the part after `uri:` / `email:`). */
  identities: RegExp[];
  state?: MonitorState;
  /**
   * With no state: start at the log's current tree instead of reading its whole history (for a
   * sharded log, its frozen shards as well). The compact range comes from the log's own nodes,
   * and must hash to the signed root.
   */
  fromHead?: boolean;
}

const EMPTY_ROOT = createHash('sha256').digest();

/**
 * Nothing a tiles or CT API serves is larger: a full entry bundle is 256 entries of at most
 * 64 KiB, a CT get-entries page is smaller. A larger or slower answer is a bad response, not
 * something to wait on or hold in memory.
 */
const MAX_RESPONSE_BYTES = 20 * 1024 * 1024;
const GET_TIMEOUT_MS = 30_000;

async function defaultGet(url: string): Promise<Uint8Array> {
  return await request(url);
}

/** POST a JSON body (Rekor v1's entries/retrieve), with the same limits as a GET. */
async function defaultPost(url: string, body: unknown): Promise<Uint8Array> {
  return await request(url, body);
}

async function request(url: string, body?: unknown): Promise<Uint8Array> {
  let r: Response;
  const signal = AbortSignal.timeout(GET_TIMEOUT_MS);
  const method = body === undefined ? 'GET' : 'POST';
  try {
    r = await fetch(url, body === undefined ? { signal } : { signal, method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (e) {
    throw new MonitorError('MONITOR_BAD_RESPONSE', `${method} ${url} failed`, { cause: e });
  }
  if (r.status !== 200) throw new MonitorError('MONITOR_BAD_RESPONSE', `${method} ${url}: HTTP ${r.status}`);
  const declared = Number(r.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES) throw new MonitorError('MONITOR_BAD_RESPONSE', `${method} ${url}: ${declared} bytes is more than any tile or page`);
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > MAX_RESPONSE_BYTES) throw new MonitorError('MONITOR_BAD_RESPONSE', `${method} ${url}: more than ${MAX_RESPONSE_BYTES} bytes`);
      parts.push(chunk);
    }
  } catch (e) {
    if (e instanceof MonitorError) throw e;
    throw new MonitorError('MONITOR_BAD_RESPONSE', `${method} ${url}: the body could not be read in ${GET_TIMEOUT_MS / 1000} s`, { cause: e });
  }
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A response as text, decoded strictly (decodeNoteBytes): C2SP signed-note, a note is UTF-8, and
 * bad bytes must be refused, not replaced by U+FFFD (Buffer#toString), or the text verified is not
 * the bytes the log signed and served. JSON between systems is UTF-8 too (RFC 8259 §8.1), so API
 * answers are decoded the same way.
 */
function strictUtf8(b: Uint8Array, what: string): string {
  const text = decodeNoteBytes(b);
  if (text === undefined) throw new MonitorError('MONITOR_BAD_RESPONSE', `${what} is not valid UTF-8`);
  return text;
}

/** A JSON answer, strictly decoded. */
async function getJson(get: () => Promise<Uint8Array>, what: string): Promise<unknown> {
  const text = strictUtf8(await get(), what);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new MonitorError('MONITOR_BAD_RESPONSE', `${what}: not JSON`, { cause: e });
  }
}

/** A checkpoint, verified: any failure to parse or verify it is the log's bad response, with the monitor's code. */
function verified(text: string, verify: CheckpointVerifier, what: string): LogHead {
  let v: { origin: string; size: number; root: Uint8Array };
  try {
    v = verify(text);
  } catch (e) {
    if (e instanceof MonitorError) throw e;
    throw new MonitorError('MONITOR_BAD_RESPONSE', `${what}: ${(e as Error).message}`, { cause: e });
  }
  return { origin: v.origin, size: v.size, root: v.root, text };
}

/** Splits an entry bundle (C2SP tlog-tiles: each entry a big-endian uint16 length, then its bytes). */
export function splitBundle(b: Uint8Array, expected: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < b.length; ) {
    if (at + 2 > b.length) throw new MonitorError('MONITOR_BAD_RESPONSE', 'entry bundle ends inside a length');
    const n = (b[at]! << 8) | b[at + 1]!;
    if (at + 2 + n > b.length) throw new MonitorError('MONITOR_BAD_RESPONSE', 'entry bundle ends inside an entry');
    out.push(b.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  if (out.length !== expected) throw new MonitorError('MONITOR_BAD_RESPONSE', `entry bundle holds ${out.length} entries, not ${expected}`);
  return out;
}

/**
 * The identities (uri:/email: SANs) of every certificate an entry body carries, whatever its kind:
 * v1 bodies hold base64 PEM under publicKey.content / verifier / publicKey, v2 bodies base64 DER
 * under x509Certificate.rawBytes. Keys without certificates name no identity.
 */
export function entryIdentities(body: Uint8Array): { kind: string; identities: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return { kind: 'unknown', identities: [] };
  }
  const found = new Set<string>();
  // Every certificate the verifier would accept from this body (host/verify/pipeline.ts
  // decodePemOrDer: PEM under any label, or DER, in any key field), or a malicious log could
  // hide an identity from the monitor in an encoding the verifier still takes.
  // An explicit stack, not recursion: the body is the log's, and a 64 KB entry can nest 30,000
  // levels deep, which overflowed the call stack (a RangeError that stopped every round there).
  const stack: [v: unknown, key: string, parent: string][] = [[doc, '', '']];
  while (stack.length > 0) {
    const [v, key, parent] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > 40 && (key === 'content' || key === 'verifier' || key === 'publicKey' || (key === 'rawBytes' && (parent === 'x509Certificate' || parent === 'publicKey')))) {
        for (const id of certificateIdentities(decodePemOrDer(v))) found.add(id);
      }
    } else if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], key, parent]); // reversed: document order
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v).reverse()) stack.push([x, k, key]);
  }
  const kind = typeof (doc as { kind?: unknown })?.kind === 'string' ? (doc as { kind: string }).kind : 'unknown';
  return { kind, identities: [...found] };
}

/** A checkpoint verifier from one PEM log key: the note's key name is the origin, or for Rekor v1 origins ("<host> - <tree id>") the host. */
export function keyVerifier(pem: string): CheckpointVerifier {
  const key = createPublicKey(pem);
  return (text) => {
    const note = parseNote(text);
    const cp = parseCheckpoint(note.body);
    const names = [cp.origin, cp.origin.split(' - ')[0]!];
    if (!names.some((n) => verifyNoteSignature(note, noteKeyFor(n, key)))) throw new MonitorError('MONITOR_BAD_RESPONSE', 'no signature on the checkpoint verifies with the log key');
    return { origin: cp.origin, size: cp.size, root: cp.root };
  };
}

/** A log's C2SP tlog-tiles read API (the log itself, a static mirror, or a CDN): checkpoint and entry bundles. */
export function tilesSource(o: { base: string; verifyCheckpoint: CheckpointVerifier; get?: (url: string) => Promise<Uint8Array> }): LogSource {
  const get = o.get ?? defaultGet;
  const base = o.base.replace(/\/+$/, '');
  return {
    head: async () => verified(strictUtf8(await get(`${base}/checkpoint`), 'the checkpoint'), o.verifyCheckpoint, 'the checkpoint'),
    read: async function* (from, to) {
      for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < to; n++) {
        const width = Math.min(TILE_WIDTH, to - n * TILE_WIDTH);
        const entries = splitBundle(await get(`${base}/${tilePath({ level: 'entries', index: n, width })}`), width);
        yield entries.slice(Math.max(0, from - n * TILE_WIDTH)); // the start of a bundle that was partial last round was seen then
      }
    },
    identities: entryIdentities,
    frontier: async (size) => {
      const at = CompactRange.positions(size);
      const got = await nodesFromTiles(base, size, at, get);
      return at.map(([l, i]) => got.get(`${l}/${i}`)!);
    },
  };
}

const OID_SAN = '2.5.29.17';

/** URI and email SANs of a certificate or a TBSCertificate (DER). */
function sanIdentities(der: Uint8Array, tbsOnly: boolean): string[] {
  const tbs = tbsOnly ? AsnConvert.parse(der, TBSCertificate) : AsnConvert.parse(der, Certificate).tbsCertificate;
  const ext = tbs.extensions?.find((e) => e.extnID === OID_SAN);
  if (!ext) return [];
  const out: string[] = [];
  for (const n of AsnConvert.parse(ext.extnValue.buffer, SubjectAlternativeName)) {
    if (n.uniformResourceIdentifier) out.push(`uri:${n.uniformResourceIdentifier}`);
    if (n.rfc822Name) out.push(`email:${n.rfc822Name.toLowerCase()}`);
  }
  return out;
}

/**
 * The identities in an RFC 6962 MerkleTreeLeaf (§3.4): version, leaf_type, timestamp, entry_type,
 * then an x509_entry (uint24-length certificate) or a precert_entry (issuer key hash, then the
 * uint24-length TBSCertificate, which carries the SANs the final certificate will).
 */
export function ctLeafIdentities(leaf: Uint8Array): { kind: string; identities: string[] } {
  const b = Buffer.from(leaf.buffer, leaf.byteOffset, leaf.byteLength);
  try {
    if (b.length < 12 || b[0] !== 0 || b[1] !== 0) return { kind: 'unknown', identities: [] };
    const type = b.readUInt16BE(10);
    const at = type === 1 ? 12 + 32 : 12;
    const len = b.readUIntBE(at, 3);
    const der = b.subarray(at + 3, at + 3 + len);
    return { kind: type === 1 ? 'precert' : 'x509', identities: sanIdentities(der, type === 1) };
  } catch {
    return { kind: 'unknown', identities: [] };
  }
}

/** An RFC 6962 CT log (§4.3 get-sth, §4.6 get-entries), its STH signature checked with `key`. */
export function ctSource(o: { base: string; key: KeyObject; get?: (url: string) => Promise<Uint8Array> }): LogSource {
  const get = o.get ?? defaultGet;
  const base = o.base.replace(/\/+$/, '');
  const json = async (url: string): Promise<Record<string, unknown>> => {
    const v = await getJson(() => get(url), `GET ${url}`);
    if (!v || typeof v !== 'object') throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url}: not a JSON object`);
    return v as Record<string, unknown>;
  };
  // RFC 6962 heads have no origin line; the log is named by its key (its LogID).
  const origin = `ct:${createHash('sha256').update(o.key.export({ format: 'der', type: 'spki' })).digest('hex')}`;
  return {
    head: async () => {
      const sth = await json(`${base}/ct/v1/get-sth`);
      const size = sth.tree_size;
      const timestamp = sth.timestamp;
      const root = typeof sth.sha256_root_hash === 'string' ? Buffer.from(sth.sha256_root_hash, 'base64') : Buffer.alloc(0);
      if (!Number.isSafeInteger(size) || !Number.isSafeInteger(timestamp) || root.length !== 32 || typeof sth.tree_head_signature !== 'string') {
        throw new MonitorError('MONITOR_BAD_RESPONSE', 'get-sth: malformed tree head');
      }
      if (!verifyTreeHead(size as number, timestamp as number, root, Buffer.from(sth.tree_head_signature, 'base64'), o.key)) {
        throw new MonitorError('MONITOR_BAD_RESPONSE', 'get-sth: the tree head signature does not verify with the CT log key');
      }
      return { origin, size: size as number, root, text: JSON.stringify(sth) };
    },
    read: async function* (from, to) {
      // A log may return fewer entries than asked (§4.6): ask again from where it stopped.
      for (let at = from; at < to; ) {
        const r = await json(`${base}/ct/v1/get-entries?start=${at}&end=${Math.min(to, at + TILE_WIDTH) - 1}`);
        const got = Array.isArray(r.entries) ? (r.entries as { leaf_input?: unknown }[]) : [];
        if (got.length === 0 || got.length > to - at) throw new MonitorError('MONITOR_BAD_RESPONSE', `get-entries from ${at}: ${got.length} entries`);
        yield got.map((e) => {
          if (typeof e.leaf_input !== 'string') throw new MonitorError('MONITOR_BAD_RESPONSE', 'get-entries: an entry has no leaf_input');
          return Buffer.from(e.leaf_input, 'base64');
        });
        at += got.length;
      }
    },
    identities: ctLeafIdentities,
  };
}

/** Rekor's limit on the log indices one entries/retrieve may ask for (sigstore/rekor pkg/api/entries.go maxSearchQueries; openapi.yaml SearchLogQuery maxItems). */
const REKOR_RETRIEVE_MAX = 10;

/**
 * A Rekor v1 log (sigstore/rekor openapi.yaml). `GET /api/v1/log` (LogInfo) signs the active
 * tree's head, and lists the frozen trees of a sharded log as `inactiveShards`
 * (InactiveShardLogInfo), oldest first, each with its final signed head; every head is checked
 * with `verifyCheckpoint` (a shard may have its own key: a trusted root lists it as another tlog
 * at the same URL). Entries are read by log index with `POST /api/v1/log/entries/retrieve`; log
 * indices run on across shards, each shard's after all those of the shards before it
 * (pkg/sharding ResolveVirtualIndex), and an entry's body is the exact leaf its tree hashes.
 */
export function rekorV1Source(o: {
  base: string;
  verifyCheckpoint: CheckpointVerifier;
  get?: (url: string) => Promise<Uint8Array>;
  post?: (url: string, body: unknown) => Promise<Uint8Array>;
}): LogSource {
  const get = o.get ?? defaultGet;
  const post = o.post ?? defaultPost;
  const base = o.base.replace(/\/+$/, '');
  const bad = (m: string): never => {
    throw new MonitorError('MONITOR_BAD_RESPONSE', m);
  };
  const signedHead = (v: unknown, what: string): LogHead => {
    const text = (v as { signedTreeHead?: unknown } | null)?.signedTreeHead;
    if (typeof text !== 'string') return bad(`${what} has no signedTreeHead`);
    return verified(text, o.verifyCheckpoint, what);
  };
  return {
    head: async () => {
      const info = await getJson(() => get(`${base}/api/v1/log`), 'GET /api/v1/log');
      const shards = (info as { inactiveShards?: unknown } | null)?.inactiveShards ?? [];
      if (!Array.isArray(shards)) return bad('GET /api/v1/log: inactiveShards is not a list');
      // Only the signed sizes place a shard's entries, never the unsigned treeSize beside them.
      let offset = 0;
      const inactive = shards.map((sh, i) => {
        const h = { ...signedHead(sh, `inactive shard ${i}`), offset };
        offset += h.size;
        return h;
      });
      if (!Number.isSafeInteger(offset)) return bad('GET /api/v1/log: the inactive shards hold more entries than a log index can count');
      return { ...signedHead(info, 'GET /api/v1/log'), offset, ...(inactive.length > 0 ? { inactive } : {}) };
    },
    read: async function* (from, to, tree) {
      const offset = tree.offset ?? 0;
      for (let at = from; at < to; at += REKOR_RETRIEVE_MAX) {
        const want = Array.from({ length: Math.min(REKOR_RETRIEVE_MAX, to - at) }, (_, i) => offset + at + i);
        const what = `entries/retrieve from log index ${want[0]}`;
        const got = await getJson(() => post(`${base}/api/v1/log/entries/retrieve`, { logIndexes: want }), what);
        // Rekor leaves out an index it cannot find: any other count is a bad answer, not a shorter page.
        if (!Array.isArray(got) || got.length !== want.length) return bad(`${what}: ${Array.isArray(got) ? got.length : 'no'} entries, not ${want.length}`);
        yield got.map((e: unknown, i) => {
          const one = e && typeof e === 'object' ? Object.values(e) : [];
          const entry = one[0] as { body?: unknown; logIndex?: unknown } | undefined;
          if (one.length !== 1 || !entry || typeof entry !== 'object') return bad(`${what}: entry ${i} is not one {uuid: entry}`);
          if (entry.logIndex !== want[i]) return bad(`${what}: asked for log index ${want[i]}, the log answered ${String(entry.logIndex)}`);
          const body = typeof entry.body === 'string' ? Buffer.from(entry.body, 'base64') : undefined;
          if (!body || body.toString('base64') !== entry.body) return bad(`${what}: entry ${want[i]} has no base64 body`);
          return body;
        });
      }
    },
    identities: entryIdentities,
  };
}

/** Reads [range.size, tree.size) of one tree into `range`, collecting matches, and checks the range's root against the tree's signed root. */
async function audit(o: MonitorOptions, tree: LogHead, range: CompactRange, matches: IdentityMatch[], after?: number): Promise<number> {
  const from = range.size;
  const offset = tree.offset ?? 0;
  for await (const chunk of o.source.read(from, tree.size, tree)) {
    const leaves = leafHashes(chunk);
    chunk.forEach((data, i) => {
      const index = offset + range.size;
      range.append(leaves.subarray(i * 32, i * 32 + 32));
      const { kind, identities } = o.source.identities(data);
      const watched = identities.filter((id) => o.identities.some((re) => re.test(id.slice(id.indexOf(':') + 1))));
      if (watched.length > 0) matches.push({ index, identities: watched, kind });
    });
  }
  if (range.size !== tree.size) throw new MonitorError('MONITOR_BAD_RESPONSE', `read ${range.size - from} entries, not ${tree.size - from}`);
  const root = range.root() ?? EMPTY_ROOT;
  if (Buffer.compare(Buffer.from(root), Buffer.from(tree.root)) !== 0) {
    throw new MonitorError('MONITOR_INCONSISTENT', `the entries served hash to another root than ${tree.origin} signed at size ${tree.size}${after !== undefined ? ` (after size ${after})` : ''}: the history was changed or forked`);
  }
  return tree.size - from;
}

export async function monitorOnce(o: MonitorOptions): Promise<MonitorRound> {
  await initCore();
  const cp = await o.source.head();
  const prev = o.state;
  // Every tree of the log, oldest first: a Rekor v1 log's frozen shards, then the active tree.
  const trees = [...(cp.inactive ?? []), cp];
  if (new Set(trees.map((t) => t.origin)).size !== trees.length) throw new MonitorError('MONITOR_BAD_RESPONSE', 'the log lists one origin as two of its shards');
  // The tree the last round ended in. With no state: the first (the whole history), or the
  // active tree with --from-head. Any tree after it was frozen or started since, and is read whole.
  const start = prev ? trees.findIndex((t) => t.origin === prev.origin) : o.fromHead ? trees.length - 1 : 0;
  if (start < 0) {
    throw new MonitorError('MONITOR_ROLLBACK', `the head is for ${cp.origin}, not ${prev!.origin}${cp.inactive ? `, and ${prev!.origin} is not among the log's inactive shards` : ''}`);
  }
  // A shard once frozen stays as it ended: still listed before the tree the monitor is in, at
  // the same final size and root. Another final head for it is a fork; losing it, a rollback.
  const finished = [...(prev?.finished ?? [])];
  for (const f of finished) {
    const at = trees.findIndex((t) => t.origin === f.origin);
    if (at < 0 || at >= start) throw new MonitorError('MONITOR_ROLLBACK', `the log no longer lists ${f.origin}, frozen at size ${f.size}, among its inactive shards before ${trees[start]!.origin}`);
    const t = trees[at]!;
    if (t.size !== f.size || Buffer.from(t.root).toString('hex') !== f.root) {
      throw new MonitorError(t.size < f.size ? 'MONITOR_ROLLBACK' : 'MONITOR_INCONSISTENT', `the frozen shard ${f.origin} ended at size ${f.size}; the log now signs it at size ${t.size}${t.size === f.size ? ' with another root' : ''}`);
    }
  }
  // And the trees before that one are exactly those shards, in their order. Rekor only ever adds
  // a frozen shard after the others (pkg/sharding: log indices run through the shards in order),
  // so one listed earlier was never read here (its entries would go unseen: the monitor resumes
  // after it), and another order renumbers every log index after it.
  if (prev) {
    const before = trees.slice(0, start);
    if (before.some((t, i) => t.origin !== finished[i]?.origin)) {
      const names = (l: { origin: string }[]): string => l.map((t) => t.origin).join(', ') || 'none';
      throw new MonitorError('MONITOR_INCONSISTENT', `the log lists the frozen shards ${names(before)} before ${trees[start]!.origin}, but this monitor read ${names(finished)}: a shard it never read, or the shards (and their log indices) in another order`);
    }
  }
  const pin = (t: LogHead): FinishedShard => ({ origin: t.origin, size: t.size, root: Buffer.from(t.root).toString('hex'), checkpoint: t.text });
  // --from-head skips the frozen shards, but they are pinned at their final heads all the same.
  if (!prev) finished.push(...trees.slice(0, start).map(pin));
  const matches: IdentityMatch[] = [];
  let read = 0;
  let range = CompactRange.empty();
  for (let i = start; i < trees.length; i++) {
    const tree = trees[i]!;
    range = CompactRange.empty();
    let after: number | undefined;
    if (i === start && prev) {
      if (tree.size < prev.size) throw new MonitorError('MONITOR_ROLLBACK', `the log's signed tree${tree === cp ? '' : ` ${tree.origin}`} went back from size ${prev.size} to ${tree.size}`);
      range = CompactRange.from(prev.size, prev.range.map((h) => Buffer.from(h, 'hex')));
      after = prev.size;
    } else if (i === start && o.fromHead) {
      if (!o.source.frontier) throw new MonitorError('MONITOR_BAD_RESPONSE', 'this log cannot serve its tree nodes (RFC 6962, Rekor v1): start from its first entry');
      let nodes: Uint8Array[];
      try {
        nodes = await o.source.frontier(tree.size);
      } catch (e) {
        if (e instanceof MonitorError) throw e;
        throw new MonitorError('MONITOR_BAD_RESPONSE', `reading the tree's nodes: ${(e as Error).message}`, { cause: e });
      }
      range = CompactRange.from(tree.size, nodes);
    }
    read += await audit(o, tree, range, matches, after);
    if (tree !== cp) finished.push(pin(tree));
  }
  const state: MonitorState = { origin: cp.origin, size: cp.size, range: range.state().hashes, checkpoint: cp.text, ...(finished.length > 0 ? { finished } : {}) };
  return { state, matches, read };
}
