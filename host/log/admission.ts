/**
 * Signature checks for entries being admitted, off the event-loop thread. The hashedrekord check
 * (ECDSA P-256 over a digest, which node:crypto cannot do) runs in the WASM core; on the request
 * thread it would cost more than everything else the log does per entry. With a VerifyPool the
 * checks of all requests that arrive in one event-loop turn go to the worker threads as one batch
 * (each worker has its own copy of the core), and the event loop keeps parsing requests and
 * committing batches meanwhile. Verdicts are the core's either way (host/core/signatures.ts).
 */
import { verifySignature, type SignatureItem } from '../core/index.js';
import { BatchingVerifier, VerifyPool } from '../core/pool.js';

export interface Admission {
  verify(item: SignatureItem): Promise<boolean>;
  close(): Promise<void>;
}

/** Checks on the calling thread (tests, tiny deployments, runtimes without worker threads). */
export const inlineAdmission: Admission = {
  verify: async (item) => verifySignature(item),
  close: async () => undefined,
};

/**
 * Checks batched per event-loop turn onto a worker pool (host/core/pool.ts BatchingVerifier), in
 * messages of at most `maxBatch` items. Small messages pipeline: the first verdicts come back and
 * their entries are sequenced while the worker checks the next ones. With 256 clients, messages of
 * 32 gave 3,000 appends/s where 512 gave 1,900 (same machine, same run).
 */
export class PooledAdmission implements Admission {
  private readonly batcher: BatchingVerifier;

  constructor(workers: number, maxBatch = 32) {
    this.batcher = new BatchingVerifier(new VerifyPool(workers), maxBatch);
  }

  async verify(item: SignatureItem): Promise<boolean> {
    try {
      return await this.batcher.verify(item);
    } catch {
      // A worker that died is the server's fault, not the entry's: the same check runs here, on
      // the event loop (same core, same verdict), and the log keeps taking entries, more slowly.
      return verifySignature(item);
    }
  }

  async close(): Promise<void> {
    await this.batcher.close();
  }
}
