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
