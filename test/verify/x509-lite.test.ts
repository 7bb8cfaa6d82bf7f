/**
 * The verifier reads a bundle's leaf without OpenSSL when it has the usual shape (x509-lite
 * leafProfile, issuedByLite). These tests hold the lite reading to OpenSSL's own: on every
 * certificate in the vendored vectors and on generated ones built to sit on each edge of the
 * shape, the validity, CA flag and issuer decisions equal X509Certificate's, and a certificate
 * outside the shape gets no profile (so the verifier asks OpenSSL).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto, X509Certificate } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { issuedByLite, issuerFacts, leafProfile, splitCertificate } from '../../host/verify/x509-lite.js';
import { parseSpki } from '../../host/core/signature-formats.js';
import { createPublicKey } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const VECTORS = join(__dirname, '../../conformance/vectors');

function walk(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Every DER certificate in the vendored vectors: bundle material, trusted roots, PEM files. */
function vectorCertificates(): Buffer[] {
  const found = new Map<string, Buffer>();
  const add = (der: Buffer): void => {
    try {
      new X509Certificate(der);
      found.set(der.toString('base64'), der);
    } catch {
      /* not a certificate OpenSSL reads: the malformed-input tests cover those */
    }
  };
  for (const f of walk(VECTORS)) {
    if (f.endsWith('.json')) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/"rawBytes"\s*:\s*"([A-Za-z0-9+/=]{200,})"/g)) add(Buffer.from(m[1]!, 'base64'));
    } else if (/\.(pem|crt)$/.test(f)) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)) add(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
    }
  }
  return [...found.values()];
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
type Keys = webcrypto.CryptoKeyPair;
async function keys(): Promise<Keys> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as Keys;
}

interface Made {
  name: string;
  der: Buffer;
  /** Expected to be inside the lite shape. */
  inside: boolean;
}

const made: Made[] = [];
const cas: Buffer[] = [];

