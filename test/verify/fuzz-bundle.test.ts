/**
 * Mutation fuzzing of the Sigstore bundle verifier's inputs: bundle JSON (v0.1–v0.3 vectors from
 * sigstore-conformance) and trusted_root.json, each mutated structurally (values replaced, keys
 * dropped, base64 fields mutated as bytes, arrays grown). parseBundle, parseTrustedRoot and
 * verifyBundle answer a VerificationError with its code, or a result; never a TypeError.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { parseBundle, parseTrustedRoot, verifyBundle } from '../../host/verify/index.js';
import { fuzz, mutateJson, outcome } from '../mutate.js';

const A = join(import.meta.dirname, '../../conformance/vectors/sigstore-conformance/test/assets/bundle-verify');
const rootJson = JSON.parse(readFileSync(join(import.meta.dirname, '../../conformance/vectors/root-signing/targets/trusted_root.json'), 'utf8'));
/** Vector JSON, or undefined for the vectors that are deliberately not JSON. */
const json = (p: string): unknown => {
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return undefined;
  }
};
const cases = readdirSync(A)
  .filter((d) => existsSync(join(A, d, 'bundle.sigstore.json')))
  .map((d) => ({ bundle: json(join(A, d, 'bundle.sigstore.json')), root: existsSync(join(A, d, 'trusted_root.json')) ? json(join(A, d, 'trusted_root.json')) : rootJson }))
  .filter((c) => c.bundle !== undefined && c.root !== undefined);
const artifact = readFileSync(join(A, 'a.txt'));
const roots = [rootJson, ...new Set(cases.map((c) => c.root))];

beforeAll(() => initCore());

describe('fuzz: bundle and trusted root JSON', () => {
  it('parseTrustedRoot answers TRUSTED_ROOT_MALFORMED or trust material', () => {
    const { crashes, runs, codes } = fuzz(0x7200, 3000, (r) => {
      let d = roots[Math.floor(r() * roots.length)];
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) d = mutateJson(d, r);
      return d;
    }, (d) => outcome(() => parseTrustedRoot(d)), { budgetMs: 2500 });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(300);
    expect([...codes.keys()].every((c) => c === 'ok' || c === 'TRUSTED_ROOT_MALFORMED')).toBe(true);
  });

  it('regression: a null certificate in a certChain, or bad base64 anywhere in the root, is TRUSTED_ROOT_MALFORMED', () => {
    const ca = rootJson.certificateAuthorities[0];
    // Was a TypeError (null) and BUNDLE_MALFORMED (bad base64: the bundle blamed for the root).
    for (const certificates of [[null], [7], ['x'], [[]], [{ rawBytes: '***' }]]) {
      const r = { ...rootJson, certificateAuthorities: [{ ...ca, certChain: { certificates } }] };
      expect(outcome(() => parseTrustedRoot(r))).toBe('TRUSTED_ROOT_MALFORMED');
    }
    for (const certChain of [7, 'x', { certificates: 'x' }]) {
      const r = { ...rootJson, timestampAuthorities: [{ ...ca, certChain }] };
      expect(outcome(() => parseTrustedRoot(r))).toBe('TRUSTED_ROOT_MALFORMED');
    }
    const log = rootJson.tlogs[0];
    for (const pk of [{ ...log.publicKey, rawBytes: '***' }]) {
      expect(outcome(() => parseTrustedRoot({ ...rootJson, tlogs: [{ ...log, publicKey: pk }] }))).toBe('TRUSTED_ROOT_MALFORMED');
    }
    expect(outcome(() => parseTrustedRoot({ ...rootJson, tlogs: [{ ...log, logId: { keyId: '!' } }] }))).toBe('TRUSTED_ROOT_MALFORMED');
  });

  it('parseBundle and verifyBundle answer a VerificationError code or a result', () => {
    const trust = new Map(roots.flatMap((r) => (outcome(() => parseTrustedRoot(r)) === 'ok' ? [[r, parseTrustedRoot(r)] as const] : [])));
    const usable = cases.filter((c) => trust.has(c.root));
    const { crashes, runs } = fuzz(0xb0d1e, 3000, (r) => {
      const c = usable[Math.floor(r() * usable.length)]!;
      let d = c.bundle;
      for (let k = 1 + Math.floor(r() * 2); k > 0; k--) d = mutateJson(d, r);
      return { d, t: trust.get(c.root)! };
    }, ({ d, t }) => outcome(() => verifyBundle(parseBundle(d), { bytes: artifact }, t, {}, { now: new Date('2025-06-01T00:00:00Z') })), { budgetMs: 8000 });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(300);
  });
});
