/** `cairn serve tsa --data-dir DIR --port 0` in a child process: one ready line, then SIGTERM exits cleanly. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { pemCertificates } from '../../host/tsa/keys.js';

it('cairn serve tsa prints {"ready":true,"tsa":URL} and serves', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsa-cli-'));
  const main = pathToFileURL(join(import.meta.dirname, '../../host/cli/main.ts')).href;
  const code = `const m = await import(${JSON.stringify(main)}); await m.main(['node', 'cairn', 'serve', 'tsa', '--data-dir', ${JSON.stringify(dir)}, '--port', '0']);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
      });
      void exited.then((c) => reject(new Error(`exited ${c} before ready`)));
    });
    const ready = JSON.parse(line) as { ready: boolean; tsa: string };
    expect(ready.ready).toBe(true);
    expect(ready.tsa).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const chain = await (await fetch(`${ready.tsa}/api/v1/timestamp/certchain`)).text();
    expect(pemCertificates(chain)).toHaveLength(2);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);
