/**
 * The CT personality (RFC 6962 §4) with a real precertificate chain, and hostile input to every
 * log endpoint: each must give a 4xx with a stable code, never a 500.
 */
import { createHash, createPrivateKey, createPublicKey, verify, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCore, verifyConsistency, verifyInclusion, leafHash } from '../../host/core/index.js';
import { tbsWithoutExtension, tbsWithoutPoison } from '../../host/log/ct.js';
import { ecSigner, hashedrekord, startLog, type RunningLog } from './helpers.js';

const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];
x509.cryptoProvider.set(crypto);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

let log: RunningLog;
beforeAll(async () => {
  await initCore();
  log = await startLog('batchAgeMs: 2\nqueueLimit: 5\nbodyLimit: 4096\n');
});
afterAll(() => log.close());

async function precertChain(): Promise<{ chain: Buffer[]; issuerSpki: Buffer }> {
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
  const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
  const ca = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Test CA', keys: caKeys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 0, true)] });
  const pre = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: '', issuer: ca.subject, publicKey: leafKeys.publicKey, signingKey: caKeys.privateKey, signingAlgorithm: alg,
    notBefore: new Date(), notAfter: new Date(Date.now() + 6e5),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/w' }], true), new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Uint8Array.of(5, 0))],
  });
  return { chain: [Buffer.from(pre.rawData), Buffer.from(ca.rawData)], issuerSpki: Buffer.from(ca.publicKey.rawData) };
}

