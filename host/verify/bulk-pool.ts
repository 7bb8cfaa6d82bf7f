/**
 * Bulk verification across cores: worker threads, each with its own WASM core, trusted root and
 * verdict caches, verify whole bundles (parse included) with verifyBundles. Bundles are sent as
 * their JSON text and artifact, in chunks that each worker takes as it finishes the last; verdicts
 * come back in input order with the same codes a single verifyBundle call would give. Node-only
 * (worker_threads); `cairn verify --bulk` and bench/verify.ts use it.
 */
import type { KeyObject } from 'node:crypto';
import { WorkerPool } from '../core/pool.js';
import { parseBundle } from './bundle.js';
import { VerificationError } from './errors.js';
import { verifyBundles, type Artifact, type BulkItem, type Policy } from './pipeline.js';
import type { PartnerRoot, TrustMaterial } from './trusted-root.js';

/** A Policy that can cross a thread boundary: regular expressions as their source text. */
export interface PoolPolicy {
  identity?: string;
  identityRegexp?: string;
  issuer?: string;
  issuerRegexp?: string;
  spiffeTrustDomain?: string;
  spiffePathPrefix?: string;
  extensions?: Record<string, string>;
  predicateType?: string;
}

export interface BulkJob {
  /** The bundle's JSON text. */
  bundle: string;
  artifact: Artifact;
}

export type BulkOutcome = { ok: true; identity?: string } | { ok: false; code: string; message: string };

/** The Policy a PoolPolicy stands for (its regular expressions compiled). */
export function toPolicy(p: PoolPolicy): Policy {
  const { identityRegexp, issuerRegexp, ...plain } = p;
  return {
    ...plain,
    ...(identityRegexp !== undefined ? { identityRegexp: new RegExp(identityRegexp) } : {}),
    ...(issuerRegexp !== undefined ? { issuerRegexp: new RegExp(issuerRegexp) } : {}),
  };
}

function outcome(e: unknown): BulkOutcome {
  const err = e as { code?: string; message?: string };
  return { ok: false, code: err.code ?? 'ERROR', message: err.message ?? String(e) };
}

/**
 * Verdicts for `jobs` on this thread, in order: each bundle parsed from its JSON text, then all of
 * them through verifyBundles (core checks batched across them). What each pool worker runs on
 * the chunks it is sent, and what `cairn verify --bulk` runs itself on inputs too small to repay
 * starting workers.
 */
export async function verifyJobs(jobs: readonly BulkJob[], trust: TrustMaterial, policy: Policy, key?: KeyObject): Promise<BulkOutcome[]> {
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
  return out;
}

/**
 * A young generation of 96 MB per worker (V8's default is 16-48 MB by heap size): bulk
 * verification allocates short-lived parse results at a high rate, and most of them die before a
 * scavenge with a larger nursery. Measured on 2,000 bundles with 2 workers: 2,548-2,576 bundles/s
 * at the default, 2,662-2,715 at 48 MB, 2,760-2,777 at 96 MB, 2,494-2,669 at 192 MB.
 */
const BULK_WORKER_LIMITS = { maxYoungGenerationSizeMb: 96 };

export class BundleVerifierPool extends WorkerPool<{ jobs?: BulkJob[]; clear?: boolean }, BulkOutcome[]> {
  constructor(o: { trustedRoot: unknown; partners?: PartnerRoot[]; policy: PoolPolicy; keyPem?: string; size: number }) {
    super(import.meta.url, 'bulk-worker', o.size, { trustedRoot: o.trustedRoot, ...(o.partners?.length ? { partners: o.partners } : {}), policy: o.policy, ...(o.keyPem ? { keyPem: o.keyPem } : {}) }, BULK_WORKER_LIMITS);
  }

  /** Forget every worker's cached signature verdicts (benchmarks measure cold verification). */
  async clearCaches(): Promise<void> {
    await this.broadcast({ clear: true });
  }

  /**
   * Verdicts for `jobs`, in order. Jobs go out in chunks that the workers take as they finish
   * (WorkerPool.deal): about eight per worker, each between 16 and 256 bundles, which keeps every
   * worker busy to the end while each chunk still batches its core checks (up to 128 per WASM batch).
   */
  async verify(jobs: readonly BulkJob[]): Promise<BulkOutcome[]> {
    const chunk = Math.min(256, Math.max(16, Math.ceil(jobs.length / (8 * this.size))));
    return this.deal(jobs, chunk, (share) => ({ jobs: share }));
  }
}
