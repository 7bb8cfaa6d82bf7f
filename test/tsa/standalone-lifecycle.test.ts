/**
 * A TSA whose start fails after its key is open (a chain that is not the key's, a port in use)
 * closes the key again. With a PKCS#11 key that is a logged-in session on the token, which was
 * left open for the life of the process (and counts against the token's session limit).
 */
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { writeEncryptedKey } from '../../host/keys/file.js';
import { startStandalone } from '../../host/tsa/standalone.js';

const closed = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../host/keys/file.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../host/keys/file.js')>();
  return {
    ...orig,
    openFileSigner: async (...a: Parameters<typeof orig.openFileSigner>) => {
      const s = await orig.openFileSigner(...a);
      const close = s.close.bind(s);
      s.close = async () => {
        closed.count++;
        await close();
      };
      return s;
    },
  };
});

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A self-signed TSA certificate (critical EKU timeStamping) for a fresh key pair of its own. */
async function tsaCert(): Promise<{ pem: string; keys: { publicKey: never; privateKey: never } }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '02', name: 'CN=Cairn TSA (lifecycle test)', keys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 864e5), notAfter: new Date(Date.now() + 864e5),
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.8'], true)],
  });
  return { pem: cert.toString('pem'), keys };
}

describe('TSA standalone start that fails', () => {
  it('closes the configured key when the chain is not the key\'s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-tsa-life-'));
    dirs.push(dir);
    await writeEncryptedKey(join(dir, 'tsa-key.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'lifecycle pass');
    await writeFile(join(dir, 'wrong.pem'), (await tsaCert()).pem);
    process.env.CAIRN_TEST_TSA_LIFE_PASS = 'lifecycle pass';
    await writeFile(join(dir, 'tsa.yaml'), `key: { type: file, path: ${join(dir, 'tsa-key.pem')}, passphraseEnv: CAIRN_TEST_TSA_LIFE_PASS, chain: ${join(dir, 'wrong.pem')} }\n`);
    closed.count = 0;
    await expect(startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', config: join(dir, 'tsa.yaml') })).rejects.toMatchObject({ code: 'TSA_BAD_IDENTITY' });
    expect(closed.count).toBe(1);
  });

  it('closes the configured key when the port is taken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-tsa-life-'));
    dirs.push(dir);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeEncryptedKey(join(dir, 'tsa-key.pem'), privateKey, 'lifecycle pass');
    // A TSA certificate for this key, issued with a throwaway key.
    const issuer = await tsaCert();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '03', subject: 'CN=Cairn TSA (lifecycle test)', issuer: 'CN=Cairn TSA (lifecycle test)', publicKey: new x509.PublicKey(publicKey.export({ format: 'der', type: 'spki' })), signingKey: issuer.keys.privateKey, signingAlgorithm: alg,
      notBefore: new Date(Date.now() - 864e5), notAfter: new Date(Date.now() + 864e5),
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.8'], true)],
    });
    await writeFile(join(dir, 'chain.pem'), cert.toString('pem'));
    process.env.CAIRN_TEST_TSA_LIFE_PASS = 'lifecycle pass';
    await writeFile(join(dir, 'tsa.yaml'), `key: { type: file, path: ${join(dir, 'tsa-key.pem')}, passphraseEnv: CAIRN_TEST_TSA_LIFE_PASS, chain: ${join(dir, 'chain.pem')} }\n`);
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    closed.count = 0;
    try {
      await expect(startStandalone({ dataDir: join(dir, 'data'), port, host: '127.0.0.1', config: join(dir, 'tsa.yaml') })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      busy.close();
    }
    expect(closed.count).toBe(1);
  });
});
