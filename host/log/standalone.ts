/**
 * `cairn serve log --data-dir DIR --port N [--config FILE]`: the transparency log (Rekor v1 + v2
 * APIs, C2SP tlog-tiles) and its CT personality (RFC 6962, under /ct/v1 on the same server).
 * host/cli/serve.ts prints the ready line {"ready":true,"log":URL,"ct":URL}.
 *
 * DIR holds rekor.db and ct.db (SQLite, WAL, synchronous=FULL), rekor-key.pem and ct-key.pem
 * (PKCS#8, 0600). Everything is created on the first start and reused afterwards. With `postgres`
 * set, the two logs live in PostgreSQL instead (host/log/store-pg.ts), and several nodes given the
 * same database, schema, keys and origin serve one log.
 *
 * Optional --config (YAML or JSON), every key optional:
 *   keyType: ecdsa-p256        # or ed25519: the Rekor log key (checkpoints, SETs); fixed at creation
 *   origin: 127.0.0.1          # checkpoint origin and signed-note key name; default: the listen host.
 *                              # Sigstore clients match it against the log's base URL (as a regex).
 *   batchSize: 1024            # entries per sequencing batch
 *   batchAgeMs: 10             # a batch closes this long after its first entry at the latest
 *   closeQuietBatches: true    # ... or as soon as an event-loop turn passes without it growing
 *   queueLimit: 50000          # waiting entries before 503 + Retry-After
 *   bodyLimit: 262144          # request bytes before 413
 *   witnesses: [ "<name>+<hex id>+<base64 key>" ]   # C2SP cosignature/v1 vkeys accepted at POST /checkpoint/cosignature
 *   witnessUrls: [ { url: http://witness.example, vkey: "<name>+<hex id>+<base64 key>" } ]
 *                              # C2SP tlog-witness: every published checkpoint is sent to these
 *                              # (add-checkpoint) and their cosignatures added (witness-client.ts)
 *   ctRoots: [ roots.pem ]     # CT: accepted roots (PEM files); empty = accept any chain that verifies
 *   checkpointIntervalMs: 10000  # re-sign the checkpoint when none was published for this long; 0 = off
 *   verifyWorkers: 1           # worker threads checking entry signatures (WASM core); default: cores - 1
 *                              # (at most 4); 0 = on the event loop
 *   tilesDir: /srv/log         # also write the tlog-tiles read API (checkpoint, tiles, entry bundles)
 *                              # as static files there, for a file server or CDN (static-tiles.ts)
 *   tilesIntervalMs: 1000      # at most one such write per interval
 *   postgres:                  # store both logs in PostgreSQL instead of SQLite files in DIR
 *     url: postgres://cairn@db.internal:5432/cairn   # libpq URI; PGPASSWORD etc. are honoured; never logged
 *     schema: cairn            # tables go in schemas <schema>_rekor and <schema>_ct (default cairn)
 *     poolSize: 8              # connections per log
 *     idleInTransactionMs: 10000  # a node silent this long inside its write loses the sequencing lock
 *     lockWaitMs: 30000        # a node waiting this long for the lock, or a connection, answers 503
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Gauge, type Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import type { Standalone, StandaloneOptions } from '../cli/serve.js';
import { serviceLogger } from '../http/logging.js';
import { LogError } from './errors.js';
import { loadOrCreateLogKey, spkiOf, type LogKeyType } from './keys.js';
import { TransparencyLog } from './log.js';
import { parseWitnessVkey } from './note.js';
import { WitnessClient } from './witness-client.js';
import { StaticTiles } from './static-tiles.js';
import { registerLocalCt, type CtAdd } from './local-ct.js';
import { inlineAdmission, PooledAdmission } from './admission.js';
import { build } from './plugin.js';
import { setSigner } from './set.js';
import { SqliteLogStore, type LogStore } from './store.js';
import { PostgresLogStore } from './store-pg.js';
import { listenService } from '../http/ops.js';
import { closeAll, closeOnce } from '../closers.js';

export interface LogConfig {
  keyType?: LogKeyType;
  origin?: string;
  batchSize?: number;
  batchAgeMs?: number;
  closeQuietBatches?: boolean;
  queueLimit?: number;
  bodyLimit?: number;
  witnesses?: string[];
  witnessUrls?: { url: string; vkey: string }[];
  ctRoots?: string[];
  verifyWorkers?: number;
  checkpointIntervalMs?: number;
  postgres?: { url: string; schema?: string; poolSize?: number; idleInTransactionMs?: number; lockWaitMs?: number };
  tilesDir?: string;
  tilesIntervalMs?: number;
}

const KEYS = ['keyType', 'origin', 'batchSize', 'batchAgeMs', 'closeQuietBatches', 'queueLimit', 'bodyLimit', 'witnesses', 'witnessUrls', 'ctRoots', 'verifyWorkers', 'checkpointIntervalMs', 'postgres', 'tilesDir', 'tilesIntervalMs'];

export function parseLogConfig(text: string): LogConfig {
  const bad = (m: string): never => {
    throw new LogError('LOG_BAD_CONFIG', `log config: ${m}`);
  };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new LogError('LOG_BAD_CONFIG', 'log config is not valid YAML/JSON', { cause: e });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) return bad('expected a mapping');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!KEYS.includes(k)) bad(`unknown key ${k}`);
  if (d.keyType !== undefined && d.keyType !== 'ecdsa-p256' && d.keyType !== 'ed25519') bad('keyType must be ecdsa-p256 or ed25519');
  if (d.origin !== undefined && (typeof d.origin !== 'string' || !/^\S{1,255}$/.test(d.origin) || d.origin.includes('+'))) bad('origin must be a non-empty string without spaces or "+"');
  for (const k of ['batchSize', 'batchAgeMs', 'queueLimit', 'bodyLimit']) {
    if (d[k] !== undefined && (!Number.isInteger(d[k]) || (d[k] as number) < 1)) bad(`${k} must be a positive integer`);
  }
  if (d.closeQuietBatches !== undefined && typeof d.closeQuietBatches !== 'boolean') bad('closeQuietBatches must be true or false');
  if (d.checkpointIntervalMs !== undefined && (!Number.isInteger(d.checkpointIntervalMs) || (d.checkpointIntervalMs as number) < 0)) bad('checkpointIntervalMs must be a non-negative integer');
  if (d.verifyWorkers !== undefined && (!Number.isInteger(d.verifyWorkers) || (d.verifyWorkers as number) < 0 || (d.verifyWorkers as number) > 64)) bad('verifyWorkers must be an integer 0..64');
  for (const k of ['witnesses', 'ctRoots']) if (d[k] !== undefined && (!Array.isArray(d[k]) || !(d[k] as unknown[]).every((x) => typeof x === 'string'))) bad(`${k} must be a list of strings`);
  if (d.witnessUrls !== undefined) {
    if (!Array.isArray(d.witnessUrls)) bad('witnessUrls must be a list of { url, vkey }');
    for (const w of d.witnessUrls as Record<string, unknown>[]) {
      if (typeof w?.url !== 'string' || !/^https?:\/\//.test(w.url) || typeof w.vkey !== 'string') bad('each witnessUrls entry needs an http(s) url and a vkey');
    }
  }
  if (d.tilesDir !== undefined && (typeof d.tilesDir !== 'string' || d.tilesDir === '')) bad('tilesDir must be a directory path');
  if (d.tilesIntervalMs !== undefined && (!Number.isInteger(d.tilesIntervalMs) || (d.tilesIntervalMs as number) < 0)) bad('tilesIntervalMs must be a non-negative integer');
  if (d.postgres !== undefined) {
    const pgc = d.postgres as Record<string, unknown>;
    if (typeof pgc !== 'object' || pgc === null || Array.isArray(pgc)) bad('postgres must be a mapping { url, schema?, poolSize? }');
    for (const k of Object.keys(pgc)) if (!['url', 'schema', 'poolSize', 'idleInTransactionMs', 'lockWaitMs'].includes(k)) bad(`unknown key postgres.${k}`);
    if (typeof pgc.url !== 'string' || !/^postgres(ql)?:\/\//.test(pgc.url)) bad('postgres.url must be a postgres:// URI');
    if (pgc.schema !== undefined && (typeof pgc.schema !== 'string' || !/^[a-z_][a-z0-9_]{0,40}$/.test(pgc.schema))) bad('postgres.schema must match [a-z_][a-z0-9_]{0,40}');
    if (pgc.poolSize !== undefined && (!Number.isInteger(pgc.poolSize) || (pgc.poolSize as number) < 1 || (pgc.poolSize as number) > 100)) bad('postgres.poolSize must be an integer 1..100');
    for (const k of ['idleInTransactionMs', 'lockWaitMs']) {
      const v = pgc[k];
      if (v !== undefined && (!Number.isInteger(v) || (v as number) < 100 || (v as number) > 3_600_000)) bad(`postgres.${k} must be an integer number of milliseconds, 100..3600000`);
    }
  }
  return d as LogConfig;
}

export async function startStandalone(opts: StandaloneOptions): Promise<Standalone> {
  const config = opts.config ? parseLogConfig(await readFile(opts.config, 'utf8')) : {};
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const rekorKey = await loadOrCreateLogKey(join(dataDir, 'rekor-key.pem'), config.keyType ?? 'ecdsa-p256');
  const ctKey = await loadOrCreateLogKey(join(dataDir, 'ct-key.pem'), 'ecdsa-p256');
  const witnessEndpoints = (config.witnessUrls ?? []).map((w) => ({ url: w.url, key: parseWitnessVkey(w.vkey) }));
  // A witness the log asks is also one whose cosignatures it accepts.
  const witnesses = [...(config.witnesses ?? []).map(parseWitnessVkey), ...witnessEndpoints.map((w) => w.key)];
  const ctRoots = (await Promise.all((config.ctRoots ?? []).map((f) => readFile(f, 'utf8')))).flatMap((pem) =>
    (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c)),
  );

  const closers: (() => Promise<void> | void)[] = [];
  try {
    const pgc = config.postgres;
    const open = async (name: 'rekor' | 'ct'): Promise<LogStore> => {
      const store = pgc
        ? await PostgresLogStore.open({ url: pgc.url, schema: `${pgc.schema ?? 'cairn'}_${name}`, ...(pgc.poolSize ? { max: pgc.poolSize } : {}), ...(pgc.idleInTransactionMs ? { idleInTransactionMs: pgc.idleInTransactionMs } : {}), ...(pgc.lockWaitMs ? { lockWaitMs: pgc.lockWaitMs } : {}) })
        : new SqliteLogStore(join(dataDir, `${name}.db`));
      closers.push(() => store.close());
      return store;
    };
    const rekorStore = await open('rekor');
    const ctStore = await open('ct');
    // Rekor tree IDs are positive int64s; the UUID prefix is their 16-hex-digit form. The first
    // node to start on a store picks it; the others read it.
    const b = randomBytes(8);
    b[0] = b[0]! & 0x7f;
    const treeId = await rekorStore.initMeta('treeId', b.toString('hex'));
    const created = await rekorStore.initMeta('createdAt', new Date().toISOString());
    const origin = config.origin ?? opts.host;
    const tuning = {
      ...(config.batchSize !== undefined ? { batchSize: config.batchSize } : {}),
      ...(config.batchAgeMs !== undefined ? { batchAgeMs: config.batchAgeMs } : {}),
      ...(config.closeQuietBatches !== undefined ? { closeQuietBatches: config.closeQuietBatches } : {}),
      ...(config.queueLimit !== undefined ? { queueLimit: config.queueLimit } : {}),
      checkpointIntervalMs: config.checkpointIntervalMs ?? 10_000,
    };
    const rekor = await TransparencyLog.open({ store: rekorStore, key: rekorKey, origin, witnesses, promise: setSigner(rekorKey), ...tuning });
    // Registered before the CT log opens: if that fails (a store of another key), the Rekor log's
    // checkpoint publisher must not go on re-signing against a closed store.
    closers.unshift(() => rekor.close());
    const ct = await TransparencyLog.open({ store: ctStore, key: ctKey, origin: `${origin}/ct`, dedup: false, ...tuning });
    closers.unshift(() => ct.close());
    // Entry signatures are checked on worker threads (host/log/admission.ts): by default one per
    // core beyond the one the event loop uses; 0 checks them on the event loop.
    const workers = config.verifyWorkers ?? Math.min(4, availableParallelism() - 1);
    const admission = workers > 0 ? new PooledAdmission(workers) : inlineAdmission;
    closers.push(() => admission.close());
    const app = await build({ admission, rekor, rekorKey, treeId, logger: serviceLogger(opts.logLevel, 'log'), ct: { log: ct, key: ctKey, roots: ctRoots }, ...(config.bodyLimit !== undefined ? { bodyLimit: config.bodyLimit } : {}) });
    await listenService(app, opts);
    // Close the HTTP server first (in-flight requests finish), then drain the sequencers.
    closers.unshift(() => app.close());
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : opts.port;
    const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
    closers.unshift(registerLocalCt(url, (app as unknown as { cairnCtAdd: CtAdd }).cairnCtAdd));
    if (config.tilesDir) {
      const tiles = new StaticTiles(rekor, resolve(config.tilesDir), {
        ...(config.tilesIntervalMs !== undefined ? { intervalMs: config.tilesIntervalMs } : {}),
        onError: (e) => app.log.warn({ err: (e as Error).message }, 'static tiles not written; retrying'),
      });
      closers.unshift(() => tiles.close());
      tiles.notify(); // the tree as it stands, from where the directory left off
      new Gauge({
        name: 'cairn_log_static_tiles_writer',
        help: '1 if this node writes the static tiles directory (it holds the lease), else 0',
        registers: [(app as unknown as { cairnMetrics: Registry }).cairnMetrics],
        collect() {
          this.set(tiles.writing() ? 1 : 0);
        },
      });
      new Gauge({
        name: 'cairn_log_static_tiles_size',
        help: 'Tree size whose tiles and checkpoint this node last wrote to the static tiles directory (-1: none)',
        registers: [(app as unknown as { cairnMetrics: Registry }).cairnMetrics],
        collect() {
          this.set(tiles.size());
        },
      });
    }
    if (witnessEndpoints.length > 0) {
      const wc = new WitnessClient(rekor, witnessEndpoints, { onError: (name, e) => app.log.warn({ witness: name, err: (e as Error).message }, 'witness did not cosign; retrying') });
      closers.unshift(() => wc.close());
      wc.notify(); // the current checkpoint, before any new entry
    }
    // Integrated times are whole seconds, so the key's window starts on a whole second too
    // (a client checks start <= integratedTime * 1000).
    const start = new Date(Math.floor(new Date(created).getTime() / 1000) * 1000);
    return {
      ready: { log: url, ct: url },
      trust: {
        tlogs: [{ baseUrl: url, publicKeySpki: spkiOf(rekorKey), validFor: { start } }],
        ctlogs: [{ baseUrl: url, publicKeySpki: spkiOf(ctKey), validFor: { start } }],
      },
      close: closeOnce(() => closeAll(closers.splice(0))),
    };
  } catch (e) {
    await closeAll(closers.splice(0)).catch(() => undefined);
    throw e;
  }
}
