import { createHash, X509Certificate } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { messageImprintDer, TimestampAuthority, type AuthorityOptions } from '../../host/tsa/core.js';
import { algorithmIdentifier, integer, octets, oid, seq, tlv } from '../../host/tsa/encode.js';
import { TsaError } from '../../host/tsa/errors.js';
import { createTsaIdentity, pemCertificates, type TsaIdentity } from '../../host/tsa/keys.js';
import { HASH_OIDS } from '../../host/tsa/oids.js';
import { build } from '../../host/tsa/plugin.js';
import { parseTsaConfig, startStandalone } from '../../host/tsa/standalone.js';
import { RandomSerials, SerialStore } from '../../host/tsa/store.js';
import { verifyTimestampToken } from '../../host/tsa/verify.js';
import { makePki, statusOf } from './helpers.js';

const hello = new TextEncoder().encode('hello');
const sha = (alg: string, d: Uint8Array): Uint8Array => new Uint8Array(createHash(alg).update(d).digest());

/** A DER TimeStampReq built field by field (RFC 3161 §2.4.1). */
function tsq(o: { hashOid?: string; hash?: Uint8Array; policy?: string; nonce?: bigint; certReq?: boolean; extensions?: boolean } = {}): Buffer {
  return Buffer.from(seq(
    integer(1n),
    seq(algorithmIdentifier(o.hashOid ?? HASH_OIDS.sha256), octets(o.hash ?? sha('sha256', hello))),
    ...(o.policy ? [oid(o.policy)] : []),
    ...(o.nonce !== undefined ? [integer(o.nonce)] : []),
    ...(o.certReq ? [Uint8Array.of(0x01, 0x01, 0xff)] : []),
    ...(o.extensions ? [tlv(0xa0, seq(oid('1.2.3.4'), octets(Uint8Array.of(5, 0))))] : []),
  ));
}

