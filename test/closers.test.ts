/**
 * host/closers.ts, and the services that close through it: a closer that fails does not leave
 * the ones after it open, and closing twice (a signal handler and an afterAll) closes once.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeAll, closeOnce } from '../host/closers.js';

describe('closeAll and closeOnce', () => {
  it('runs every closer in order even when some fail, then throws the first failure', async () => {
    const ran: string[] = [];
    const err = new Error('store went away');
    await expect(closeAll([() => ran.push('a'), () => { ran.push('b'); throw err; }, async () => { ran.push('c'); throw new Error('second'); }, () => ran.push('d')])).rejects.toBe(err);
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
    await expect(closeAll([])).resolves.toBeUndefined();
  });

  it('closeOnce runs its function on the first call and hands every caller that promise', async () => {
    let n = 0;
    const close = closeOnce(async () => {
      n++;
      await new Promise((r) => setTimeout(r, 10));
    });
    const [p1, p2] = [close(), close()];
    expect(p1).toBe(p2);
    await Promise.all([p1, p2, close()]);
    expect(n).toBe(1);
  });
});

describe('services close once, however often asked', () => {
  for (const service of ['log', 'spiffe', 'tsa', 'ca', 'witness'] as const) {
    it(`${service}: close() twice, at once and after, resolves`, async () => {
      const dir = await mkdtemp(join(tmpdir(), `cairn-close-${service}-`));
      try {
        let config: string | undefined;
        if (service === 'witness') {
          config = join(dir, 'witness.yaml');
          const { generateKeyPairSync } = await import('node:crypto');
          const pem = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string;
          await writeFile(config, JSON.stringify({ name: 'witness.test/w', logs: [{ origin: 'log.test', publicKey: pem }] }));
        }
        const modules = { log: () => import('../host/log/standalone.js'), spiffe: () => import('../host/spiffe/standalone.js'), tsa: () => import('../host/tsa/standalone.js'), ca: () => import('../host/ca/standalone.js'), witness: () => import('../host/witness/standalone.js') };
        const { startStandalone } = (await modules[service]()) as unknown as { startStandalone: (o: object) => Promise<{ close(): Promise<void> }> };
        const s = await startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', ...(config ? { config } : {}), ...(service === 'spiffe' ? { trustDomain: 'close.test' } : {}) });
        await Promise.all([s.close(), s.close()]);
        await s.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});
