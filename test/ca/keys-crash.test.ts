/**
 * The generated CA's files (host/ca/keys.ts) are written once and trusted at every start after:
 * ensureGeneratedRoot writes ca-root.pem on first use and never again once it exists. A crash
 * while writing it in place used to leave a torn file that every later start found, took as
 * written, and could not load (no certificate in it): the CA never started again. The crash is
 * staged with a wrapped node:fs/promises: the write of ca-root.pem stops halfway, or the rename
 * that would put it in place fails.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

let crashOn: string | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof fs.writeFile = async (path, data, ...rest) => {
    if (crashOn !== undefined && basename(String(path)).startsWith(crashOn) && typeof data === 'string') {
      await fs.writeFile(path, data.slice(0, Math.floor(data.length / 2)), ...rest);
      throw new Error(`simulated crash writing ${String(path)}`);
    }
    return fs.writeFile(path, data, ...rest);
  };
  const rename: typeof fs.rename = async (from, to) => {
    if (crashOn !== undefined && basename(String(to)) === crashOn) throw new Error(`simulated crash renaming to ${String(to)}`);
    return fs.rename(from, to);
  };
  return { ...fs, default: { ...fs, writeFile, rename }, writeFile, rename };
});

const { ensureGeneratedCa, ensureGeneratedRoot, loadFileCa } = await import('../../host/ca/keys.js');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-ca-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('a crash while ca-root.pem is first written does not keep the CA from starting again', async () => {
  await ensureGeneratedCa(dir);
  crashOn = 'ca-root.pem';
  try {
    await expect(ensureGeneratedRoot(dir)).rejects.toThrow(/simulated crash/);
  } finally {
    crashOn = undefined;
  }
  const root = await loadFileCa(await ensureGeneratedRoot(dir));
  expect(root.chainDer).toHaveLength(1);
  expect(root.cert.subject).toMatch(/Root CA/);
}, 20_000);
