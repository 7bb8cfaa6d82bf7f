/**
 * A witness cosignature for size N must never be served beside a later checkpoint (host/log/log.ts
 * addCosignature). With a shared store, storing the cosignature waits on the sequencing lock, and a
 * batch may commit meanwhile: the line for N would then sit under the note for N + k, where it does
 * not verify, and clients that reject a known witness's bad signature would reject the checkpoint.
 * The store's write is held open here (as PostgreSQL's lock wait holds it) while a batch commits.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { TransparencyLog } from '../../host/log/log.js';
import { cosign, parseCheckpoint, parseNote, parseWitnessVkey, verifyCosignature, witnessVkey } from '../../host/log/note.js';
import { SqliteLogStore } from '../../host/log/store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const line = (s: ReturnType<typeof cosign>): string => `\u2014 ${s.name} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}\n`;

it('a cosignature stored while a batch commits is kept with its own size and not served with the newer checkpoint', async () => {
  await initCore();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-cosig-race-'));
  dirs.push(dir);
  const store = new SqliteLogStore(join(dir, 'log.db'));
  const witness = generateKeyPairSync('ed25519');
  const wk = parseWitnessVkey(witnessVkey('witness.test/w', witness.publicKey));
  const { privateKey } = generateKeyPairSync('ed25519');
  const log = await TransparencyLog.open({ store, key: privateKey, origin: 'race.test', witnesses: [wk], batchAgeMs: 1 });
  await log.add({ body: Buffer.from('{"n":1}'), searchKeys: [] });

  // The store's write waits until we let it go.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const stored = store.addCosignature.bind(store);
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  store.addCosignature = async (size: number, l: string): Promise<void> => {
    entered();
    await gate;
    return stored(size, l);
  };

  const body1 = parseNote(log.checkpoint()).body;
  const sig = cosign(body1, wk.name, witness.privateKey, BigInt(Math.floor(Date.now() / 1000)));
  const adding = log.addCosignature(`${body1}\n${line(sig)}`);
  await inside;
  await log.add({ body: Buffer.from('{"n":2}'), searchKeys: [] }); // a batch commits meanwhile
  release();
  expect(await adding).toEqual({ size: 1, witness: wk.name });

  const served = parseNote(log.checkpoint());
  expect(parseCheckpoint(served.body).size).toBe(2);
  expect(log.checkpoint()).not.toContain(line(sig));
  // Every witness line served verifies over the note it is served with.
  for (const s of served.signatures.filter((s) => s.name === wk.name)) expect(verifyCosignature(served.body, s, wk)).not.toBeUndefined();
  store.addCosignature = stored;
  await log.close();
  store.close();
});
