/**
 * HTTP surface of the log (fastify): Rekor v1, Rekor v2 (POST /api/v2/log/entries), the C2SP
 * tlog-tiles read API, witness cosignature submission, and the RFC 6962 CT personality under
 * /ct/v1. `build(opts)` returns an app; only the CLI calls `listen`.
 */
import { createHash, createPublicKey, sign as cryptoSign, type KeyObject, type X509Certificate } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { Gauge } from 'prom-client';
import { installErrorHandler, frameworkErrors } from '../http/errors.js';
import { REQUEST_LOGGING } from '../http/logging.js';
import { SERVER_TIMEOUTS } from '../http/timeouts.js';
import { registerOps } from '../http/ops.js';
import { BoundedCache } from '../bounded-cache.js';
import { merkleTreeLeaf, packExtra, parseChain, signSct, signTreeHead, unpackExtra } from './ct.js';
import { inlineAdmission, type Admission } from './admission.js';
import { prepareEntryAsync, parseVerifier, type PreparedEntry } from './entries.js';
import { prepareEntryV2, transparencyLogEntryV2 } from './entries-v2.js';
import { LogError } from './errors.js';
import { spkiOf } from './keys.js';
import { decodeNoteBytes } from './note.js';
import type { TransparencyLog } from './log.js';
import type { StoredEntry } from './store.js';
import { setPayload } from './set.js';
import { parseTilePath, TILE_WIDTH } from './tiles.js';

export interface LogPluginOptions {
  rekor: TransparencyLog;
  rekorKey: KeyObject;
  /** 16 hex digits: prefix of Rekor entry UUIDs (Rekor's tree ID). */
  treeId: string;
  ct?: { log: TransparencyLog; key: KeyObject; roots: X509Certificate[] };
  /** fastify/pino logger options (host/http/logging.ts); default: no logging. */
  logger?: import('../http/logging.js').ServiceLogger;
  /** Request body limit in bytes (413 above it). */
  bodyLimit?: number;
  /** Where entry signatures are checked (host/log/admission.ts); default: on the event loop. */
  admission?: Admission;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function intParam(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(v) || Number(v) > max) throw new LogError('LOG_BAD_RANGE', `${what} must be a non-negative integer`);
  return Number(v);
}

