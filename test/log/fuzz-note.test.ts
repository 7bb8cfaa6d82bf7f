/**
 * Mutation fuzzing of the signed-note family (C2SP signed-note, tlog-checkpoint, tlog-cosignature,
 * static-ct-api) and of tlog-tiles paths: the transparency-dev vectors, mutated as text and as
 * bytes, are parsed and verified; every outcome is a result or a LogError code, never a throw of
 * another kind, and no mutated note verifies under a key it was not signed with.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeNoteBytes, parseCheckpoint, parseNote, parseNoteVkey, parseWitnessVkey, verifyCosignature, verifyNoteSignature, type NoteKey, type WitnessKey,
} from '../../host/log/note.js';
import { encodeIndex, parseTilePath, tilePath } from '../../host/log/tiles.js';
import { fuzz, mutateBytesN, mutateText, outcome } from '../mutate.js';

interface Case { name: string; verifierKey: string; note: string; expectValid: boolean }
const V = JSON.parse(readFileSync(join(import.meta.dirname, '../../conformance/vectors/transparency-dev-formats/signed-note-vectors.json'), 'utf8')) as { cases: Case[] };
const cases = V.cases.filter((c) => typeof c.note === 'string' && typeof c.verifierKey === 'string');

/** The vkey as a note key or a witness key, whichever it is (undefined: neither). */
function keyOf(vkey: string): { note?: NoteKey; witness?: WitnessKey } {
  try {
    return { note: parseNoteVkey(vkey) };
  } catch {
    try {
      return { witness: parseWitnessVkey(vkey) };
    } catch {
      return {};
    }
  }
}

/** Parse and verify as the log, witness and monitor do. */
function check(text: string, key: { note?: NoteKey; witness?: WitnessKey }): string {
  return outcome(() => {
    const n = parseNote(text);
    if (key.note) verifyNoteSignature(n, key.note);
    if (key.witness) for (const s of n.signatures) verifyCosignature(n.body, s, key.witness);
    try {
      parseCheckpoint(n.body);
    } catch (e) {
      if (!(e as { code?: string }).code) throw e;
    }
  });
}

describe('fuzz: signed notes and checkpoints', () => {
  it('the vectors parse as upstream expects', () => {
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases.filter((x) => x.expectValid)) expect(check(c.note, keyOf(c.verifierKey))).toBe('ok');
  });

  it('parseNote / parseCheckpoint / verification answer a result or a LogError on mutated text', () => {
    const keys = cases.map((c) => keyOf(c.verifierKey));
    const { crashes, runs, codes } = fuzz(0x2014, 4000, (r) => {
      const i = Math.floor(r() * cases.length);
      let t = cases[i]!.note;
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) t = mutateText(t, r);
      return { t, key: keys[i]! };
    }, ({ t, key }) => check(t, key));
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(500);
    expect([...codes.keys()].filter((c) => c !== 'ok' && c !== 'LOG_BAD_REQUEST')).toEqual([]);
  });

  it('mutated note bytes decode strictly or not at all, then parse or fail with a code', () => {
    const { crashes } = fuzz(0xb17e, 3000, (r) => mutateBytesN(Buffer.from(cases[Math.floor(r() * cases.length)]!.note), r), (b) => {
      const text = decodeNoteBytes(b);
      return text === undefined ? 'not UTF-8' : check(text, {});
    });
    expect(crashes).toEqual([]);
  });

  it('parseNoteVkey / parseWitnessVkey answer a key or LOG_BAD_CONFIG on mutated vkeys', () => {
    const vkeys = cases.map((c) => c.verifierKey);
    const { crashes, codes } = fuzz(0x5e7, 4000, (r) => {
      let v = vkeys[Math.floor(r() * vkeys.length)]!;
      if (r() < 0.5) {
        // Mutate the key bytes themselves, keeping the vkey's shape.
        const [name, id, b64] = v.split('+');
        v = `${name}+${id}+${Buffer.from(mutateBytesN(Buffer.from(b64 ?? '', 'base64'), r)).toString('base64')}`;
      } else v = mutateText(v, r);
      return v;
    }, (v) => {
      const a = outcome(() => parseNoteVkey(v));
      return a.startsWith('CRASH') ? a : outcome(() => parseWitnessVkey(v));
    });
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => c !== 'ok' && c !== 'LOG_BAD_CONFIG')).toEqual([]);
  });
});

describe('fuzz: tile paths', () => {
  it('parseTilePath answers a tile or LOG_BAD_TILE_PATH, and every tile it accepts has exactly that name', () => {
    const seeds = [
      tilePath({ level: 0, index: 0, width: 256 }), tilePath({ level: 'entries', index: 1234067, width: 17 }),
      tilePath({ level: 3, index: 2 ** 53 - 1, width: 256 }), `0/${encodeIndex(999)}.p/255`,
    ].map((p) => p.replace(/^tile\//, ''));
    const { crashes, codes } = fuzz(0x711e, 5000, (r) => {
      let p = seeds[Math.floor(r() * seeds.length)]!;
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) p = mutateText(p, r);
      return p;
    }, (p) => outcome(() => {
      const t = parseTilePath(p);
      // tlog-tiles: one name per tile; a second spelling would split caches and proofs.
      if (tilePath(t) !== `tile/${p}`) throw new Error(`tile/${p} parsed as ${tilePath(t)}`);
    }));
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => c !== 'ok' && c !== 'LOG_BAD_TILE_PATH')).toEqual([]);
  });
});
