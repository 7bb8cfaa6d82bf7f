/**
 * The TSA on the shared key backends (host/keys): an encrypted PKCS#8 file (0600) and a PKCS#11
 * token (SoftHSM). For each, `startStandalone` with a `key:` config issues a token over HTTP that
 * the RFC 3161 verifier accepts against the configured chain, and that openssl verifies.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { generatePkcs11EcKey, openPkcs11Signer } from '../../host/keys/pkcs11.js';
import { writeEncryptedKey } from '../../host/keys/file.js';
import { startStandalone } from '../../host/tsa/standalone.js';
import { verifyTimestampToken } from '../../host/tsa/verify.js';
import { algorithmIdentifier, integer, octets, seq } from '../../host/tsa/encode.js';
import { HASH_OIDS } from '../../host/tsa/oids.js';
import { SOFTHSM_MODULE, softhsmMissing, softhsmToken } from '../keys/softhsm.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A root and a TSA certificate (critical EKU timeStamping, RFC 3161 §2.3) for the given SPKI. */
async function chainFor(spki: Uint8Array): Promise<{ pem: string; rootDer: Uint8Array }> {
  const rootKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
  const root = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=TSA test root', keys: rootKeys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 864e5), notAfter: new Date(Date.now() + 864e5), extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)] });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=Cairn TSA (backend test)', issuer: root.subject, publicKey: new x509.PublicKey(spki), signingKey: rootKeys.privateKey, signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 864e5), notAfter: new Date(Date.now() + 864e5),
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.8'], true)],
  });
  return { pem: `${leaf.toString('pem')}\n${root.toString('pem')}\n`, rootDer: new Uint8Array(root.rawData) };
}

async function timestampRoundTrip(dir: string, keyYaml: string, rootDer: Uint8Array): Promise<void> {
  await writeFile(join(dir, 'tsa.yaml'), keyYaml);
  const s = await startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', config: join(dir, 'tsa.yaml') });
  try {
    const data = Buffer.from('artifact signature bytes');
    const digest = createHash('sha256').update(data).digest();
    const req = seq(integer(1n), seq(algorithmIdentifier(HASH_OIDS.sha256), octets(digest)), integer(42n), Uint8Array.of(0x01, 0x01, 0xff));
    const res = await fetch(`${s.ready.tsa}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: req });
    expect(res.status).toBe(201);
    const resp = Buffer.from(await res.arrayBuffer());
    const v = verifyTimestampToken(resp, { data, nonce: 42n, trustedCerts: [rootDer] });
    expect(Math.abs(v.genTime.getTime() - Date.now())).toBeLessThan(60_000);
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      console.warn('openssl not installed: skipping the openssl ts -verify cross-check');
      return;
    }
    await writeFile(join(dir, 'resp.tsr'), resp);
    await writeFile(join(dir, 'data.bin'), data);
    await writeFile(join(dir, 'root.pem'), new x509.X509Certificate(rootDer).toString('pem'));
    const out = execFileSync('openssl', ['ts', '-verify', '-in', join(dir, 'resp.tsr'), '-data', join(dir, 'data.bin'), '-CAfile', join(dir, 'root.pem')], { encoding: 'utf8' });
    expect(out).toContain('Verification: OK');
  } finally {
    await s.close();
  }
}

describe('TSA on shared key backends', () => {
  it('encrypted PKCS#8 file (0600)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsa-file-'));
    dirs.push(dir);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeEncryptedKey(join(dir, 'tsa-key.pem'), privateKey, 'correct horse battery staple');
    const chain = await chainFor(publicKey.export({ format: 'der', type: 'spki' }));
    await writeFile(join(dir, 'chain.pem'), chain.pem);
    process.env.CAIRN_TEST_TSA_PASS = 'correct horse battery staple';
    await timestampRoundTrip(dir, `key: { type: file, path: ${join(dir, 'tsa-key.pem')}, passphraseEnv: CAIRN_TEST_TSA_PASS, chain: ${join(dir, 'chain.pem')} }\n`, chain.rootDer);
    // A chain whose certificate is not for the key is refused at start.
    const other = await chainFor(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }));
    await writeFile(join(dir, 'wrong.pem'), other.pem);
    await writeFile(join(dir, 'tsa.yaml'), `key: { type: file, path: ${join(dir, 'tsa-key.pem')}, passphraseEnv: CAIRN_TEST_TSA_PASS, chain: ${join(dir, 'wrong.pem')} }\n`);
    await expect(startStandalone({ dataDir: join(dir, 'data2'), port: 0, host: '127.0.0.1', config: join(dir, 'tsa.yaml') })).rejects.toMatchObject({ code: 'TSA_BAD_IDENTITY' });
  });

  const missing = softhsmMissing();
  if (missing) console.warn(`TSA PKCS#11 test skipped: ${missing}`);
  it.skipIf(!!missing)('PKCS#11 token (SoftHSM): the key never leaves the token', async () => {
    const token = await softhsmToken('tsa-test', '1234');
    dirs.push(token.dir);
    process.env.CAIRN_PKCS11_PIN = '1234';
    const o = { module: SOFTHSM_MODULE, tokenLabel: 'tsa-test', keyLabel: 'tsa', pinEnv: 'CAIRN_PKCS11_PIN' };
    await generatePkcs11EcKey({ ...o, curve: 'P-256' });
    const signer = await openPkcs11Signer(o);
    const chain = await chainFor(signer.publicKeySpki);
    await signer.close();
    await writeFile(join(token.dir, 'chain.pem'), chain.pem);
    await timestampRoundTrip(token.dir, `key: { type: pkcs11, module: ${SOFTHSM_MODULE}, tokenLabel: tsa-test, pinEnv: CAIRN_PKCS11_PIN, keyLabel: tsa, chain: ${join(token.dir, 'chain.pem')} }\n`, chain.rootDer);
  });
});