describe('CT personality (RFC 6962)', () => {
  it('add-pre-chain returns a v1 SCT that verifies with the CT key over the precert_entry struct, and the leaf is provable', async () => {
    const { chain, issuerSpki } = await precertChain();
    const r = await log.post('/ct/v1/add-pre-chain', { chain: chain.map((c) => c.toString('base64')) });
    expect(r.status).toBe(200);
    const sct = r.json;
    const ctKey = createPublicKey(createPrivateKey(await readFile(join(log.dir, 'data', 'ct-key.pem'), 'utf8')));
    expect(Buffer.from(sct.id, 'base64')).toEqual(createHash('sha256').update(ctKey.export({ format: 'der', type: 'spki' })).digest());
    const tbs = tbsWithoutPoison(chain[0]!);
    const u = (n: number | bigint, b: number) => { const x = Buffer.alloc(b); if (b === 8) x.writeBigUInt64BE(BigInt(n)); else x.writeUIntBE(Number(n), 0, b); return x; };
    const ikh = createHash('sha256').update(issuerSpki).digest();
    const signed = Buffer.concat([Uint8Array.of(0, 0), u(sct.timestamp, 8), u(1, 2), ikh, u(tbs.length, 3), tbs, u(0, 2)]);
    const ds = Buffer.from(sct.signature, 'base64');
    expect([ds[0], ds[1]]).toEqual([4, 3]);
    expect(verify('sha256', signed, ctKey, ds.subarray(4))).toBe(true);

    const sth = (await log.get('/ct/v1/get-sth')).json;
    const thSigned = Buffer.concat([Uint8Array.of(0, 1), u(sth.timestamp, 8), u(sth.tree_size, 8), Buffer.from(sth.sha256_root_hash, 'base64')]);
    expect(verify('sha256', thSigned, ctKey, Buffer.from(sth.tree_head_signature, 'base64').subarray(4))).toBe(true);
    const leafInput = Buffer.concat([Uint8Array.of(0, 0), u(sct.timestamp, 8), u(1, 2), ikh, u(tbs.length, 3), tbs, u(0, 2)]);
    const h = Buffer.from(leafHash(leafInput)).toString('base64');
    const proof = (await log.get(`/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(h)}&tree_size=${sth.tree_size}`)).json;
    expect(verifyInclusion(leafHash(leafInput), proof.leaf_index, sth.tree_size, proof.audit_path.map((x: string) => Buffer.from(x, 'base64')), Buffer.from(sth.sha256_root_hash, 'base64'))).toBe(true);
    const entries = (await log.get(`/ct/v1/get-entries?start=${proof.leaf_index}&end=${proof.leaf_index}`)).json;
    expect(Buffer.from(entries.entries[0].leaf_input, 'base64')).toEqual(leafInput);
    // get-entry-and-proof (RFC 6962 §4.8): the same leaf, its extra_data, and the same audit path.
    const eap = (await log.get(`/ct/v1/get-entry-and-proof?leaf_index=${proof.leaf_index}&tree_size=${sth.tree_size}`)).json;
    expect(Buffer.from(eap.leaf_input, 'base64')).toEqual(leafInput);
    expect(eap.extra_data).toBe(entries.entries[0].extra_data);
    expect(eap.audit_path).toEqual(proof.audit_path);
    expect(verifyInclusion(leafHash(Buffer.from(eap.leaf_input, 'base64')), proof.leaf_index, sth.tree_size, eap.audit_path.map((x: string) => Buffer.from(x, 'base64')), Buffer.from(sth.sha256_root_hash, 'base64'))).toBe(true);
  });

  it('refuses a final certificate on add-pre-chain and a broken chain', async () => {
    const { chain } = await precertChain();
    const noPoison = await log.post('/ct/v1/add-chain', { chain: chain.map((c) => c.toString('base64')) });
    expect(noPoison.status).toBe(400);
    expect(noPoison.json.error).toBe('CT_BAD_CHAIN');
    const other = await precertChain();
    const broken = await log.post('/ct/v1/add-pre-chain', { chain: [chain[0]!, other.chain[1]!].map((c) => c.toString('base64')) });
    expect(broken.status).toBe(400);
    expect(broken.json.error).toBe('CT_BAD_CHAIN');
  });

  it('a precertificate signed by a Precertificate Signing Certificate gets an SCT that verifies over the final certificate (RFC 6962 §3.1-3.2)', async () => {
    const gen = async () => (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
    const [rootKeys, psKeys, leafKeys] = [await gen(), await gen(), await gen()];
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=Root', keys: rootKeys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7),
      extensions: [new x509.BasicConstraintsExtension(true, 1, true), await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey)],
    });
    const psc = await x509.X509CertificateGenerator.create({
      serialNumber: '03', subject: 'CN=Precert Signer', issuer: root.subject, publicKey: psKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg,
      notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.ExtendedKeyUsageExtension(['1.3.6.1.4.1.11129.2.4.4']), await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey)],
    });
    // The precertificate and the final certificate differ exactly where §3.2 says: issuer, AKI, poison vs SCT list.
    const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + 6e5);
    const san = new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/psc' }], true);
    const pre = await x509.X509CertificateGenerator.create({
      serialNumber: '04', subject: '', issuer: psc.subject, publicKey: leafKeys.publicKey, signingKey: psKeys.privateKey, signingAlgorithm: alg, notBefore, notAfter,
      extensions: [san, await x509.AuthorityKeyIdentifierExtension.create(psKeys.publicKey), new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Uint8Array.of(5, 0))],
    });
    const r = await log.post('/ct/v1/add-pre-chain', { chain: [pre, psc, root].map((c) => Buffer.from(c.rawData).toString('base64')) });
    expect(r.status).toBe(200);
    const sct = r.json;
    const list = (() => {
      const sigBytes = Buffer.from(sct.signature, 'base64');
      const body = Buffer.concat([Uint8Array.of(0), Buffer.from(sct.id, 'base64'), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(sct.timestamp)); return b; })(), Uint8Array.of(0, 0), sigBytes]);
      const one = Buffer.concat([Uint8Array.of(body.length >> 8, body.length & 0xff), body]);
      const inner = Buffer.concat([Uint8Array.of(one.length >> 8, one.length & 0xff), one]);
      return Buffer.concat([Uint8Array.of(0x04, inner.length), inner]); // OCTET STRING around the TLS list (< 128 bytes)
    })();
    const final = await x509.X509CertificateGenerator.create({
      serialNumber: '04', subject: '', issuer: root.subject, publicKey: leafKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg, notBefore, notAfter,
      extensions: [san, await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey), new x509.Extension('1.3.6.1.4.1.11129.2.4.2', false, list)],
    });
    // What a TLS client checks (RFC 6962 §5.2): the SCT over the final certificate's TBS without its SCT list, issuer_key_hash of the root.
    const finalTbs = tbsWithoutExtension(Buffer.from(final.rawData), '1.3.6.1.4.1.11129.2.4.2')!.tbs;
    const u = (n: number | bigint, b: number) => { const x = Buffer.alloc(b); if (b === 8) x.writeBigUInt64BE(BigInt(n)); else x.writeUIntBE(Number(n), 0, b); return x; };
    const ikh = createHash('sha256').update(Buffer.from(root.publicKey.rawData)).digest();
    const signed = Buffer.concat([Uint8Array.of(0, 0), u(sct.timestamp, 8), u(1, 2), ikh, u(finalTbs.length, 3), finalTbs, u(0, 2)]);
    const ctKey = createPublicKey(createPrivateKey(await readFile(join(log.dir, 'data', 'ct-key.pem'), 'utf8')));
    expect(verify('sha256', signed, ctKey, Buffer.from(sct.signature, 'base64').subarray(4))).toBe(true);
    // Over the precertificate's own TBS (its PSC issuer) it would not verify: the rewrite is what makes it work.
    const preTbs = tbsWithoutPoison(Buffer.from(pre.rawData));
    expect(verify('sha256', Buffer.concat([Uint8Array.of(0, 0), u(sct.timestamp, 8), u(1, 2), ikh, u(preTbs.length, 3), preTbs, u(0, 2)]), ctKey, Buffer.from(sct.signature, 'base64').subarray(4))).toBe(false);

    // Without the final issuer in the chain there is nothing to rewrite to; a PSC without an AKI cannot stand in for one.
    const short = await log.post('/ct/v1/add-pre-chain', { chain: [pre, psc].map((c) => Buffer.from(c.rawData).toString('base64')) });
    expect([short.status, short.json.error]).toEqual([400, 'CT_BAD_CHAIN']);
    const bare = await x509.X509CertificateGenerator.create({
      serialNumber: '05', subject: 'CN=Precert Signer', issuer: root.subject, publicKey: psKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg,
      notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.ExtendedKeyUsageExtension(['1.3.6.1.4.1.11129.2.4.4'])],
    });
    const noAki = await log.post('/ct/v1/add-pre-chain', { chain: [pre, bare, root].map((c) => Buffer.from(c.rawData).toString('base64')) });
    expect([noAki.status, noAki.json.error]).toEqual([400, 'CT_BAD_CHAIN']);
    expect(noAki.json.message).toMatch(/Authority Key Identifier/);

    // Only the AKI's value is the PSC's: a PSC whose AKI is critical does not make the precertificate's critical.
    const critPsc = await x509.X509CertificateGenerator.create({
      serialNumber: '06', subject: 'CN=Precert Signer', issuer: root.subject, publicKey: psKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg,
      notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.ExtendedKeyUsageExtension(['1.3.6.1.4.1.11129.2.4.4']), await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey, true)],
    });
    const r2 = await log.post('/ct/v1/add-pre-chain', { chain: [pre, critPsc, root].map((c) => Buffer.from(c.rawData).toString('base64')) });
    expect(r2.status).toBe(200);
    const signed2 = Buffer.concat([Uint8Array.of(0, 0), u(r2.json.timestamp, 8), u(1, 2), ikh, u(finalTbs.length, 3), finalTbs, u(0, 2)]);
    expect(verify('sha256', signed2, ctKey, Buffer.from(r2.json.signature, 'base64').subarray(4))).toBe(true);
  });

  it('refuses chains that are not chains: a non-CA issuer (a leaf signing "precertificates"), a non-CA PSC, an issuer name that is not the issuer\'s subject', async () => {
    const gen = async () => (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
    const [rootKeys, midKeys, leafKeys] = [await gen(), await gen(), await gen()];
    const root = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Root', keys: rootKeys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 1, true)] });
    const mid = async (ca: boolean, eku?: string[], subject = 'CN=Middle') => x509.X509CertificateGenerator.create({
      serialNumber: '02', subject, issuer: root.subject, publicKey: midKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg,
      notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7),
      extensions: [new x509.BasicConstraintsExtension(ca, undefined, true), ...(eku ? [new x509.ExtendedKeyUsageExtension(eku)] : [])],
    });
    const preUnder = (issuerName: string) => x509.X509CertificateGenerator.create({
      serialNumber: '03', subject: '', issuer: issuerName, publicKey: leafKeys.publicKey, signingKey: midKeys.privateKey, signingAlgorithm: alg, notBefore: new Date(), notAfter: new Date(Date.now() + 6e5),
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/x' }], true), new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Uint8Array.of(5, 0))],
    });
    const post = async (certs: x509.X509Certificate[]) => log.post('/ct/v1/add-pre-chain', { chain: certs.map((c) => Buffer.from(c.rawData).toString('base64')) });
    // The same chain with a CA in the middle is accepted: the refusals below are for the reasons named.
    const good = await mid(true);
    expect((await post([await preUnder(good.subject), good, root])).status).toBe(200);
    for (const [what, m] of [['a leaf as issuer', await mid(false)], ['a non-CA PSC', await mid(false, ['1.3.6.1.4.1.11129.2.4.4'])]] as const) {
      const r = await post([await preUnder(m.subject), m, root]);
      expect([r.status, r.json.error], what).toEqual([400, 'CT_BAD_CHAIN']);
      expect(r.json.message, what).toMatch(/not a CA/);
    }
    const r = await post([await preUnder('CN=Someone Else'), good, root]);
    expect([r.status, r.json.error]).toEqual([400, 'CT_BAD_CHAIN']);
    expect(r.json.message).toMatch(/issuer/);
  });

  it('serves consistency proofs between STHs', async () => {
    await log.post('/ct/v1/add-pre-chain', { chain: (await precertChain()).chain.map((c) => c.toString('base64')) });
    const sth = (await log.get('/ct/v1/get-sth')).json;
    const p = (await log.get(`/ct/v1/get-sth-consistency?first=1&second=${sth.tree_size}`)).json;
    expect(Array.isArray(p.consistency)).toBe(true);
    expect(verifyConsistency(1, sth.tree_size, p.consistency.map((x: string) => Buffer.from(x, 'base64')), Buffer.from(leafHash(Buffer.from((await log.get('/ct/v1/get-entries?start=0&end=0')).json.entries[0].leaf_input, 'base64'))), Buffer.from(sth.sha256_root_hash, 'base64'))).toBe(true);
  });
});

