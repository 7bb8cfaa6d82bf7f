/**
 * Mutation fuzzing of the verifier's own X.509 readers (x509-lite splitCertificate / leafProfile /
 * issuerFacts, name-constraints parseGeneralNames / parseNameConstraints) on every certificate in
 * the vendored vectors. These are internal readers whose callers turn a refusal into a coded error
 * (CERTIFICATE_MALFORMED, "unreadable name constraints", no TCG selectors): what is checked is
 * that they refuse only with their own errors or the DER reader's TSA_MALFORMED, never a
 * TypeError or RangeError, and that leafProfile / issuerFacts never throw at all.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNameConstraints, NameConstraintError, parseGeneralNames, parseNameConstraints } from '../../host/verify/name-constraints.js';
import { issuerFacts, leafProfile, splitCertificate } from '../../host/verify/x509-lite.js';
import { TsaError } from '../../host/tsa/errors.js';
import { fuzz, mutateBytesN } from '../mutate.js';

const VECTORS = join(import.meta.dirname, '../../conformance/vectors');
function walk(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}
const certs: Buffer[] = [];
for (const f of walk(VECTORS)) {
  if (f.endsWith('.json')) for (const m of readFileSync(f, 'utf8').matchAll(/"rawBytes"\s*:\s*"([A-Za-z0-9+/=]{200,})"/g)) certs.push(Buffer.from(m[1]!, 'base64'));
  else if (/\.(pem|crt)$/.test(f)) for (const m of readFileSync(f, 'utf8').matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)) certs.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}
const seeds = certs.filter((c) => {
  try {
    splitCertificate(c);
    return true;
  } catch {
    return false;
  }
}).slice(0, 40);

/** 'ok', 'refused' (an error the reader documents) or 'CRASH ...'. */
function classify(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof TsaError || e instanceof NameConstraintError) return 'refused';
    if (e instanceof Error && e.constructor === Error && e.message.startsWith('not a DER X.509 certificate')) return 'refused';
    return `CRASH ${(e as Error).constructor?.name}: ${(e as Error).message}`;
  }
}

describe('fuzz: x509-lite and name constraints', () => {
  it('splitCertificate refuses mutated certificates with its own errors; leafProfile and issuerFacts never throw', () => {
    expect(seeds.length).toBeGreaterThan(5);
    const { crashes, runs } = fuzz(0x509, 4000, (r) => Buffer.from(mutateBytesN(seeds[Math.floor(r() * seeds.length)]!, r)), (d) => {
      const s = classify(() => splitCertificate(d));
      if (s.startsWith('CRASH')) return s;
      if (s === 'ok') {
        const p = classify(() => leafProfile(d));
        if (p !== 'ok') return `CRASH leafProfile threw: ${p}`;
        const f = classify(() => issuerFacts(d, true));
        if (f !== 'ok') return `CRASH issuerFacts threw: ${f}`;
        const san = splitCertificate(d).extensions.get('2.5.29.17');
        if (san) return classify(() => parseGeneralNames(san.value));
      }
      return s;
    }, { budgetMs: 3000 });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(300);
  });

  it('parseNameConstraints refuses mutated nameConstraints with NameConstraintError or TSA_MALFORMED', () => {
    const nc = encodeNameConstraints({
      permitted: [{ base: { type: 'uri', value: 'acme.example' } }, { base: { type: 'email', value: '.acme.example' } }, { base: { type: 'ip', value: Uint8Array.of(10, 0, 0, 0, 255, 0, 0, 0) } }],
      excluded: [{ base: { type: 'dns', value: 'evil.acme.example' } }],
    });
    const { crashes } = fuzz(0x4e43, 4000, (r) => mutateBytesN(nc, r), (b) => classify(() => parseNameConstraints(b)));
    expect(crashes).toEqual([]);
  });
});