beforeAll(async () => {
  const rootKeys = await keys();
  const otherKeys = await keys();
  type SelfSignedKeys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
  type WebKey = SelfSignedKeys['publicKey'];
  const k = (x: Keys) => x as unknown as SelfSignedKeys;
  const ext = x509;
  const now = Date.now();
  const utf8 = new x509.Name([{ '2.5.4.3': [{ utf8String: 'cairn-test-ca' }] }, { '2.5.4.10': [{ utf8String: 'cairn' }] }]);
  const mkCa = async (name: string | x509.Name, key: Keys, extensions: x509.Extension[]): Promise<Buffer> =>
    Buffer.from(
      (
        await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '0a', name, notBefore: new Date(now - 3600_000), notAfter: new Date(now + 3600_000), keys: k(key), signingAlgorithm: EC, extensions })
      ).rawData,
    );
  const skiOf = async (key: Keys) => ext.SubjectKeyIdentifierExtension.create(key.publicKey as unknown as WebKey);
  // A CA as Cairn and Fulcio make them, one without keyCertSign, one without SKI or KU, and one
  // whose subject is the same name as a PrintableString (the leaves name their issuer in UTF8String).
  cas.push(await mkCa(utf8, rootKeys, [new ext.BasicConstraintsExtension(true, 0, true), new ext.KeyUsagesExtension(ext.KeyUsageFlags.keyCertSign | ext.KeyUsageFlags.cRLSign, true), await skiOf(rootKeys)]));
  cas.push(await mkCa(utf8, otherKeys, [new ext.BasicConstraintsExtension(true, 0, true), new ext.KeyUsagesExtension(ext.KeyUsageFlags.digitalSignature, true), await skiOf(otherKeys)]));
  cas.push(await mkCa(utf8, otherKeys, [new ext.BasicConstraintsExtension(true, undefined, true)]));
  const printable = new x509.Name([{ '2.5.4.3': [{ printableString: 'cairn-test-ca' }] }, { '2.5.4.10': [{ printableString: 'cairn' }] }]);
  cas.push(await mkCa(printable, rootKeys, [new ext.BasicConstraintsExtension(true, 0, true), await skiOf(rootKeys)]));

  const leafKeys = await keys();
  const leaf = async (name: string, inside: boolean, o: { extensions?: x509.Extension[]; notAfter?: Date; issuer?: string; signer?: Keys; akidFrom?: Keys; subject?: string | x509.Name }) => {
    const extensions = [
      new ext.KeyUsagesExtension(ext.KeyUsageFlags.digitalSignature, true),
      new ext.ExtendedKeyUsageExtension([ext.ExtendedKeyUsage.codeSigning]),
      await skiOf(leafKeys),
      await ext.AuthorityKeyIdentifierExtension.create((o.akidFrom ?? rootKeys).publicKey as unknown as WebKey),
      new ext.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/ci/build' }], true),
      new ext.Extension('1.3.6.1.4.1.57264.1.8', false, new Uint8Array([0x0c, 0x13, ...Buffer.from('https://issuer.test')])),
      ...(o.extensions ?? []),
    ];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '7f3a09',
      subject: o.subject ?? '',
      issuer: o.issuer ?? new x509.Name([{ '2.5.4.3': [{ utf8String: 'cairn-test-ca' }] }, { '2.5.4.10': [{ utf8String: 'cairn' }] }]),
      notBefore: new Date(now - 60_000),
      notAfter: o.notAfter ?? new Date(now + 540_000),
      publicKey: leafKeys.publicKey as unknown as WebKey,
      signingKey: (o.signer ?? rootKeys).privateKey as unknown as WebKey,
      signingAlgorithm: EC,
      extensions,
    });
    made.push({ name, der: Buffer.from(cert.rawData), inside });
  };
  await leaf('Fulcio-shaped leaf', true, {});
  await leaf('leaf whose AKID names another key', true, { akidFrom: otherKeys });
  await leaf('leaf with basicConstraints cA FALSE', true, { extensions: [new ext.BasicConstraintsExtension(false, undefined, true)] });
  await leaf('leaf that claims cA TRUE', true, { extensions: [new ext.BasicConstraintsExtension(true, undefined, true)] });
  await leaf('leaf valid past 2049 (GeneralizedTime)', true, { notAfter: new Date(Date.UTC(2051, 0, 2, 3, 4, 5)) });
  await leaf('leaf with a subject name', true, { subject: 'CN=build,O=example' });
  await leaf('leaf with an issuer the CAs do not have', true, { issuer: 'CN=someone-else' });
  await leaf('leaf with an extension OpenSSL decodes (CRL distribution points)', false, { extensions: [new ext.Extension('2.5.29.31', false, new Uint8Array([0x30, 0x00]))] });
  await leaf('leaf with an unknown critical extension', false, { extensions: [new ext.Extension('1.2.3.4', true, new Uint8Array([0x05, 0x00]))] });
  await leaf('leaf with a BMPString subject', false, { subject: new x509.Name([{ '2.5.4.3': [{ bmpString: 'build' }] }]) });
});

