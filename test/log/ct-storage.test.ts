/**
 * The CT personality keeps each issuer certificate once (host/log/ct.ts packExtra): entries name
 * the certificates above the leaf by SHA-256, and get-entries rebuilds the RFC 6962 §4.6
 * extra_data byte for byte, across a restart, and for entries stored in the older inline form.
 */
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { extraData, packExtra, unpackExtra, type ParsedChain } from '../../host/log/ct.js';
import { LogError } from '../../host/log/errors.js';
import { startLog, type RunningLog } from './helpers.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
type Keys = { publicKey: never; privateKey: never };
const keys = async (): Promise<Keys> => (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never;

/** RFC 6962 §4.6, written here from the RFC: a uint24-length list of uint24-length certificates. */
function certList(certs: Buffer[]): Buffer {
  const body = Buffer.concat(certs.map((c) => Buffer.concat([u24(c.length), c])));
  return Buffer.concat([u24(body.length), body]);
}
function u24(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntBE(n, 0, 3);
  return b;
}

let log: RunningLog;
let root: Buffer;
let inter: Buffer;
const submitted: { precert: boolean; chain: Buffer[] }[] = [];

beforeAll(async () => {
  log = await startLog('batchAgeMs: 2\n');
  const rootKeys = await keys();
  const interKeys = await keys();
  const r = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=CT Test Root', keys: rootKeys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 1, true)] });
  const i = await x509.X509CertificateGenerator.create({ serialNumber: '02', subject: 'CN=CT Test Intermediate', issuer: r.subject, publicKey: interKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg, notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 0, true)] });
  root = Buffer.from(r.rawData);
  inter = Buffer.from(i.rawData);
  for (let n = 0; n < 24; n++) {
    const leafKeys = await keys();
    const precert = n % 3 === 2;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: (0x100 + n).toString(16), subject: '', issuer: i.subject, publicKey: leafKeys.publicKey, signingKey: interKeys.privateKey, signingAlgorithm: alg,
      notBefore: new Date(), notAfter: new Date(Date.now() + 6e5),
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://example.org/w${n}` }], true), ...(precert ? [new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Uint8Array.of(5, 0))] : [])],
    });
    const chain = [Buffer.from(leaf.rawData), inter, root];
    const res = await log.post(precert ? '/ct/v1/add-pre-chain' : '/ct/v1/add-chain', { chain: chain.map((c) => c.toString('base64')) });
    expect(res.status).toBe(200);
    submitted.push({ precert, chain });
  }
});
afterAll(() => log?.close());

async function extraDataServed(): Promise<Buffer[]> {
  const got = (await log.get(`/ct/v1/get-entries?start=0&end=${submitted.length - 1}`)).json.entries as { extra_data: string }[];
  return got.map((e) => Buffer.from(e.extra_data, 'base64'));
}

function expected(s: { precert: boolean; chain: Buffer[] }): Buffer {
  const list = certList(s.chain.slice(1));
  return s.precert ? Buffer.concat([u24(s.chain[0]!.length), s.chain[0]!, list]) : list;
}

it('get-entries returns the RFC 6962 extra_data of every entry, x509 and precert alike', async () => {
  expect(await extraDataServed()).toEqual(submitted.map(expected));
});

it('keeps the two issuer certificates once, and each entry small', () => {
  const db = new Database(join(log.dir, 'data', 'ct.db'), { readonly: true });
  try {
    expect(db.prepare('SELECT COUNT(*) FROM blobs').pluck().get()).toBe(2);
    const inline = submitted.reduce((a, s) => a + expected(s).length, 0);
    const stored = db.prepare('SELECT SUM(LENGTH(extra)) FROM entries').pluck().get() as number;
    // x509 entries keep 70 bytes (magic, type, count, two hashes) instead of the whole chain.
    expect(stored).toBeLessThan(inline / 2);
  } finally {
    db.close();
  }
});

it('serves the same bytes after a restart, and for entries stored in the older inline form', async () => {
  await log.restart();
  expect(await extraDataServed()).toEqual(submitted.map(expected));
  // Rewrite two rows as an older Cairn stored them (extra_data itself), then restart again.
  const db = new Database(join(log.dir, 'data', 'ct.db'));
  db.prepare('UPDATE entries SET extra = ? WHERE idx = ?').run(expected(submitted[3]!), 3);
  db.prepare('UPDATE entries SET extra = ? WHERE idx = ?').run(expected(submitted[5]!), 5);
  db.close();
  await log.restart();
  expect(await extraDataServed()).toEqual(submitted.map(expected));
});

it('packExtra and unpackExtra round-trip extraData, and a missing issuer is a coded 500', () => {
  const chain = [Buffer.from('leaf'), inter, root];
  const p: ParsedChain = { entryType: 0, chain, signedEntry: chain[0]! };
  const { packed, blobs } = packExtra(p);
  const byKey = new Map(blobs.map((b) => [b.key.toString('hex'), b.value]));
  expect(unpackExtra(packed, (k) => byKey.get(Buffer.from(k).toString('hex')))).toEqual(extraData(p));
  expect(unpackExtra(extraData(p), () => undefined)).toEqual(extraData(p));
  let err: unknown;
  try {
    unpackExtra(packed, () => undefined);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(LogError);
  expect(err).toMatchObject({ code: 'LOG_INCONSISTENT', status: 500 });
});
