/**
 * A subordinate CA's passphrase file (sub-passphrase, host/ca/subordinate-client.ts) that group or
 * others can read is refused, with its chmod hint, before the parent is asked for a certificate.
 * It was read with a plain readFile after the parent had answered: the parent issued a CA
 * certificate, the new key was written encrypted under the exposed passphrase, and only then did
 * loading it fail; a subordinate waiting for its parent (parent.wait, as `cairn up` sets) asked for
 * another certificate on every retry. The parent is a small server signing the CSR under a
 * generated root; the JWT-SVID comes from a stub of the Workload API client.
 */
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startStubParent, type StubParent } from './stub-parent.js';

const SUB_ID = 'spiffe://prod.acme.test/cairn/ca';
vi.mock('../../host/signer/identity.js', () => ({ fetchJwtSvid: async () => ({ token: 'stub', spiffeId: SUB_ID }) }));

const { SubordinateClient } = await import('../../host/ca/subordinate-client.js');

let dir: string;
let parent: StubParent;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-subca-secrets-'));
  parent = await startStubParent('prod.acme.test');
  url = parent.url;
});

afterAll(async () => {
  await parent.close();
  await rm(dir, { recursive: true, force: true });
});

it('a sub-passphrase readable by others is refused before the parent is asked, and the stored key stays', async () => {
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const first = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } });
  first.close();
  await first.current!.signer.close();
  expect(parent.issued()).toBe(1);
  const key = await readFile(join(dataDir, 'sub-key.pem'), 'utf8');

  const passphrase = join(dataDir, 'sub-passphrase');
  await chmod(passphrase, 0o644);
  await expect(SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } }))
    .rejects.toMatchObject({ code: 'KEY_FILE_INVALID', message: expect.stringContaining(`chmod 600 ${passphrase}`) });
  // No certificate was asked for, and no key was written under the exposed passphrase.
  expect(parent.issued()).toBe(1);
  expect(await readFile(join(dataDir, 'sub-key.pem'), 'utf8')).toBe(key);

  // Waiting for the parent (parent.wait) retries with the same refusal, still without asking it.
  const waiting = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent', wait: true } });
  try {
    expect(waiting.current).toBeUndefined();
    expect(waiting.lastError?.message).toContain('chmod 600');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(parent.issued()).toBe(1);
  } finally {
    waiting.close();
  }

  // Private again: the stored certificate is used as it is.
  await chmod(passphrase, 0o600);
  const again = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } });
  try {
    expect(again.current).toBeDefined();
    expect(parent.issued()).toBe(1);
  } finally {
    again.close();
    await again.current?.signer.close();
  }
}, 20_000);
