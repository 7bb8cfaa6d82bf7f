/**
 * The log's stored-node tree arithmetic against the core's all-leaves-in-memory implementation
 * (host/core), and the C2SP tile path rules.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { consistencyProof, inclusionProof, initCore, leafHashes, rootFromLeafHashes, verifyConsistency, verifyInclusion } from '../../host/core/index.js';
import { LogError } from '../../host/log/errors.js';
import { encodeIndex, parseTilePath, tilePath } from '../../host/log/tiles.js';
import { consistencyPath, inclusionPath, isPow2, newNodes, treeRoot, type NodeSource } from '../../host/log/tree.js';

beforeAll(() => initCore());

/** Builds the stored-node map the way the log does: batch by batch through newNodes. */
function grow(leaves: Uint8Array[], batches: number[]): NodeSource {
  const m = new Map<string, Uint8Array>();
  const get: NodeSource = (l, i) => {
    const h = m.get(`${l}/${i}`);
    if (!h) throw new Error(`missing ${l}/${i}`);
    return h;
  };
  let at = 0;
  for (const n of batches) {
    const batch = leaves.slice(at, at + n);
    batch.forEach((h, i) => m.set(`0/${at + i}`, h));
    for (const l of newNodes(get, at, batch)) l.hashes.forEach((h, i) => m.set(`${l.level}/${l.first + i}`, h));
    at += n;
  }
  return get;
}

describe('tree over stored nodes', () => {
  it('matches the core for every size 1..70, every index and every consistency pair, built in random batches', () => {
    const data = Array.from({ length: 70 }, () => randomBytes(20));
    const packed = leafHashes(data);
    const leaves = data.map((_, i) => packed.subarray(i * 32, i * 32 + 32));
    const batches: number[] = [];
    for (let left = 70; left > 0; ) {
      const n = Math.min(left, 1 + Math.floor(Math.random() * 9));
      batches.push(n);
      left -= n;
    }
    const get = grow(leaves, batches);
    for (let n = 1; n <= 70; n++) {
      const sub = packed.subarray(0, n * 32);
      const root = treeRoot(get, n);
      expect(Buffer.from(root)).toEqual(Buffer.from(rootFromLeafHashes(sub)));
      for (let i = 0; i < n; i++) {
        const p = inclusionPath(get, i, n);
        expect(p.map((h) => Buffer.from(h).toString('hex'))).toEqual(inclusionProof(sub, i).map((h) => Buffer.from(h).toString('hex')));
        expect(verifyInclusion(leaves[i]!, i, n, p, root)).toBe(true);
      }
      for (let m = 1; m <= n; m++) {
        const c = consistencyPath(get, m, n);
        expect(c.map((h) => Buffer.from(h).toString('hex'))).toEqual(consistencyProof(sub, m).map((h) => Buffer.from(h).toString('hex')));
        expect(verifyConsistency(m, n, c, treeRoot(get, m), root)).toBe(true);
      }
    }
  });
});

it('knows powers of two exactly over every safe integer size (log2(2^49 + 1) rounds to 49)', () => {
  for (let k = 0; k <= 52; k++) {
    expect(isPow2(2 ** k), `2^${k}`).toBe(true);
    if (k >= 2) expect(isPow2(2 ** k + 1), `2^${k} + 1`).toBe(false);
    if (k >= 2) expect(isPow2(2 ** k - 1), `2^${k} - 1`).toBe(false);
  }
  expect([0, -4, 3, 6, 12].map(isPow2)).toEqual([false, false, false, false, false]);
});

describe('tile paths (C2SP tlog-tiles)', () => {
  it('encodes indices in x-prefixed groups of three digits', () => {
    expect(encodeIndex(0)).toBe('000');
    expect(encodeIndex(5)).toBe('005');
    expect(encodeIndex(1234067)).toBe('x001/x234/067');
    expect(tilePath({ level: 1, index: 1234067, width: 256 })).toBe('tile/1/x001/x234/067');
    expect(tilePath({ level: 'entries', index: 7, width: 12 })).toBe('tile/entries/007.p/12');
  });

  it('parses exactly the canonical names', () => {
    expect(parseTilePath('0/x001/x234/067')).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath('2/000.p/9')).toEqual({ level: 2, index: 0, width: 9 });
    expect(parseTilePath('entries/x001/000.p/255')).toEqual({ level: 'entries', index: 1000, width: 255 });
    for (const bad of ['0/1', '0/0001', '0/x000/001', '0/001.p/0', '0/001.p/256', '0/001.p/', 'a/001', '-1/001', '0/x01/001', '0/001/', '64/000', '0', '0/001.p/01']) {
      expect(() => parseTilePath(bad), bad).toThrow(LogError);
    }
  });
});
