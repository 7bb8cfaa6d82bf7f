/**
 * SPIFFE IDs and trust domain names, parsed strictly per the SPIFFE-ID standard
 * (spiffe/spiffe standards/SPIFFE-ID.md §2). Pure: no I/O.
 *
 * A SPIFFE ID is `spiffe://<trust domain><path>`:
 *  - scheme exactly `spiffe` (lower case, §2);
 *  - trust domain: 1..255 chars of [a-z0-9.-_] only (§2.1) — so no upper case, no port, no
 *    userinfo, no percent-encoding; it is compared byte-for-byte;
 *  - path (§2.2): empty, or `/`-separated segments of [A-Za-z0-9.-_], none empty, none `.` or `..`,
 *    no trailing `/`;
 *  - no query or fragment (§2.3), total length at most 2048 bytes (§2.3).
 * Anything else is rejected with SPIFFE_BAD_ID rather than "normalised": two spellings of one ID
 * would let an attacker register a look-alike.
 */
import { SpiffeError } from './errors.js';

export const MAX_ID_LENGTH = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const TD_RE = /^[a-z0-9._-]+$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

export interface SpiffeId {
  trustDomain: string;
  /** '' for the trust domain's own ID, otherwise starts with '/'. */
  path: string;
}

/** Returns the reason `td` is not a trust domain name, or undefined when it is one. */
export function trustDomainProblem(td: string): string | undefined {
  if (td.length === 0) return 'trust domain is empty';
  if (td.length > MAX_TRUST_DOMAIN_LENGTH) return `trust domain longer than ${MAX_TRUST_DOMAIN_LENGTH}`;
  if (!TD_RE.test(td)) return 'trust domain may only contain a-z 0-9 . - _';
  return undefined;
}

/** Accepts a bare trust domain name (`example.org`) or its ID form (`spiffe://example.org`). */
export function parseTrustDomain(input: unknown): string {
  if (typeof input !== 'string') throw new SpiffeError('SPIFFE_BAD_TRUST_DOMAIN', 'trust domain must be a string');
  const s = input.startsWith('spiffe://') ? input.slice('spiffe://'.length) : input;
  const why = trustDomainProblem(s);
  if (why) throw new SpiffeError('SPIFFE_BAD_TRUST_DOMAIN', `invalid trust domain: ${why}`);
  return s;
}

/** Parses a SPIFFE ID; throws SPIFFE_BAD_ID with the first rule it breaks. */
export function parseSpiffeId(input: unknown): SpiffeId {
  const bad = (why: string): never => {
    throw new SpiffeError('SPIFFE_BAD_ID', `invalid SPIFFE ID: ${why}`);
  };
  if (typeof input !== 'string') return bad('not a string');
  if (input.length === 0) return bad('empty');
  if (Buffer.byteLength(input) > MAX_ID_LENGTH) return bad(`longer than ${MAX_ID_LENGTH} bytes`);
  if (!input.startsWith('spiffe://')) return bad('scheme must be "spiffe" followed by "://"');
  const rest = input.slice('spiffe://'.length);
  if (rest.includes('?')) return bad('query is not allowed');
  if (rest.includes('#')) return bad('fragment is not allowed');
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const why = trustDomainProblem(trustDomain);
  if (why) return bad(why);
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (const seg of segments) {
      if (seg === '') return bad(path.endsWith('/') && seg === segments[segments.length - 1] ? 'trailing slash' : 'empty path segment');
      if (seg === '.' || seg === '..') return bad('dot segments are not allowed');
      if (!SEGMENT_RE.test(seg)) return bad('path may only contain A-Z a-z 0-9 . - _ and /');
    }
  }
  return { trustDomain, path };
}

/** A SPIFFE ID with a non-empty path: what an SVID may name (X509-SVID §5.2, JWT-SVID §3.1.1). */
export function parseWorkloadId(input: unknown): SpiffeId {
  const id = parseSpiffeId(input);
  if (id.path === '') throw new SpiffeError('SPIFFE_BAD_ID', 'invalid SPIFFE ID: an SVID needs a non-root path');
  return id;
}

export function formatSpiffeId(id: SpiffeId): string {
  return `spiffe://${id.trustDomain}${id.path}`;
}

export function trustDomainId(td: string): string {
  return `spiffe://${td}`;
}

/** True when `id` is a SPIFFE ID that belongs to trust domain `td`. */
export function isMemberOf(id: string, td: string): boolean {
  try {
    return parseSpiffeId(id).trustDomain === td;
  } catch {
    return false;
  }
}
