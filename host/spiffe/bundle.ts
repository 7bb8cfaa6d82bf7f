/**
 * Parsing SPIFFE bundles received from elsewhere (federation), per Trust Domain and Bundle §4:
 * a JWK Set whose `keys` carry `use` "x509-svid" (exactly one certificate in x5c, X509-SVID §6) or
 * "jwt-svid" (with a kid, JWT-SVID §6). Keys with an unknown kty or use MUST be ignored (§4.2);
 * a bundle left with no usable keys means every SVID of that trust domain is untrusted (§4.1.3).
 * Pure; every byte is hostile, so any deviation is SPIFFE_BAD_BUNDLE, never a TypeError.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import type { JWK } from 'jose';
import { SpiffeError } from './errors.js';
import type { BundleDocument } from './ca.js';

export interface ParsedBundle {
  trustDomain: string;
  x509Authorities: Uint8Array[];
  jwtKeys: JWK[];
  sequence?: number;
  refreshHintSeconds?: number;
}

export const MAX_BUNDLE_BYTES = 1 << 20;
const KNOWN_KTY = new Set(['EC', 'RSA', 'OKP']);

export function parseBundle(trustDomain: string, text: string | Uint8Array): ParsedBundle {
  const bad = (why: string, cause?: unknown): never => {
    throw new SpiffeError('SPIFFE_BAD_BUNDLE', `bundle for ${trustDomain}: ${why}`, cause === undefined ? {} : { cause });
  };
  const s = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  if (s.length > MAX_BUNDLE_BYTES) bad('too large');
  let doc: unknown;
  try {
    doc = JSON.parse(s);
  } catch (e) {
    return bad('not JSON', e);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return bad('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.keys)) return bad('"keys" must be an array');
  const out: ParsedBundle = { trustDomain, x509Authorities: [], jwtKeys: [] };
  if (d.spiffe_sequence !== undefined) {
    if (!Number.isSafeInteger(d.spiffe_sequence) || (d.spiffe_sequence as number) < 0) bad('spiffe_sequence must be a non-negative integer');
    out.sequence = d.spiffe_sequence as number;
  }
  if (d.spiffe_refresh_hint !== undefined) {
    if (!Number.isSafeInteger(d.spiffe_refresh_hint) || (d.spiffe_refresh_hint as number) < 0) bad('spiffe_refresh_hint must be a non-negative integer');
    out.refreshHintSeconds = d.spiffe_refresh_hint as number;
  }
  for (const k of d.keys as unknown[]) {
    if (typeof k !== 'object' || k === null || Array.isArray(k)) continue;
    const jwk = k as JWK & Record<string, unknown>;
    if (typeof jwk.kty !== 'string' || !KNOWN_KTY.has(jwk.kty)) continue;
    if (jwk.use === 'x509-svid') {
      if (!Array.isArray(jwk.x5c) || jwk.x5c.length !== 1 || typeof jwk.x5c[0] !== 'string') bad('an x509-svid key must carry exactly one x5c certificate');
      const der = Buffer.from(jwk.x5c![0]!, 'base64');
      if (der.length < 16 || der[0] !== 0x30) bad('x5c is not a DER certificate');
      // Every consumer parses it (TLS anchors for the next fetch, chain checks): a certificate
      // that does not parse would fail each of them with an uncoded error, every time.
      try {
        new X509Certificate(der);
      } catch (e) {
        bad('x5c is not a DER certificate', e);
      }
      out.x509Authorities.push(new Uint8Array(der));
    } else if (jwk.use === 'jwt-svid') {
      if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) bad('a jwt-svid key must have a kid');
      try {
        createPublicKey({ key: jwk as never, format: 'jwk' });
      } catch (e) {
        bad(`jwt-svid key ${jwk.kid} is not a valid public JWK`, e);
      }
      const { d: _private, ...pub } = jwk as Record<string, unknown>;
      if (_private !== undefined) bad('a bundle must not contain private keys');
      out.jwtKeys.push(pub as JWK);
    }
    // Unknown `use`: ignored (§4.2.2).
  }
  return out;
}

export function bundleFromDocument(trustDomain: string, doc: BundleDocument): ParsedBundle {
  return parseBundle(trustDomain, JSON.stringify(doc));
}

/** DER certificates concatenated: the Workload API's X.509 bundle encoding (§5.1). */
export function concatDer(certs: Uint8Array[]): Buffer {
  return Buffer.concat(certs.map((c) => Buffer.from(c)));
}
