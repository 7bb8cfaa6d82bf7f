/** A throwaway SoftHSM v2 token for tests: its own SOFTHSM2_CONF and token directory in a temp dir. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** Why SoftHSM tests cannot run here, or undefined when they can. */
export function softhsmMissing(): string | undefined {
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'pipe' });
  } catch {
    return 'softhsm2-util is not installed (Debian package softhsm2)';
  }
  if (!existsSync(SOFTHSM_MODULE)) return `${SOFTHSM_MODULE} is absent`;
  return undefined;
}

export async function softhsmToken(label: string, pin: string): Promise<{ dir: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'softhsm-'));
  await mkdir(join(dir, 'tokens'), { mode: 0o700 });
  await writeFile(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // SoftHSM reads SOFTHSM2_CONF at C_Initialize; set it before the module is loaded in this process.
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', `${pin}-so`], { stdio: 'pipe', env: process.env });
  return { dir, close: () => rm(dir, { recursive: true, force: true }) };
}
