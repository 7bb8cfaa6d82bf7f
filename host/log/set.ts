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

/**
 * The signed payload, written directly in its RFC 8785 form: members in key order (body,
 * integratedTime, logID, logIndex by UTF-16 code units, §3.2.3), strings and numbers as
 * JSON.stringify writes them (ECMAScript serialization, §3.2.2.2-3). A non-finite number has no
 * JSON form, so it goes through jcs() and its error. Equal to jcs() of the object (tested), without
 * its generic walk: verifying a bundle builds one per entry.
 */
export function setPayload(body: Uint8Array, integratedTime: number, logIdHex: string, logIndex: number): Buffer {
  const b64 = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64');
  if (!Number.isFinite(integratedTime) || !Number.isFinite(logIndex)) return Buffer.from(jcs({ body: b64, integratedTime, logID: logIdHex, logIndex }), 'utf8');
  return Buffer.from(`{"body":${JSON.stringify(b64)},"integratedTime":${JSON.stringify(integratedTime)},"logID":${JSON.stringify(logIdHex)},"logIndex":${JSON.stringify(logIndex)}}`, 'utf8');
}

/** The `promise` signer for a Rekor log keyed by `key` (Ed25519 or ECDSA P-256 with SHA-256). */
export function setSigner(key: KeyObject): (e: { body: Uint8Array; index: number; integratedTime: number }) => Promise<Uint8Array> {
  const logIdHex = createHash('sha256').update(spkiOf(key)).digest('hex');
  const alg = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return async (e) => new Uint8Array(await signAsync(alg, setPayload(e.body, e.integratedTime, logIdHex, e.index), key));
}
