/**
 * Rekor v1's inclusion promise, the signedEntryTimestamp: the log's signature over the RFC 8785
 * (JCS) form of exactly {body, integratedTime, logID, logIndex}, body in base64 and logID the hex
 * SHA-256 of the log's SubjectPublicKeyInfo. It is signed once when the entry is sequenced and
 * stored with it (host/log/log.ts LogOptions.promise).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { signAsync } from '../keys/async-crypto.js';
import { jcs } from './jcs.js';
import { spkiOf } from './keys.js';

export function setPayload(body: Uint8Array, integratedTime: number, logIdHex: string, logIndex: number): Buffer {
  return Buffer.from(jcs({ body: Buffer.from(body).toString('base64'), integratedTime, logID: logIdHex, logIndex }), 'utf8');
}

/** The `promise` signer for a Rekor log keyed by `key` (Ed25519 or ECDSA P-256 with SHA-256). */
export function setSigner(key: KeyObject): (e: { body: Uint8Array; index: number; integratedTime: number }) => Promise<Uint8Array> {
  const logIdHex = createHash('sha256').update(spkiOf(key)).digest('hex');
  const alg = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return async (e) => new Uint8Array(await signAsync(alg, setPayload(e.body, e.integratedTime, logIdHex, e.index), key));
}
