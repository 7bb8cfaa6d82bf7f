/** Hostile bytes: the strict DER reader, the verifier and the HTTP endpoint never crash on them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimestampAuthority, parseTimeStampReq } from '../../host/tsa/core.js';
import { checkDer, MAX_DER_DEPTH } from '../../host/tsa/der.js';
import { encodeLength } from '../../host/tsa/encode.js';
import { TsaError, TsaRefusal } from '../../host/tsa/errors.js';
import { createTsaIdentity } from '../../host/tsa/keys.js';
import { build } from '../../host/tsa/plugin.js';
import { SerialStore } from '../../host/tsa/store.js';
import { verifyTimestampToken } from '../../host/tsa/verify.js';
import { statusOf } from './helpers.js';

const FIX = join(import.meta.dirname, '../../conformance/vectors/rfc3161-client/test/fixtures');
const token = new Uint8Array(readFileSync(join(FIX, 'sigstage/response-sha256.tsr')));
const request = new Uint8Array(readFileSync(join(FIX, 'sigstage/request.der')));

function nested(depth: number): Uint8Array {
  let b = Uint8Array.of(0x05, 0x00);
  for (let i = 0; i < depth; i++) b = Uint8Array.of(0x30, ...(b.length < 128 ? [b.length] : [0x81, b.length]), ...b);
  return b;
}

/** Each named case is a byte string DER forbids. */
const hostile: [string, Uint8Array][] = [
  ['empty', new Uint8Array(0)],
  ['truncated token', token.subarray(0, token.length - 1)],
  ['truncated header', Uint8Array.of(0x30)],
  ['truncated request', request.subarray(0, 20)],
  ['trailing bytes', Uint8Array.of(...request, 0x00)],
  ['indefinite length', Uint8Array.of(0x30, 0x80, 0x05, 0x00, 0x00, 0x00)],
  ['deep nesting', nested(MAX_DER_DEPTH + 8)],
  ['huge length field (2^32-1)', Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00)],
  ['length field of 9 octets', Uint8Array.of(0x30, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0)],
  ['length larger than input', Uint8Array.of(0x30, 0x10, 0x05, 0x00)],
  ['non-minimal length', Uint8Array.of(0x30, 0x81, 0x02, 0x05, 0x00)],
  ['inner length past parent', Uint8Array.of(0x30, 0x03, 0x04, 0x05, 0x00)],
];

describe('checkDer', () => {
  it.each(hostile)('%s -> TSA_MALFORMED', (_n, bytes) => {
    expect(() => checkDer(bytes)).toThrow(expect.objectContaining({ code: 'TSA_MALFORMED' }));
  });
  it('accepts nesting up to the limit and real tokens', () => {
    expect(() => checkDer(nested(MAX_DER_DEPTH - 1))).not.toThrow();
    expect(() => checkDer(token)).not.toThrow();
  });
  it('thousands of levels fail fast without exhausting the stack', () => {
    let b = Uint8Array.of(0x05, 0x00);
    for (let i = 0; i < 2000; i++) b = Uint8Array.of(0x30, ...encodeLength(b.length), ...b);
    expect(() => checkDer(b)).toThrow(expect.objectContaining({ code: 'TSA_MALFORMED' }));
    const indefinite = new Uint8Array(20_000);
    for (let i = 0; i < indefinite.length; i += 2) [indefinite[i], indefinite[i + 1]] = [0x30, 0x80];
    expect(() => checkDer(indefinite)).toThrow(expect.objectContaining({ code: 'TSA_MALFORMED' }));
  });
});

