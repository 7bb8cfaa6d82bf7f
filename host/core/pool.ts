/**
 * Worker threads (WorkerPool) and, on them, a pool for large verification batches (VerifyPool):
 * each worker instantiates its own copy of the WASM core (WebAssembly memory is per instance), a
 * batch is split into contiguous chunks, and the verdicts come back in input order. Registered
 * keys are registered in every worker. BatchingVerifier feeds single checks from many requests
 * into a VerifyPool. Node-only (worker_threads); embedders in other runtimes use verifyBatch
 * directly or their own workers.
 */
import { availableParallelism } from 'node:os';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { SignatureItem } from './signature-formats.js';

/**
 * A worker thread running module `name` next to `callerUrl` (pass import.meta.url). Sources
 * (tests, tsx) run the .ts module through tsx; the compiled package runs the .js.
 */
export function startWorker(callerUrl: string, name: string, workerData?: unknown, resourceLimits?: ResourceLimits): Worker {
  const ts = callerUrl.endsWith('.ts');
  const file = new URL(`./${name}${ts ? '.ts' : '.js'}`, callerUrl);
  // Worker threads ignore --import, so a .ts worker registers tsx's loader itself first.
  // --input-type (from a `node -e` parent) is refused for file workers; drop it.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  return ts
    ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); })`, { eval: true, execArgv, workerData, resourceLimits })
    : new Worker(file, { execArgv, workerData, resourceLimits });
}

/**
 * Worker threads that each load once (posting {ready: true}), then answer every {id, ...msg}
 * with {id, result}. A worker error rejects everything in flight. VerifyPool (below) and
 * host/verify/bulk-pool.ts build on it.
 */
export class WorkerPool<Msg extends object, Res> {
  protected readonly workers: Worker[] = [];
  private readonly ready: Promise<unknown>[] = [];
  private readonly pending = new Map<number, { resolve: (r: Res) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private closing = false;
  /** Set when a worker failed or exited on its own: every later send rejects at once instead of waiting forever. */
  private broken: Error | undefined;

  constructor(callerUrl: string, module: string, size: number, workerData?: unknown, resourceLimits?: ResourceLimits) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const w = startWorker(callerUrl, module, workerData, resourceLimits);
      const ready = new Promise((resolve, reject) => {
        const onReady = (m: { ready?: boolean }): void => {
          if (m.ready) {
            w.off('message', onReady);
            resolve(undefined);
          }
        };
        w.on('message', onReady);
        w.once('error', reject);
        // Terminated (close) or gone before loading: a call waiting in started() must not wait for ever.
        w.once('exit', (code) => reject(new Error(`a pool worker exited before it was ready (code ${code})`)));
      });
      // A worker that fails while nobody is calling yet is reported to the next call (started());
      // unobserved, the rejection would end the process (Node's default for unhandled rejections).
      ready.catch(() => undefined);
      this.ready.push(ready);
      w.on('message', (m: { id?: number; result?: Res }) => {
        if (m.id === undefined) return;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m.result as Res);
      });
      const fail = (e: Error): void => {
        this.broken ??= e;
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      };
      w.on('error', fail);
      w.on('exit', (code) => {
        if (!this.closing) fail(new Error(`a pool worker exited (code ${code})`));
      });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Resolves once every worker has loaded. */
  async started(): Promise<void> {
    await Promise.all(this.ready);
  }

  protected async send(w: Worker, msg: Msg): Promise<Res> {
    await this.started();
    if (this.broken) throw this.broken;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, ...msg });
    });
  }

  /** The same message to every worker. */
  protected async broadcast(msg: Msg): Promise<Res[]> {
    return Promise.all(this.workers.map((w) => this.send(w, msg)));
  }

  /** One contiguous share of `items` per worker; the answers (arrays) concatenated in input order. */
  protected async scatter<T>(items: readonly T[], msg: (share: T[]) => Msg): Promise<Res extends (infer E)[] ? E[] : never> {
    const per = Math.ceil(items.length / this.workers.length);
    const parts = await Promise.all(this.workers.map((w, i) => (i * per < items.length ? this.send(w, msg(items.slice(i * per, (i + 1) * per))) : Promise.resolve([] as unknown as Res))));
    return (parts as unknown as unknown[][]).flat() as Res extends (infer E)[] ? E[] : never;
  }

  /**
   * `items` in chunks of `chunk`, each worker taking the next chunk as soon as it answers the last
   * (so a worker that is slowed, or given slower items, does not leave the others idle at the
   * end); the answers (arrays) concatenated in input order.
   */
  protected async deal<T>(items: readonly T[], chunk: number, msg: (share: T[]) => Msg): Promise<Res extends (infer E)[] ? E[] : never> {
    const size = Math.max(1, Math.floor(chunk));
    const parts: unknown[][] = new Array(Math.ceil(items.length / size));
    let next = 0;
    const drain = async (w: Worker): Promise<void> => {
      for (let i = next++; i < parts.length; i = next++) parts[i] = (await this.send(w, msg(items.slice(i * size, (i + 1) * size)))) as unknown as unknown[];
    };
    await Promise.all(this.workers.map(drain));
    return parts.flat() as Res extends (infer E)[] ? E[] : never;
  }

  /** Terminates the workers; calls still in flight, and any made later, reject. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Error('the worker pool is closed');
    this.broken ??= closed;
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.pending.values()) p.reject(closed);
    this.pending.clear();
  }
}

export class VerifyPool extends WorkerPool<{ items?: SignatureItem[]; register?: Uint8Array[] }, boolean[]> {
  constructor(size: number = availableParallelism()) {
    super(import.meta.url, 'pool-worker', size);
  }

  async registerKey(spki: Uint8Array): Promise<void> {
    await this.broadcast({ register: [spki] });
  }

  /** Same verdicts as verifyBatch(items), computed on every worker in parallel. */
  async verifyBatch(items: readonly SignatureItem[]): Promise<boolean[]> {
    return this.scatter(items, (share) => ({ items: share }));
  }
}

/**
 * Single checks from many concurrent requests, batched onto a VerifyPool: everything that arrives
 * within one event-loop turn (at most `maxBatch` items) goes to the workers as one batch, so a
 * service's event loop hands signature checks off instead of computing them. A worker failure
 * rejects every check of its batch with that error.
 */
export class BatchingVerifier {
  private queue: { item: SignatureItem; resolve: (ok: boolean) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly pool: VerifyPool, private readonly maxBatch = 512) {}

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
      (e: unknown) => batch.forEach((b) => b.reject(e)),
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
