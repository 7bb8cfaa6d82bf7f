/**
 * A SPIFFE server whose start fails after its registration store is open (a tpmEkCas file with
 * no certificates, a TLS file that cannot be read) closes the store again: its SQLite file was
 * left open, one more descriptor (and WAL lock) per failed start in the embedding process.
 */
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startStandalone } from '../../host/spiffe/standalone.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openUnder(dir: string): Promise<string[]> {
  const fds = await readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((f) => readlink(`/proc/self/fd/${f}`).catch(() => '')));
  return targets.filter((t) => t.startsWith(dir));
}

describe('SPIFFE standalone start that fails', () => {
  it('closes the registration store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-spiffe-life-'));
    dirs.push(dir);
    await writeFile(join(dir, 'empty.pem'), '');
    await writeFile(join(dir, 'spiffe.yaml'), JSON.stringify({ tpmEkCas: join(dir, 'empty.pem'), socket: join(dir, 'agent.sock') }));
    await expect(startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', config: join(dir, 'spiffe.yaml'), trustDomain: 'life.test' })).rejects.toMatchObject({ code: 'SPIFFE_BAD_CONFIG' });
    expect(await openUnder(dir)).toEqual([]);
  });
});
