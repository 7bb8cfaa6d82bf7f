/**
 * `cairn chains watch` (host/cli/chains.ts) stops on SIGINT/SIGTERM: between passes at once, and
 * while signing after the object in hand (its bundles and state written). It used to sleep the
 * whole interval with no handler, so a service manager's SIGTERM killed it wherever it was, and a
 * non-numeric --interval-ms polled in a tight loop.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function cairn(argv: string[]) {
  const code = `const m = await import(${JSON.stringify(join(import.meta.dirname, '../../host/cli/main.ts'))}); await m.main(${JSON.stringify(['node', 'cairn', ...argv])});`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { child, exited, stderr: () => stderr };
}

it('a watch waiting for its next pass exits promptly on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-watch-signal-'));
  dirs.push(dir);
  await mkdir(join(dir, 'runs'));
  const w = cairn(['chains', 'watch', join(dir, 'runs'), '--out', join(dir, 'out'), '--interval-ms', '600000', '--signing-config', join(dir, 'none.json')]);
  // The first (empty) pass creates the output directory; then the watch waits 10 minutes.
  const until = Date.now() + 20_000;
  while (!(await import('node:fs')).existsSync(join(dir, 'out'))) {
    if (Date.now() > until) throw new Error(`the watch never started: ${w.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  const start = Date.now();
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 8_000);
  const c = await w.exited;
  clearTimeout(timer);
  expect(Date.now() - start).toBeLessThan(5_000);
  expect(c).toBe(0);
}, 30_000);

it('refuses an --interval-ms that is not a number of milliseconds', async () => {
  const w = cairn(['chains', 'watch', '.', '--out', tmpdir(), '--interval-ms', 'soon']);
  expect(await w.exited).not.toBe(0);
  expect(w.stderr()).toMatch(/--interval-ms/);
}, 30_000);
