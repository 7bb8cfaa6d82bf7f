/**
 * A Map with a size bound: when full, the oldest insertion goes first. Used for caches of pure
 * results keyed by exact input bytes (parsed certificates, verified signatures and chain links),
 * where a miss only costs recomputation, so recency tracking is not worth its bookkeeping.
 */
export class BoundedCache<V> {
  private readonly m = new Map<string, V>();

  constructor(private readonly max: number) {}

  get(k: string): V | undefined {
    return this.m.get(k);
  }

  has(k: string): boolean {
    return this.m.has(k);
  }

  /** Stores and returns `v`. */
  set(k: string, v: V): V {
    if (!this.m.has(k) && this.m.size >= this.max) this.m.delete(this.m.keys().next().value as string);
    this.m.set(k, v);
    return v;
  }

  clear(): void {
    this.m.clear();
  }
}
