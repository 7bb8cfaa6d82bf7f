/**
 * Worker side of host/verify/bulk-pool.ts: its own WASM core, trusted root and caches; verifies
 * the bundles it is sent with verifyBundles (core checks batched across them) and answers with
 * one verdict per bundle, in order.
 */
import { createPublicKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { initCore } from '../core/index.js';
import { parseBundle } from './bundle.js';
import { VerificationError } from './errors.js';
import type { BulkJob, BulkOutcome, PoolPolicy } from './bulk-pool.js';
import { clearVerificationCache, verifyBundles, type BulkItem, type Policy } from './pipeline.js';
import { parseTrustedRoot } from './trusted-root.js';

function outcome(e: unknown): BulkOutcome {
  const err = e as { code?: string; message?: string };
  return { ok: false, code: err.code ?? 'ERROR', message: err.message ?? String(e) };
}

const init = workerData as { trustedRoot: unknown; policy: PoolPolicy; keyPem?: string };
await initCore();
const trust = parseTrustedRoot(init.trustedRoot);
const { identityRegexp, issuerRegexp, ...plain } = init.policy;
const policy: Policy = {
  ...plain,
  ...(identityRegexp !== undefined ? { identityRegexp: new RegExp(identityRegexp) } : {}),
  ...(issuerRegexp !== undefined ? { issuerRegexp: new RegExp(issuerRegexp) } : {}),
};
const key = init.keyPem ? createPublicKey(init.keyPem) : undefined;

parentPort!.on('message', async (msg: { id: number; jobs?: BulkJob[]; clear?: boolean }) => {
  if (msg.clear) {
    clearVerificationCache();
    parentPort!.postMessage({ id: msg.id, result: [] });
    return;
  }
  if (!msg.jobs) return;
  const jobs = msg.jobs;
  const out: BulkOutcome[] = new Array(jobs.length);
  const items: BulkItem[] = [];
  const at: number[] = [];
  jobs.forEach((j, i) => {
    try {
      let json: unknown;
      try {
        json = JSON.parse(j.bundle);
      } catch (cause) {
        throw new VerificationError('BUNDLE_MALFORMED', 'the bundle is not JSON', { cause });
      }
      items.push({ bundle: parseBundle(json), artifact: j.artifact });
      at.push(i);
    } catch (e) {
      out[i] = outcome(e);
    }
  });
  const verdicts = await verifyBundles(items, trust, policy, key ? { key } : {});
  verdicts.forEach((v, k) => {
    out[at[k]!] = v.ok ? { ok: true, ...(v.result.identity ? { identity: v.result.identity } : {}) } : outcome(v.error);
  });
  parentPort!.postMessage({ id: msg.id, result: out });
});
parentPort!.postMessage({ ready: true });
