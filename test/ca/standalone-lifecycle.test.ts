/**
 * A CA whose start fails halfway releases what it had opened: verify worker threads (which keep
 * the process alive, so `cairn up` reporting the error never exited) and the trust-domain
 * registry's SQLite file.
 */
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startStandalone } from '../../host/ca/standalone.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const workers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
async function openUnder(dir: string): Promise<string[]> {
  const fds = await readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((f) => readlink(`/proc/self/fd/${f}`).catch(() => '')));
  return targets.filter((t) => t.startsWith(dir));
}

describe('CA standalone start that fails', () => {
  it('terminates its verify workers and closes the trust-domain store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-ca-life-'));
    dirs.push(dir);
    const cfg = join(dir, 'ca.yaml');
    await writeFile(cfg, JSON.stringify({
      'oidc-issuers': { 'https://issuer.example': { 'issuer-url': 'https://issuer.example', 'client-id': 'sigstore', type: 'email' } },
      verifyWorkers: 1,
      trustDomains: { challenge: 'carrier-pigeon' },
    }));
    const before = workers();
    await expect(startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', config: cfg })).rejects.toMatchObject({ code: 'CA_BAD_CONFIG' });
    expect(workers()).toBe(before);
    expect(await openUnder(dir)).toEqual([]);
  });
});
