/**
 * host/tsa/tstinfo.ts (hand-read TSTInfo) against its twin, asn1-schema's TSTInfo: every RFC 3161
 * fixture response gives the same fields; hostile encodings are TSA_MALFORMED.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SignedData } from '@peculiar/asn1-cms';
import { TimeStampResp, TSTInfo } from '@peculiar/asn1-tsp';
import { expect, it } from 'vitest';
import { generalizedTime, parseTstInfo } from '../../host/tsa/tstinfo.js';

const FIX = join(import.meta.dirname, '../../conformance/vectors/rfc3161-client/test/fixtures');

function tstInfos(): { name: string; der: Uint8Array }[] {
  const out: { name: string; der: Uint8Array }[] = [];
  for (const d of readdirSync(FIX)) {
    if (!statSync(join(FIX, d)).isDirectory()) continue;
    for (const f of readdirSync(join(FIX, d)).filter((x) => x.endsWith('.tsr'))) {
      try {
        const resp = AsnConvert.parse(readFileSync(join(FIX, d, f)), TimeStampResp);
        if (!resp.timeStampToken) continue;
        const sd = AsnConvert.parse(resp.timeStampToken.content, SignedData);
        const e = sd.encapContentInfo.eContent;
        if (e?.single) out.push({ name: `${d}/${f}`, der: new Uint8Array(e.single.buffer) });
      } catch {
        // a fixture that is malformed on purpose at the CMS level
      }
    }
  }
  return out;
}

/** DER INTEGER content octets are two's complement (X.690 §8.3.3). */
function signed(ab: ArrayBuffer): bigint {
  const b = Buffer.from(ab);
  const n = BigInt(`0x${b.toString('hex') || '0'}`);
  return b.length > 0 && b[0]! & 0x80 ? n - (1n << BigInt(8 * b.length)) : n;
}

it('reads every fixture TSTInfo exactly as asn1-schema does', () => {
  const all = tstInfos();
  expect(all.length).toBeGreaterThan(5);
  for (const { name, der } of all) {
    const mine = parseTstInfo(der);
    const twin = AsnConvert.parse(der, TSTInfo);
    expect(mine.version, name).toBe(twin.version);
    expect(mine.policy, name).toBe(twin.policy);
    expect(mine.imprintAlgorithm, name).toBe(twin.messageImprint.hashAlgorithm.algorithm);
    expect(Buffer.from(mine.hashedMessage), name).toEqual(Buffer.from(twin.messageImprint.hashedMessage.buffer));
    expect(mine.serialNumber, name).toBe(signed(twin.serialNumber));
    expect(mine.genTime.getTime(), name).toBe(twin.genTime.getTime());
    expect(mine.ordering, name).toBe(twin.ordering ?? false);
    expect(mine.nonce, name).toBe(twin.nonce ? signed(twin.nonce) : undefined);
    if (twin.accuracy) expect(mine.accuracy, name).toEqual(Object.fromEntries(Object.entries({ seconds: twin.accuracy.seconds, millis: twin.accuracy.millis, micros: twin.accuracy.micros }).filter(([, v]) => v !== undefined)));
    else expect(mine.accuracy, name).toBeUndefined();
  }
});

it('GeneralizedTime: fractions kept to the millisecond, non-DER forms refused', () => {
  const t = (s: string) => generalizedTime(Buffer.from(s, 'latin1'));
  expect(t('20261129193000Z').toISOString()).toBe('2026-11-29T19:30:00.000Z');
  expect(t('20261129193000.5Z').toISOString()).toBe('2026-11-29T19:30:00.500Z');
  expect(t('20261129193000.123456Z').toISOString()).toBe('2026-11-29T19:30:00.123Z');
  for (const bad of ['20261129193000.50Z', '20261129193000.Z', '202611291930Z', '20261129193000', '20261129193000+0100', '20261332193000Z', '20260230120000Z']) {
    expect(() => t(bad), bad).toThrow(expect.objectContaining({ code: 'TSA_MALFORMED' }));
  }
});

it('refuses a TSTInfo with a field after the last one it defines', () => {
  const base = tstInfos()[0]!.der;
  const withTrailing = Buffer.from(base);
  // Append a NULL inside the outer SEQUENCE (short-form or long-form length).
  const hdr = withTrailing[1]! < 0x80 ? 2 : 2 + (withTrailing[1]! & 0x7f);
  const body = Buffer.concat([withTrailing.subarray(hdr), Buffer.from([0x05, 0x00])]);
  const len = body.length < 0x80 ? Buffer.from([body.length]) : body.length < 0x100 ? Buffer.from([0x81, body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  expect(() => parseTstInfo(Buffer.concat([Buffer.from([0x30]), len, body]))).toThrow(expect.objectContaining({ code: 'TSA_MALFORMED' }));
});
