/**
 * host/cli/main.ts imports a command group only when its command is the one run: each top-level
 * command must still be found that way, with its own help, and `cairn --help` must list them all.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../bin/cairn.js');
const COMMANDS = ['serve', 'tuf', 'spiffe', 'up', 'verify', 'sign', 'attest', 'chains', 'build', 'monitor'];

it('every top-level command answers its own --help when only its group is loaded', async () => {
  await Promise.all(COMMANDS.map(async (c) => {
    const r = await promisify(execFile)(process.execPath, [BIN, c, '--help']);
    expect(r.stdout).toMatch(new RegExp(`^Usage: cairn ${c} `));
  }));
}, 60_000);

it('cairn --help lists every command group', async () => {
  const r = await promisify(execFile)(process.execPath, [BIN, '--help']);
  for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
}, 60_000);

async function exitOf(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 30_000 });
    return { code: 0, stderr: '' };
  } catch (e) {
    const x = e as { code: number; stderr: string };
    return { code: x.code, stderr: x.stderr };
  }
}

it('a service that cannot start says why in one coded line and exits 1; ports out of range are refused up front', async () => {
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'cairn-cli-'));
  try {
    await writeFile(join(dir, 'log.yaml'), 'batchSize: -1\n');
    const bad = await exitOf(['serve', 'log', '--data-dir', join(dir, 'log'), '--config', join(dir, 'log.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^cairn serve log: LOG_BAD_CONFIG: .*\n$/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    for (const args of [['serve', 'log', '--port', 'abc'], ['serve', 'log', '--port', '70000'], ['up', '--port', '65533']]) {
      const r = await exitOf([...args, '--data-dir', join(dir, 'x')]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/--port/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
