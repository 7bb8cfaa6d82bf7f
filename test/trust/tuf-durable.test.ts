/**
 * The TUF repository's files, its signing keys among them, are replaced by writeAtomic
 * (host/trust/tuf-repo.ts): a temp file renamed into place. The rename is atomic, not durable:
 * after a power cut ext4 and XFS may keep the new name over data that never reached the disk, and
 * an empty root key file can never be replaced (clients only accept a root the old key signed).
 * So the temp file is fsynced before the rename, and the directory after it. The calls are
 * recorded through a wrapped node:fs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';

const events: string[] = [];
/** Faults to inject: what fsync(2) of a directory fails with, and whether writing a file fails. */
const faults: { dirSync?: string; write?: string } = {};
const fault = (code: string): Error => Object.assign(new Error(`${code} (injected)`), { code });

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const paths = new Map<number, string>();
  const openSync = ((path: string, ...rest: unknown[]) => {
    const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
    paths.set(fd, String(path));
    return fd;
  }) as typeof fs.openSync;
  const fsyncSync = ((fd: number) => {
    if (faults.dirSync && fs.fstatSync(fd).isDirectory()) throw fault(faults.dirSync);
    fs.fsyncSync(fd);
    events.push(`fsync ${paths.get(fd) ?? fd}`);
  }) as typeof fs.fsyncSync;
  const renameSync = ((from: string, to: string) => {
    fs.renameSync(from, to);
    events.push(`rename ${from} ${to}`);
  }) as typeof fs.renameSync;
  const writeFileSync = ((...a: Parameters<typeof fs.writeFileSync>) => {
    if (faults.write && typeof a[0] === 'number') throw fault(faults.write);
    fs.writeFileSync(...a);
  }) as typeof fs.writeFileSync;
  const mocked = { ...fs, openSync, fsyncSync, renameSync, writeFileSync };
  return { ...mocked, default: mocked };
});

const { writeAtomic } = await import('../../host/trust/tuf-repo.js');

const dir = mkdtempSync(join(tmpdir(), 'cairn-tuf-durable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('writeAtomic fsyncs the new file before the rename and the directory after it', () => {
  const path = join(dir, 'keys', 'root.pem');
  writeAtomic(path, 'key\n', 0o600);
  expect(readFileSync(path, 'utf8')).toBe('key\n');
  expect(statSync(path).mode & 0o777).toBe(0o600);
  const renamed = events.findIndex((e) => e.startsWith('rename ') && e.endsWith(` ${path}`));
  expect(renamed).toBeGreaterThan(0);
  expect(events.slice(0, renamed)).toContain(`fsync ${events[renamed]!.split(' ')[1]!}`);
  expect(events.slice(renamed + 1)).toContain(`fsync ${join(dir, 'keys')}`);
});

it('writeAtomic keeps the file it renamed into place where the directory cannot be fsynced', () => {
  // Some file systems (FUSE, network mounts) answer fsync(2) of a directory with EINVAL: the file
  // is in place all the same, as writeFileDurably (host/keys/file.ts) treats it. Failing there
  // failed a publish half done (targets.json written, its snapshot not).
  const path = join(dir, 'metadata', 'timestamp.json');
  faults.dirSync = 'EINVAL';
  try {
    writeAtomic(path, '{}');
  } finally {
    delete faults.dirSync;
  }
  expect(readFileSync(path, 'utf8')).toBe('{}');
});

it('a write that fails (a full disk) leaves the old file and no temporary file behind', () => {
  const keys = join(dir, 'keys2');
  const path = join(keys, 'k.pem');
  writeAtomic(path, 'old\n', 0o600);
  faults.write = 'ENOSPC';
  try {
    expect(() => writeAtomic(path, 'new\n', 0o600)).toThrow(/ENOSPC/);
  } finally {
    delete faults.write;
  }
  expect(readFileSync(path, 'utf8')).toBe('old\n');
  expect(readdirSync(keys)).toEqual(['k.pem']);
});
