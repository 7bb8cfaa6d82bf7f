/**
 * Bulk verification across cores: worker threads, each with its own WASM core, trusted root and
 * verdict caches, verify whole bundles (parse included) with verifyBundles. Bundles are sent as
 * their JSON text and artifact, split into one contiguous share per worker; verdicts come back in
 * input order with the same codes a single verifyBundle call would give. Node-only
 * (worker_threads); `cairn verify --bulk` and bench/verify.ts use it.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../core/pool.js';
import type { Artifact } from './pipeline.js';

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

export class BundleVerifierPool {
  private readonly workers: Worker[] = [];
  private readonly ready: Promise<unknown>[] = [];
  private readonly pending = new Map<number, { resolve: (o: BulkOutcome[]) => void; reject: (e: unknown) => void }>();
  private nextId = 1;

  constructor(o: { trustedRoot: unknown; policy: PoolPolicy; keyPem?: string; size: number }) {
    for (let i = 0; i < Math.max(1, o.size); i++) {
      const w = startWorker(import.meta.url, 'bulk-worker', { trustedRoot: o.trustedRoot, policy: o.policy, ...(o.keyPem ? { keyPem: o.keyPem } : {}) });
      this.ready.push(new Promise((resolve, reject) => {
        const onReady = (m: { ready?: boolean }): void => {
          if (m.ready) {
            w.off('message', onReady);
            resolve(undefined);
          }
        };
        w.on('message', onReady);
        w.once('error', reject);
      }));
      w.on('message', (m: { id?: number; out?: BulkOutcome[] }) => {
        if (m.id === undefined) return;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m.out ?? []);
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  private send(w: Worker, msg: { jobs?: BulkJob[]; clear?: boolean }): Promise<BulkOutcome[]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, ...msg });
    });
  }

  /** Resolves once every worker has loaded its core and trusted root. */
  async started(): Promise<void> {
    await Promise.all(this.ready);
  }

  /** Forget every worker's cached signature verdicts (benchmarks measure cold verification). */
  async clearCaches(): Promise<void> {
    await this.started();
    await Promise.all(this.workers.map((w) => this.send(w, { clear: true })));
  }

  async verify(jobs: readonly BulkJob[]): Promise<BulkOutcome[]> {
    await Promise.all(this.ready);
    const n = this.workers.length;
    const per = Math.ceil(jobs.length / n);
    const parts = await Promise.all(this.workers.map((w, i) => (i * per < jobs.length ? this.send(w, { jobs: jobs.slice(i * per, (i + 1) * per) }) : Promise.resolve([]))));
    return parts.flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
