/**
 * Mutation fuzzing of the trust-file readers that take a trusted_root.json / signing_config.json
 * from outside (`cairn trust-root show|distrust`, the previous files merged on restart): every
 * mutation of the sigstore root is read, or refused with a TrustError code; never a TypeError.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSigningConfig, distrustInstance, listInstances, mergeTrustedRoot } from '../../host/trust/trust-files.js';
import { fuzz, mutateJson, outcome } from '../mutate.js';

const VEC = join(import.meta.dirname, '../../conformance/vectors');
const root = JSON.parse(readFileSync(join(VEC, 'root-signing/targets/trusted_root.json'), 'utf8'));
const caId = createHash('sha256').update(Buffer.from(root.certificateAuthorities[0].certChain.certificates[0].rawBytes, 'base64')).digest('hex');
const logId = Buffer.from(root.tlogs[0].logId.keyId, 'base64').toString('hex');
const signingConfig = {
  mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
  caUrls: [{ url: 'https://fulcio.example', majorApiVersion: 1, validFor: { start: '2024-01-01T00:00:00Z' }, operator: 'example.com' }],
  rekorTlogUrls: [{ url: 'https://rekor.example', majorApiVersion: 1, validFor: { start: '2024-01-01T00:00:00Z' }, operator: 'example.com' }],
};
const TRUST_CODES = new Set(['ok', 'TRUST_PREVIOUS_MALFORMED', 'TRUST_INSTANCE_NOT_FOUND', 'TRUST_INVALID_INPUT']);
const now = new Date('2026-01-01T00:00:00Z');

describe('fuzz: trusted_root.json / signing_config.json readers', () => {
  it('the unmutated root is listed, distrusted and merged', () => {
    expect(listInstances(root).length).toBeGreaterThan(3);
    expect(distrustInstance(root, 'ca', caId, now).instance.id).toBe(caId);
    expect(mergeTrustedRoot(root, {}, now).certificateAuthorities.length).toBe(root.certificateAuthorities.length);
  });

  it('listInstances, distrustInstance and mergeTrustedRoot answer a TrustError code or a result', () => {
    const { crashes, runs, codes } = fuzz(0x7a57, 3000, (r) => {
      let d: unknown = root;
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) d = mutateJson(d, r);
      return d;
    }, (d) => {
      for (const f of [() => listInstances(d), () => distrustInstance(d, 'ca', caId, now), () => distrustInstance(d, 'tlog', logId, now), () => mergeTrustedRoot(d, {}, now)]) {
        const o = outcome(f);
        if (o !== 'ok') return o;
      }
      return 'ok';
    }, { budgetMs: 2500 });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(300);
    expect([...codes.keys()].filter((c) => !TRUST_CODES.has(c))).toEqual([]);
  });

  it('regression: a CA without a subject (protobuf-specs: optional) is listed under its certificate subject', () => {
    const { subject: _s, ...ca } = root.certificateAuthorities[0];
    const r = { ...root, certificateAuthorities: [ca, { ...ca, subject: null, certChain: { certificates: [{ rawBytes: 'AAAA' }] } }] };
    const got = listInstances(r);
    expect(got[0]!.name).toMatch(/sigstore/);
    expect(got[1]!.name).toBe(ca.uri);
    expect(distrustInstance(r, 'ca', caId, now).instance.id).toBe(caId);
  });

  it('buildSigningConfig with a mutated previous file answers a TrustError code or a config', () => {
    const input = { ca: [{ url: 'https://fulcio.example', majorApiVersion: 1, validFor: { start: new Date('2025-01-01T00:00:00Z') }, operator: 'example.com' }] };
    const { crashes, codes } = fuzz(0x5c, 3000, (r) => mutateJson(signingConfig, r), (d) => outcome(() => buildSigningConfig(input, d)), { budgetMs: 1500 });
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => !TRUST_CODES.has(c))).toEqual([]);
  });
});
