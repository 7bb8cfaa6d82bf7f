/**
 * Key and state files are replaced through a temp file and rename(2) (host/keys/file.ts). The
 * rename alone is atomic, not durable: after a power cut, ext4 and XFS may keep the new name over
 * a file whose data never reached the disk (empty), and a log, CA or TSA whose key file is empty
 * never starts again, while its store still holds what that key signed. So the temp file must be
 * fsynced before the rename, and the directory after it. The calls are recorded here through a
 * wrapped node:fs/promises.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

const events: string[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof fs.open = async (...args: Parameters<typeof fs.open>) => {
    const fh = await fs.open(...args);
    const path = String(args[0]);
    const sync = fh.sync.bind(fh);
    fh.sync = async () => {
      await sync();
      events.push(`sync ${path}`);
    };
    return fh;
  };
  const rename: typeof fs.rename = async (from, to) => {
    await fs.rename(from, to);
    events.push(`rename ${String(from)} ${String(to)}`);
  };
  return { ...fs, default: { ...fs, open, rename }, open, rename };
});

const { writeFileDurably, writeSecretFile } = await import('../../host/keys/file.js');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keys-durable-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('writeSecretFile fsyncs the new file before renaming it over the old, then the directory', async () => {
  const path = join(dir, 'key.pem');
  events.length = 0;
  await writeSecretFile(path, 'secret\n');
  expect(await readFile(path, 'utf8')).toBe('secret\n');
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  const renamed = events.findIndex((e) => e.startsWith('rename ') && e.endsWith(` ${path}`));
  expect(renamed).toBeGreaterThan(0);
  const tmp = events[renamed]!.split(' ')[1]!;
  expect(events.slice(0, renamed)).toContain(`sync ${tmp}`);
  expect(events.slice(renamed + 1)).toContain(`sync ${dir}`);
});

it('writeFileDurably does the same for a public file, with its mode', async () => {
  const path = join(dir, 'chain.pem');
  events.length = 0;
  await writeFileDurably(path, 'chain\n', 0o644);
  expect(await readFile(path, 'utf8')).toBe('chain\n');
  const renamed = events.findIndex((e) => e.startsWith('rename ') && e.endsWith(` ${path}`));
  expect(renamed).toBeGreaterThan(0);
  expect(events.slice(0, renamed)).toContain(`sync ${events[renamed]!.split(' ')[1]!}`);
  expect(events.slice(renamed + 1)).toContain(`sync ${dir}`);
});
