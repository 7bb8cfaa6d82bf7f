import { CairnError } from '../errors.js';

/** Stable codes for key-backend failures (STYLE.md point 3). All are configuration/operator errors. */
export type KeyErrorCode =
  /** Key file missing, not encrypted PKCS#8, wrong passphrase, or mode wider than 0600. */
  | 'KEY_FILE_INVALID'
  /** No passphrase available (env var unset, no passphrase file). */
  | 'KEY_NO_PASSPHRASE'
  /** A key type the backend does not sign with (e.g. P-521, RSA < 2048). */
  | 'KEY_UNSUPPORTED'
  /** PKCS#11: module cannot be loaded, token/key not found, login failed, or a signing call failed. */
  | 'KEY_PKCS11';

export class KeyError extends CairnError<KeyErrorCode> {
  constructor(code: KeyErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { status: 500, ...(opts.cause !== undefined ? { cause: opts.cause } : {}) });
    this.name = 'KeyError';
  }
}
