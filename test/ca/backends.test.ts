/**
 * Both CA key backends behind the same API: a file key (encrypted PKCS#8, chain file root-first)
 * and a SoftHSM PKCS#11 key, each an intermediate under a separate root, so every leaf is
 * root → intermediate → leaf; openssl verifies the chains and the embedded SCT verifies.
 */
import { execFileSync } from 'node:child_process';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCa } from '../../host/ca/keys.js';
import { generateKey, writeEncryptedKey } from '../../host/keys/file.js';
import { generatePkcs11EcKey, openPkcs11Signer } from '../../host/keys/pkcs11.js';
import { SOFTHSM_MODULE, softhsmMissing, softhsmToken } from '../keys/softhsm.js';
import { chainOf, clientKey, issuerConfigDoc, post, startCa, startCtLog, TestIssuer, v2Body } from './fixtures.js';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(crypto);

let dir: string;
let iss: TestIssuer;
let log: Awaited<ReturnType<typeof startCtLog>>;
let root: CryptoKeyPair;
let rootCert: x509.X509Certificate;

/** An intermediate CA certificate for `spki`, signed by the test root. */
async function intermediateFor(spki: Uint8Array, cn: string): Promise<x509.X509Certificate> {
  const pub = new x509.PublicKey(spki);
  return x509.X509CertificateGenerator.create({
    serialNumber: '0a' + Buffer.from(cn).toString('hex'),
    subject: `CN=${cn}, O=Cairn test`,
    issuer: rootCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: pub,
    signingKey: root.privateKey,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(pub, false, crypto),
      await x509.AuthorityKeyIdentifierExtension.create(root.publicKey, false, crypto),
    ],
  }, crypto);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-backends-'));
  iss = await TestIssuer.start();
  log = await startCtLog();
  root = (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Cairn Test Root, O=Cairn test',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: root,
    signingAlgorithm: SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true), await x509.SubjectKeyIdentifierExtension.create(root.publicKey, false, crypto)],
  }, crypto);
  await writeFile(join(dir, 'root.pem'), rootCert.toString('pem'));
});
afterAll(async () => {
  await log?.close();
  await iss?.close();
  await rm(dir, { recursive: true, force: true });
});

async function issueAndJudge(ca: Awaited<ReturnType<typeof startCa>>, name: string): Promise<void> {
  const sub = `spiffe://example.org/${name}`;
  const r = await post(`${ca.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
  expect(r.status, r.text).toBe(200);
  expect(r.json.signedCertificateEmbeddedSct).toBeDefined();
  const chain = chainOf(r.json);
  expect(chain).toHaveLength(3);
  expect(new X509Certificate(chain[2]!).fingerprint256).toBe(new X509Certificate(rootCert.toString('pem')).fingerprint256);
  await writeFile(join(dir, `${name}-leaf.pem`), chain[0]!);
  await writeFile(join(dir, `${name}-inter.pem`), chain[1]!);
  const out = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, `${name}-inter.pem`), join(dir, `${name}-leaf.pem`)], { encoding: 'utf8' });
  expect(out.trim()).toMatch(/: OK$/);
  const text = execFileSync('openssl', ['x509', '-in', join(dir, `${name}-leaf.pem`), '-noout', '-text'], { encoding: 'utf8' });
  expect(text).toMatch(/CT Precertificate SCTs/);
  expect(text).toContain(`URI:${sub}`);
}

describe('file backend', () => {
  it('encrypted PKCS#8 (0600) + chain file root-first: root → intermediate → leaf', async () => {
    const key = generateKey('ecdsa-p256');
    await writeEncryptedKey(join(dir, 'inter-key.pem'), key, 'file-backend-pass');
    expect((await stat(join(dir, 'inter-key.pem'))).mode & 0o777).toBe(0o600);
    const { createPublicKey } = await import('node:crypto');
    const inter = await intermediateFor(new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' })), 'Cairn File Intermediate');
    await writeFile(join(dir, 'file-chain.pem'), `${rootCert.toString('pem')}\n${inter.toString('pem')}\n`);
    process.env.TEST_CA_PASS = 'file-backend-pass';
    const issuing = await loadCa({ type: 'file', key: join(dir, 'inter-key.pem'), chain: join(dir, 'file-chain.pem'), passphraseEnv: 'TEST_CA_PASS' });
    expect(issuing.chainPem).toHaveLength(2);
    expect(issuing.cert.subject).toContain('Cairn File Intermediate');
    const ca = await startCa(issuerConfigDoc(iss), { ct: log.ct, issuing });
    try {
      await issueAndJudge(ca, 'file');
    } finally {
      await ca.close();
    }
  });

  it('a chain whose first certificate does not match the key is refused', async () => {
    const key = generateKey('ecdsa-p256');
    await writeEncryptedKey(join(dir, 'other-key.pem'), key, 'file-backend-pass');
    await expect(loadCa({ type: 'file', key: join(dir, 'other-key.pem'), chain: join(dir, 'file-chain.pem'), passphraseEnv: 'TEST_CA_PASS' })).rejects.toMatchObject({ code: 'CA_BAD_CONFIG' });
    await expect(loadCa({ type: 'nope' as 'file', key: 'x', chain: 'y' })).rejects.toMatchObject({ code: 'CA_BAD_CONFIG' });
  });
});

const missing = softhsmMissing();
if (missing) console.log(`SKIP SoftHSM CA backend test: ${missing}`);

describe('PKCS#11 backend (SoftHSM)', () => {
  it.skipIf(!!missing).each([
    ['P-256', 'ecdsa-p256-sha256'],
    ['Ed25519', 'ed25519'],
  ] as const)('%s intermediate key in SoftHSM: root → intermediate → leaf with embedded SCT', async (curve, alg) => {
    const label = `cairn-ca-test-${curve.toLowerCase()}`;
    const token = await softhsmToken(label, '4321');
    try {
      process.env.TEST_CA_PIN = '4321';
      const opts = { module: SOFTHSM_MODULE, tokenLabel: label, pinEnv: 'TEST_CA_PIN', keyLabel: 'cairn-ca' };
      await generatePkcs11EcKey({ ...opts, curve });
      const probe = await openPkcs11Signer(opts);
      const inter = await intermediateFor(probe.publicKeySpki, `Cairn HSM Intermediate ${curve}`);
      await probe.close();
      await writeFile(join(dir, `hsm-chain-${curve}.pem`), `${inter.toString('pem')}\n${rootCert.toString('pem')}\n`);
      const issuing = await loadCa({ type: 'pkcs11', ...opts, chain: join(dir, `hsm-chain-${curve}.pem`) });
      expect(issuing.signer.algorithm).toBe(alg);
      const ca = await startCa(issuerConfigDoc(iss), { ct: log.ct, issuing });
      try {
        await issueAndJudge(ca, `hsm-${curve}`);
      } finally {
        await ca.close();
        await issuing.signer.close();
      }
    } finally {
      await token.close();
    }
  });
});