describe('verifier on hostile input', () => {
  const trust = { trustedCerts: [token.subarray(0, 10)] };
  it.each(hostile)('%s -> TsaError', (_n, bytes) => {
    expect(() => verifyTimestampToken(bytes, trust)).toThrow(TsaError);
  });
  it('every truncation and every single-bit flip of a real token gives a coded error or a pass, never a crash', () => {
    const chainPem = readFileSync(join(FIX, 'sigstage/ts_chain.pem'), 'utf8');
    const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) =>
      new Uint8Array(Buffer.from(p.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')));
    const o = { trustedCerts: [certs[1]!], data: new TextEncoder().encode('hello') };
    const others: unknown[] = [];
    const attempt = (b: Uint8Array): void => {
      try {
        verifyTimestampToken(b, o);
      } catch (e) {
        if (!(e instanceof TsaError)) others.push(e);
      }
    };
    for (let n = 0; n < token.length; n += 3) attempt(token.subarray(0, n));
    for (let i = 0; i < token.length; i++) {
      const t = Uint8Array.from(token);
      t[i]! ^= 1 << (i % 8);
      attempt(t);
    }
    expect(others).toEqual([]);
  });
});

describe('TimeStampReq parser', () => {
  it.each(hostile)('%s -> TsaRefusal', (_n, bytes) => {
    expect(() => parseTimeStampReq(bytes)).toThrow(TsaRefusal);
  });
  it('parses the sigstage request', () => {
    expect(parseTimeStampReq(request)).toMatchObject({ hashAlgorithm: 'sha512', certReq: true, nonce: 0x34cfa9899986d2f5n });
  });
});

describe('POST /api/v1/timestamp with hostile DER', () => {
  let app: FastifyInstance;
  let serials: SerialStore;
  beforeAll(async () => {
    const { identity } = await createTsaIdentity();
    serials = new SerialStore({ path: ':memory:' });
    app = await build({ authority: new TimestampAuthority(identity), serials });
  });
  afterAll(async () => {
    await app.close();
    serials.close();
  });
  const post = (payload: Buffer) => app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/timestamp-query' }, payload });

  it.each(hostile.filter(([n]) => n !== 'empty'))('%s -> 400 rejection TimeStampResp', async (_n, bytes) => {
    const res = await post(Buffer.from(bytes));
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/timestamp-reply');
    expect(statusOf(new Uint8Array(res.rawPayload))).toEqual({ status: 2n, failInfo: ['badDataFormat'], hasToken: false });
  });
  it('an empty body is a coded 400, not a 500', async () => {
    expect((await post(Buffer.alloc(0))).statusCode).toBeGreaterThanOrEqual(400);
    expect((await post(Buffer.alloc(0))).statusCode).toBeLessThan(500);
  });
  it('a body over the limit is refused with 413', async () => {
    const res = await post(Buffer.alloc(64 * 1024, 0x30));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'BODY_TOO_LARGE' });
  });
  it('a JSON nonce that is not a safe integer (1e400 parses to Infinity) is a badRequest rejection, not a 500', async () => {
    const artifactHash = Buffer.alloc(32, 1).toString('base64');
    for (const nonce of ['1e400', '-1e400']) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/json' }, payload: `{"artifactHash":"${artifactHash}","hashAlgorithm":"sha256","nonce":${nonce}}` });
      expect(res.statusCode, nonce).toBe(400);
      expect(statusOf(new Uint8Array(res.rawPayload)).failInfo).toEqual(['badRequest']);
    }
    const proto = await app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/json' }, payload: { artifactHash, hashAlgorithm: 'constructor' } });
    expect(statusOf(new Uint8Array(proto.rawPayload)).failInfo).toEqual(['badAlg']);
  });

  it('random garbage never yields a 5xx', async () => {
    for (let i = 0; i < 200; i++) {
      const len = 1 + ((i * 7919) % 300);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = (i * 31 + j * 17 + (j >> 3)) & 0xff;
      if (i % 2 === 0) b[0] = 0x30;
      expect((await post(b)).statusCode).toBeLessThan(500);
    }
  });
});

describe('verifier on well-framed DER of the wrong shape', () => {
  const t = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s/g, ''), 'hex'));
  it.each([
    ['empty SEQUENCE', '3000'],
    ['ContentInfo with empty [0]', '300d 0609 2a864886f70d010702 a000'],
    ['ContentInfo with empty SignedData', '300f 0609 2a864886f70d010702 a002 3000'],
    ['response with empty status', '3004 3000 3000'],
    ['granted response without token', '3005 3003 020100'],
    ['OID only', '0603 2a0304'],
  ])('%s -> TSA_MALFORMED or TSA_NOT_GRANTED, never a TypeError', (_n, hex) => {
    let err: unknown;
    try {
      verifyTimestampToken(t(hex), { trustedCerts: [] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TsaError);
    expect(['TSA_MALFORMED', 'TSA_NOT_GRANTED']).toContain((err as TsaError).code);
  });
});
