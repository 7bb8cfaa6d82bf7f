/**
 * Mutation fuzzing of what a SPIFFE server, agent or federated peer reads from outside: SPIFFE
 * IDs and trust domain names (SPIFFE-ID §2), federated bundles (Trust Domain and Bundle §4, a
 * JWK Set) and JWT-SVIDs (JWT-SVID §3). Every outcome is a result or a SpiffeError code.
 */
import { describe, expect, it } from 'vitest';
import { parseBundle } from '../../host/spiffe/bundle.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { parseSpiffeId, parseTrustDomain } from '../../host/spiffe/id.js';
import { validateJwtSvid } from '../../host/spiffe/jwt.js';
import { fuzz, mutateBytesN, mutateJson, mutateText, outcome, outcomeAsync, rng } from '../mutate.js';

describe('fuzz: SPIFFE inputs', () => {
  it('parseSpiffeId / parseTrustDomain answer an ID or SPIFFE_BAD_ID / SPIFFE_BAD_TRUST_DOMAIN', () => {
    const seeds = ['spiffe://example.org/ns/prod/sa/web', 'spiffe://a-b_c.d', 'spiffe://td/x/y.z/-_', 'example.org'];
    const { crashes, codes } = fuzz(0x5b1ff3, 5000, (r) => {
      let s = seeds[Math.floor(r() * seeds.length)]!;
      for (let k = 1 + Math.floor(r() * 4); k > 0; k--) s = mutateText(s, r);
      return s;
    }, (s) => {
      const a = outcome(() => {
        const id = parseSpiffeId(s);
        // One spelling per ID (SPIFFE-ID §2): what is accepted is exactly what was given.
        if (`spiffe://${id.trustDomain}${id.path}` !== s) throw new Error(`${s} read as another ID`);
      });
      return a.startsWith('CRASH') ? a : `${a}/${outcome(() => parseTrustDomain(s))}`;
    });
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => !/^(ok|SPIFFE_BAD_ID)\/(ok|SPIFFE_BAD_TRUST_DOMAIN)$/.test(c))).toEqual([]);
  });

  it('parseBundle answers a bundle or SPIFFE_BAD_BUNDLE on mutated JWK Sets', async () => {
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
    const doc = ca.bundle();
    const { crashes, codes } = fuzz(0xb0b, 3000, (r) => {
      if (r() < 0.3) return Buffer.from(mutateBytesN(Buffer.from(JSON.stringify(doc)), r));
      let d: unknown = doc;
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) d = mutateJson(d, r);
      return JSON.stringify(d) ?? '';
    }, (t) => outcome(() => parseBundle('example.org', t)), { budgetMs: 2500 });
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => c !== 'ok' && c !== 'SPIFFE_BAD_BUNDLE')).toEqual([]);
  });

  it('validateJwtSvid answers claims or a SpiffeError code on mutated tokens', async () => {
    const now = Date.now();
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', now: () => now });
    const { token } = await ca.mintJwtSvid('spiffe://example.org/w', ['a']);
    const keysFor = (td: string) => (td === 'example.org' ? ca.jwtAuthorities() : undefined);
    const parts = token.split('.');
    const r = rng(0x1a7);
    const crashes: string[] = [];
    const codes = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      let t: string;
      const which = Math.floor(r() * 4);
      if (which < 2) {
        // Mutate the header or the claims as JSON, keep the rest: the paths past decoding.
        const seg = JSON.parse(Buffer.from(parts[which]!, 'base64url').toString());
        const m = Buffer.from(JSON.stringify(mutateJson(seg, r)) ?? '').toString('base64url');
        t = which === 0 ? [m, parts[1], parts[2]].join('.') : [parts[0], m, parts[2]].join('.');
      } else if (which === 2) t = mutateText(token, r);
      else t = [parts[0], parts[1], Buffer.from(mutateBytesN(Buffer.from(parts[2]!, 'base64url'), r)).toString('base64url')].join('.');
      const o = await outcomeAsync(() => validateJwtSvid(t, 'a', keysFor, { now: () => now }));
      codes.add(o);
      if (o.startsWith('CRASH') && crashes.length < 5) crashes.push(`iteration ${i}: ${o}`);
    }
    expect(crashes).toEqual([]);
    expect([...codes].filter((c) => c !== 'ok' && !c.startsWith('SPIFFE_'))).toEqual([]);
  });
});
