/**
 * Mutation fuzzing of the strict DER reader and the RFC 3161 parsers (TimeStampReq, TSTInfo,
 * TimeStampResp / TimeStampToken with CMS SignedData, certificates inside): seeded mutations of
 * the rfc3161-client vectors; every outcome is a success or a TsaError with its code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseTimeStampReq } from '../../host/tsa/core.js';
import { checkDer, children, decodeInteger, decodeOid, expectTag, readTlv, valueBytes } from '../../host/tsa/der.js';
import { seq, tlv } from '../../host/tsa/encode.js';
import { parseTstInfo } from '../../host/tsa/tstinfo.js';
import { embeddedCertificates, verifyTimestampToken } from '../../host/tsa/verify.js';
import { fuzz, mutateBytesN, outcome } from '../mutate.js';

const FIX = join(import.meta.dirname, '../../conformance/vectors/rfc3161-client/test/fixtures');
const fixture = (p: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, p)));
function chain(p: string): Uint8Array[] {
  const pems = readFileSync(join(FIX, p), 'latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
  return pems.map((x) => new Uint8Array(new X509Certificate(x).raw));
}

const tokens: [Uint8Array, Uint8Array[]][] = [
  [fixture('sigstage/response-sha256.tsr'), chain('sigstage/ts_chain.pem')],
  [fixture('sigstage/response-no-embedded-cert.tsr'), chain('sigstage/ts_chain.pem')],
  [fixture('test_tsa/response.tsr'), chain('test_tsa/ts_chain.pem')],
];
const requests = [fixture('sigstage/request.der'), fixture('test_tsa/request.der'), fixture('test_tsa/other_request.der')];

/** The TSTInfo (eContent) inside a TimeStampResp. */
function tstInfoOf(resp: Uint8Array): Uint8Array {
  const top = checkDer(resp);
  const ci = children(resp, children(resp, top)[1]!);
  const sd = children(resp, children(resp, ci[1]!)[0]!);
  const encap = children(resp, sd[2]!);
  return valueBytes(resp, children(resp, encap[1]!)[0]!);
}

describe('fuzz: strict DER reader', () => {
  it('checkDer, decodeOid and decodeInteger answer TSA_MALFORMED or a value on mutated DER', () => {
    const seeds = [...tokens.map(([t]) => t), ...requests, ...tokens.flatMap(([, c]) => c)];
    const { crashes, runs } = fuzz(0xd3e, 4000, (r) => mutateBytesN(seeds[Math.floor(r() * seeds.length)]!, r), (b) =>
      outcome(() => {
        const top = checkDer(b);
        // Walk every primitive OID / INTEGER as a decoder would.
        const walk = (t: typeof top, depth: number): void => {
          if (t.constructed) for (const c of children(b, t)) walk(c, depth + 1);
          else if (t.tag === 0x06) decodeOid(valueBytes(b, t));
          else if (t.tag === 0x02) decodeInteger(valueBytes(b, t));
        };
        walk(top, 0);
      }),
    );
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(500);
  });

  it('decodeInteger is linear: a 256 KB INTEGER decodes in well under a second', () => {
    // Regression: shifting a bigint by 8 bits per octet is quadratic, so a TSTInfo serialNumber
    // of a few MB (read before any signature check) held a verifier for minutes.
    const v = new Uint8Array(1 << 18).fill(0x5a);
    const t0 = performance.now();
    const n = decodeInteger(v);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(n.toString(16)).toBe('5a'.repeat(1 << 18));
    expect(decodeInteger(Uint8Array.of(0xff, 0x7f))).toBe(-129n);
    expect(decodeInteger(Uint8Array.of(0x80))).toBe(-128n);
    expect(decodeInteger(Uint8Array.of(0x00, 0x80))).toBe(128n);
    expect(decodeInteger(Uint8Array.of(0x00))).toBe(0n);
  });
});

describe('fuzz: RFC 3161 parsers', () => {
  it('parseTimeStampReq answers a TsaRefusal (TSA_REQUEST_REFUSED) or a request', () => {
    const { crashes, runs } = fuzz(0x3161, 4000, (r) => mutateBytesN(requests[Math.floor(r() * requests.length)]!, r), (b) => outcome(() => parseTimeStampReq(b)));
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(500);
  });

  it('parseTstInfo answers TSA_MALFORMED or a TSTInfo', () => {
    const infos = tokens.map(([t]) => tstInfoOf(t));
    const { crashes, runs } = fuzz(0x7571, 4000, (r) => mutateBytesN(infos[Math.floor(r() * infos.length)]!, r), (b) => outcome(() => parseTstInfo(b)));
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(500);
  });

  it('verifyTimestampToken and embeddedCertificates answer a TsaError on mutated responses', () => {
    const { crashes, runs } = fuzz(0x70c, 2000, (r) => {
      const [t, c] = tokens[Math.floor(r() * tokens.length)]!;
      return { b: mutateBytesN(t, r), c };
    }, ({ b, c }) => {
      const e = outcome(() => embeddedCertificates(b));
      if (e.startsWith('CRASH')) return e;
      return outcome(() => verifyTimestampToken(b, { trustedCerts: [c[c.length - 1]!], tsaCertificates: c.slice(0, -1) }));
    }, { budgetMs: 6000 });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(300);
  });

  it('a TSTInfo with a 256 KB serialNumber is answered quickly', () => {
    const [resp] = tokens[0]!;
    const info = tstInfoOf(resp);
    const f = children(info, checkDer(info));
    const big = tlv(0x02, new Uint8Array(1 << 18).fill(0x11));
    const parts = f.map((t, i) => (i === 3 ? big : info.subarray(t.start, t.end)));
    const hostile = seq(...parts);
    expect(expectTag(readTlv(hostile, 0), 0x30, 'TSTInfo').end).toBe(hostile.length);
    const t0 = performance.now();
    const got = parseTstInfo(hostile);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(got.serialNumber > 0n).toBe(true);
  });
});
