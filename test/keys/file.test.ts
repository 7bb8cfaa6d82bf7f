/** File key backend: encrypted PKCS#8 at 0600, passphrase from env or file, signatures verify. */
import { createPublicKey, verify } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, openFileSigner, writeEncryptedKey } from '../../host/keys/file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keys-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it.each([
  ['ecdsa-p256', 'ecdsa-p256-sha256', 'sha256'],
  ['ecdsa-p384', 'ecdsa-p384-sha384', 'sha384'],
  ['ed25519', 'ed25519', null],
  ['rsa-3072', 'rsa-pkcs1v15-sha256', 'sha256'],
] as const)('%s: encrypted PKCS#8 at 0600, signs verifiably', async (type, alg, hash) => {
  const path = join(dir, `${type}.pem`);
  await writeEncryptedKey(path, generateKey(type), 'correct horse battery');
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  const pem = await readFile(path, 'utf8');
  expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  process.env.TEST_KEY_PASS = 'correct horse battery';
  const s = await openFileSigner({ path, passphraseEnv: 'TEST_KEY_PASS' });
  expect(s.algorithm).toBe(alg);
  const msg = Buffer.from('to be signed');
  const sig = await s.sign(msg);
  const pub = createPublicKey({ key: Buffer.from(s.publicKeySpki), format: 'der', type: 'spki' });
  expect(verify(hash, msg, pub, sig)).toBe(true);
  expect(verify(hash, Buffer.from('other'), pub, sig)).toBe(false);
  if (type.startsWith('ecdsa')) expect(sig[0]).toBe(0x30); // DER Ecdsa-Sig-Value
  await s.close();
  await expect(s.sign(msg)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
});

it('passphrase from a file; wrong passphrase, wide mode, plaintext key and no passphrase are coded errors', async () => {
  const path = join(dir, 'k.pem');
  await writeEncryptedKey(path, generateKey('ecdsa-p256'), 'right-passphrase');
  await writeFile(join(dir, 'pass'), 'right-passphrase\n', { mode: 0o600 });
  const s = await openFileSigner({ path, passphraseFile: join(dir, 'pass') });
  expect(s.algorithm).toBe('ecdsa-p256-sha256');
  await writeFile(join(dir, 'bad'), 'wrong-passphrase\n', { mode: 0o600 });
  await expect(openFileSigner({ path, passphraseFile: join(dir, 'bad') })).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
  await expect(openFileSigner({ path, passphraseEnv: 'UNSET_VAR_FOR_TEST' })).rejects.toMatchObject({ code: 'KEY_NO_PASSPHRASE' });
  await chmod(path, 0o644);
  await expect(openFileSigner({ path, passphraseFile: join(dir, 'pass') })).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
  const plain = join(dir, 'plain.pem');
  await writeFile(plain, generateKey('ecdsa-p256').export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
  await expect(openFileSigner({ path: plain, passphraseFile: join(dir, 'pass') })).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
  await expect(writeEncryptedKey(join(dir, 'x.pem'), generateKey('ed25519'), 'short')).rejects.toMatchObject({ code: 'KEY_NO_PASSPHRASE' });
});

describe('secrets readable by group or others are refused, as SSH refuses such keys', () => {
  it('a passphrase file, a log key, a TUF role key at 0644 stop the load with a chmod hint', async () => {
    const { mkdtemp, writeFile, chmod, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readPassphrase } = await import('../../host/keys/file.js');
    const { loadOrCreateLogKey } = await import('../../host/log/keys.js');
    const { initRepo, refresh } = await import('../../host/trust/tuf-repo.js');
    const { readdirSync } = await import('node:fs');
    const d = await mkdtemp(join(tmpdir(), 'cairn-secret-modes-'));
    try {
      const pass = join(d, 'passphrase');
      await writeFile(pass, 'secret\n', { mode: 0o644 });
      await chmod(pass, 0o644);
      await expect(readPassphrase({ passphraseFile: pass })).rejects.toMatchObject({ code: 'KEY_FILE_INVALID', message: expect.stringMatching(/chmod 600/) });
      await chmod(pass, 0o600);
      expect(await readPassphrase({ passphraseFile: pass })).toBe('secret');

      const logKey = join(d, 'rekor-key.pem');
      await loadOrCreateLogKey(logKey, 'ed25519'); // created 0600
      await chmod(logKey, 0o644);
      await expect(loadOrCreateLogKey(logKey, 'ed25519')).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });

      const repo = join(d, 'tuf');
      initRepo(repo);
      const key = readdirSync(join(repo, 'keys'))[0]!;
      await chmod(join(repo, 'keys', key), 0o644);
      expect(() => refresh(repo)).toThrow(/must be mode 0600/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
