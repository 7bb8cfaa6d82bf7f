/**
 * A log whose start fails after the Rekor log opened (the CT store belongs to another key, so
 * opening the CT log is refused) closes the Rekor log again: its checkpoint publisher kept
 * re-signing, every few seconds for the life of the process, against a store already closed.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { TransparencyLog } from '../../host/log/log.js';
import { startStandalone } from '../../host/log/standalone.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('log standalone start that fails', () => {
  it('closes the Rekor log it had opened', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-log-life-'));
    dirs.push(dir);
    await writeFile(join(dir, 'log.yaml'), JSON.stringify({ verifyWorkers: 0, checkpointIntervalMs: 60_000 }));
    const opts = { dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', config: join(dir, 'log.yaml') };
    await (await startStandalone(opts)).close();
    // Another CT key than the one its store was created with.
    await writeFile(join(dir, 'data', 'ct-key.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
    const opened = vi.spyOn(TransparencyLog, 'open');
    const closed = vi.spyOn(TransparencyLog.prototype, 'close');
    try {
      await expect(startStandalone(opts)).rejects.toMatchObject({ code: 'LOG_STORE_MISMATCH' });
      const logs = await Promise.all(opened.mock.results.filter((r) => r.type === 'return').map((r) => (r.value as Promise<TransparencyLog>).catch(() => undefined)));
      const rekor = logs.filter((l) => l !== undefined);
      expect(rekor).toHaveLength(1);
      expect(closed.mock.contexts).toContain(rekor[0]);
    } finally {
      opened.mockRestore();
      closed.mockRestore();
    }
  });
});
