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
import { createHash } from 'node:crypto';
import { CairnError } from '../errors.js';
import { initCore, leafHashes } from '../core/index.js';
import { identityKeys, parseVerifier, verifierFromDer, type Verifier } from '../log/entries.js';
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

export interface MonitorOptions {
  /** The log's tiles base URL (its API base, or a static mirror). */
  base: string;
  /** Verifies the log's signature on a checkpoint; returns its origin, size and root. */
  verifyCheckpoint: (text: string) => { origin: string; size: number; root: Uint8Array };
  /** Patterns matched against SAN values (the part after `uri:` / `email:`). */
  identities: RegExp[];
  state?: MonitorState;
  /** GET a URL's bytes (default: fetch; non-200 is an error). */
  get?: (url: string) => Promise<Uint8Array>;
}

const EMPTY_ROOT = createHash('sha256').digest();

async function defaultGet(url: string): Promise<Uint8Array> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url} failed`, { cause: e });
  }
  if (r.status !== 200) throw new MonitorError('MONITOR_BAD_RESPONSE', `GET ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
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
  const take = (v: Verifier): void => {
    for (const k of identityKeys(v)) if (k.startsWith('uri:') || k.startsWith('email:')) found.add(k);
  };
  const walk = (v: unknown, key: string, parent: string): void => {
    if (typeof v === 'string') {
      try {
        if (key === 'rawBytes' && parent === 'x509Certificate') take(verifierFromDer(Buffer.from(v, 'base64'), true, key));
        else if ((key === 'content' || key === 'verifier' || key === 'publicKey') && v.length > 40) take(parseVerifier(v, key));
      } catch {
        /* not a key or certificate */
      }
    } else if (Array.isArray(v)) for (const x of v) walk(x, key, parent);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k, key);
  };
  walk(doc, '', '');
  const kind = typeof (doc as { kind?: unknown })?.kind === 'string' ? (doc as { kind: string }).kind : 'unknown';
  return { kind, identities: [...found] };
}

export async function monitorOnce(o: MonitorOptions): Promise<MonitorRound> {
  await initCore();
  const get = o.get ?? defaultGet;
  const base = o.base.replace(/\/+$/, '');
  const text = Buffer.from(await get(`${base}/checkpoint`)).toString('utf8');
  const cp = o.verifyCheckpoint(text);
  const prev = o.state;
  if (prev && prev.origin !== cp.origin) throw new MonitorError('MONITOR_ROLLBACK', `the checkpoint is for ${cp.origin}, not ${prev.origin}`);
  if (prev && cp.size < prev.size) throw new MonitorError('MONITOR_ROLLBACK', `the log's checkpoint went back from size ${prev.size} to ${cp.size}`);
  const range = prev ? CompactRange.from(prev.size, prev.range.map((h) => Buffer.from(h, 'hex'))) : CompactRange.empty();
  const matches: IdentityMatch[] = [];
  const from = range.size;
  for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < cp.size; n++) {
    const width = Math.min(TILE_WIDTH, cp.size - n * TILE_WIDTH);
    const entries = splitBundle(await get(`${base}/${tilePath({ level: 'entries', index: n, width })}`), width);
    const skip = Math.max(0, from - n * TILE_WIDTH); // already seen, in a bundle that was partial then
    const fresh = entries.slice(skip);
    const leaves = leafHashes(fresh);
    fresh.forEach((body, i) => {
      range.append(leaves.subarray(i * 32, i * 32 + 32));
      const { kind, identities } = entryIdentities(body);
      const watched = identities.filter((id) => o.identities.some((re) => re.test(id.slice(id.indexOf(':') + 1))));
      if (watched.length > 0) matches.push({ index: n * TILE_WIDTH + skip + i, identities: watched, kind });
    });
  }
  const root = range.root() ?? EMPTY_ROOT;
  if (Buffer.compare(Buffer.from(root), Buffer.from(cp.root)) !== 0) {
    throw new MonitorError('MONITOR_INCONSISTENT', `the entries served hash to another root than the log signed at size ${cp.size}${prev ? ` (after size ${prev.size})` : ''}: the history was changed or forked`);
  }
  return { state: { origin: cp.origin, size: cp.size, range: range.state().hashes, checkpoint: text }, matches, read: cp.size - from };
}
