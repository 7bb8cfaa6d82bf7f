/**
 * decodeOid (host/tsa/der.ts) reads arcs as numbers while they stay exact and as bigints after.
 * Checked against an encoder written here from X.690 §8.19 alone, across the number/bigint edge.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeOid } from '../../host/tsa/der.js';

function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const subs = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const s of subs) {
    const groups: number[] = [];
    let v = s;
    do {
      groups.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return Uint8Array.from(out);
}

describe('decodeOid', () => {
  const known = [
    '1.2.840.10045.4.3.2',
    '2.5.29.17',
    '1.3.6.1.4.1.57264.1.8',
    '0.9.2342.19200300.100.1.1',
    '2.999.3',
    '2.25.329800735698586629295641978511506172918', // a UUID arc (X.667)
    `1.2.${2 ** 46 - 1}.${2 ** 46}.${2 ** 53 - 1}.${2n ** 53n}.${2n ** 64n + 5n}`,
    `2.${2n ** 70n}.1`,
  ];
  it.each(known)('%s round-trips', (oid) => expect(decodeOid(encodeOid(oid))).toBe(oid));

  it('random OIDs with arcs up to 80 bits round-trip', () => {
    for (let i = 0; i < 500; i++) {
      const r = randomBytes(40);
      const arcs = [String(r[0]! % 3), String(r[1]! % 40)];
      for (let j = 0; j < 1 + (r[2]! % 6); j++) arcs.push((BigInt(`0x${r.subarray(3 + j * 6, 3 + j * 6 + 1 + (r[3 + j]! % 10)).toString('hex') || '0'}`)).toString());
      const oid = arcs.join('.');
      const der = encodeOid(oid);
      // decodeOid refuses content over 64 octets (no real OID is that long).
      if (der.length > 64) expect(() => decodeOid(der)).toThrow(/length/);
      else expect(decodeOid(der)).toBe(oid);
    }
  });

  it('refuses non-minimal arcs and truncation', () => {
    expect(() => decodeOid(Uint8Array.from([0x2a, 0x80, 0x01]))).toThrow(/non-minimal/);
    expect(() => decodeOid(Uint8Array.from([0x2a, 0x86]))).toThrow(/truncated/);
    expect(() => decodeOid(new Uint8Array(0))).toThrow(/length/);
  });
});