describe('hostile input gets 4xx with a code, never a 500', () => {
  const cases: [string, string, unknown, number, string][] = [
    ['POST', '/api/v1/log/entries', '{not json', 400, 'MALFORMED_JSON'],
    ['POST', '/api/v1/log/entries', { kind: 'rekord', apiVersion: '0.0.1', spec: {} }, 400, 'LOG_UNSUPPORTED_KIND'],
    ['POST', '/api/v1/log/entries', { kind: 'hashedrekord', apiVersion: '0.0.1', spec: { data: { hash: { algorithm: 'md5', value: 'aa' } } } }, 400, 'LOG_MALFORMED_ENTRY'],
    ['POST', '/api/v1/log/entries', { kind: 'hashedrekord', apiVersion: '0.0.1', spec: { data: { hash: { algorithm: 'sha256', value: 'a'.repeat(64) } }, signature: { content: 'AAAA', publicKey: { content: Buffer.from('junk').toString('base64') } } } }, 400, 'LOG_BAD_KEY'],
    // A well-formed P-256 SPKI whose point is not on the curve (x = 1, y = 2): the key is at fault, not the signature.
    ['POST', '/api/v1/log/entries', { kind: 'hashedrekord', apiVersion: '0.0.1', spec: { data: { hash: { algorithm: 'sha256', value: 'a'.repeat(64) } }, signature: { content: Buffer.alloc(64, 1).toString('base64'), publicKey: { content: Buffer.from(`-----BEGIN PUBLIC KEY-----\n${Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), Buffer.from([4]), Buffer.alloc(31), Buffer.from([1]), Buffer.alloc(31), Buffer.from([2])]).toString('base64')}\n-----END PUBLIC KEY-----\n`).toString('base64') } } } }, 400, 'LOG_BAD_KEY'],
    ['POST', '/api/v1/log/entries', [1, 2, 3], 400, 'INVALID_REQUEST'],
    ['POST', '/api/v1/log/entries', 'x'.repeat(5000), 413, 'BODY_TOO_LARGE'],
    ['GET', '/api/v1/log/entries?logIndex=-1', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/api/v1/log/entries?logIndex=99999999999999999999', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/api/v1/log/entries?logIndex=1e3', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/api/v1/log/entries?logIndex=9000000', undefined, 404, 'LOG_NOT_FOUND'],
    ['GET', '/api/v1/log/entries/zz', undefined, 400, 'LOG_BAD_REQUEST'],
    ['GET', `/api/v1/log/entries/${'0'.repeat(64)}`, undefined, 404, 'LOG_NOT_FOUND'],
    ['GET', '/api/v1/log/proof?firstSize=5&lastSize=2', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/api/v1/log/proof?firstSize=1&lastSize=99999999', undefined, 400, 'LOG_BAD_RANGE'],
    ['POST', '/api/v1/index/retrieve', {}, 400, 'LOG_BAD_REQUEST'],
    ['POST', '/api/v1/index/retrieve', { hash: 'sha256:xyz' }, 400, 'LOG_BAD_REQUEST'],
    ['POST', '/api/v1/log/entries/retrieve', { logIndexes: [-1] }, 400, 'LOG_BAD_RANGE'],
    ['POST', '/api/v2/log/entries', { somethingElse: {} }, 400, 'LOG_UNSUPPORTED_KIND'],
    ['GET', '/tile/0/x000/001', undefined, 404, 'LOG_BAD_TILE_PATH'],
    ['GET', '/tile/99/000', undefined, 404, 'LOG_BAD_TILE_PATH'],
    ['GET', '/tile/entries/999.p/3', undefined, 404, 'LOG_NOT_FOUND'],
    ['POST', '/ct/v1/add-pre-chain', { chain: ['!!'] }, 400, 'CT_BAD_CHAIN'],
    ['POST', '/ct/v1/add-pre-chain', { chain: [Buffer.from('not a cert').toString('base64')] }, 400, 'CT_BAD_CHAIN'],
    ['GET', '/ct/v1/get-entries?start=5&end=1', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/ct/v1/get-proof-by-hash?hash=abc&tree_size=1', undefined, 400, 'LOG_BAD_REQUEST'],
    ['GET', '/ct/v1/get-entry-and-proof?leaf_index=3&tree_size=3', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=99999999', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/ct/v1/get-entry-and-proof?leaf_index=-1&tree_size=1', undefined, 400, 'LOG_BAD_RANGE'],
    ['GET', '/ct/v1/get-entry-and-proof?tree_size=1', undefined, 400, 'LOG_BAD_RANGE'],
    ['POST', '/checkpoint/cosignature', 'garbage', 400, 'LOG_BAD_REQUEST'],
  ];
  for (const [method, path, body, status, code] of cases) {
    it(`${method} ${path.slice(0, 60)} ${typeof body === 'string' ? body.slice(0, 20) : JSON.stringify(body ?? '').slice(0, 60)} → ${status} ${code}`, async () => {
      const r = method === 'GET' ? await log.get(path) : await log.post(path, body, path === '/checkpoint/cosignature' ? 'text/plain' : 'application/json');
      expect(r.status).toBe(status);
      expect(r.json?.error).toBe(code);
    });
  }

  it('a bad signature is refused', async () => {
    const s = ecSigner();
    const { body } = hashedrekord(s, Buffer.from('x')) as { body: any };
    body.spec.data.hash.value = 'b'.repeat(64);
    const r = await log.post('/api/v1/log/entries', body);
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('LOG_BAD_SIGNATURE');
  });

  it('a full queue answers 503 with Retry-After, and every accepted entry is kept', async () => {
    const s = ecSigner();
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => log.post('/api/v1/log/entries', hashedrekord(s, Buffer.from(`q${i}`)).body)));
    const codes = rs.map((r) => r.status);
    expect(codes.every((c) => c === 201 || c === 503)).toBe(true);
    const busy = rs.find((r) => r.status === 503);
    if (busy) {
      expect(busy.headers.get('retry-after')).toBe('1');
      expect(busy.json.error).toBe('LOG_OVERLOADED');
    }
    for (const r of rs.filter((x) => x.status === 201)) {
      const [uuid] = Object.keys(r.json);
      expect((await log.get(`/api/v1/log/entries/${uuid}`)).status).toBe(200);
    }
  });
});
