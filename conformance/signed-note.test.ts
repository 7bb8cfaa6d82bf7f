/**
 * Signed-note and checkpoint vectors from transparency-dev/formats, serverless-log and the C2SP
 * specs (conformance/vectors/transparency-dev-formats, see its INDEX.txt), run through the parser
 * and verifier every Cairn component uses for checkpoints (host/log/note.ts): the log, the witness,
 * the monitor and the bundle verifier.
 *
 * - Each signature case is verified with its one verifier key, exactly as upstream expects:
 *   Ed25519 (0x01), ECDSA (0x02, a real Rekor v1 checkpoint) and RFC 6962 STH (0x05, a real
 *   static-ct-api log), plus the cases that must fail (wrong origin, wrong key name, bad
 *   signature, an altered STH).
 * - Checkpoint bodies: upstream's parser does not check the root hash's length; C2SP
 *   tlog-checkpoint logs are SHA-256 (32 bytes), and Cairn refuses anything else. So each body
 *   upstream accepts is checked twice: as given (refused: the root is 7 or 37 bytes), and with a
 *   32-byte root in its place (accepted, with upstream's origin, size and extension lines), except
 *   empty extension lines, which C2SP tlog-checkpoint forbids.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCheckpoint, parseNote, parseNoteVkey, parseWitnessVkey, verifyCosignature, verifyNoteSignature, witnessVkey } from '../host/log/note.js';

const V = JSON.parse(readFileSync(join(import.meta.dirname, 'vectors/transparency-dev-formats/signed-note-vectors.json'), 'utf8')) as {
  cases: { name: string; verifierKey: string; note: string; expectedOrigin: string | null; expectValid: boolean }[];
  checkpointBodyParsing: { m: string; valid: boolean; origin?: string; size?: number; rest?: string; why?: string }[];
  parseOnly: { name: string; note?: string; expect: { origin?: string; size?: number; cosignatureTimestamp?: number } }[];
};

/** A verifier's whole decision: parse, find a verifying signature by this key, check the origin. */
function accepts(c: (typeof V.cases)[number]): boolean {
  const key = parseNoteVkey(c.verifierKey);
  const note = parseNote(c.note);
  if (!verifyNoteSignature(note, key)) return false;
  return c.expectedOrigin === null || parseCheckpoint(note.body).origin === c.expectedOrigin;
}

describe('signed notes (transparency-dev/formats, serverless-log, C2SP)', () => {
  it('has every kind of case', () => {
    expect(V.cases.length).toBe(30);
    expect(new Set(V.cases.map((c) => Buffer.from(c.verifierKey.split('+').slice(2).join('+'), 'base64')[0]))).toEqual(new Set([0x01, 0x02, 0x05]));
    expect(V.cases.filter((c) => !c.expectValid).length).toBeGreaterThanOrEqual(4);
  });

  for (const c of V.cases) {
    it(`${c.name}: ${c.expectValid ? 'verifies' : 'is refused'}`, () => {
      expect(accepts(c)).toBe(c.expectValid);
    });
  }

  it('a note altered after signing no longer verifies, for every valid case', () => {
    for (const c of V.cases.filter((x) => x.expectValid)) {
      const key = parseNoteVkey(c.verifierKey);
      const note = parseNote(c.note);
      // The size line is there in every checkpoint; the C2SP example note has no digits, so it gets a letter changed.
      const altered = /\n\d+\n/.test(note.body) ? note.body.replace(/\n(\d+)\n/, (_, n: string) => `\n${BigInt(n) + 1n}\n`) : note.body.replace('example', 'exampel');
      expect(verifyNoteSignature({ ...note, body: altered }, key), c.name).toBe(false);
    }
  });

  it('verifier keys: the key ID must be the key\'s, and unknown types are refused with a clear error', () => {
    const good = V.cases[0]!.verifierKey;
    const [name, id, b64] = good.split('+') as [string, string, string];
    const flipped = `${name}+${id.slice(0, 7)}${id[7] === '0' ? '1' : '0'}+${b64}`;
    expect(() => parseNoteVkey(flipped)).toThrow(expect.objectContaining({ code: 'LOG_BAD_CONFIG', message: expect.stringContaining('key ID does not match') }));
    const raw = Buffer.from(b64, 'base64');
    raw[0] = 0x09;
    expect(() => parseNoteVkey(`${name}+${id}+${raw.toString('base64')}`)).toThrow(expect.objectContaining({ code: 'LOG_BAD_CONFIG', message: expect.stringContaining('0x09') }));
    expect(() => parseNoteVkey(`a name+${id}+${b64}`)).toThrow(expect.objectContaining({ code: 'LOG_BAD_CONFIG' }));
    expect(() => parseNoteVkey(`${name}+${id}+${Buffer.concat([raw.subarray(0, 1).fill(1), raw.subarray(1, 20)]).toString('base64')}`)).toThrow(expect.objectContaining({ message: expect.stringContaining('32 bytes') }));
    // static-ct-api (0x05) keys are P-256 only.
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => parseNoteVkey(`ct.example/log+00000000+${Buffer.concat([Uint8Array.of(0x05), p384]).toString('base64')}`)).toThrow(expect.objectContaining({ message: expect.stringContaining('P-256') }));
  });
});

