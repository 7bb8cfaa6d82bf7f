/**
 * `cairn up` and its TUF repository across a restart: metadata that expired while the stack was
 * stopped is re-signed before the stack reports ready, and a refresh that cannot complete (a key
 * kept offline) is reported on stderr.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Updater } from 'tuf-js';
import { afterAll, expect, it, vi } from 'vitest';
import { startStack, type RunningStack } from '../../host/cli/up.js';
import { refreshIfDue } from '../../host/trust/tuf-repo.js';
import type { RootMeta, Signed } from '../../host/trust/tuf.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-up-tuf-'));
let stack: RunningStack | undefined;
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A base port N with N..N+4 free: the same URLs on both starts, so the trust files do not change. */
async function freeRange(): Promise<number> {
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let i = 0; i < 5 && ok; i++) ok = await free(base + i);
    if (ok) return base;
  }
  throw new Error('no five consecutive free ports');
}

it('a restart re-signs expired TUF metadata before it is ready, and reports a refresh it cannot finish', async () => {
  const data = join(dir, 'data');
  const tuf = join(data, 'tuf');
  const port = await freeRange();
  const env = process.env.SPIFFE_ENDPOINT_SOCKET;
  delete process.env.SPIFFE_ENDPOINT_SOCKET;
  const opts = { dataDir: data, host: '127.0.0.1', port, trustDomain: 'cairn.local', operator: 'cairn.local', logLevel: 'silent', config: {} };
  const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    stack = await startStack(opts);
    await stack.close();
    stack = undefined;
    // As if stopped 50 days ago: every role re-signed then, so timestamp and snapshot have long
    // expired and targets (90 days) is past half its life. Its key is then taken offline.
    refreshIfDue(tuf, { now: new Date(Date.now() - 50 * 86_400_000), fraction: 2 });
    const root = JSON.parse(readFileSync(join(tuf, 'metadata', 'root.json'), 'utf8')) as Signed<RootMeta>;
    rmSync(join(tuf, 'keys', `${root.signed.roles.targets.keyids[0]}.pem`));

    stack = await startStack(opts);
    // Right after ready, a client seeded with 1.root.json updates and fetches trusted_root.json.
    const metadataDir = join(dir, 'client');
    const targetDir = join(dir, 'client-targets');
    mkdirSync(metadataDir, { recursive: true });
    mkdirSync(targetDir, { recursive: true });
    copyFileSync(join(tuf, 'metadata', '1.root.json'), join(metadataDir, 'root.json'));
    const updater = new Updater({ metadataBaseUrl: stack.ready.tuf, targetBaseUrl: `${stack.ready.tuf}/targets`, metadataDir, targetDir, config: { fetchRetry: 0 } });
    const info = await updater.getTargetInfo('trusted_root.json');
    expect(JSON.parse(readFileSync(await updater.downloadTarget(info!), 'utf8'))).toEqual(JSON.parse(readFileSync(stack.ready.trustedRoot, 'utf8')));
    // The targets re-signing it could not do is on stderr.
    expect(errors.mock.calls.some(([msg]) => /^cairn up: TUF refresh failed: TUF_KEY_MISSING: /.test(String(msg)))).toBe(true);
  } finally {
    errors.mockRestore();
    if (env) process.env.SPIFFE_ENDPOINT_SOCKET = env;
  }
}, 120_000);
