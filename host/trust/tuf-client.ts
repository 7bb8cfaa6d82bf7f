/**
 * Fetching a trusted_root.json through TUF (tuf-js, the client sigstore-js uses): the way a
 * partner organisation's trust material should reach a verifier (the seed's TUF distribution of
 * the trust root). The caller pins the partner's initial root metadata (a `1.root.json` obtained
 * out of band); tuf-js walks the root versions from there, checks the timestamp, snapshot and
 * targets signatures, expiries and rollback, and the target's length and hashes. The trusted
 * metadata is kept in `cacheDir`, so a later fetch starts from the newest root seen.
 */
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Updater } from 'tuf-js';
import { fail } from '../verify/errors.js';

export interface TufSource {
  /** The repository base: `<url>/metadata/...` and `<url>/targets/...` (`cairn up` serves /tuf). */
  url: string;
  /** The pinned initial root.json (used only until the cache holds a trusted root). */
  root: string;
  cacheDir: string;
  target?: string;
}

export async function fetchTrustedRootViaTuf(src: TufSource): Promise<unknown> {
  const base = src.url.replace(/\/$/, '');
  const dir = join(src.cacheDir, createHash('sha256').update(base).digest('hex').slice(0, 16));
  const metadataDir = join(dir, 'metadata');
  const targetDir = join(dir, 'targets');
  await mkdir(metadataDir, { recursive: true, mode: 0o700 });
  await mkdir(targetDir, { recursive: true, mode: 0o700 });
  const trusted = join(metadataDir, 'root.json');
  if (!(await stat(trusted).then(() => true, () => false))) await copyFile(src.root, trusted);
  const name = src.target ?? 'trusted_root.json';
  try {
    const updater = new Updater({ metadataBaseUrl: `${base}/metadata`, targetBaseUrl: `${base}/targets`, metadataDir, targetDir, config: { fetchRetry: 1 } });
    const info = await updater.getTargetInfo(name);
    if (!info) return fail('TRUSTED_ROOT_MALFORMED', `${base} lists no target ${name}`);
    const path = (await updater.findCachedTarget(info)) ?? (await updater.downloadTarget(info));
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (cause) {
    if ((cause as { code?: string }).code === 'TRUSTED_ROOT_MALFORMED') throw cause;
    return fail('TRUSTED_ROOT_MALFORMED', `TUF: could not fetch ${name} from ${base}: ${(cause as Error).message}`, cause);
  }
}
