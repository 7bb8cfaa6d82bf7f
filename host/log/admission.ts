/**
 * Signature checks for entries being admitted, off the event-loop thread. The hashedrekord check
 * (ECDSA P-256 over a digest, which node:crypto cannot do) runs in the WASM core; on the request
 * thread it would cost more than everything else the log does per entry. With a VerifyPool the
 * checks of all requests that arrive in one event-loop turn go to the worker threads as one batch
 * (each worker has its own copy of the core), and the event loop keeps parsing requests and
 * committing batches meanwhile. Verdicts are the core's either way (host/core/signatures.ts).
 */
import { verifySignature, type SignatureItem } from '../core/index.js';
import { VerifyPool } from '../core/pool.js';
import { LogError } from './errors.js';

export interface Admission {
  verify(item: SignatureItem): Promise<boolean>;
  close(): Promise<void>;
}

/** Checks on the calling thread (tests, tiny deployments, runtimes without worker threads). */
export const inlineAdmission: Admission = {
  verify: async (item) => verifySignature(item),
  close: async () => undefined,
};

/** Batches the checks that arrive within one event-loop turn (at most `maxBatch`) onto a worker pool. */
export class PooledAdmission implements Admission {
  private readonly pool: VerifyPool;
  private queue: { item: SignatureItem; resolve: (ok: boolean) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(workers: number, private readonly maxBatch = 512) {
    this.pool = new VerifyPool(workers);
  }

  verify(item: SignatureItem): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.pool.verifyBatch(batch.map((b) => b.item)).then(
      (verdicts) => batch.forEach((b, i) => b.resolve(verdicts[i] === true)),
      // A worker that died is the server's fault, not the entry's: 503, and the client retries.
      (e: unknown) => batch.forEach((b) => b.reject(new LogError('LOG_OVERLOADED', 'signature verification is unavailable; retry later', { cause: e, retryAfter: 1 }))),
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
