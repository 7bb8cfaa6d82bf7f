/**
 * File persistence for the CA's authorities: `<dataDir>/spiffe-ca.json`, mode 0600, written
 * atomically (temp file + rename) so a crash never leaves a half-written key file. The admin
 * bearer token lives next to it in `admin-token` (0600). Secrets are never logged.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuthorityPersistence, AuthorityState } from './ca.js';
import { SpiffeError } from './errors.js';
import { readSecretFile } from '../keys/file.js';

async function writeSecret(path: string, data: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await chmod(path, 0o600);
}

/** A secret file (the authority keys, the admin token): absent, or private to its owner (readSecretFile). */
async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readSecretFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export class FilePersistence implements AuthorityPersistence {
  readonly path: string;
  constructor(dataDir: string) {
    this.path = join(dataDir, 'spiffe-ca.json');
  }
  async load(): Promise<AuthorityState | undefined> {
    const text = await readIfExists(this.path);
    if (text === undefined) return undefined;
    try {
      const s = JSON.parse(text) as AuthorityState;
      if (typeof s.trustDomain !== 'string' || !Number.isInteger(s.sequence) || !Array.isArray(s.authorities)) throw new Error('shape');
      return s;
    } catch (e) {
      throw new SpiffeError('SPIFFE_UNAVAILABLE', `${this.path} is not a Cairn SPIFFE key store`, { cause: e });
    }
  }
  save(state: AuthorityState): Promise<void> {
    return writeSecret(this.path, JSON.stringify(state));
  }
}

/** Reads `<dataDir>/admin-token` or creates it (32 random bytes, base64url, mode 0600). */
export async function loadOrCreateAdminToken(dataDir: string): Promise<{ token: string; path: string }> {
  const path = join(dataDir, 'admin-token');
  const existing = await readIfExists(path);
  if (existing !== undefined && existing.trim().length >= 32) return { token: existing.trim(), path };
  const token = randomBytes(32).toString('base64url');
  await writeSecret(path, token + '\n');
  return { token, path };
}
