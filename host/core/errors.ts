import { CairnError } from '../errors.js';

/** Stable codes for misuse of the core API (wrong lengths, out-of-range indices, bad proofs shape). */
export type CoreErrorCode =
  | 'CORE_NOT_INITIALISED'
  | 'CORE_BAD_LENGTH'
  | 'CORE_BAD_INDEX'
  | 'CORE_BAD_SIZE'
  | 'CORE_TOO_LARGE'
  | 'CORE_WASM_UNAVAILABLE';

export class CoreError extends CairnError<CoreErrorCode> {
  constructor(code: CoreErrorCode, message: string) {
    super(code, message, { status: 400 });
    this.name = 'CoreError';
  }
}
