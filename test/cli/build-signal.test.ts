/**
 * `cairn build -- CMD`: a SIGTERM (or SIGINT) to cairn while the build runs stops the build too,
 * and nothing is signed. Before, the signal ended cairn alone and the build went on, orphaned
 * (a CI job cancelled by signalling the step's process, a supervisor stopping cairn).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
const pids: number[] = [];
afterAll(async () => {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Running (a zombie nobody reaped does not count: an orphan's new parent may not reap it). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('cairn build and signals', () => {
  it('stops the build when cairn is sent SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-build-sig-'));
    dirs.push(dir);
    const main = join(import.meta.dirname, '../../host/cli/main.ts');
    const args = ['build', '--out', join(dir, 'out'), '--products', join(dir, '*.txt'), '--', 'sh', '-c', `echo $$ > ${join(dir, 'build.pid')}; exec sleep 60`];
    const cairn = spawn(process.execPath, ['--import', 'tsx', '-e', `import(${JSON.stringify(main)}).then((m) => m.main(['node', 'cairn', ...${JSON.stringify(args)}]))`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cairn.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(cairn, 'exit');
    const pidFile = join(dir, 'build.pid');
    for (let i = 0; i < 600 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    let build = NaN;
    for (let i = 0; i < 100 && !Number.isInteger(build); i++) {
      build = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
      if (!Number.isInteger(build)) await new Promise((r) => setTimeout(r, 20));
    }
    pids.push(build);
    expect(alive(build)).toBe(true);
    cairn.kill('SIGTERM');
    await exited;
    for (let i = 0; i < 100 && alive(build); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(build)).toBe(false);
    expect(cairn.exitCode).toBe(1);
    expect(stderr).toContain('nothing signed');
    expect(existsSync(join(dir, 'out'))).toBe(false);
  }, 60_000);
});
