import { CairnError } from '../errors.js';

/** Stable codes for everything the log refuses on purpose (STYLE.md point 3). */
export type LogErrorCode =
  /** The body is not JSON, or not the shape the entry type requires. */
  | 'LOG_MALFORMED_ENTRY'
  /** kind/apiVersion we do not implement. */
  | 'LOG_UNSUPPORTED_KIND'
  /** The entry's signature does not verify with the key or certificate it carries. */
  | 'LOG_BAD_SIGNATURE'
  /** A key or certificate in the entry that we cannot parse or do not accept. */
  | 'LOG_BAD_KEY'
  /** The same canonical entry is already in the log (409 with Location). */
  | 'LOG_DUPLICATE'
  | 'LOG_NOT_FOUND'
  /** Query parameters out of range (negative, beyond the tree, first > last...). */
  | 'LOG_BAD_RANGE'
  | 'LOG_BAD_TILE_PATH'
  | 'LOG_BAD_REQUEST'
  /** The sequencing queue is full: retry after Retry-After (503). */
  | 'LOG_OVERLOADED'
  /** The log is closing and takes no more entries (503). */
  | 'LOG_CLOSING'
  | 'LOG_BAD_CONFIG'
  /** CT: the submitted chain is not a valid (pre)certificate chain (RFC 6962 §4.1). */
  | 'CT_BAD_CHAIN'
  /** A cosignature from an unknown witness, or one that does not verify (C2SP tlog-cosignature). */
  | 'LOG_BAD_COSIGNATURE'
  /** A checkpoint that is not consistent with one published earlier: never published. */
  | 'LOG_INCONSISTENT'
  /** The database behind the log (PostgreSQL) cannot be reached or refused the write: retry later (503). */
  | 'LOG_STORE_UNAVAILABLE'
  /** The database holds another log (another key or origin) than this node is configured for. */
  | 'LOG_STORE_MISMATCH'
  /** The database holds fewer entries (or another tree) than this node already published: acknowledged entries were lost there (500). */
  | 'LOG_STORE_BEHIND'
  /** An entry whose canonical body is over 65,535 bytes, the most a C2SP entry bundle can frame (413). */
  | 'LOG_ENTRY_TOO_LARGE';

export class LogError extends CairnError<LogErrorCode> {
  constructor(code: LogErrorCode, message: string, opts: { status?: number; cause?: unknown; retryAfter?: number } = {}) {
    super(code, message, { status: opts.status ?? defaultStatus(code), ...(opts.cause !== undefined ? { cause: opts.cause } : {}), ...(opts.retryAfter !== undefined ? { retryAfter: opts.retryAfter } : {}) });
    this.name = 'LogError';
  }
}

function defaultStatus(code: LogErrorCode): number {
  switch (code) {
    case 'LOG_DUPLICATE':
      return 409;
    case 'LOG_NOT_FOUND':
      return 404;
    case 'LOG_OVERLOADED':
    case 'LOG_CLOSING':
    case 'LOG_STORE_UNAVAILABLE':
      return 503;
    case 'LOG_UNSUPPORTED_KIND':
      return 400;
    case 'LOG_ENTRY_TOO_LARGE':
      return 413;
    case 'LOG_INCONSISTENT':
    case 'LOG_STORE_MISMATCH':
    case 'LOG_STORE_BEHIND':
      return 500;
    default:
      return 400;
  }
}
