/**
 * Failover between log nodes on one PostgreSQL database: two `cairn serve log` processes take
 * appends; one is killed with SIGKILL in the middle of the load, possibly inside its sequencing
 * transaction. PostgreSQL ends that transaction when the connection drops, which releases the
 * sequencing lock, so the other node goes on appending without a stall, and every entry either
 * node acknowledged is in the tree at the index it was given. Skipped, with the reason printed,
 * when PostgreSQL's server is not installed (CI installs it).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { postgresBin, startPostgres, type RunningPostgres } from '../../scripts/postgres.mjs';
import { freshEntry, spawnLog, type LogProcess } from './helpers.js';

const bin = postgresBin();
if (!bin) console.warn('test/log/postgres-failover.test.ts skipped: no PostgreSQL server (initdb) installed (CI installs the postgresql package)');

let pg: RunningPostgres;
let dir: string;
beforeAll(async () => {
  if (!bin) return;
  pg = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'cairn-failover-'));
});
afterAll(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it.skipIf(!bin)('a node killed under load releases the sequencing lock; the other goes on, and nothing acknowledged is lost', async () => {
  const config = join(dir, 'log.yaml');
  await writeFile(config, `postgres: { url: "${pg.url}", schema: failover }\nbatchAgeMs: 5\nverifyWorkers: 0\n`);
  const node = (): Promise<LogProcess> => spawnLog(join(dir, 'data'), config);
  const a = await node();
  const b = await node(); // same data directory: the same keys
  const bodies = Array.from({ length: 900 }, (_, i) => freshEntry(`failover ${i}`));
  let next = 0;
  const acked = new Map<number, string>(); // index → body
  const ackedBy = { a: 0, b: 0 };
  let aDead = false;
  let stop = false;
  const client = (n: LogProcess, name: 'a' | 'b') => async (): Promise<void> => {
    while (!stop && next < bodies.length) {
      const body = bodies[next++]!;
      try {
        const res = await fetch(`${n.url}/api/v1/log/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        if (res.status !== 201) {
          expect(res.status).toBe(503); // only while the database is busy failing over, never a 500
          continue;
        }
        const e = Object.values((await res.json()) as Record<string, { logIndex: number; body: string }>)[0]!;
        expect(acked.has(e.logIndex)).toBe(false); // indices are never handed out twice
        acked.set(e.logIndex, e.body);
        ackedBy[name]++;
      } catch (err) {
        if (name === 'a' && aDead) return; // the killed node's clients stop
        throw err;
      }
    }
  };
  const load = [...Array.from({ length: 8 }, () => client(a, 'a')()), ...Array.from({ length: 8 }, () => client(b, 'b')())];
  while (ackedBy.a < 100 || ackedBy.b < 100) await new Promise((r) => setTimeout(r, 5));
  aDead = true;
  await a.kill();
  const bAtKill = ackedBy.b;
  // Node B keeps appending: at least 150 more acknowledgements within the test's deadline.
  const t0 = Date.now();
  while (ackedBy.b < bAtKill + 150 && next < bodies.length) await new Promise((r) => setTimeout(r, 5));
  const stallFree = Date.now() - t0;
  stop = true;
  await Promise.all(load);
  expect(ackedBy.b).toBeGreaterThanOrEqual(bAtKill + 150);
  expect(stallFree).toBeLessThan(15_000);

  // Every acknowledged entry, from either node, is in the tree at its index.
  const size = (await (await fetch(`${b.url}/api/v1/log`)).json() as { treeSize: number }).treeSize;
  expect(size).toBeGreaterThanOrEqual(acked.size);
  for (const [index, body] of acked) {
    const e = Object.values((await (await fetch(`${b.url}/api/v1/log/entries?logIndex=${index}`)).json()) as Record<string, { body: string }>)[0]!;
    expect(e.body, `index ${index}`).toBe(body);
  }
  // A node started now sees the same tree.
  const c = await node();
  try {
    expect((await (await fetch(`${c.url}/api/v1/log`)).json() as { treeSize: number }).treeSize).toBe(size);
  } finally {
    await c.kill();
    await b.kill();
  }
}, 120_000);
