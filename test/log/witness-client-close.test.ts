/**
 * WitnessClient.close() ends the work it started: a request to a witness that has not answered
 * is aborted, and close() resolves only once no send is left. Before, close() returned at once;
 * the request held the shutting-down log process for up to timeoutMs and then used a log and
 * store already closed, reporting "witness did not cosign; retrying" after the shutdown.
 */
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TransparencyLog } from '../../host/log/log.js';
import { parseWitnessVkey, witnessVkey } from '../../host/log/note.js';
import { SqliteLogStore } from '../../host/log/store.js';
import { WitnessClient } from '../../host/log/witness-client.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('WitnessClient.close', () => {
  it('aborts a request in flight and waits for it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-wc-close-'));
    dirs.push(dir);
    const store = new SqliteLogStore(join(dir, 'log.db'));
    const log = await TransparencyLog.open({ store, key: generateKeyPairSync('ed25519').privateKey, origin: 'wc-close.test' });
    // A witness that takes the connection and never answers.
    const sockets: Socket[] = [];
    const stalled = createServer((s) => {
      sockets.push(s);
      s.resume(); // read the request (and the client's FIN), answer nothing
    });
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(stalled.address() as { port: number }).port}`;
    const errors: unknown[] = [];
    const wc = new WitnessClient(log, [{ url, key: parseWitnessVkey(witnessVkey('wc-close.test/w', generateKeyPairSync('ed25519').publicKey)) }], { timeoutMs: 20_000, onError: (_, e) => errors.push(e) });
    try {
      wc.notify();
      while (sockets.length === 0) await new Promise((r) => setTimeout(r, 10));
      const ended = once(sockets[0]!, 'close');
      const t0 = Date.now();
      await wc.close();
      await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error('the request to the witness is still open')), 2_000))]);
      expect(Date.now() - t0).toBeLessThan(2_000);
      await wc.settled();
      expect(errors).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      stalled.close();
      await log.close();
      store.close();
    }
  });
});
