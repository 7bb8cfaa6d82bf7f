/**
 * The twin of host/core/signatures.ts (same API, same verdicts): @noble/curves for ECDSA P-256
 * over a digest (prehash off; high S accepted, as FIPS 186-5 verification does) and node:crypto
 * for Ed25519. The shared test suite runs both over Wycheproof and random agreement tests.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { parseSpki, signatureRS, type SignatureItem } from './signature-formats.js';

export function registerKey(publicKey: Uint8Array): boolean {
  const k = parseSpki(publicKey);
  return !!k && k.alg === 'ecdsa-p256-sha256';
}

export function verifySignature(item: SignatureItem): boolean {
  const k = parseSpki(item.publicKey);
  if (!k || k.alg !== item.alg) return false;
  try {
    if (item.alg === 'ecdsa-p256-sha256') {
      if (item.digestOrMessage.length !== 32) return false;
      const rs = signatureRS(item.signature);
      if (!rs) return false;
      const compact = new Uint8Array(64);
      compact.set(rs.r, 0);
      compact.set(rs.s, 32);
      return p256.verify(compact, item.digestOrMessage, k.point, { prehash: false, lowS: false, format: 'compact' });
    }
    if (item.signature.length !== 64) return false;
    return nodeVerify(null, item.digestOrMessage, createPublicKey({ key: Buffer.from(item.publicKey), format: 'der', type: 'spki' }), item.signature);
  } catch {
    return false;
  }
}

export function verifyBatch(items: readonly SignatureItem[]): boolean[] {
  return items.map(verifySignature);
}