describe('x509-lite leaf profile against OpenSSL (X509Certificate)', () => {
  it('generated leaves land inside or outside the shape as built', () => {
    for (const m of made) expect(leafProfile(m.der) !== undefined, m.name).toBe(m.inside);
  });

  it('validity and the CA flag equal OpenSSL’s on every certificate in the shape', () => {
    const all = [...vectorCertificates(), ...cas, ...made.map((m) => m.der)];
    let inShape = 0;
    for (const der of all) {
      const p = leafProfile(der);
      if (!p) continue;
      inShape++;
      const c = new X509Certificate(der);
      expect(p.notBefore).toBe(new Date(c.validFrom).getTime());
      expect(p.notAfter).toBe(new Date(c.validTo).getTime());
      expect(p.ca).toBe(c.ca);
    }
    // The vectors hold production Fulcio leaves, intermediates and roots: most are in the shape.
    expect(inShape).toBeGreaterThan(20);
  });

  it('issuedByLite decides exactly as X509_check_issued whenever it decides', () => {
    const vectors = vectorCertificates();
    const leaves = [...vectors, ...made.map((m) => m.der)];
    const issuers = [...vectors.filter((d) => new X509Certificate(d).ca), ...cas];
    const tally = { true: 0, false: 0, openssl: 0 };
    for (const l of leaves) {
      const p = leafProfile(l);
      if (!p) continue;
      const parts = splitCertificate(l);
      const lx = new X509Certificate(l);
      for (const ca of issuers) {
        const cx = new X509Certificate(ca);
        const f = issuerFacts(ca, cx.publicKey.asymmetricKeyType === 'ec');
        const lite = f ? issuedByLite(parts, p, f) : undefined;
        if (lite === undefined) {
          tally.openssl++;
          continue;
        }
        expect(lite, `${lx.subject || lx.serialNumber} by ${cx.subject}`).toBe(lx.checkIssued(cx));
        tally[lite ? 'true' : 'false']++;
      }
    }
    // Both verdicts are exercised (the keyCertSign-less CA and the foreign AKID refuse), and the
    // PrintableString-named CA is left to OpenSSL.
    expect(tally.true).toBeGreaterThan(5);
    expect(tally.false).toBeGreaterThan(5);
    expect(tally.openssl).toBeGreaterThan(0);
  });

  it('names equal only after canonicalisation go to OpenSSL, which matches them', () => {
    const fulcioShaped = made.find((m) => m.name === 'Fulcio-shaped leaf')!.der;
    const printableCa = cas[3]!;
    const f = issuerFacts(printableCa, true)!;
    expect(issuedByLite(splitCertificate(fulcioShaped), leafProfile(fulcioShaped)!, f)).toBeUndefined();
    expect(new X509Certificate(fulcioShaped).checkIssued(new X509Certificate(printableCa))).toBe(true);
  });

  it('never accepts a mutated certificate that OpenSSL refuses, and reads what both accept alike', () => {
    // The lite path as the verifier runs it: split, profile, then the key import.
    const lite = (der: Buffer): ReturnType<typeof leafProfile> | 'refused' => {
      try {
        const parts = splitCertificate(der);
        const p = leafProfile(der);
        if (!p) return undefined; // OpenSSL decides, as before
        const k = parseSpki(parts.spki);
        if (k?.alg === 'ecdsa-p256-sha256') {
          const pt = Buffer.from(k.point);
          createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: pt.subarray(1, 33).toString('base64url'), y: pt.subarray(33, 65).toString('base64url') }, format: 'jwk' });
        } else createPublicKey({ key: Buffer.from(parts.spki), format: 'der', type: 'spki' });
        return p;
      } catch {
        return 'refused';
      }
    };
    const openssl = (der: Buffer): X509Certificate | undefined => {
      try {
        const c = new X509Certificate(der);
        void c.publicKey;
        return c;
      } catch {
        return undefined;
      }
    };
    const seeds = [...vectorCertificates().filter((d) => leafProfile(d)), ...made.filter((m) => m.inside).map((m) => m.der)];
    let state = 0x2545f491;
    const rand = (n: number): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const mutants: Buffer[] = [];
    for (const d of seeds.slice(0, 6)) {
      // Every bit of the outer headers, where a wrong tag or length is easiest to miss.
      for (let pos = 0; pos < 12; pos++) for (let bit = 0; bit < 8; bit++) mutants.push(Buffer.from(d).fill(d[pos]! ^ (1 << bit), pos, pos + 1));
    }
    for (let i = 0; i < 4000; i++) {
      const d = seeds[i % seeds.length]!;
      const pos = rand(d.length);
      mutants.push(Buffer.from(d).fill(rand(2) ? d[pos]! ^ (1 << rand(8)) : rand(256), pos, pos + 1));
    }
    let both = 0;
    for (const m of mutants) {
      const l = lite(m);
      if (l === undefined || l === 'refused') continue;
      const c = openssl(m);
      expect(c, `lite accepts a certificate OpenSSL refuses: ${m.toString('hex')}`).toBeDefined();
      expect([l.notBefore, l.notAfter, l.ca]).toEqual([new Date(c!.validFrom).getTime(), new Date(c!.validTo).getTime(), c!.ca]);
      both++;
    }
    expect(both).toBeGreaterThan(1000);
  });
});

