/**
 * The TSA's generated identity is two files (host/tsa/keys.ts loadOrCreateTsaIdentity): the key
 * and the chain that names it. A start that dies between the two writes must leave a data
 * directory the next start can use. The key used to go first: a key without its chain was then
 * read as "identity present" and every later start failed (ENOENT on the chain) until someone
 * deleted the key by hand. The chain write is made to fail here, as a crash there would.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadOrCreateTsaIdentity } from '../../host/tsa/keys.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('a start that fails between the key and the chain leaves a directory the next start can use', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-tsa-crash-'));
  dirs.push(dir);
  // The chain's name is taken by a directory that is not empty, so its rename into place fails.
  const blocker = join(dir, 'tsa-chain.pem');
  await mkdir(join(blocker, 'in-the-way'), { recursive: true });
  await expect(loadOrCreateTsaIdentity(dir)).rejects.toThrow();
  await rm(blocker, { recursive: true });
  const id = await loadOrCreateTsaIdentity(dir);
  expect(id.certificates.length).toBeGreaterThan(0);
  // And it is the identity that stays: a third start reads the same chain.
  expect(Buffer.from((await loadOrCreateTsaIdentity(dir)).certificates[0]!)).toEqual(Buffer.from(id.certificates[0]!));
});