describe('TSA HTTP API', () => {
  let identity: TsaIdentity;
  let app: FastifyInstance;
  let serials: SerialStore;
  let root: Uint8Array;
  beforeAll(async () => {
    ({ identity } = await createTsaIdentity({ type: 'ecdsa-p256' }));
    root = identity.certificates[1]!;
    serials = new SerialStore({ path: ':memory:', blockSize: 16 });
    app = await build({ authority: new TimestampAuthority({ ...identity, policies: ['1.3.6.1.4.1.57264.2', '1.2.3.4.5'] }), serials });
  });
  afterAll(async () => {
    await app.close();
    serials.close();
  });
  const postDer = (payload: Buffer) => app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/timestamp-query' }, payload });
  const postJson = (payload: object) => app.inject({ method: 'POST', url: '/api/v1/timestamp', payload });

  it('DER request with nonce and certReq -> 201 token that verifies', async () => {
    const res = await postDer(tsq({ nonce: 0x1122334455667788n, certReq: true }));
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toBe('application/timestamp-reply');
    const v = verifyTimestampToken(new Uint8Array(res.rawPayload), { data: hello, nonce: 0x1122334455667788n, trustedCerts: [root] });
    expect(v.policy).toBe('1.3.6.1.4.1.57264.2');
    expect(Math.abs(v.genTime.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('without certReq the cert is left out and must come from outside', async () => {
    const der = new Uint8Array((await postDer(tsq())).rawPayload);
    expect(() => verifyTimestampToken(der, { data: hello, trustedCerts: [root] })).toThrow(expect.objectContaining({ code: 'TSA_SIGNER_NOT_FOUND' }));
    expect(verifyTimestampToken(der, { data: hello, trustedCerts: [root], tsaCertificates: [identity.certificates[0]!] }).nonce).toBeUndefined();
  });

  it.each(['sha384', 'sha512'] as const)('%s imprints', async (alg) => {
    const res = await postDer(tsq({ hashOid: HASH_OIDS[alg], hash: sha(alg, hello), certReq: true }));
    expect(verifyTimestampToken(new Uint8Array(res.rawPayload), { data: hello, trustedCerts: [root] }).hashAlgorithm).toBe(alg);
  });

  it('a configured second policy is honoured', async () => {
    const res = await postDer(tsq({ policy: '1.2.3.4.5', certReq: true }));
    expect(verifyTimestampToken(new Uint8Array(res.rawPayload), { data: hello, trustedCerts: [root] }).policy).toBe('1.2.3.4.5');
  });

  it.each<[string, Buffer, string]>([
    ['sha1', tsq({ hashOid: '1.3.14.3.2.26', hash: sha('sha1', hello) }), 'badAlg'],
    ['md5', tsq({ hashOid: '1.2.840.113549.2.5', hash: sha('md5', hello) }), 'badAlg'],
    ['unknown hash', tsq({ hashOid: '1.2.3', hash: new Uint8Array(32) }), 'badAlg'],
    ['imprint of the wrong length', tsq({ hash: new Uint8Array(31) }), 'badDataFormat'],
    ['unaccepted policy', tsq({ policy: '1.3.6.1.4.1.99999.1' }), 'unacceptedPolicy'],
    ['request extensions', tsq({ extensions: true }), 'unacceptedExtension'],
    ['version 2', Buffer.from(seq(integer(2n), seq(algorithmIdentifier(HASH_OIDS.sha256), octets(sha('sha256', hello))))), 'badRequest'],
  ])('DER %s -> 400 rejection with failInfo %s', async (_n, body, info) => {
    const res = await postDer(body);
    expect(res.statusCode).toBe(400);
    expect(statusOf(new Uint8Array(res.rawPayload))).toEqual({ status: 2n, failInfo: [info], hasToken: false });
  });

  it('Sigstore JSON request end to end', async () => {
    const res = await postJson({ artifactHash: Buffer.from(sha('sha256', hello)).toString('base64'), hashAlgorithm: 'sha256', certificates: true, nonce: 1234567, tsaPolicyOID: '1.3.6.1.4.1.57264.2' });
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toBe('application/timestamp-reply');
    const v = verifyTimestampToken(new Uint8Array(res.rawPayload), { data: hello, nonce: 1234567n, trustedCerts: [root], policy: '1.3.6.1.4.1.57264.2' });
    expect(v.hashAlgorithm).toBe('sha256');
  });

  it('JSON: sha512, no certificates, nonce as a decimal string beyond 2^53', async () => {
    // Unknown fields are dropped by the schema (removeAdditional), as Sigstore's server ignores them.
    const res = await postJson({ artifactHash: Buffer.from(sha('sha512', hello)).toString('base64'), hashAlgorithm: 'sha512', nonce: '123456789012345678901234567890', extra: true });
    const v = verifyTimestampToken(new Uint8Array(res.rawPayload), { data: hello, trustedCerts: [root], tsaCertificates: [identity.certificates[0]!] });
    expect(v.nonce).toBe(123456789012345678901234567890n);
  });

  it.each<[string, object, string]>([
    ['sha1', { artifactHash: Buffer.from(sha('sha1', hello)).toString('base64'), hashAlgorithm: 'sha1' }, 'badAlg'],
    ['md5', { artifactHash: Buffer.from(sha('md5', hello)).toString('base64'), hashAlgorithm: 'md5' }, 'badAlg'],
    ['wrong digest length', { artifactHash: 'AAAA', hashAlgorithm: 'sha256' }, 'badDataFormat'],
    ['not base64', { artifactHash: '!!!!', hashAlgorithm: 'sha256' }, 'badDataFormat'],
    ['missing artifactHash', { hashAlgorithm: 'sha256' }, 'badRequest'],
    ['negative nonce', { artifactHash: Buffer.from(sha('sha256', hello)).toString('base64'), hashAlgorithm: 'sha256', nonce: -1 }, 'badRequest'],
    ['unaccepted policy', { artifactHash: Buffer.from(sha('sha256', hello)).toString('base64'), hashAlgorithm: 'sha256', tsaPolicyOID: '1.2.3' }, 'unacceptedPolicy'],
  ])('JSON %s -> 400 rejection with failInfo %s', async (_n, body, info) => {
    const res = await postJson(body);
    expect(res.statusCode).toBe(400);
    expect(statusOf(new Uint8Array(res.rawPayload))).toMatchObject({ status: 2n, failInfo: [info] });
  });

  it('malformed JSON and unsupported media types are coded 4xx', async () => {
    const bad = await app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/json' }, payload: '{"a":' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('MALFORMED_JSON');
    const media = await app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    expect(media.statusCode).toBe(415);
  });

  it('GET /api/v1/timestamp/certchain: PEM, leaf first', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/timestamp/certchain' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/pem-certificate-chain');
    const certs = pemCertificates(res.body);
    expect(certs.map((c) => Buffer.from(c).toString('hex'))).toEqual(identity.certificates.map((c) => Buffer.from(c).toString('hex')));
    expect(new X509Certificate(certs[0]!).ca).toBe(false);
  });

  it('serial numbers are unique across many requests', async () => {
    const seen = new Set<bigint>();
    for (let i = 0; i < 40; i++) {
      const der = new Uint8Array((await postDer(tsq({ certReq: true }))).rawPayload);
      seen.add(verifyTimestampToken(der, { data: hello, trustedCerts: [root] }).serialNumber);
    }
    expect(seen.size).toBe(40);
  });
});

describe('SerialStore', () => {
  it('never reuses a serial across restarts, even mid-block', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsa-serial-'));
    try {
      const path = join(dir, 'tsa.db');
      const used: bigint[] = [];
      for (let run = 0; run < 3; run++) {
        const s = new SerialStore({ path, blockSize: 10 });
        for (let i = 0; i < 7; i++) used.push(s.nextSerial()); // stop mid-block
        s.close();
      }
      expect(new Set(used).size).toBe(used.length);
      for (let i = 1; i < used.length; i++) expect(used[i]! > used[i - 1]!).toBe(true);
      expect(used[0]).toBe(1n);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('RandomSerials', () => {
  it('positive, at most 159 bits (a DER INTEGER of at most 20 octets), and distinct', () => {
    const r = new RandomSerials();
    const seen = new Set<bigint>();
    let longest = 0;
    for (let i = 0; i < 5000; i++) {
      const v = r.nextSerial();
      expect(v > 0n && v < 1n << 159n).toBe(true);
      longest = Math.max(longest, v.toString(2).length);
      seen.add(v);
    }
    expect(seen.size).toBe(5000);
    // The whole 159 bits are used: of 5000 draws, one has its top bit set but for chance 2^-5000.
    expect(longest).toBe(159);
  });

  it('two TSA nodes sharing one key and `serials: random` issue distinct serials, with no serial store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsa-random-'));
    try {
      const cfg = join(dir, 'tsa.yaml');
      await writeFile(cfg, 'serials: random\n');
      const a = await startStandalone({ dataDir: join(dir, 'a'), port: 0, host: '127.0.0.1', config: cfg });
      await a.close();
      // Node b gets node a's identity (key 0600 and chain), as a second replica would.
      await mkdir(join(dir, 'b'), { mode: 0o700 });
      for (const f of ['tsa-key.pem', 'tsa-chain.pem']) await copyFile(join(dir, 'a', f), join(dir, 'b', f));
      const nodes = [await startStandalone({ dataDir: join(dir, 'a'), port: 0, host: '127.0.0.1', config: cfg }), await startStandalone({ dataDir: join(dir, 'b'), port: 0, host: '127.0.0.1', config: cfg })];
      try {
        const chain = await (await fetch(`${nodes[0]!.ready.tsa}/api/v1/timestamp/certchain`)).text();
        expect(await (await fetch(`${nodes[1]!.ready.tsa}/api/v1/timestamp/certchain`)).text()).toBe(chain);
        const root = pemCertificates(chain)[1]!;
        const serials = new Set<bigint>();
        for (let i = 0; i < 20; i++) {
          for (const n of nodes) {
            const r = await fetch(`${n.ready.tsa}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: tsq({ certReq: true }) });
            expect(r.status).toBe(201);
            serials.add(verifyTimestampToken(new Uint8Array(await r.arrayBuffer()), { data: hello, trustedCerts: [root] }).serialNumber);
          }
        }
        expect(serials.size).toBe(40);
        // Sequential serials start at 1 and stay small; these are spread over the 159 bits.
        expect([...serials].every((v) => v > 1n << 64n)).toBe(true);
      } finally {
        for (const n of nodes) await n.close();
      }
      await expect(stat(join(dir, 'a', 'tsa.db'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(stat(join(dir, 'b', 'tsa.db'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('TimestampAuthority refuses a bad identity', () => {
  it.each<[string, Parameters<typeof makePki>[0]]>([
    ['non-critical EKU', { ekuCritical: false }],
    ['extra EKU', { ekus: ['1.3.6.1.5.5.7.3.8', '1.3.6.1.5.5.7.3.3'] }],
  ])('%s', async (_n, p) => {
    const pki = await makePki(p);
    const { keySignerFromKeyObject } = await import('../../host/tsa/keys.js');
    const opts: AuthorityOptions = { signer: keySignerFromKeyObject(pki.leafKey), certificates: [pki.leafDer, pki.rootDer] };
    expect(() => new TimestampAuthority(opts)).toThrow(expect.objectContaining({ code: 'TSA_BAD_EKU' }));
  });
  it('signs nothing outside its certificate\'s validity (a token no verifier would accept): systemFailure', async () => {
    const { identity } = await createTsaIdentity();
    const tsa = new TimestampAuthority(identity);
    const digest = Buffer.alloc(32, 7);
    const request = { hashAlgorithm: 'sha256' as const, hashedMessage: new Uint8Array(digest), messageImprintDer: messageImprintDer('sha256', new Uint8Array(digest)), certReq: false };
    expect((await tsa.respond(request, 1n, new Date())).length).toBeGreaterThan(0);
    for (const when of [new Date(Date.now() - 3 * 86_400_000), new Date(Date.now() + 11 * 365 * 86_400_000)]) {
      await expect(tsa.respond(request, 2n, when)).rejects.toMatchObject({ failInfo: 'systemFailure' });
    }
  });

  it('a cert that does not carry the signing key', async () => {
    const a = await createTsaIdentity();
    const b = await createTsaIdentity();
    expect(() => new TimestampAuthority({ signer: a.identity.signer, certificates: b.identity.certificates })).toThrow(expect.objectContaining({ code: 'TSA_BAD_IDENTITY' }));
  });
  it('a CA cert as the TSA cert', async () => {
    const a = await createTsaIdentity();
    expect(() => new TimestampAuthority({ signer: a.identity.signer, certificates: [a.identity.certificates[1]!] })).toThrow(TsaError);
  });
});

describe('startStandalone', () => {
  it('creates the identity once (key 0600), reuses it, and serves', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsa-standalone-'));
    try {
      const first = await startStandalone({ dataDir: dir, port: 0, host: '127.0.0.1' });
      expect(first.ready.tsa).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const chain1 = await (await fetch(`${first.ready.tsa}/api/v1/timestamp/certchain`)).text();
      const r = await fetch(`${first.ready.tsa}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: tsq({ certReq: true }) });
      expect(r.status).toBe(201);
      const certs = pemCertificates(chain1);
      const s1 = verifyTimestampToken(new Uint8Array(await r.arrayBuffer()), { data: hello, trustedCerts: [certs[1]!] }).serialNumber;
      await first.close();
      expect((await stat(join(dir, 'tsa-key.pem'))).mode & 0o777).toBe(0o600);
      const second = await startStandalone({ dataDir: dir, port: 0, host: '127.0.0.1' });
      const chain2 = await (await fetch(`${second.ready.tsa}/api/v1/timestamp/certchain`)).text();
      expect(chain2).toBe(chain1);
      expect(await readFile(join(dir, 'tsa-chain.pem'), 'utf8')).toBe(chain1);
      const r2 = await fetch(`${second.ready.tsa}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: tsq({ certReq: true }) });
      const s2 = verifyTimestampToken(new Uint8Array(await r2.arrayBuffer()), { data: hello, trustedCerts: [certs[1]!] }).serialNumber;
      expect(s2 > s1).toBe(true);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('TSA config', () => {
  it('policies and accuracy from a YAML file; the first policy is the default', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsa-config-'));
    try {
      const cfg = join(dir, 'tsa.yaml');
      await (await import('node:fs/promises')).writeFile(cfg, 'policies: ["1.2.3.4.5", "1.3.6.1.4.1.57264.2"]\nkeyType: ecdsa-p384\naccuracy: { seconds: 0, millis: 500 }\n');
      const s = await startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', config: cfg });
      try {
        const certs = pemCertificates(await (await fetch(`${s.ready.tsa}/api/v1/timestamp/certchain`)).text());
        const r = await fetch(`${s.ready.tsa}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: tsq({ certReq: true }) });
        const v = verifyTimestampToken(new Uint8Array(await r.arrayBuffer()), { data: hello, trustedCerts: [certs[1]!] });
        expect(v.policy).toBe('1.2.3.4.5');
        expect(v.accuracyMicros).toBe(500_000);
        expect(new X509Certificate(certs[0]!).publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
      } finally {
        await s.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it.each(['policies: []', 'policies: ["not-an-oid"]', 'keyType: ed25519', 'accuracy: { millis: 1000 }', 'polices: ["1.2.3"]', '[1, 2]', 'serials: counter', 'serials: true'])('rejects %s', (text) => {
    expect(() => parseTsaConfig(text)).toThrow(TsaError);
  });
});

describe('signer failure', () => {
  it('is a 503 systemFailure TimeStampResp, not a 500', async () => {
    const { identity } = await createTsaIdentity();
    const broken = { ...identity.signer, sign: () => Promise.reject(new Error('HSM session lost')) };
    const serials = new SerialStore({ path: ':memory:' });
    const app = await build({ authority: new TimestampAuthority({ signer: broken, certificates: identity.certificates }), serials });
    try {
      const res = await app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/timestamp-query' }, payload: tsq() });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(statusOf(new Uint8Array(res.rawPayload))).toEqual({ status: 2n, failInfo: ['systemFailure'], hasToken: false });
      expect(res.rawPayload.toString('latin1')).not.toContain('HSM');
    } finally {
      await app.close();
      serials.close();
    }
  });

  it('a signer that hangs holds a bounded number of requests; the rest are 503 systemFailure with Retry-After at once', async () => {
    const { identity } = await createTsaIdentity();
    // A network HSM that stopped answering: every signature waits until the test lets it go.
    const waiting: (() => void)[] = [];
    const hung = { ...identity.signer, sign: (d: Uint8Array) => new Promise<void>((r) => waiting.push(r)).then(() => identity.signer.sign(d)) };
    const serials = new SerialStore({ path: ':memory:' });
    const app = await build({ authority: new TimestampAuthority({ signer: hung, certificates: identity.certificates }), serials });
    try {
      const post = () => app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/timestamp-query' }, payload: tsq() });
      const answered: { statusCode: number; headers: Record<string, unknown>; rawPayload: Buffer }[] = [];
      const all = Promise.all(Array.from({ length: 1_500 }, () => post().then((r) => void answered.push(r))));
      for (let i = 0; i < 50 && waiting.length + answered.length < 1_500; i++) await new Promise((r) => setImmediate(r));
      // The signer holds at most its share; every other request was answered without waiting.
      expect(waiting.length).toBeLessThanOrEqual(1_024);
      expect(answered).toHaveLength(1_500 - waiting.length);
      for (const r of answered) {
        expect(r.statusCode).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(statusOf(new Uint8Array(r.rawPayload))).toEqual({ status: 2n, failInfo: ['systemFailure'], hasToken: false });
      }
      // The signer recovers: the requests it held get their tokens, and new ones are taken again.
      for (const go of waiting.splice(0)) go();
      await all;
      expect(answered.filter((r) => r.statusCode === 201)).toHaveLength(1_500 - answered.filter((r) => r.statusCode === 503).length);
      const again = post();
      for (let i = 0; i < 50 && waiting.length === 0; i++) await new Promise((r) => setImmediate(r));
      for (const go of waiting.splice(0)) go();
      expect((await again).statusCode).toBe(201);
    } finally {
      for (const go of waiting.splice(0)) go();
      await app.close();
      serials.close();
    }
  }, 30_000);
});

describe('readiness', () => {
  it('/readyz is 503 while the TSA certificate is outside its window (every request would be systemFailure), 200 inside it', async () => {
    const { identity } = await createTsaIdentity();
    const leaf = new X509Certificate(identity.certificates[0]!);
    let at = new Date();
    const serials = new SerialStore({ path: ':memory:' });
    const app = await build({ authority: new TimestampAuthority(identity), serials, now: () => at });
    try {
      expect((await app.inject('/readyz')).statusCode).toBe(200);
      at = new Date(new Date(leaf.validTo).getTime() + 1000);
      expect((await app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/timestamp-query' }, payload: tsq() })).statusCode).toBe(503);
      const r = await app.inject('/readyz');
      expect(r.statusCode).toBe(503);
      expect(r.json().reason).toMatch(/TSA certificate is not valid now/);
    } finally {
      await app.close();
      serials.close();
    }
  });

  it('/readyz is 503 (not a hung probe) while the TSA key does not answer, with one probe signature in flight however many probes come', async () => {
    const { identity } = await createTsaIdentity();
    let calls = 0;
    const hung = { ...identity.signer, sign: () => { calls++; return new Promise<Uint8Array>(() => undefined); } };
    const serials = new SerialStore({ path: ':memory:' });
    const app = await build({ authority: new TimestampAuthority({ signer: hung, certificates: identity.certificates }), serials });
    try {
      const probes = await Promise.all([0, 1, 2].map(() => app.inject('/readyz')));
      expect(probes.map((r) => r.statusCode)).toEqual([503, 503, 503]);
      expect(probes[0]!.json().reason).toBe('the signing key did not sign within 2000 ms');
      expect((await app.inject('/readyz')).statusCode).toBe(503);
      expect(calls).toBe(1);
    } finally {
      await app.close();
      serials.close();
    }
  }, 15_000);

  it('/readyz is 503 while the TSA key cannot sign (an HSM session lost), 200 when it signs again', async () => {
    const { identity } = await createTsaIdentity();
    const { KeyError } = await import('../../host/keys/errors.js');
    let lost = false;
    const signer = { ...identity.signer, sign: (d: Uint8Array) => (lost ? Promise.reject(new KeyError('KEY_PKCS11', 'C_Sign failed')) : identity.signer.sign(d)) };
    const serials = new SerialStore({ path: ':memory:' });
    const app = await build({ authority: new TimestampAuthority({ signer, certificates: identity.certificates }), serials });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      expect((await app.inject('/readyz')).statusCode).toBe(200);
      lost = true;
      vi.setSystemTime(Date.now() + 2000); // past the probe's reuse window
      const r = await app.inject('/readyz');
      expect(r.statusCode).toBe(503);
      expect(r.json().reason).toBe('the signing key cannot sign: C_Sign failed');
      lost = false;
      vi.setSystemTime(Date.now() + 2000);
      expect((await app.inject('/readyz')).statusCode).toBe(200);
    } finally {
      vi.useRealTimers();
      await app.close();
      serials.close();
    }
  });
});
