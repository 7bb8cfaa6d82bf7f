/**
 * Join tokens are single-use and expire (host/spiffe/store.ts): a server that hands one to every
 * node it brings up must not keep a row for every token it ever made. Used and expired tokens are
 * deleted when the next one is created, and stay refused exactly as before.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SpiffeStore } from '../../host/spiffe/store.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-join-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const refusal = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

it('keeps only the join tokens still waiting to be used', () => {
  const path = join(dir, 'spiffe.db');
  const clock = { now: 1_700_000_000_000 };
  const store = new SpiffeStore({ path, now: () => clock.now });
  const rows = (): number => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM join_tokens').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const tokens = Array.from({ length: 50 }, () => store.createJoinToken(60).token);
  for (const t of tokens.slice(0, 10)) store.consumeJoinToken(t);
  expect(rows()).toBe(50);
  // A new token: the ten used ones go; the forty waiting ones stay usable.
  const waiting = store.createJoinToken(600).token;
  expect(rows()).toBe(41);
  expect(refusal(() => store.consumeJoinToken(tokens[0]))).toBe('SPIFFE_BAD_JOIN_TOKEN');
  store.consumeJoinToken(tokens[10]!);
  // After their TTL the forty are dead too, and gone at the next creation.
  clock.now += 61_000;
  store.createJoinToken(600);
  expect(rows()).toBe(2);
  expect(refusal(() => store.consumeJoinToken(tokens[20]))).toBe('SPIFFE_BAD_JOIN_TOKEN');
  store.consumeJoinToken(waiting);
  store.close();
});
