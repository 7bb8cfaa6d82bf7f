/**
 * Encodings shared by the WASM verifier and its twin (pure, runtime-neutral): SubjectPublicKeyInfo
 * for P-256 (RFC 5480 §2: id-ecPublicKey + prime256v1, uncompressed point) and Ed25519 (RFC 8410
 * §4), and ECDSA signatures as strict DER Ecdsa-Sig-Value (RFC 3279 §2.2.3, X.690 §10: minimal
 * lengths, minimal non-negative INTEGERs, no trailing bytes) or, when the item says so, raw r‖s
 * (IEEE P1363). The form is declared, never guessed: a 64-byte r‖s can also be well-formed DER.
 */
export type SignatureAlg = 'ecdsa-p256-sha256' | 'ed25519';

export interface SignatureItem {
  alg: SignatureAlg;
  /** SubjectPublicKeyInfo, DER. */
  publicKey: Uint8Array;
  /** ECDSA: the 32-byte SHA-256 digest. Ed25519: the message. */
  digestOrMessage: Uint8Array;
  /** ECDSA: DER, or 64-byte r‖s with signatureFormat 'p1363'. Ed25519: 64 bytes. */
  signature: Uint8Array;
  /**
   * ECDSA only. 'der' (the default) is what X.509, CMS, RFC 6962, Rekor and OpenSSL use; 'p1363'
   * (r‖s) is what JWS, Web Crypto and TPM quotes carry.
   */
  signatureFormat?: 'der' | 'p1363';
}

const P256_PREFIX = Uint8Array.from([0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00]);
const ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

function startsWith(a: Uint8Array, p: Uint8Array): boolean {
  if (a.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (a[i] !== p[i]) return false;
  return true;
}

/** Byte-for-byte equality (public values only: it returns at the first difference). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}

/** The key's algorithm and raw point / key bytes, or undefined for anything else (incl. compressed points). */
export function parseSpki(spki: Uint8Array): { alg: SignatureAlg; point: Uint8Array } | undefined {
  if (spki.length === 91 && startsWith(spki, P256_PREFIX) && spki[26] === 0x04) return { alg: 'ecdsa-p256-sha256', point: spki.subarray(26) };
  if (spki.length === 44 && startsWith(spki, ED25519_PREFIX)) return { alg: 'ed25519', point: spki.subarray(12) };
  return undefined;
}

function derInt(b: Uint8Array, p: number): { value: Uint8Array; next: number } | undefined {
  if (b[p] !== 0x02) return undefined;
  const len = b[p + 1];
  if (len === undefined || len === 0 || len > 33 || p + 2 + len > b.length) return undefined;
  const v = b.subarray(p + 2, p + 2 + len);
  if (v[0]! & 0x80) return undefined; // negative
  if (v[0] === 0 && len > 1 && !(v[1]! & 0x80)) return undefined; // not minimal
  const stripped = v[0] === 0 && len > 1 ? v.subarray(1) : v;
  if (stripped.length > 32) return undefined;
  return { value: stripped, next: p + 2 + len };
}

function pad32(v: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  out.set(v, 32 - v.length);
  return out;
}

/** r and s as 32-byte big-endian values from a signature in the given form; undefined if malformed. */
export function signatureRS(sig: Uint8Array, format: 'der' | 'p1363' = 'der'): { r: Uint8Array; s: Uint8Array } | undefined {
  if (format === 'p1363') return sig.length === 64 ? { r: sig.subarray(0, 32), s: sig.subarray(32, 64) } : undefined;
  return derRS(sig);
}

function derRS(sig: Uint8Array): { r: Uint8Array; s: Uint8Array } | undefined {
  if (sig.length < 8 || sig[0] !== 0x30) return undefined;
  let p = 1;
  let len = sig[p++]!;
  if (len === 0x81) {
    len = sig[p++]!;
    if (len < 0x80) return undefined;
  } else if (len > 0x80) {
    return undefined;
  }
  if (p + len !== sig.length) return undefined;
  const r = derInt(sig, p);
  if (!r) return undefined;
  const s = derInt(sig, r.next);
  if (!s || s.next !== sig.length) return undefined;
  return { r: pad32(r.value), s: pad32(s.value) };
}

