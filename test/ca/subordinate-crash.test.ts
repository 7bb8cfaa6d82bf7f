/**
 * A subordinate CA renews its certificate with a new key (host/ca/subordinate-client.ts), and the
 * key and chain files change together. The key went first, over the old one: a crash before the
 * chain was written left the new key beside the old chain, the pair was thrown away at the next
 * start, and with the parent unreachable then the CA could not start (or waited, CA_PENDING),
 * although its old certificate had a third of its life left. The crash is staged with a wrapped
 * node:fs/promises; the parent is a small server signing the CSR under a generated root, and the
 * JWT-SVID comes from a stub of the Workload API client.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startStubParent, type StubParent } from './stub-parent.js';

/**
 * Where the process "dies": `write` fails the creation of a file named `name` or of a temp file
 * for it; `rename` fails only the rename whose target is exactly `name`, after everything before it.
 */
let crashOn: { op: 'write' | 'rename'; name: string } | undefined;
const crash = (op: 'write' | 'rename', target: unknown): void => {
  const base = basename(String(target));
  if (crashOn?.op === op && (op === 'rename' ? base === crashOn.name : base.startsWith(crashOn.name))) throw new Error(`simulated crash writing ${String(target)}`);
};

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof fs.writeFile = async (path, ...rest) => {
    crash('write', path);
    return fs.writeFile(path, ...rest);
  };
  const open: typeof fs.open = async (path, ...rest) => {
    if (/\.tmp$/.test(String(path))) crash('write', path);
    return fs.open(path, ...rest);
  };
  const rename: typeof fs.rename = async (from, to) => {
    crash('rename', to);
    return fs.rename(from, to);
  };
  return { ...fs, default: { ...fs, writeFile, open, rename }, writeFile, open, rename };
});

const SUB_ID = 'spiffe://prod.acme.test/cairn/ca';
vi.mock('../../host/signer/identity.js', () => ({ fetchJwtSvid: async () => ({ token: 'stub', spiffeId: SUB_ID }) }));

const { SubordinateClient } = await import('../../host/ca/subordinate-client.js');

let dir: string;
let parent: StubParent;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-subca-crash-'));
  parent = await startStubParent('prod.acme.test');
  url = parent.url;
});

afterAll(async () => {
  await parent.close();
  await rm(dir, { recursive: true, force: true });
});

it.each([
  ['before the chain file is replaced', { op: 'write', name: 'sub-chain.pem' }],
  ['after the chain file is replaced, before the key file is', { op: 'rename', name: 'sub-key.pem' }],
] as const)('a subordinate CA that crashes during a renewal %s restarts on a stored certificate while its parent is down', async (_, target) => {
  const dataDir = join(dir, target.name.replace('.pem', ''));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const client = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } });
  const serials = [client.current!.cert.serialNumber];
  crashOn = target;
  try {
    await expect(client.renew()).rejects.toThrow(/simulated crash/);
  } finally {
    crashOn = undefined;
    client.close();
  }
  // The parent is unreachable at the restart: only what the files hold can be served.
  const again = await SubordinateClient.start({ dataDir, parent: { url: 'http://127.0.0.1:1', socket: 'unix:///nonexistent' } });
  try {
    expect(again.current).toBeDefined();
    expect(again.current!.cert.notAfter.getTime()).toBeGreaterThan(Date.now());
    // The old pair, or the renewed one whose chain was already in place.
    if (target.op === 'write') expect(again.current!.cert.serialNumber).toBe(serials[0]);
    else expect(again.current!.cert.serialNumber).not.toBe(serials[0]);
  } finally {
    again.close();
    await again.current?.signer.close();
  }
}, 20_000);
