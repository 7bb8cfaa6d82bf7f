/**
 * WorkerPool lifecycle: a worker that fails while loading is reported to the callers (not as an
 * unhandled rejection, which ends a Node process: the log server with its admission pool died
 * instead of checking signatures on the event loop), and close() settles every call in flight
 * and refuses later ones instead of leaving them pending for ever.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../host/core/pool.js';

class Pool extends WorkerPool<{ items?: unknown[] }, unknown[]> {
  call(msg: { items?: unknown[] }): Promise<unknown[]> {
    return this.send(this.workers[0]!, msg);
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => void unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
afterAll(() => void process.off('unhandledRejection', onUnhandled));

describe('WorkerPool lifecycle', () => {
  it('a worker that fails to load rejects the calls, with no unhandled rejection', async () => {
    const pool = new Pool(import.meta.url, 'no-such-worker-module', 1);
    try {
      // Nobody has called yet when the worker fails.
      await new Promise<void>((r) => pool['workers'][0]!.once('exit', () => r()));
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
      await expect(pool.call({ items: [] })).rejects.toBeDefined();
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('answers as before while open', async () => {
    const pool = new Pool(new URL('../../host/core/pool.ts', import.meta.url).href, 'pool-worker', 1);
    try {
      await expect(pool.call({ items: [] })).resolves.toEqual([]);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('close() settles calls in flight and refuses later ones', async () => {
    // pool-worker (host/core) answers {items} only after loading the WASM core; a call sent
    // before it is ready is waiting when close() terminates the worker.
    const pool = new Pool(new URL('../../host/core/pool.ts', import.meta.url).href, 'pool-worker', 1);
    const inFlight = pool.call({ items: [] });
    await pool.close();
    await expect(Promise.race([inFlight.then(() => 'resolved', () => 'rejected'), new Promise((r) => setTimeout(() => r('pending'), 2_000))])).resolves.not.toBe('pending');
    await expect(Promise.race([pool.call({ items: [] }).then(() => 'resolved', () => 'rejected'), new Promise((r) => setTimeout(() => r('pending'), 2_000))])).resolves.toBe('rejected');
  }, 30_000);
});
