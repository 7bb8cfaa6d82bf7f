/**
 * `cairn monitor`: watch a transparency log for entries signed under your identities, the way
 * rekor-monitor does for Rekor, over the log's C2SP tlog-tiles read API only (so it works against
 * a static tiles mirror or a CDN as well as the log itself).
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
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, SubjectAlternativeName, TBSCertificate } from '@peculiar/asn1-x509';
import { CairnError } from '../errors.js';
import { initCore, leafHashes } from '../core/index.js';
import { verifyTreeHead } from '../log/ct.js';
import { certificateIdentities } from '../log/entries.js';
import { decodePemOrDer } from '../verify/pipeline.js';
import { noteKeyFor, parseCheckpoint, parseNote, verifyNoteSignature } from '../log/note.js';
import { nodesFromTiles } from '../log/tile-client.js';
import { TILE_WIDTH, tilePath } from '../log/tiles.js';
import { CompactRange } from './compact-range.js';

export type MonitorErrorCode =
  /** The log's checkpoint is smaller than one it signed before, or names another origin. */
  | 'MONITOR_ROLLBACK'
  /** The entries the log serves do not hash to its signed root: a changed, missing or forked history. */
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

/** A signed tree head, from a tiles checkpoint or an RFC 6962 STH. */
export interface LogHead {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The signed head as served, kept in the state. */
  text: string;
}

/** Where a monitor reads a log: its signed head, and the exact bytes each Merkle leaf hashes. */
export interface LogSource {
  head(): Promise<LogHead>;
  /** Leaf data for [from, to), in order, in as many chunks as the log serves. */
  read(from: number, to: number): AsyncIterable<Uint8Array[]>;
  /** The watchable identities in one leaf's data. */
  identities(leaf: Uint8Array): { kind: string; identities: string[] };
  /** The compact range of the tree of `size` leaves, read from the log (tiles logs can; RFC 6962 logs cannot). */
  frontier?(size: number): Promise<Uint8Array[]>;
}

export interface MonitorOptions {
  source: LogSource;
  /** Patterns matched against SAN values (the part after `uri:` / `email:`). */
  identities: RegExp[];
  state?: MonitorState;
  /**
   * With no state: start at the log's current tree instead of reading its whole history. The
   * compact range comes from the log's own nodes, and must hash to the signed root.
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
  let r: Response;
  const signal = AbortSignal.timeout(GET_TIMEOUT_MS);
  try {
    r = await fetch(url, { signal });
  } catch (e) {
    throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url} failed`, { cause: e });
  }
  if (r.status !== 200) throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url}: HTTP ${r.status}`);
  const declared = Number(r.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES) throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url}: ${declared} bytes is more than any tile or page`);
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > MAX_RESPONSE_BYTES) throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url}: more than ${MAX_RESPONSE_BYTES} bytes`);
      parts.push(chunk);
    }
  } catch (e) {
    if (e instanceof MonitorError) throw e;
    throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url}: the body could not be read in ${GET_TIMEOUT_MS / 1000} s`, { cause: e });
  }
  return new Uint8Array(Buffer.concat(parts));
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
  const walk = (v: unknown, key: string, parent: string): void => {
    if (typeof v === 'string') {
      if (v.length > 40 && (key === 'content' || key === 'verifier' || key === 'publicKey' || (key === 'rawBytes' && (parent === 'x509Certificate' || parent === 'publicKey')))) {
        for (const id of certificateIdentities(decodePemOrDer(v))) found.add(id);
      }
    } else if (Array.isArray(v)) for (const x of v) walk(x, key, parent);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k, key);
  };
  walk(doc, '', '');
  const kind = typeof (doc as { kind?: unknown })?.kind === 'string' ? (doc as { kind: string }).kind : 'unknown';
  return { kind, identities: [...found] };
}

/** A checkpoint verifier from one PEM log key: the note's key name is the origin, or for Rekor v1 origins ("<host> - <tree id>") the host. */
export function keyVerifier(pem: string): (text: string) => { origin: string; size: number; root: Uint8Array } {
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
export function tilesSource(o: { base: string; verifyCheckpoint: (text: string) => { origin: string; size: number; root: Uint8Array }; get?: (url: string) => Promise<Uint8Array> }): LogSource {
  const get = o.get ?? defaultGet;
  const base = o.base.replace(/\/+$/, '');
  return {
    head: async () => {
      const text = Buffer.from(await get(`${base}/checkpoint`)).toString('utf8');
      return { ...o.verifyCheckpoint(text), text };
    },
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
    try {
      return JSON.parse(Buffer.from(await get(url)).toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof MonitorError) throw e;
      throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url}: not JSON`, { cause: e });
    }
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

export async function monitorOnce(o: MonitorOptions): Promise<MonitorRound> {
  await initCore();
  const cp = await o.source.head();
  const prev = o.state;
  if (prev && prev.origin !== cp.origin) throw new MonitorError('MONITOR_ROLLBACK', `the head is for ${cp.origin}, not ${prev.origin}`);
  if (prev && cp.size < prev.size) throw new MonitorError('MONITOR_ROLLBACK', `the log's signed tree went back from size ${prev.size} to ${cp.size}`);
  let range = prev ? CompactRange.from(prev.size, prev.range.map((h) => Buffer.from(h, 'hex'))) : CompactRange.empty();
  if (!prev && o.fromHead) {
    if (!o.source.frontier) throw new MonitorError('MONITOR_BAD_RESPONSE', 'this log cannot serve its tree nodes (RFC 6962): start from its first entry');
    let nodes: Uint8Array[];
    try {
      nodes = await o.source.frontier(cp.size);
    } catch (e) {
      if (e instanceof MonitorError) throw e;
      throw new MonitorError('MONITOR_BAD_RESPONSE', `reading the tree's nodes: ${(e as Error).message}`, { cause: e });
    }
    range = CompactRange.from(cp.size, nodes);
  }
  const matches: IdentityMatch[] = [];
  const from = range.size;
  for await (const chunk of o.source.read(from, cp.size)) {
    const leaves = leafHashes(chunk);
    chunk.forEach((data, i) => {
      const index = range.size;
      range.append(leaves.subarray(i * 32, i * 32 + 32));
      const { kind, identities } = o.source.identities(data);
      const watched = identities.filter((id) => o.identities.some((re) => re.test(id.slice(id.indexOf(':') + 1))));
      if (watched.length > 0) matches.push({ index, identities: watched, kind });
    });
  }
  if (range.size !== cp.size) throw new MonitorError('MONITOR_BAD_RESPONSE', `read ${range.size - from} entries, not ${cp.size - from}`);
  const root = range.root() ?? EMPTY_ROOT;
  if (Buffer.compare(Buffer.from(root), Buffer.from(cp.root)) !== 0) {
    throw new MonitorError('MONITOR_INCONSISTENT', `the entries served hash to another root than the log signed at size ${cp.size}${prev ? ` (after size ${prev.size})` : ''}: the history was changed or forked`);
  }
  return { state: { origin: cp.origin, size: cp.size, range: range.state().hashes, checkpoint: cp.text }, matches, read: cp.size - from };
}
