/**
 * node:crypto's one-shot sign and verify, run on the libuv thread pool (the callback forms of
 * crypto.sign / crypto.verify) instead of on the event-loop thread. A service that signs or
 * verifies on every request (the CA signs twice and verifies twice per certificate with CT, the
 * CT log signs every SCT, the Rekor API signs every SET) otherwise spends most of its single
 * JavaScript thread inside OpenSSL while the machine's other cores idle; with the thread pool the
 * event loop keeps parsing requests while the signatures are computed elsewhere.
 */
import { sign, verify, type KeyObject, type SignKeyObjectInput, type VerifyKeyObjectInput } from 'node:crypto';

export function signAsync(algorithm: string | null, data: Uint8Array, key: KeyObject | SignKeyObjectInput): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(algorithm, data, key, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}

/** Resolves false (never rejects) when the signature is malformed or the key cannot verify it. */
export function verifyAsync(algorithm: string | null, data: Uint8Array, key: KeyObject | VerifyKeyObjectInput, signature: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      verify(algorithm, data, key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}
