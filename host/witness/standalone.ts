/**
 * `cairn serve witness --data-dir DIR --port N --config FILE`: a C2SP tlog-witness. The ready
 * line is {"ready":true,"witness":URL,"vkey":"<name>+<hex id>+<base64 key>"}: give the vkey to
 * the logs that should collect this witness's cosignatures (their `witnessUrls`).
 *
 * DIR holds witness-key.pem (Ed25519, PKCS#8, 0600; created on the first start) and witness.db
 * (SQLite: the latest cosigned checkpoint per log). Config (YAML or JSON):
 *   name: witness.example/w1          # the witness's key name in cosignature lines
 *   logs:                             # the logs it witnesses, by checkpoint origin
 *     - { origin: rekor.example, publicKey: log.pem }          # PEM (Ed25519 or ECDSA P-256) ...
 *     - { origin: log.example, vkey: "log.example+1a2b3c4d+AQ..." }   # ... or an Ed25519 vkey
 *   # keyName: the note key name when it differs from the origin (publicKey form)
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { Standalone, StandaloneOptions } from '../cli/serve.js';
import { initCore } from '../core/index.js';
import { CairnError } from '../errors.js';
import { serviceLogger } from '../http/logging.js';
import { listenService } from '../http/ops.js';
import { loadOrCreateLogKey } from '../log/keys.js';
import { witnessVkey } from '../log/note.js';
import { build } from './plugin.js';
import { logKeyFrom, Witness, WitnessStore, type WitnessedLog } from './witness.js';
import { closeAll, closeOnce } from '../closers.js';

const bad = (m: string): never => {
  throw new CairnError('WITNESS_BAD_CONFIG', `witness config: ${m}`);
};

export async function parseWitnessConfig(text: string): Promise<{ name: string; logs: WitnessedLog[] }> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new CairnError('WITNESS_BAD_CONFIG', 'witness config is not valid YAML/JSON', { cause: e });
  }
  const d = (doc ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!['name', 'logs'].includes(k)) bad(`unknown key ${k}`);
  if (typeof d.name !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(d.name) || d.name.includes('+')) bad('name must be a key name (printable, no spaces or "+")');
  if (!Array.isArray(d.logs) || d.logs.length === 0) bad('logs must list at least one { origin, publicKey | vkey }');
  const logs: WitnessedLog[] = [];
  for (const [i, l] of (d.logs as Record<string, unknown>[]).entries()) {
    if (typeof l?.origin !== 'string' || l.origin === '') bad(`logs[${i}].origin is required`);
    const pem = typeof l.publicKey === 'string' ? (l.publicKey.includes('-----BEGIN') ? l.publicKey : await readFile(l.publicKey, 'utf8')) : undefined;
    try {
      logs.push({ origin: l.origin as string, keys: [logKeyFrom({ ...(typeof l.vkey === 'string' ? { vkey: l.vkey } : {}), ...(pem ? { publicKey: pem } : {}), ...(typeof l.keyName === 'string' ? { keyName: l.keyName } : {}) }, l.origin as string)] });
    } catch (e) {
      bad(`logs[${i}]: ${(e as Error).message}`);
    }
  }
  return { name: d.name as string, logs };
}

export async function startStandalone(opts: StandaloneOptions): Promise<Standalone> {
  if (!opts.config) bad('--config is required (name and logs)');
  const cfg = await parseWitnessConfig(await readFile(opts.config!, 'utf8'));
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await initCore();
  const key = await loadOrCreateLogKey(join(dataDir, 'witness-key.pem'), 'ed25519');
  const store = new WitnessStore(join(dataDir, 'witness.db'));
  const witness = new Witness(cfg.name, key, cfg.logs, store);
  const app = await build({ witness, logger: serviceLogger(opts.logLevel, 'witness') });
  try {
    await listenService(app, opts);
  } catch (e) {
    store.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  return {
    ready: { witness: url, vkey: witnessVkey(cfg.name, createPublicKey(key)) },
    close: closeOnce(() => closeAll([() => app.close(), () => store.close()])),
  };
}