describe('signed-note text rules (C2SP signed-note, Format)', () => {
  const valid = V.cases[0]!.note;
  it('control characters other than newline are refused, anywhere in the note', () => {
    for (const ch of ['\r', '\t', '\u0000', '\u001b']) {
      expect(() => parseNote(valid.replace('This is', `This${ch}is`)), JSON.stringify(ch)).toThrow(expect.objectContaining({ code: 'LOG_BAD_REQUEST' }));
    }
  });
  it('a key name with a plus or a Unicode space is refused', () => {
    expect(() => parseNote(valid.replace('— example.com/foo', '— example.com+foo'))).toThrow(expect.objectContaining({ code: 'LOG_BAD_REQUEST' }));
    expect(() => parseNote(valid.replace('— example.com/foo', '— example.com\u00a0foo'))).toThrow(expect.objectContaining({ code: 'LOG_BAD_REQUEST' }));
  });
  it('invalid UTF-8 (a lone surrogate) is refused', () => {
    expect(() => parseNote(valid.replace('example', 'exa\ud800mple'))).toThrow(expect.objectContaining({ code: 'LOG_BAD_REQUEST' }));
  });
  it('the text is separated from the signatures by the last blank line: earlier blank lines belong to the text', () => {
    const n = parseNote(valid.replace('This is an example message.\n', 'This is\n\nan example message.\n'));
    expect(n.body).toBe('This is\n\nan example message.\n');
    expect(n.signatures.map((s) => s.name)).toEqual(['example.com/foo']);
  });
});

describe('checkpoint bodies (transparency-dev/formats TestUnmarshalLogState, under C2SP tlog-checkpoint)', () => {
  const root32 = Buffer.alloc(32, 7).toString('base64');
  for (const [i, v] of V.checkpointBodyParsing.entries()) {
    it(`#${i} ${v.valid ? 'accepted upstream' : `refused (${v.why})`}`, () => {
      if (!v.valid) {
        expect(() => parseCheckpoint(v.m)).toThrow(expect.objectContaining({ code: 'LOG_BAD_REQUEST' }));
        return;
      }
      // As given: the root is not a SHA-256 hash.
      expect(() => parseCheckpoint(v.m)).toThrow(expect.objectContaining({ message: expect.stringContaining('root hash') }));
      const lines = v.m.split('\n');
      lines[2] = root32;
      const fixed = lines.join('\n');
      const rest = v.rest ?? '';
      if (rest.split('\n').slice(0, -1).some((l) => l === '')) {
        // C2SP tlog-checkpoint: extension lines, if any, MUST be non-empty.
        expect(() => parseCheckpoint(fixed)).toThrow(expect.objectContaining({ message: expect.stringContaining('empty extension line') }));
        return;
      }
      const cp = parseCheckpoint(fixed);
      if (v.origin !== undefined) expect(cp.origin).toBe(v.origin);
      if (v.size !== undefined) expect(cp.size).toBe(v.size);
      expect((cp.extensions ?? []).map((e) => `${e}\n`).join('')).toBe(rest);
      expect(Buffer.from(cp.root).toString('base64')).toBe(root32);
    });
  }
});

describe('C2SP examples (parse only: no public keys published)', () => {
  for (const p of V.parseOnly.filter((x) => x.note !== undefined)) {
    it(p.name, () => {
      const note = parseNote(p.note!);
      const cp = parseCheckpoint(note.body);
      expect(cp.origin).toBe('example.com/behind-the-sofa');
      expect(cp.size).toBe(20852163);
      if (p.expect.cosignatureTimestamp !== undefined) {
        // The witness line is 4-byte key ID ‖ 8-byte timestamp ‖ 64-byte signature (tlog-cosignature).
        const w = note.signatures.find((s) => s.name === 'witness.example.com/w1')!;
        expect(w.signature.length).toBe(72);
        expect(Buffer.from(w.signature.subarray(0, 8)).readBigUInt64BE()).toBe(BigInt(p.expect.cosignatureTimestamp));
        // With no published key, a made-up witness key of that name must not verify it.
        const stranger = parseWitnessVkey(witnessVkey('witness.example.com/w1', generateKeyPairSync('ed25519').publicKey));
        expect(verifyCosignature(note.body, w, stranger)).toBeUndefined();
      }
    });
  }
});
