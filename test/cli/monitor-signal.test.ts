/**
 * `cairn monitor --interval N` (host/cli/monitor.ts) catches SIGINT and SIGTERM so that a round in
 * progress finishes and writes its state. Between rounds it used to sleep the whole interval
 * before looking at the flag: with --interval 3600, Ctrl-C or a service manager's SIGTERM waited
 * up to an hour (systemd then SIGKILLs it, mid-round as likely as not). It must stop at once.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('a monitor waiting for its next round exits promptly on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-monitor-signal-'));
  dirs.push(dir);
  await writeFile(join(dir, 'log.pem'), generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string);
  // Nothing listens on port 9 of 127.0.0.1: the round fails at once, and the monitor waits for the next.
  const argv = ['node', 'cairn', 'monitor', '--log', 'http://127.0.0.1:9', '--log-key', join(dir, 'log.pem'), '--identity', '^spiffe://a\\.test/', '--state', join(dir, 'state.json'), '--interval', '600'];
  const code = `const m = await import(${JSON.stringify(join(import.meta.dirname, '../../host/cli/main.ts'))}); await m.main(${JSON.stringify(argv)});`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      if (d.toString().includes('"error"')) resolve();
    });
    void exited.then(() => reject(new Error('the monitor exited before its first round failed')));
  });
  const start = Date.now();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
  const c = await exited;
  clearTimeout(timer);
  expect(Date.now() - start).toBeLessThan(5_000);
  expect(c).toBe(0);
}, 30_000);
