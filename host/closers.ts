/**
 * Closing a service: every resource is released even when one of them fails to close (a store
 * whose database went away, a signer whose HSM session is lost), and closing twice is closing once
 * (a signal handler and a test's afterAll may both call it). Otherwise a failed close left the
 * stores, workers and timers after it open, and the process did not exit.
 */

/** Runs every closer in order, each once, then throws the first failure (if any). */
export async function closeAll(closers: readonly (() => unknown)[]): Promise<void> {
  let failure: { e: unknown } | undefined;
  for (const c of closers) {
    try {
      await c();
    } catch (e) {
      failure ??= { e };
    }
  }
  if (failure) throw failure.e;
}

/** `fn` run on the first call only; every call gets that same promise. */
export function closeOnce(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
