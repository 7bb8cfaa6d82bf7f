/**
 * Coded errors (STYLE.md point 3). Every error Cairn raises on purpose is a CairnError with a
 * stable, machine-readable `code` drawn from a closed union per service, and an HTTP `status`
 * used by the one root error handler (host/http/errors.ts). `cause` keeps the underlying error for
 * the server log only; it is never sent to a client.
 */
export class CairnError<C extends string = string> extends Error {
  readonly code: C;
  readonly status: number;
  /** Seconds a client should wait before retrying (only for 503 overload). */
  readonly retryAfter?: number;

  constructor(code: C, message: string, opts: { status?: number; cause?: unknown; retryAfter?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CairnError';
    this.code = code;
    this.status = opts.status ?? 400;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }
}

export function isCairnError(err: unknown): err is CairnError {
  return err instanceof CairnError;
}
