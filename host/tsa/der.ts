/**
 * A small strict DER reader (ITU-T X.690 §10). asn1js, which sits under @peculiar/asn1-schema, is
 * lenient: it accepts indefinite lengths, trailing bytes and arbitrary nesting. Everything from
 * outside therefore passes `checkDer` first, and the few places where we need the exact bytes
 * that were signed (CMS signedAttrs, eContent, certificate fields) walk the TLVs here directly
 * instead of trusting a re-encoding.
 */
import { Buffer } from 'node:buffer';
import { TsaError } from './errors.js';

export const MAX_DER_DEPTH = 32;

/** One tag-length-value. Offsets index into the buffer it was read from. */
export interface Tlv {
  /** First identifier octet (class | constructed | tag number for numbers < 31). */
  readonly tag: number;
  readonly constructed: boolean;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly valueStart: number;
  /** Offset just past the last content octet. */
  readonly end: number;
}

function malformed(msg: string): never {
  throw new TsaError('TSA_MALFORMED', `malformed DER: ${msg}`);
}

/** Read one TLV at `pos`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): Tlv {
  if (pos >= limit) malformed('truncated (missing tag)');
  const tag = buf[pos]!;
  let p = pos + 1;
  if ((tag & 0x1f) === 0x1f) {
    // High tag number form (§8.1.2.4): base-128, no leading 0x80, at most 4 octets here.
    if (p >= limit) malformed('truncated tag');
    if (buf[p] === 0x80) malformed('non-minimal tag encoding');
    let n = 0;
    for (;;) {
      if (p >= limit) malformed('truncated tag');
      const b = buf[p++]!;
      if (++n > 4) malformed('tag number too large');
      if ((b & 0x80) === 0) break;
    }
  }
  if (p >= limit) malformed('truncated (missing length)');
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) {
    len = first;
  } else if (first === 0x80) {
    // §10.1: DER uses the definite form only.
    malformed('indefinite length');
  } else {
    const n = first & 0x7f;
    // Four length octets already describe 4 GiB, far more than any input we accept.
    if (n > 4) malformed('length field too large');
    if (p + n > limit) malformed('truncated length');
    if (buf[p] === 0) malformed('non-minimal length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
    if (len < 0x80) malformed('non-minimal length');
  }
  if (len > limit - p) malformed('length exceeds input');
  return { tag, constructed: (tag & 0x20) !== 0, start: pos, valueStart: p, end: p + len };
}

/**
 * Check that `buf` is exactly one well-framed DER TLV: definite minimal lengths, nothing past the
 * end, constructed values made of whole TLVs, nesting no deeper than `maxDepth`. Primitive values
 * (and so an OCTET STRING that wraps more DER) are not descended into; check those separately.
 */
export function checkDer(buf: Uint8Array, maxDepth: number = MAX_DER_DEPTH): Tlv {
  const top = readTlv(buf, 0, buf.length);
  if (top.end !== buf.length) malformed(`${buf.length - top.end} trailing byte(s)`);
  // Iterative walk so hostile nesting cannot exhaust the JS stack.
  const stack: { end: number; pos: number }[] = [];
  if (top.constructed) stack.push({ pos: top.valueStart, end: top.end });
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.pos >= frame.end) {
      stack.pop();
      continue;
    }
    const t = readTlv(buf, frame.pos, frame.end);
    frame.pos = t.end;
    if (t.constructed) {
      if (stack.length >= maxDepth) malformed(`nesting deeper than ${maxDepth}`);
      stack.push({ pos: t.valueStart, end: t.end });
    }
  }
  return top;
}

/** The TLVs directly inside a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if (!parent.constructed) malformed('expected a constructed value');
  const out: Tlv[] = [];
  for (let p = parent.valueStart; p < parent.end; ) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function tlvBytes(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function valueBytes(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.valueStart, t.end);
}

/** Assert the identifier octet, with a readable reason. */
export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined) malformed(`${what}: missing`);
  if (t.tag !== tag) malformed(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** Decode an OBJECT IDENTIFIER's content octets to dotted form (X.690 §8.19). */
export function decodeOid(v: Uint8Array): string {
  if (v.length === 0 || v.length > 64) malformed('bad OID length');
  // Arcs are read as numbers while they stay exact (below 2^46, so one more 7-bit step fits in
  // 2^53); a longer arc, which real OIDs (UUID arcs under 2.25) can have, continues as a bigint.
  let out = '';
  let n = 0;
  let big: bigint | undefined;
  let first = true;
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (n === 0 && big === undefined && b === 0x80) malformed('non-minimal OID arc');
    if (big !== undefined) big = (big << 7n) | BigInt(b & 0x7f);
    else if (n >= 2 ** 46) big = (BigInt(n) << 7n) | BigInt(b & 0x7f);
    else n = n * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (first) {
        // X.690 §8.19.4: the first subidentifier is 40·X + Y, X ∈ {0, 1, 2}.
        if (big !== undefined) out = `2.${big - 80n}`;
        else {
          const x = n < 40 ? 0 : n < 80 ? 1 : 2;
          out = `${x}.${n - x * 40}`;
        }
        first = false;
      } else out += `.${big ?? n}`;
      n = 0;
      big = undefined;
    } else if (i === v.length - 1) malformed('truncated OID');
  }
  return out;
}

/** Decode INTEGER content octets (two's complement, §8.3) to a bigint; rejects non-minimal forms. */
export function decodeInteger(v: Uint8Array): bigint {
  if (v.length === 0) malformed('empty INTEGER');
  if (v.length > 1 && ((v[0] === 0 && (v[1]! & 0x80) === 0) || (v[0] === 0xff && (v[1]! & 0x80) !== 0))) {
    malformed('non-minimal INTEGER');
  }
  // One hex parse, linear in the length: shifting a bigint per octet is quadratic, and INTEGERs
  // such as a TSTInfo serialNumber are read before any signature check (a few hostile MB held
  // the verifier for minutes).
  let n = BigInt(`0x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`);
  if (v[0]! & 0x80) n -= 1n << BigInt(8 * v.length);
  return n;
}

/**
 * Byte equality of public values (certificates, names, digests in a token): nothing compared here
 * is secret, so a difference may end the comparison early; certificates (hundreds of bytes) go to
 * the native memcmp of Buffer.compare.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length >= 64) return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
