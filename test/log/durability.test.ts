/**
 * The log's durability contract (host/log/log.ts commit, host/log/store.ts): a log server killed
 * with SIGKILL in the middle of a load keeps, after a restart, every entry it had acknowledged, at
 * the index it gave, and the checkpoints it served are consistent with the tree after the
 * restart. A SIGKILL loses the process, not the page cache; a power cut cannot be staged here.
 * What covers that is the order in commit(): the batch's COMMIT, fsynced under synchronous=FULL,
 * returns before any entry of it is acknowledged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { initCore, verifyConsistency } from '../../host/core/index.js';
import { parseCheckpoint, parseNote } from '../../host/log/note.js';
import { freshEntry, spawnLog, type LogProcess } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cairn-durability-'));
  dirs.push(d);
  return d;
}

it('a log server killed with SIGKILL under load keeps every entry it acknowledged', async () => {
  const dir = await tempDir();
  const start = (): Promise<LogProcess> => spawnLog(join(dir, 'data'));
  const bodies = Array.from({ length: 600 }, (_, i) => freshEntry(`crash ${i}`));
  const server = await start();
  const acked = new Map<string, number>(); // UUID → index
  const checkpoints: string[] = [];
  let next = 0;
  let killed = false;
  const client = async (): Promise<void> => {
    while (!killed && next < bodies.length) {
      const body = bodies[next++]!;
      try {
        const res = await fetch(`${server.url}/api/v1/log/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        if (res.status !== 201) continue;
        const j = (await res.json()) as Record<string, { logIndex: number; verification: { inclusionProof: { checkpoint: string } } }>;
        const [uuid, e] = Object.entries(j)[0]!;
        acked.set(uuid, e.logIndex);
        checkpoints.push(e.verification.inclusionProof.checkpoint);
      } catch {
        return; // the server is gone
      }
    }
  };
  const clients = Array.from({ length: 16 }, () => client());
  while (acked.size < 150) await new Promise((r) => setTimeout(r, 5));
  await server.kill(); // mid-load: batches in flight, some committed and not yet fsynced
  killed = true;
  await Promise.all(clients);
  expect(acked.size).toBeGreaterThanOrEqual(150);

  const again = await start();
  try {
    for (const [uuid, index] of acked) {
      const res = await fetch(`${again.url}/api/v1/log/entries/${uuid}`);
      expect(res.status, uuid).toBe(200);
      const j = (await res.json()) as Record<string, { logIndex: number }>;
      expect(Object.values(j)[0]!.logIndex).toBe(index);
    }
    // Every checkpoint served before the crash is consistent with the tree after it.
    const now = parseCheckpoint(parseNote(await (await fetch(`${again.url}/checkpoint`)).text()).body);
    await initCore();
    for (const text of checkpoints.slice(-20)) {
      const old = parseCheckpoint(parseNote(text).body);
      expect(old.size).toBeLessThanOrEqual(now.size);
      if (old.size === now.size || old.size === 0) continue;
      const proof = (await (await fetch(`${again.url}/api/v1/log/proof?firstSize=${old.size}&lastSize=${now.size}`)).json()) as { hashes: string[] };
      expect(verifyConsistency(old.size, now.size, proof.hashes.map((h) => Buffer.from(h, 'hex')), old.root, now.root)).toBe(true);
    }
  } finally {
    await again.kill();
  }
}, 120_000);
