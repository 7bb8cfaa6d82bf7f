/**
 * Worker side of host/verify/bulk-pool.ts: its own WASM core, trusted root and caches; verifies
 * the bundles it is sent with verifyBundles (core checks batched across them) and answers with
 * one verdict per bundle, in order.
 */
import { createPublicKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { initCore } from '../core/index.js';
import { toPolicy, verifyJobs, type BulkJob, type PoolPolicy } from './bulk-pool.js';
import { clearVerificationCache } from './pipeline.js';
import { trustWithPartners, type PartnerRoot } from './trusted-root.js';

const init = workerData as { trustedRoot: unknown; partners?: PartnerRoot[]; policy: PoolPolicy; keyPem?: string };
await initCore();
const trust = trustWithPartners(init.trustedRoot, init.partners);
const policy = toPolicy(init.policy);
const key = init.keyPem ? createPublicKey(init.keyPem) : undefined;

parentPort!.on('message', async (msg: { id: number; jobs?: BulkJob[]; clear?: boolean }) => {
  if (msg.clear) {
    clearVerificationCache();
    parentPort!.postMessage({ id: msg.id, result: [] });
    return;
  }
  if (!msg.jobs) return;
  parentPort!.postMessage({ id: msg.id, result: await verifyJobs(msg.jobs, trust, policy, key) });
});
parentPort!.postMessage({ ready: true });
