/**
 * Minimal DER encoders for the TSA's hot path. A time-stamp response is mostly constant bytes
 * (certificate, signer identifier, algorithm identifiers, ESS attribute); only the TSTInfo, the
 * message digest and the signature change per request, so the response is spliced together from
 * precomputed pieces instead of being re-serialised by asn1-schema every time (measured in
 * bench/tsa.ts).
 */

/** Length octets, definite form (X.690 §8.1.3, §10.1 minimal). */
export function encodeLength(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len);
  const bytes: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One TLV written straight into its final buffer (no intermediate arrays: this is the hot path). */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const k = n < 0x80 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
  const out = new Uint8Array(2 + k + n);
  out[0] = tag;
  if (k === 0) out[1] = n;
  else {
    out[1] = 0x80 | k;
    for (let i = 0; i < k; i++) out[1 + k - i] = (n >>> (8 * i)) & 0xff;
  }
  let o = 2 + k;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const seq = (...p: Uint8Array[]): Uint8Array => tlv(0x30, ...p);
export const set = (...p: Uint8Array[]): Uint8Array => tlv(0x31, ...p);
export const octets = (v: Uint8Array): Uint8Array => tlv(0x04, v);
export const NULL = Uint8Array.of(0x05, 0x00);

/** INTEGER from a bigint, minimal two's complement (X.690 §8.3.2). */
export function integer(n: bigint): Uint8Array {
  const bytes: number[] = [];
  let v = n;
  for (;;) {
    const b = Number(v & 0xffn);
    bytes.unshift(b);
    v >>= 8n;
    if ((v === 0n && (b & 0x80) === 0) || (v === -1n && (b & 0x80) !== 0)) break;
  }
  return tlv(0x02, Uint8Array.from(bytes));
}

/**
 * Encoded OIDs by dotted form. Every caller passes one of a fixed set of constants, and the DER
 * builders of the CA and TSA ask for the same few on every request; the cache is capped anyway.
 */
const oidCache = new Map<string, Uint8Array>();

/** OBJECT IDENTIFIER (X.690 §8.19). The returned bytes are shared: copy before mutating. */
export function oid(dotted: string): Uint8Array {
  let hit = oidCache.get(dotted);
  if (!hit) {
    hit = encodeOid(dotted);
    if (oidCache.size < 1024) oidCache.set(dotted, hit);
  }
  return hit;
}

function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  if (arcs.length < 2) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (n: bigint): void => {
    const tmp = [Number(n & 0x7fn)];
    for (let v = n >> 7n; v > 0n; v >>= 7n) tmp.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...tmp);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Uint8Array.from(out));
}

export function algorithmIdentifier(dotted: string, params?: Uint8Array): Uint8Array {
  return params ? seq(oid(dotted), params) : seq(oid(dotted));
}

/**
 * GeneralizedTime as RFC 3161 §2.4.2 asks: UTC ("Z"), fraction only when non-zero and without
 * trailing zeros (X.690 §11.7.3-4).
 */
export function generalizedTime(d: Date): Uint8Array {
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? '' : '.' + String(ms).padStart(3, '0').replace(/0+$/, '');
  const s = `${d.getUTCFullYear()}`.padStart(4, '0') + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) +
    two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + frac + 'Z';
  const out = new Uint8Array(2 + s.length);
  out[0] = 0x18;
  out[1] = s.length;
  for (let i = 0; i < s.length; i++) out[2 + i] = s.charCodeAt(i); // ASCII only
  return out;
}

const two = (n: number): string => (n < 10 ? '0' : '') + n;

/** Byte-wise comparison used to sort SET OF components (X.690 §11.6). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
