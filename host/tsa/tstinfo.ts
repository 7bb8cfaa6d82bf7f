/**
 * TSTInfo (RFC 3161 §2.4.2), read straight from its DER: the verifier reads one per timestamp, and
 * asn1js took longer over it than the rest of the token check. Strict: DER framing (checkDer),
 * fields in order, GeneralizedTime as YYYYMMDDhhmmss[.f]Z with no trailing fraction zeros
 * (X.690 §11.7), Accuracy millis/micros in 1..999.
 *
 *   TSTInfo ::= SEQUENCE { version INTEGER { v1(1) }, policy TSAPolicyId, messageImprint,
 *     serialNumber INTEGER, genTime GeneralizedTime, accuracy Accuracy OPTIONAL,
 *     ordering BOOLEAN DEFAULT FALSE, nonce INTEGER OPTIONAL, tsa [0] GeneralName OPTIONAL,
 *     extensions [1] IMPLICIT Extensions OPTIONAL }
 *   MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
 *   Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER OPTIONAL, micros [1] INTEGER OPTIONAL }
 */
import { checkDer, children, decodeInteger, decodeOid, expectTag, valueBytes, type Tlv } from './der.js';
import { TsaError } from './errors.js';

export interface TstInfo {
  version: number;
  policy: string;
  imprintAlgorithm: string;
  hashedMessage: Uint8Array;
  serialNumber: bigint;
  genTime: Date;
  accuracy?: { seconds?: number; millis?: number; micros?: number };
  ordering: boolean;
  nonce?: bigint;
}

function bad(msg: string): never {
  throw new TsaError('TSA_MALFORMED', `malformed TSTInfo: ${msg}`);
}

/** GeneralizedTime content (X.690 §11.7, RFC 3161 §2.4.2) to a Date (milliseconds kept). */
export function generalizedTime(v: Uint8Array): Date {
  const s = Buffer.from(v).toString('latin1');
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/.exec(s);
  if (!m) bad(`genTime ${JSON.stringify(s.slice(0, 40))} is not YYYYMMDDhhmmss[.f]Z`);
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, se, ms));
  // Date.UTC rolls over (month 13, day 32...): a real calendar date round-trips.
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || t.getUTCHours() !== h || t.getUTCMinutes() !== mi || t.getUTCSeconds() !== se) bad('genTime is not a calendar time');
  return t;
}

function smallInt(buf: Uint8Array, t: Tlv, what: string, min: number, max: number): number {
  const n = decodeInteger(valueBytes(buf, t));
  if (n < BigInt(min) || n > BigInt(max)) bad(`${what} out of range`);
  return Number(n);
}

export function parseTstInfo(der: Uint8Array): TstInfo {
  const top = expectTag(checkDer(der), 0x30, 'TSTInfo');
  const f = children(der, top);
  let i = 0;
  const next = (tag: number, what: string): Tlv => expectTag(f[i++], tag, what);
  const version = smallInt(der, next(0x02, 'version'), 'version', 0, 1000);
  const policy = decodeOid(valueBytes(der, next(0x06, 'policy')));
  const mi = children(der, next(0x30, 'messageImprint'));
  if (mi.length !== 2) bad('messageImprint must hold hashAlgorithm and hashedMessage');
  const alg = children(der, expectTag(mi[0], 0x30, 'hashAlgorithm'));
  const imprintAlgorithm = decodeOid(valueBytes(der, expectTag(alg[0], 0x06, 'hashAlgorithm.algorithm')));
  // parameters: absent or NULL (RFC 5754 §2 allows both for SHA-2).
  if (alg.length > 2 || (alg.length === 2 && (alg[1]!.tag !== 0x05 || alg[1]!.end !== alg[1]!.valueStart))) bad('hashAlgorithm parameters must be absent or NULL');
  const hashedMessage = valueBytes(der, expectTag(mi[1], 0x04, 'hashedMessage'));
  const serialNumber = decodeInteger(valueBytes(der, next(0x02, 'serialNumber')));
  const genTime = generalizedTime(valueBytes(der, next(0x18, 'genTime')));
  const out: TstInfo = { version, policy, imprintAlgorithm, hashedMessage, serialNumber, genTime, ordering: false };
  if (f[i]?.tag === 0x30) {
    const acc: NonNullable<TstInfo['accuracy']> = {};
    let last = -1;
    for (const a of children(der, f[i++]!)) {
      const order = a.tag === 0x02 ? 0 : a.tag === 0x80 ? 1 : a.tag === 0x81 ? 2 : -1;
      if (order <= last) bad('accuracy fields out of order or unknown');
      last = order;
      if (order === 0) acc.seconds = smallInt(der, a, 'accuracy.seconds', 0, 2 ** 31);
      if (order === 1) acc.millis = smallInt(der, a, 'accuracy.millis', 1, 999);
      if (order === 2) acc.micros = smallInt(der, a, 'accuracy.micros', 1, 999);
    }
    out.accuracy = acc;
  }
  if (f[i]?.tag === 0x01) {
    const b = valueBytes(der, f[i++]!);
    // X.690 §11.1: TRUE is 0xFF; §11.5: a DEFAULT value (FALSE) is not encoded.
    if (b.length !== 1 || b[0] !== 0xff) bad('ordering must be encoded only when TRUE, as 0xFF');
    out.ordering = true;
  }
  if (f[i]?.tag === 0x02) out.nonce = decodeInteger(valueBytes(der, f[i++]!));
  if (f[i]?.tag === 0xa0) i++; // tsa: informational
  if (f[i]?.tag === 0xa1) i++; // extensions: none are understood, none are critical for us
  if (i !== f.length) bad('unexpected trailing fields');
  return out;
}
