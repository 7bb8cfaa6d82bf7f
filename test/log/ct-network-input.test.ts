/**
 * add-chain / add-pre-chain with an issuer certificate that OpenSSL parses but whose public key it
 * cannot decode (X509Certificate decodes the key only when it is first read): RFC 6962 §4.1 says
 * such a chain is refused (400 CT_BAD_CHAIN); it must never be a 500.
 */
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { startLog, type RunningLog } from './helpers.js';

const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];
x509.cryptoProvider.set(crypto);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

let log: RunningLog;
beforeAll(async () => {
  await initCore();
  log = await startLog('batchAgeMs: 2\n');
});
afterAll(() => log.close());

type Keys = { publicKey: never; privateKey: never };
const keyPair = async (): Promise<Keys> => (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never;

/** The certificate's DER with its EC point's format octet (04, uncompressed) made 05, which no decoder takes. */
function breakKey(cert: x509.X509Certificate): Buffer {
  const der = Buffer.from(new Uint8Array(cert.rawData)); // a copy: the certificate's own bytes stay intact
  const spki = Buffer.from(cert.publicKey.rawData);
  const at = der.indexOf(spki);
  expect(at).toBeGreaterThan(0);
  expect(der[at + 26]).toBe(0x04);
  der[at + 26] = 0x05;
  return der;
}

it('an issuer whose key does not decode is CT_BAD_CHAIN, for add-chain and add-pre-chain and above an intermediate', async () => {
  const now = Date.now();
  const rootKeys = await keyPair();
  const root = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Root', keys: rootKeys, signingAlgorithm: alg, notBefore: new Date(now - 1e5), notAfter: new Date(now + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 1, true)] });
  const interKeys = await keyPair();
  const inter = await x509.X509CertificateGenerator.create({ serialNumber: '02', subject: 'CN=Inter', issuer: root.subject, publicKey: interKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg, notBefore: new Date(now - 1e5), notAfter: new Date(now + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 0, true)] });
  const leafKeys = await keyPair();
  const leaf = (issuer: x509.X509Certificate, signingKey: never, precert: boolean) => x509.X509CertificateGenerator.create({
    serialNumber: '03', subject: '', issuer: issuer.subject, publicKey: leafKeys.publicKey, signingKey, signingAlgorithm: alg, notBefore: new Date(now), notAfter: new Date(now + 6e5),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/w' }], true), ...(precert ? [new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Uint8Array.of(5, 0))] : [])],
  });
  const b64 = (c: x509.X509Certificate | Buffer): string => (Buffer.isBuffer(c) ? c : Buffer.from(c.rawData)).toString('base64');
  const cases: [string, string[]][] = [
    ['/ct/v1/add-chain', [b64(await leaf(root, rootKeys.privateKey, false)), b64(breakKey(root))]],
    ['/ct/v1/add-pre-chain', [b64(await leaf(root, rootKeys.privateKey, true)), b64(breakKey(root))]],
    // The leaf's own issuer is fine; the one above it is not.
    ['/ct/v1/add-chain', [b64(await leaf(inter, interKeys.privateKey, false)), b64(inter), b64(breakKey(root))]],
  ];
  for (const [path, chain] of cases) {
    const r = await log.post(path, { chain });
    expect(r.status, `${path} ${r.text}`).toBe(400);
    expect((r.json as { error: string }).error).toBe('CT_BAD_CHAIN');
  }
  // The same chains with intact keys are accepted (the requests above failed for the key alone).
  const good = await log.post('/ct/v1/add-chain', { chain: [b64(await leaf(inter, interKeys.privateKey, false)), b64(inter), b64(root)] });
  expect(good.status, good.text).toBe(200);
});

it('an issuer OpenSSL reads that is not strict DER (a non-minimal length) is CT_BAD_CHAIN, not the TSA reader\'s code', async () => {
  const now = Date.now();
  const rootKeys = await keyPair();
  const root = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=BER Root', keys: rootKeys, signingAlgorithm: alg, notBefore: new Date(now - 1e5), notAfter: new Date(now + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 1, true)] });
  const leafKeys = await keyPair();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '03', subject: '', issuer: root.subject, publicKey: leafKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg, notBefore: new Date(now), notAfter: new Date(now + 6e5),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/w' }], true)],
  });
  // The outer SEQUENCE's length in one more octet than needed (30 82 LL LL -> 30 83 00 LL LL):
  // BER, which OpenSSL parses; the signed TBSCertificate inside is untouched.
  const der = Buffer.from(new Uint8Array(root.rawData));
  expect(der[1]).toBe(0x82);
  const ber = Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), der.subarray(2)]);
  const { X509Certificate } = await import('node:crypto');
  expect(() => new X509Certificate(ber)).not.toThrow();
  const r = await log.post('/ct/v1/add-chain', { chain: [Buffer.from(leaf.rawData).toString('base64'), ber.toString('base64')] });
  expect(r.status, r.text).toBe(400);
  expect((r.json as { error: string }).error).toBe('CT_BAD_CHAIN');
});
