/**
 * The twin of host/core/signatures.ts (same API, same verdicts): @noble/curves for ECDSA P-256
 * over a digest (prehash off; high S accepted, as FIPS 186-5 verification does) and node:crypto
 * (OpenSSL) for Ed25519, plus the small-order public-key refusal the WASM core applies (OpenSSL
 * accepts R = O, S = 0 for every message under the identity key). The shared test suite runs both
 * over Wycheproof and random agreement tests; the one documented divergence (OpenSSL is
 * cofactorless, the core cofactored) has its own test.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { parseSpki, signatureRS, type SignatureItem } from './signature-formats.js';

export function registerKey(publicKey: Uint8Array): boolean {
  const k = parseSpki(publicKey);
  if (!k) return false;
  return k.alg === 'ecdsa-p256-sha256' ? p256.utils.isValidPublicKey(k.point) : ed25519Key(k.point);
}

/** A canonical encoding of a point that is not of small order (8·A ≠ O). */
function ed25519Key(raw: Uint8Array): boolean {
  try {
    const A = ed25519.Point.fromBytes(raw, false); // zip215 = false: canonical encodings only
    return !A.isSmallOrder();
  } catch {
    return false;
  }
}

export function verifySignature(item: SignatureItem): boolean {
  const k = parseSpki(item.publicKey);
  if (!k || k.alg !== item.alg) return false;
  try {
    if (item.alg === 'ecdsa-p256-sha256') {
      if (item.digestOrMessage.length !== 32) return false;
      const rs = signatureRS(item.signature, item.signatureFormat);
      if (!rs) return false;
      const compact = new Uint8Array(64);
      compact.set(rs.r, 0);
      compact.set(rs.s, 32);
      return p256.verify(compact, item.digestOrMessage, k.point, { prehash: false, lowS: false, format: 'compact' });
    }
    if (item.signature.length !== 64 || !ed25519Key(k.point)) return false;
    return nodeVerify(null, item.digestOrMessage, createPublicKey({ key: Buffer.from(item.publicKey), format: 'der', type: 'spki' }), item.signature);
  } catch {
    return false;
  }
}

export function verifyBatch(items: readonly SignatureItem[]): boolean[] {
  return items.map(verifySignature);
}
