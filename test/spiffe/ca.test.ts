/** The trust-domain CA's rotation lifecycle on a fake clock, its bundle document and persistence. */
import { X509Certificate } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseBundle } from '../../host/spiffe/bundle.js';
import { MemoryPersistence, TrustDomainCa } from '../../host/spiffe/ca.js';
import { validateJwtSvid } from '../../host/spiffe/jwt.js';

const MIN = 60_000;

describe('TrustDomainCa', () => {
  it('publishes a prepared authority before it signs, then retires the old one after the overlap', async () => {
    let now = Date.now();
    const persistence = new MemoryPersistence();
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', persistence, now: () => now, activationDelayMs: 10 * MIN, overlapMs: 30 * MIN, caTtlMs: 24 * 60 * MIN });
    let activations = 0;
    ca.on('activated', () => activations++);
    const kid0 = decodeProtectedHeader((await ca.mintJwtSvid('spiffe://example.org/w', ['a'])).token).kid;
    const seq0 = ca.bundleSequence;

    await ca.rotate();
    // Published (sequence bumped, two of each key) but not yet signing.
    expect(ca.bundleSequence).toBeGreaterThan(seq0);
    expect(ca.x509Authorities()).toHaveLength(2);
    expect(ca.jwtAuthorities()).toHaveLength(2);
    expect(decodeProtectedHeader((await ca.mintJwtSvid('spiffe://example.org/w', ['a'])).token).kid).toBe(kid0);

    now += 10 * MIN;
    await ca.maintain();
    expect(activations).toBe(1);
    const kid1 = decodeProtectedHeader((await ca.mintJwtSvid('spiffe://example.org/w', ['a'])).token).kid;
    expect(kid1).not.toBe(kid0);
    const svid = await ca.mintX509Svid('spiffe://example.org/w');
    const leaf = new X509Certificate(svid.chain[0]!);
    const issuers = ca.x509Authorities().map((d) => new X509Certificate(d));
    expect(leaf.verify(issuers[1]!.publicKey)).toBe(true);
    expect(ca.x509Authorities()).toHaveLength(2); // old one still published during the overlap

    const seq1 = ca.bundleSequence;
    now += 30 * MIN + 1;
    await ca.maintain();
    expect(ca.x509Authorities()).toHaveLength(1);
    expect(ca.jwtAuthorities().map((k) => k.kid)).toEqual([kid1]);
    expect(ca.bundleSequence).toBeGreaterThan(seq1);

    // Reopening from the persisted state gives the same keys and sequence.
    const again = await TrustDomainCa.open({ trustDomain: 'example.org', persistence, now: () => now, caTtlMs: 24 * 60 * MIN });
    expect(again.bundleSequence).toBe(ca.bundleSequence);
    expect(again.jwtAuthorities().map((k) => k.kid)).toEqual([kid1]);
    await expect(TrustDomainCa.open({ trustDomain: 'other.org', persistence })).rejects.toMatchObject({ code: 'SPIFFE_BAD_CONFIG' });
  });

  it('auto-rotates at half the CA lifetime and never issues SVIDs outliving their signing certificate', async () => {
    let now = Date.now();
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', now: () => now, caTtlMs: 4 * 60 * MIN, x509SvidTtlMs: 60 * MIN });
    now += 2 * 60 * MIN;
    await ca.maintain();
    expect(ca.x509Authorities()).toHaveLength(2);
    const first = new X509Certificate(ca.x509Authorities()[0]!);
    const svid = await ca.mintX509Svid('spiffe://example.org/w', { ttlMs: 10 * 60 * MIN });
    expect(svid.notAfter.getTime()).toBeLessThanOrEqual(new Date(new X509Certificate(ca.x509Authorities()[1]!).validTo).getTime());
    expect(new Date(first.validTo).getTime()).toBeGreaterThan(now);
  });

  it('auto-rotation publishes the successor at half-life but signs with it only when a sixth of the lifetime is left', async () => {
    let now = Date.now();
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', now: () => now, caTtlMs: 6 * 60 * MIN, x509SvidTtlMs: 30 * MIN });
    let activations = 0;
    ca.on('activated', () => activations++);
    const kid0 = decodeProtectedHeader((await ca.mintJwtSvid('spiffe://example.org/w', ['a'])).token).kid;
    const first = new X509Certificate(ca.x509Authorities()[0]!);
    const signedBy = async (): Promise<string> => {
      const leaf = new X509Certificate((await ca.mintX509Svid('spiffe://example.org/w')).chain[0]!);
      return ca.x509Authorities().map((d) => new X509Certificate(d)).find((c) => leaf.verify(c.publicKey))!.fingerprint256;
    };

    now += 3 * 60 * MIN;
    await ca.maintain();
    // Published for peers to fetch (remote agents, federated trust domains), not yet signing.
    expect(ca.x509Authorities()).toHaveLength(2);
    expect(activations).toBe(0);
    expect(decodeProtectedHeader((await ca.mintJwtSvid('spiffe://example.org/w', ['a'])).token).kid).toBe(kid0);
    expect(await signedBy()).toBe(first.fingerprint256);

    now += 2 * 60 * MIN - 1000;
    await ca.maintain();
    expect(await signedBy()).toBe(first.fingerprint256);

    now += 1000;
    await ca.maintain();
    expect(activations).toBe(1);
    expect(decodeProtectedHeader((await ca.mintJwtSvid('spiffe://example.org/w', ['a'])).token).kid).not.toBe(kid0);
    expect(await signedBy()).not.toBe(first.fingerprint256);
    expect(ca.x509Authorities()).toHaveLength(2); // the old one stays for the overlap
  });

  it('keeps a superseded authority in the bundle until the longer-lived SVIDs an entry asked for expire', async () => {
    let now = Date.now();
    // Overlap by default: 2 × 30 min. An entry's TTL (here 3 h) may be longer than that.
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', now: () => now, caTtlMs: 24 * 60 * MIN, x509SvidTtlMs: 30 * MIN });
    const jwt = await ca.mintJwtSvid('spiffe://example.org/w', ['a'], { ttlMs: 3 * 60 * MIN });
    const leaf = new X509Certificate((await ca.mintX509Svid('spiffe://example.org/w', { ttlMs: 3 * 60 * MIN })).chain[0]!);
    const trusted = (): boolean => ca.x509Authorities().some((d) => leaf.verify(new X509Certificate(d).publicKey));
    now += 1000;
    await ca.rotate({ immediate: true });

    now += 2 * 60 * MIN; // past the overlap, both SVIDs still valid
    await ca.maintain();
    expect(trusted()).toBe(true);
    await expect(validateJwtSvid(jwt.token, 'a', () => ca.jwtAuthorities(), { now: () => now })).resolves.toMatchObject({ spiffeId: 'spiffe://example.org/w' });

    now += 60 * MIN + 1000; // both expired: the old authority goes
    await ca.maintain();
    expect(ca.x509Authorities()).toHaveLength(1);
    expect(trusted()).toBe(false);
  });

  it('after a restart, keeps a superseded authority until its own end: what it signed before is unknown', async () => {
    let now = Date.now();
    const persistence = new MemoryPersistence();
    const before = await TrustDomainCa.open({ trustDomain: 'example.org', persistence, now: () => now, caTtlMs: 24 * 60 * MIN, x509SvidTtlMs: 30 * MIN });
    const leaf = new X509Certificate((await before.mintX509Svid('spiffe://example.org/w', { ttlMs: 3 * 60 * MIN })).chain[0]!);
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', persistence, now: () => now, caTtlMs: 24 * 60 * MIN, x509SvidTtlMs: 30 * MIN });
    now += 1000;
    await ca.rotate({ immediate: true });
    now += 2 * 60 * MIN;
    await ca.maintain();
    expect(ca.x509Authorities().some((d) => leaf.verify(new X509Certificate(d).publicKey))).toBe(true);
  });

  it('caps a JWT-SVID at its signing authority and reports X509-SVID expiry exactly as the certificate holds it', async () => {
    // A clock with milliseconds: the DER time holds whole seconds only.
    let now = Date.UTC(2030, 0, 1, 0, 0, 0, 500);
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', now: () => now, caTtlMs: 120 * MIN, x509SvidTtlMs: 30 * MIN });
    now += 100 * MIN;
    const authorityEnd = new Date(new X509Certificate(ca.x509Authorities()[0]!).validTo).getTime();
    // SPIRE caps a JWT-SVID at its key's NotAfter: the key leaves the bundle then.
    const jwt = await ca.mintJwtSvid('spiffe://example.org/w', ['a'], { ttlMs: 60 * MIN });
    expect(decodeJwt(jwt.token).exp! * 1000).toBe(authorityEnd);
    expect(jwt.expiresAt).toBe(authorityEnd);
    const svid = await ca.mintX509Svid('spiffe://example.org/w', { ttlMs: 5 * MIN });
    expect(svid.notAfter.getTime()).toBe(new Date(new X509Certificate(svid.chain[0]!).validTo).getTime());
  });

  it('serves a bundle that conforms to Trust Domain and Bundle §4 and round-trips through the parser', async () => {
    const ca = await TrustDomainCa.open({ trustDomain: 'example.org', refreshHintSeconds: 120 });
    const doc = ca.bundle();
    expect(doc.spiffe_refresh_hint).toBe(120);
    expect(Number.isInteger(doc.spiffe_sequence)).toBe(true);
    const x = doc.keys.filter((k) => k.use === 'x509-svid');
    const j = doc.keys.filter((k) => k.use === 'jwt-svid');
    expect(x).toHaveLength(1);
    expect(x[0]!.x5c).toHaveLength(1);
    expect(j).toHaveLength(1);
    expect(j[0]!.kid).toBeTypeOf('string');
    for (const k of doc.keys) expect(k).not.toHaveProperty('d');
    const parsed = parseBundle('example.org', JSON.stringify(doc));
    expect(parsed.x509Authorities).toHaveLength(1);
    expect(parsed.jwtKeys[0]!.kid).toBe(j[0]!.kid);
    const caCert = new X509Certificate(parsed.x509Authorities[0]!);
    expect(caCert.ca).toBe(true);
    expect(caCert.subjectAltName).toBe('URI:spiffe://example.org');
  });
});