export const logRoutes = async (app: FastifyInstance, opts: LogPluginOptions): Promise<void> => {
  const log = opts.rekor;
  const admission = opts.admission ?? inlineAdmission;
  const spki = spkiOf(opts.rekorKey);
  const logIdHex = createHash('sha256').update(spki).digest('hex');
  const publicKeyPem = createPublicKey(opts.rekorKey).export({ format: 'pem', type: 'spki' }) as string;
  const isEd = opts.rekorKey.asymmetricKeyType === 'ed25519';
  // Every entry served carries its SET: the one stored when it was sequenced (host/log/set.ts),
  // or, for an entry stored without one, a fresh signature.
  const signSet = (data: Buffer): string => b64(cryptoSign(isEd ? null : 'sha256', data, opts.rekorKey));
  const uuidOf = (leaf: Uint8Array): string => opts.treeId + hex(leaf);

  /** Rekor v1 LogEntry for an index, with SET and an inclusion proof against the current checkpoint. */
  const entryResponse = async (index: number, known?: StoredEntry): Promise<Record<string, unknown>> => {
    const e = known ?? (await log.entry(index));
    const body = b64(e.body);
    // One tree for the proof, the root and the checkpoint, whatever is published meanwhile.
    const size = log.size();
    const root = log.root();
    const checkpoint = log.checkpoint();
    const hashes = (await log.inclusionProof(index, size)).map(hex);
    return {
      [uuidOf(e.leafHash)]: {
        body,
        integratedTime: e.integratedTime,
        logID: logIdHex,
        logIndex: index,
        verification: {
          // The SET: the log's signature over the RFC 8785 form of exactly these four fields (Rekor v1).
          signedEntryTimestamp: e.promise ? b64(e.promise) : signSet(setPayload(e.body, e.integratedTime, logIdHex, index)),
          inclusionProof: {
            checkpoint,
            hashes,
            logIndex: index,
            rootHash: hex(root),
            treeSize: size,
          },
        },
      },
    };
  };

  const indexOfUuid = async (id: string): Promise<number> => {
    // Hex in either case, as Rekor decodes it (hex.DecodeString).
    const uuid = typeof id === 'string' ? id.toLowerCase() : id;
    if (typeof uuid !== 'string' || !/^([0-9a-f]{16})?[0-9a-f]{64}$/.test(uuid)) throw new LogError('LOG_BAD_REQUEST', 'entry UUID must be 64 or 80 hex digits');
    if (uuid.length === 80 && uuid.slice(0, 16) !== opts.treeId) throw new LogError('LOG_NOT_FOUND', 'no entry with that UUID in this tree', { status: 404 });
    const idx = await log.find(Buffer.from(uuid.slice(-64), 'hex'));
    if (idx === undefined || idx >= log.size()) throw new LogError('LOG_NOT_FOUND', 'no entry with that UUID', { status: 404 });
    return idx;
  };

  const submit = async (prepared: PreparedEntry, reply: FastifyReply, v2: boolean): Promise<unknown> => {
    const leaf = log.leafHashOf(prepared.body);
    const existing = await log.find(leaf);
    const conflict = (idx: number): FastifyReply => {
      const uuid = uuidOf(leaf);
      reply.header('Location', `/api/v1/log/entries/${uuid}`);
      return reply.code(409).send({ code: 409, error: 'LOG_DUPLICATE', message: `an equivalent entry already exists at index ${idx}` });
    };
    if (existing !== undefined) return conflict(existing);
    let added;
    try {
      added = await log.add({ body: prepared.body, searchKeys: prepared.searchKeys });
    } catch (e) {
      const idx = (e as { existingIndex?: number }).existingIndex;
      if (e instanceof LogError && e.code === 'LOG_DUPLICATE' && idx !== undefined) return conflict(idx);
      throw e;
    }
    const uuid = uuidOf(leaf);
    reply.code(201).header('ETag', uuid).header('Location', `/api/v1/log/entries/${uuid}`);
    if (v2) return await transparencyLogEntryV2(log, added.index, prepared, spki);
    return entryResponse(added.index, { index: added.index, leafHash: leaf, body: prepared.body, integratedTime: added.integratedTime, ...(added.promise ? { promise: added.promise } : {}) });
  };

  // ---------------------------------------------------------------------------------------------
  // Rekor v1

  app.post('/api/v1/log/entries', { schema: { tags: ['rekor v1'], summary: 'add a hashedrekord 0.0.1, dsse 0.0.1 or intoto 0.0.2 entry', body: { type: 'object' } } }, async (req, reply) =>
    submit(await prepareEntryAsync(req.body, admission), reply, false),
  );

  app.get('/api/v1/log/entries', { schema: { tags: ['rekor v1'], querystring: { type: 'object', properties: { logIndex: { type: 'string' } }, required: ['logIndex'] } } }, async (req) =>
    await entryResponse(intParam((req.query as { logIndex: string }).logIndex, 'logIndex')),
  );

  app.get('/api/v1/log/entries/:uuid', { schema: { tags: ['rekor v1'], params: { type: 'object', properties: { uuid: { type: 'string' } } } } }, async (req) =>
    await entryResponse(await indexOfUuid((req.params as { uuid: string }).uuid)),
  );

  app.post('/api/v1/log/entries/retrieve', { schema: { tags: ['rekor v1'], body: { type: 'object' } } }, async (req) => {
    const b = req.body as { entryUUIDs?: unknown; logIndexes?: unknown; entries?: unknown };
    const out: Record<string, unknown>[] = [];
    const list = (v: unknown, what: string): unknown[] => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || v.length > 100) throw new LogError('LOG_BAD_REQUEST', `${what} must be a list of at most 100 items`);
      return v;
    };
    for (const u of list(b.entryUUIDs, 'entryUUIDs')) {
      try {
        out.push(await entryResponse(await indexOfUuid(u as string)));
      } catch (e) {
        if (!(e instanceof LogError && e.code === 'LOG_NOT_FOUND')) throw e;
      }
    }
    for (const i of list(b.logIndexes, 'logIndexes')) {
      if (!Number.isSafeInteger(i) || (i as number) < 0) throw new LogError('LOG_BAD_RANGE', 'logIndexes must be non-negative integers');
      if ((i as number) < log.size()) out.push(await entryResponse(i as number));
    }
    for (const e of list(b.entries, 'entries')) {
      // Checked as an append is (Rekor canonicalises, which validates), and off the event loop the
      // same way: up to 100 signature checks per request would otherwise stall every other request.
      const p = await prepareEntryAsync(e, admission);
      const idx = await log.find(log.leafHashOf(p.body));
      if (idx !== undefined && idx < log.size()) out.push(await entryResponse(idx));
    }
    return out;
  });

  app.post('/api/v1/index/retrieve', { schema: { tags: ['rekor v1'], body: { type: 'object' } } }, async (req) => {
    const b = req.body as { hash?: unknown; publicKey?: { content?: unknown }; email?: unknown; uri?: unknown; operator?: unknown };
    const sets: number[][] = [];
    if (b.hash !== undefined) {
      if (typeof b.hash !== 'string' || !/^(sha256:)?[0-9a-fA-F]{64}$|^sha(384|512):[0-9a-fA-F]{96,128}$/.test(b.hash)) throw new LogError('LOG_BAD_REQUEST', 'hash must be sha256:<hex> (or sha384:/sha512:)');
      const h = b.hash.toLowerCase();
      sets.push(await log.store.search(h.includes(':') ? h : `sha256:${h}`, 1000));
    }
    if (b.publicKey !== undefined) {
      const v = parseVerifier(b.publicKey?.content, 'publicKey.content');
      sets.push(await log.store.search(`key:${createHash('sha256').update(v.spki).digest('hex')}`, 1000));
    }
    if (b.email !== undefined) {
      if (typeof b.email !== 'string' || b.email.length > 320 || !b.email.includes('@')) throw new LogError('LOG_BAD_REQUEST', 'email must be an email address');
      sets.push(await log.store.search(`email:${b.email.toLowerCase()}`, 1000));
    }
    if (b.uri !== undefined) {
      if (typeof b.uri !== 'string' || b.uri.length > 2048) throw new LogError('LOG_BAD_REQUEST', 'uri must be a URI (e.g. a SPIFFE ID)');
      sets.push(await log.store.search(`uri:${b.uri}`, 1000));
    }
    if (sets.length === 0) throw new LogError('LOG_BAD_REQUEST', 'give at least one of hash, publicKey, email, uri');
    // Rekor's default operator is "and": entries matching every given criterion.
    const or = b.operator === 'or';
    let result = new Set(sets[0]);
    for (const s of sets.slice(1)) result = or ? new Set([...result, ...s]) : new Set(s.filter((x) => result.has(x)));
    // Only entries under the checkpoint this node serves (another node may have committed more).
    const found = [...result].filter((i) => i < log.size()).sort((x, y) => x - y);
    return Promise.all(found.map(async (i) => uuidOf((await log.entry(i)).leafHash)));
  });

  // Rekor's optional treeID (decimal) names the shard a proof or key is for; this log has one tree,
  // so another ID is a tree it does not have, not a question about this one.
  const ownTreeId = BigInt(`0x${opts.treeId}`).toString();
  const checkTreeId = (treeId: unknown): void => {
    if (treeId === undefined) return;
    if (typeof treeId !== 'string' || !/^[0-9]{1,20}$/.test(treeId)) throw new LogError('LOG_BAD_REQUEST', 'treeID must be a decimal tree ID');
    if (BigInt(treeId).toString() !== ownTreeId) throw new LogError('LOG_NOT_FOUND', `no tree ${treeId} in this log (its tree is ${ownTreeId})`, { status: 404 });
  };

  app.get('/api/v1/log', { schema: { tags: ['rekor v1'] } }, async () => ({
    rootHash: hex(log.root()),
    signedTreeHead: log.checkpoint(),
    treeSize: log.size(),
    treeID: ownTreeId,
  }));

  app.get('/api/v1/log/proof', { schema: { tags: ['rekor v1'], querystring: { type: 'object', properties: { firstSize: { type: 'string' }, lastSize: { type: 'string' }, treeID: { type: 'string' } }, required: ['lastSize'] } } }, async (req) => {
    const q = req.query as { firstSize?: string; lastSize: string; treeID?: string };
    checkTreeId(q.treeID);
    const first = q.firstSize === undefined ? 1 : intParam(q.firstSize, 'firstSize');
    const last = intParam(q.lastSize, 'lastSize');
    if (first < 1) throw new LogError('LOG_BAD_RANGE', 'firstSize must be at least 1');
    return { rootHash: hex(await log.rootAt(last)), hashes: (await log.consistencyProof(first, last)).map(hex) };
  });

  app.get('/api/v1/log/publicKey', { schema: { tags: ['rekor v1'], querystring: { type: 'object', properties: { treeID: { type: 'string' } } } } }, async (req, reply) => {
    checkTreeId((req.query as { treeID?: string }).treeID);
    return reply.type('application/x-pem-file').send(publicKeyPem);
  });

  // ---------------------------------------------------------------------------------------------
  // Rekor v2

  app.post('/api/v2/log/entries', { schema: { tags: ['rekor v2'], summary: 'add a hashedRekordRequestV002 or dsseRequestV002', body: { type: 'object' } } }, async (req, reply) =>
    submit(await prepareEntryV2(req.body, admission), reply, true),
  );

  // ---------------------------------------------------------------------------------------------
  // C2SP tlog-tiles (read API) and witness cosignatures

  // At the root as C2SP tlog-tiles names them, and under /api/v2 where Rekor v2 (rekor-tiles,
  // rekor_service.proto GetCheckpoint, GetTile, GetEntryBundle) serves the same read API.
  for (const prefix of ['', '/api/v2']) {
    app.get(`${prefix}/checkpoint`, { schema: { tags: ['tlog-tiles'] } }, async (_req, reply) => reply.type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').send(log.checkpoint()));

    app.get(`${prefix}/tile/*`, { schema: { tags: ['tlog-tiles'] } }, async (req, reply) => {
      const t = parseTilePath((req.params as { '*': string })['*']);
      const size = log.size();
      const first = t.index * TILE_WIDTH;
      if (t.level === 'entries') {
        if (first + t.width > size) throw new LogError('LOG_NOT_FOUND', 'entry bundle beyond the tree', { status: 404 });
        const parts: Buffer[] = [];
        for (const e of await log.store.entries(first, first + t.width)) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(e.body.length);
          parts.push(len, Buffer.from(e.body));
        }
        return reply.type('application/octet-stream').header('Cache-Control', t.width === TILE_WIDTH ? 'public, max-age=31536000, immutable' : 'no-store').send(Buffer.concat(parts));
      }
      // Level L holds tree level 8L; it has floor(size / 2^(8L)) complete nodes.
      const available = Math.floor(size / 2 ** (8 * t.level));
      if (first + t.width > available) throw new LogError('LOG_NOT_FOUND', 'tile beyond the tree', { status: 404 });
      const out = await log.nodeRange(8 * t.level, first, t.width);
      return reply.type('application/octet-stream').header('Cache-Control', t.width === TILE_WIDTH ? 'public, max-age=31536000, immutable' : 'no-store').send(out);
    });
  }

  app.addContentTypeParser('text/plain', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, body));
  app.post('/checkpoint/cosignature', { schema: { tags: ['witness'], summary: 'submit a checkpoint cosigned by a configured witness (C2SP tlog-cosignature)' } }, async (req) => {
    if (!Buffer.isBuffer(req.body)) throw new LogError('LOG_BAD_REQUEST', 'send the cosigned checkpoint as text/plain');
    const text = decodeNoteBytes(req.body);
    if (text === undefined) throw new LogError('LOG_BAD_REQUEST', 'the cosigned checkpoint is not valid UTF-8');
    return await log.addCosignature(text);
  });

  // ---------------------------------------------------------------------------------------------
  // RFC 6962 §4 CT personality

  const ct = opts.ct;
  if (ct) {
    const ctSpki = spkiOf(ct.key);
    const ctLogId = createHash('sha256').update(ctSpki).digest();
    // Issuer certificates already in the store (keyed by SHA-256 hex): an entry only names them
    // (ct.ts packExtra). A new one is stored, durably, before the first entry that names it.
    const stored = new BoundedCache<true>(4096);
    const issuerDer = new BoundedCache<Uint8Array>(256);
    /** Stored entries' extra_data, with the issuer certificates they name read from the cache or the store. */
    const extraData = async (entries: StoredEntry[]): Promise<Buffer[]> => {
      const got = new Map<string, Uint8Array>();
      const wanted = new Set<string>();
      // A first pass names the issuers (unpackExtra's reads do not depend on what it is given).
      for (const e of entries) {
        unpackExtra(e.extra ?? new Uint8Array(), (key) => {
          const k = hex(key);
          const der = issuerDer.get(k);
          if (der) got.set(k, der);
          else wanted.add(k);
          return der ?? new Uint8Array();
        });
      }
      for (const k of wanted) {
        const der = await ct.log.store.blob(Buffer.from(k, 'hex'));
        if (der) got.set(k, issuerDer.set(k, der));
      }
      return entries.map((e) => unpackExtra(e.extra ?? new Uint8Array(), (key) => got.get(hex(key))));
    };
    const add = async (body: unknown, precert: boolean): Promise<unknown> => {
      const parsed = await parseChain(body, precert, ct.roots);
      const timestamp = Date.now();
      const leaf = merkleTreeLeaf(parsed, timestamp);
      const { packed, blobs } = packExtra(parsed);
      const fresh = blobs.filter((b) => !stored.has(b.key.toString('hex')));
      if (fresh.length > 0) {
        await ct.log.store.putBlobs(fresh);
        for (const b of fresh) stored.set(b.key.toString('hex'), true);
      }
      await ct.log.add({ body: leaf, searchKeys: [], extra: packed, integratedTime: Math.floor(timestamp / 1000) });
      // The SCT is returned only after the leaf is durably sequenced (its MMD is zero).
      return signSct(parsed, timestamp, ctLogId, ct.key);
    };
    app.decorate('cairnCtAdd', add as (body: unknown, precert: boolean) => Promise<unknown>);
    app.post('/ct/v1/add-chain', { schema: { tags: ['ct'], body: { type: 'object' } } }, async (req) => add(req.body, false));
    app.post('/ct/v1/add-pre-chain', { schema: { tags: ['ct'], body: { type: 'object' } } }, async (req) => add(req.body, true));
    app.get('/ct/v1/get-sth', { schema: { tags: ['ct'] } }, async () => {
      const timestamp = Date.now();
      const size = ct.log.size();
      const root = ct.log.root();
      return { tree_size: size, timestamp, sha256_root_hash: b64(root), tree_head_signature: await signTreeHead(size, timestamp, root, ct.key) };
    });
    app.get('/ct/v1/get-sth-consistency', { schema: { tags: ['ct'] } }, async (req) => {
      const q = req.query as { first?: string; second?: string };
      return { consistency: (await ct.log.consistencyProof(intParam(q.first, 'first'), intParam(q.second, 'second'))).map(b64) };
    });
    app.get('/ct/v1/get-proof-by-hash', { schema: { tags: ['ct'] } }, async (req) => {
      const q = req.query as { hash?: string; tree_size?: string };
      if (typeof q.hash !== 'string' || Buffer.from(q.hash, 'base64').length !== 32) throw new LogError('LOG_BAD_REQUEST', 'hash must be a base64 SHA-256 leaf hash');
      const size = intParam(q.tree_size, 'tree_size');
      const idx = await ct.log.find(Buffer.from(q.hash, 'base64'));
      if (idx === undefined || idx >= size) throw new LogError('LOG_NOT_FOUND', 'no leaf with that hash in a tree of that size', { status: 404 });
      return { leaf_index: idx, audit_path: (await ct.log.inclusionProof(idx, size)).map(b64) };
    });
    app.get('/ct/v1/get-entries', { schema: { tags: ['ct'] } }, async (req) => {
      const q = req.query as { start?: string; end?: string };
      const start = intParam(q.start, 'start');
      const end = Math.min(intParam(q.end, 'end'), start + 255, ct.log.size() - 1);
      if (start > end) throw new LogError('LOG_BAD_RANGE', 'start must be ≤ end and inside the tree');
      const entries = await ct.log.store.entries(start, end + 1);
      const extra = await extraData(entries);
      return { entries: entries.map((e, i) => ({ leaf_input: b64(e.body), extra_data: b64(extra[i]!) })) };
    });
    // RFC 6962 §4.8: one entry and its audit path to the tree of tree_size, which must be a tree
    // the log has (at most its current size) and hold the leaf.
    app.get('/ct/v1/get-entry-and-proof', { schema: { tags: ['ct'] } }, async (req) => {
      const q = req.query as { leaf_index?: string; tree_size?: string };
      const index = intParam(q.leaf_index, 'leaf_index');
      const size = intParam(q.tree_size, 'tree_size');
      if (index >= size || size > ct.log.size()) throw new LogError('LOG_BAD_RANGE', `leaf_index must be below tree_size, and tree_size at most the tree's size (${ct.log.size()})`);
      const entries = await ct.log.store.entries(index, index + 1);
      const [extra] = await extraData(entries);
      return { leaf_input: b64(entries[0]!.body), extra_data: b64(extra!), audit_path: (await ct.log.inclusionProof(index, size)).map(b64) };
    });
    app.get('/ct/v1/get-roots', { schema: { tags: ['ct'] } }, async () => ({ certificates: ct.roots.map((r) => r.raw.toString('base64')) }));
  }
};

export async function build(opts: LogPluginOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: opts.bodyLimit ?? 256 * 1024, frameworkErrors , ...REQUEST_LOGGING, ...SERVER_TIMEOUTS });
  installErrorHandler(app);
  const registry = await registerOps(app, {
    service: 'log',
    description: 'Rekor-compatible transparency log (v1, v2, C2SP tlog-tiles) with an RFC 6962 CT personality',
    // Both logs take entries (the CA's precertificates go to the CT one); either unable is unready.
    ready: async () => (await opts.rekor.unready()) ?? (opts.ct ? await opts.ct.log.unready() : undefined),
  });
  // Read at scrape time: the size this node serves (with several nodes, each its own view).
  new Gauge({
    name: 'cairn_log_tree_size',
    help: 'Entries in the tree of the newest checkpoint this node serves, per log (rekor, ct)',
    labelNames: ['log'],
    registers: [registry],
    collect() {
      this.set({ log: 'rekor' }, opts.rekor.size());
      if (opts.ct) this.set({ log: 'ct' }, opts.ct.log.size());
    },
  });
  // The standalone service adds its own (the static tiles writer) to the same scrape.
  app.decorate('cairnMetrics', registry);
  await logRoutes(app, opts);
  return app;
}
