/**
 * Mutation fuzzing of the witness's add-checkpoint request (C2SP tlog-witness: "old <size>", the
 * consistency proof lines, an empty line, then a signed checkpoint) from Ed25519 and ECDSA logs,
 * mutated as text and as bytes: every request is answered with a status the spec names, never a
 * throw (a 500).
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consistencyProof, initCore, leafHashes, rootFromLeafHashes } from '../../host/core/index.js';
import { formatCheckpoint, formatNote, noteKeyFor, signNoteBody } from '../../host/log/note.js';
import { Witness, WitnessStore } from '../../host/witness/witness.js';
import { fuzz, mutateBytesN, mutateText, outcome } from '../mutate.js';

const edKey = generateKeyPairSync('ed25519').privateKey;
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const leaves = Array.from({ length: 20 }, (_, i) => Buffer.from(`entry ${i}`));
let dir: string;
let witness: Witness;

function request(origin: string, key: KeyObject, old: number, size: number): string {
  const body = formatCheckpoint({ origin, size, root: rootFromLeafHashes(leafHashes(leaves.slice(0, size))) });
  const proof = old === 0 ? '' : consistencyProof(leafHashes(leaves.slice(0, size)), old).map((h) => `${Buffer.from(h).toString('base64')}\n`).join('');
  return `old ${old}\n${proof}\n${formatNote({ body, signatures: [signNoteBody(body, origin, key)] })}`;
}

beforeAll(async () => {
  await initCore();
  dir = await mkdtemp(join(tmpdir(), 'cairn-witness-fuzz-'));
  witness = new Witness('witness.test/fuzz', generateKeyPairSync('ed25519').privateKey, [
    { origin: 'ed.test', keys: [noteKeyFor('ed.test', createPublicKey(edKey))] },
    { origin: 'ec.test', keys: [noteKeyFor('ec.test', createPublicKey(ecKey))] },
  ], new WitnessStore(join(dir, 'w.db')));
  expect(witness.addCheckpoint(request('ed.test', edKey, 0, 5)).status).toBe(200);
  expect(witness.addCheckpoint(request('ec.test', ecKey, 0, 5)).status).toBe(200);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fuzz: witness add-checkpoint', () => {
  it('answers 200, 400, 403, 404, 409 or 422 to every mutated request', () => {
    const seeds = [request('ed.test', edKey, 5, 12), request('ec.test', ecKey, 5, 12), request('ed.test', edKey, 5, 5)];
    const { crashes, codes } = fuzz(0x3e55, 3000, (r) => {
      const s = seeds[Math.floor(r() * seeds.length)]!;
      if (r() < 0.3) return Buffer.from(mutateBytesN(Buffer.from(s), r));
      let t = s;
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) t = mutateText(t, r);
      return t;
    }, (req) => {
      let status = 0;
      const o = outcome(() => {
        status = witness.addCheckpoint(req).status;
      });
      return o === 'ok' ? String(status) : o;
    }, { budgetMs: 3000 });
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => !['200', '400', '403', '404', '409', '422'].includes(c))).toEqual([]);
  });
});
