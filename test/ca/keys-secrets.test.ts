/**
 * `cairn ca rotate` (rotateGeneratedCa) reads the generated root key and its passphrase as every
 * other secret is read (host/keys/file.ts readSecretFile): a file that group or others can read is
 * refused with a chmod hint, and nothing is rotated. It used to read both with a plain readFile and
 * encrypt the new issuing key under a passphrase that was not private.
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ensureGeneratedCa, rotateGeneratedCa } from '../../host/ca/keys.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-keys-secrets-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const files = async (): Promise<string[]> => Promise.all(['ca-key.pem', 'ca-chain.pem'].map((f) => readFile(join(dir, f), 'utf8')));

it.each([
  ['ca-passphrase', '644'],
  ['ca-root-key.pem', '640'],
])('a rotation refuses a %s readable by others (mode %s) and changes nothing', async (name, mode) => {
  await ensureGeneratedCa(dir);
  const before = await files();
  await chmod(join(dir, name), parseInt(mode, 8));
  await expect(rotateGeneratedCa(dir)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID', message: expect.stringContaining(`chmod 600 ${join(dir, name)}`) });
  expect(await files()).toEqual(before);
  // Private again, the same rotation goes through.
  await chmod(join(dir, name), 0o600);
  await rotateGeneratedCa(dir);
  expect((await files())[0]).not.toBe(before[0]);
});
