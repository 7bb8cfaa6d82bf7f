/**
 * A remote agent's key and SVID files (host/spiffe/remote-agent.ts) change together at every
 * renewal. A crash between the two writes used to leave the new key beside the old SVID: after
 * the restart every request the agent signed failed the server's proof check, and with a join
 * token used up it could never attest again. The crash is staged by failing the file operation
 * that would replace one of the two files (a wrapped node:fs/promises), then the agent is started
 * again from its work directory and must still be able to talk to the server.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

/** The base name whose replacement "crashes" the process (the operation fails, nothing after it runs). */
let crashOn: string | undefined;
const crash = (target: unknown): void => {
  if (crashOn !== undefined && basename(String(target)).startsWith(crashOn)) throw Object.assign(new Error(`simulated crash writing ${String(target)}`), { code: 'ECRASH' });
};

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof fs.writeFile = async (path, ...rest) => {
    crash(path);
    return fs.writeFile(path, ...rest);
  };
  const open: typeof fs.open = async (path, ...rest) => {
    if (/\.tmp$/.test(String(path))) crash(path);
    return fs.open(path, ...rest);
  };
  const rename: typeof fs.rename = async (from, to) => {
    crash(to);
    return fs.rename(from, to);
  };
  return { ...fs, default: { ...fs, writeFile, open, rename }, writeFile, open, rename };
});

const { TrustDomainCa } = await import('../../host/spiffe/ca.js');
const { build } = await import('../../host/spiffe/plugin.js');
const { startRemoteAgent } = await import('../../host/spiffe/remote-agent.js');
const { SpiffeStore } = await import('../../host/spiffe/store.js');

let dir: string;
let store: InstanceType<typeof SpiffeStore>;
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-agent-crash-'));
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
  store = new SpiffeStore({ path: ':memory:' });
  app = await build({ ca, store, issuer: () => url });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app.close();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

it.each([
  ['before the SVID file is replaced', 'agent-svid.pem'],
  ['after the SVID file is replaced, before the key file is', 'agent-key.pem'],
])('an agent that crashes during a renewal %s still works after a restart', async (_, target) => {
  const workDir = join(dir, target);
  const { token } = store.createJoinToken(60);
  const first = await startRemoteAgent({ server: url, insecureBootstrap: true, joinToken: token, socketPath: join(workDir, 'a.sock'), workDir, pollMs: 60_000 });
  crashOn = target;
  try {
    await expect(first.renewSvid()).rejects.toThrow(/simulated crash/);
  } finally {
    crashOn = undefined;
    await first.close();
  }
  // The join token is spent: the agent can only go on with what its files hold.
  const again = await startRemoteAgent({ server: url, insecureBootstrap: true, socketPath: join(workDir, 'b.sock'), workDir, pollMs: 60_000 });
  try {
    await again.renewSvid(); // a request signed with the stored key under the stored SVID
    const third = await startRemoteAgent({ server: url, insecureBootstrap: true, socketPath: join(workDir, 'c.sock'), workDir, pollMs: 60_000 });
    await third.close();
  } finally {
    await again.close();
  }
  expect((await readdir(workDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}, 20_000);
