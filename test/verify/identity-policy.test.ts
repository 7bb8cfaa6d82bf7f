/**
 * What the signing certificate must be before its identity counts (test/verify/forge.ts signs
 * everything for real, so each case changes one thing): a certificate for code signing, with no
 * critical extension the verifier ignores, and, for a SPIFFE policy, a URI SAN that is a SPIFFE ID
 * by the SPIFFE-ID spec. Each case was accepted before the review that added it.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { parseBundle, parseTrustedRoot, verifyBundle } from '../../host/verify/index.js';
import { dsseBundle, genKeys, makeLeaf, makeRoot, trustedRoot, utf8String, x509, type Keys } from './forge.js';

const ID = 'spiffe://own.example/release';
const ISSUER = 'https://oidc.own.example';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

function verdict(f: () => unknown): string {
  try {
    f();
    return 'verified';
  } catch (e) {
    const x = e as { name?: string; code?: string; message?: string };
    return x.name === 'VerificationError' ? x.code! : `CRASH ${x.message}`;
  }
}

let ca: Awaited<ReturnType<typeof makeRoot>>;
let log: Keys;
let ct: Keys;
let trust: ReturnType<typeof parseTrustedRoot>;
const artifact = Buffer.from('artifact');
const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: createHash('sha256').update(artifact).digest('hex') } }], predicateType: 'p', predicate: {} }));
type Leaf = Awaited<ReturnType<typeof makeLeaf>>;
const bundleOf = (leaf: Leaf, chain: Buffer[] = []) => {
  const raw = dsseBundle(leaf, log, 'application/vnd.in-toto+json', statement);
  raw.verificationMaterial.x509CertificateChain.certificates.push(...chain.map((d) => ({ rawBytes: d.toString('base64') })));
  return parseBundle(raw);
};
const run = (leaf: Leaf, policy: object = { identity: ID }, t = trust, chain: Buffer[] = []) => verdict(() => verifyBundle(bundleOf(leaf, chain), { bytes: artifact }, t, policy));

/** A CA certificate under `parent` (basicConstraints cA, keyCertSign) with the given extra extensions. */
async function subCa(parent: { keys: Keys; cert: any }, cn: string, extra: any[]) {
  const keys = await genKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '07', subject: `CN=${cn}`, issuer: parent.cert.subject, notBefore: new Date(Date.now() - 86400e3), notAfter: new Date(Date.now() + 86400e3),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, publicKey: keys.publicKey, signingKey: parent.keys.privateKey,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true), ...extra],
  });
  return { keys, cert, der: Buffer.from(cert.rawData) };
}

beforeAll(async () => {
  await initCore();
  ca = await makeRoot('Own CA');
  log = await genKeys();
  ct = await genKeys();
  trust = parseTrustedRoot(trustedRoot({ cas: [[ca.der]], tlogs: [{ keys: log }], ctlogs: [ct] }));
});

describe('the signing certificate must be for code signing', () => {
  it('refuses a leaf whose extKeyUsage is TLS or X509-SVID only, or whose keyUsage does not allow signatures', async () => {
    const leaf = (o: object) => makeLeaf({ ca, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct }, ...o });
    expect(run(await leaf({}))).toBe('verified');
    expect(run(await leaf({ eku: [CODE_SIGNING, SERVER_AUTH] }))).toBe('verified');
    // No extKeyUsage at all: any use (RFC 5280 §4.2.1.12), as Go's x509 Verify reads it.
    expect(run(await leaf({ eku: null }))).toBe('verified');
    // An X509-SVID or TLS certificate from the same trusted CA is not a code-signing identity.
    expect(run(await leaf({ eku: [SERVER_AUTH, CLIENT_AUTH] }))).toBe('CERTIFICATE_UNTRUSTED');
    expect(run(await leaf({ keyUsage: x509.KeyUsageFlags.keyAgreement }))).toBe('CERTIFICATE_UNTRUSTED');
  });

  it('refuses a leaf with a critical extension the verifier does not process (RFC 5280 §4.2)', async () => {
    const ext = (critical: boolean) => new x509.Extension('1.3.6.1.4.1.99999.1', critical, new Uint8Array([0x05, 0x00]).buffer);
    const leaf = (critical: boolean) => makeLeaf({ ca, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct }, extra: [ext(critical)] });
    expect(run(await leaf(false))).toBe('verified');
    expect(run(await leaf(true))).toBe('CERTIFICATE_UNTRUSTED');
    // Critical Fulcio extensions too: the verifier reads their values but not as constraints.
    const fulcio = await makeLeaf({ ca, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct }, extra: [new x509.Extension('1.3.6.1.4.1.57264.1.99', true, new Uint8Array([0x05, 0x00]).buffer)] });
    expect(run(fulcio)).toBe('CERTIFICATE_UNTRUSTED');
  });

  it('refuses a path through a CA whose extKeyUsage excludes code signing, in the trusted root or in the bundle', async () => {
    // Trusted root: [intermediate, root], the intermediate limited to TLS.
    const tlsInter = await subCa(ca, 'TLS intermediate', [new x509.ExtendedKeyUsageExtension([SERVER_AUTH])]);
    const csInter = await subCa(ca, 'Code-signing intermediate', [new x509.ExtendedKeyUsageExtension([CODE_SIGNING])]);
    for (const [inter, want] of [[csInter, 'verified'], [tlsInter, 'CERTIFICATE_UNTRUSTED']] as const) {
      const t = parseTrustedRoot(trustedRoot({ cas: [[inter.der, ca.der]], tlogs: [{ keys: log }], ctlogs: [ct] }));
      const leaf = await makeLeaf({ ca: inter, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } });
      expect(run(leaf, { identity: ID }, t), inter.cert.subject).toBe(want);
    }
    // Carried in the bundle (v0.1 x509CertificateChain), with a critical extension it ignores.
    const odd = await subCa(ca, 'Odd sub', [new x509.Extension('1.3.6.1.4.1.99999.2', true, new Uint8Array([0x05, 0x00]).buffer)]);
    const plain = await subCa(ca, 'Plain sub', []);
    for (const [sub, want] of [[plain, 'verified'], [odd, 'CERTIFICATE_UNTRUSTED']] as const) {
      const leaf = await makeLeaf({ ca: sub, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } });
      expect(run(leaf, { identity: ID }, trust, [sub.der]), sub.cert.subject).toBe(want);
    }
  });

  it('a trusted root\'s chain must be a path: every certificate a CA, and each pathLen allowing the CAs below it', async () => {
    // A certificate without cA TRUE listed as an issuing CA of the trusted root.
    const keys = await genKeys();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '09', subject: 'CN=Not a CA', issuer: ca.cert.subject, notBefore: new Date(Date.now() - 86400e3), notAfter: new Date(Date.now() + 86400e3),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, publicKey: keys.publicKey, signingKey: ca.keys.privateKey,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    const notCa = { keys, cert, der: Buffer.from(cert.rawData) };
    const t1 = parseTrustedRoot(trustedRoot({ cas: [[notCa.der, ca.der]], tlogs: [{ keys: log }], ctlogs: [ct] }));
    expect(run(await makeLeaf({ ca: notCa, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } }), { identity: ID }, t1)).toBe('CERTIFICATE_UNTRUSTED');
    // [issuing, middle (pathLen 0), root]: the middle CA allows no CA below it.
    const middle = await subCa(ca, 'Middle', []);
    const issuing = await subCa(middle, 'Issuing', []);
    const t2 = parseTrustedRoot(trustedRoot({ cas: [[issuing.der, middle.der, ca.der]], tlogs: [{ keys: log }], ctlogs: [ct] }));
    expect(run(await makeLeaf({ ca: issuing, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } }), { identity: ID }, t2)).toBe('CERTIFICATE_UNTRUSTED');
    // A trusted intermediate with a critical extension the verifier does not process (RFC 5280 §4.2).
    const odd = await subCa(ca, 'Odd trusted intermediate', [new x509.Extension('1.3.6.1.4.1.99999.3', true, new Uint8Array([0x05, 0x00]).buffer)]);
    const t4 = parseTrustedRoot(trustedRoot({ cas: [[odd.der, ca.der]], tlogs: [{ keys: log }], ctlogs: [ct] }));
    expect(run(await makeLeaf({ ca: odd, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } }), { identity: ID }, t4)).toBe('CERTIFICATE_UNTRUSTED');
    // The same two-level chain, each pathLen 0, is fine.
    const t3 = parseTrustedRoot(trustedRoot({ cas: [[middle.der, ca.der]], tlogs: [{ keys: log }], ctlogs: [ct] }));
    expect(run(await makeLeaf({ ca: middle, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } }), { identity: ID }, t3)).toBe('verified');
  });
});

describe('SPIFFE trust domain and path policies', () => {
  const otherName = (user: string) => {
    const tlv = (tag: number, ...parts: Buffer[]) => {
      const v = Buffer.concat(parts);
      return Buffer.concat([Buffer.from([tag, v.length]), v]);
    };
    // Fulcio's username SAN: otherName 1.3.6.1.4.1.57264.1.7, UTF8String "<sub>!<domain>".
    const san = tlv(0x30, tlv(0xa0, Buffer.from('060a2b0601040183bf300107', 'hex'), tlv(0xa0, tlv(0x0c, Buffer.from(user)))));
    return new x509.Extension('2.5.29.17', true, new Uint8Array(san).buffer);
  };

  it('matches a Fulcio extension policy on a UTF8String of 128 bytes or more (a long-form DER length)', async () => {
    // 1.3.6.1.4.1.57264.1.9 Build Signer URI: a workflow path easily passes 127 bytes.
    const uri = `https://github.com/own/repo/.github/workflows/${'release-'.repeat(20)}.yml@refs/heads/main`;
    expect(Buffer.byteLength(uri)).toBeGreaterThan(200);
    const leaf = await makeLeaf({ ca, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct }, extra: [new x509.Extension('1.3.6.1.4.1.57264.1.9', false, utf8String(uri))] });
    expect(run(leaf, { identity: ID, extensions: { '1.3.6.1.4.1.57264.1.9': uri } })).toBe('verified');
    expect(run(leaf, { identity: ID, extensions: { '1.3.6.1.4.1.57264.1.9': `${uri}x` } })).toBe('POLICY_EXTENSION_MISMATCH');
  });

  it('counts only a URI SAN that is a SPIFFE ID, never an email or username spelt like one', async () => {
    const td = { spiffeTrustDomain: 'own.example' };
    expect(run(await makeLeaf({ ca, san: [{ type: 'url', value: 'spiffe://own.example/ci/build' }], ct: { keys: ct } }), td)).toBe('verified');
    // A username chosen at some identity provider, issued by the (trusted) CA's username issuer type.
    const user = await makeLeaf({ ca, ct: { keys: ct }, extra: [otherName('spiffe://own.example/release!idp.example')] });
    expect(run(user, td)).toBe('POLICY_TRUST_DOMAIN_MISMATCH');
    const mail = await makeLeaf({ ca, san: [{ type: 'email', value: 'spiffe://own.example/x@evil.example' }], ct: { keys: ct } });
    expect(run(mail, td)).toBe('POLICY_TRUST_DOMAIN_MISMATCH');
  });

  it('refuses a URI that is not a valid SPIFFE ID rather than matching its prefix', async () => {
    const policy = { spiffeTrustDomain: 'own.example', spiffePathPrefix: '/ci' };
    const leaf = (uri: string) => makeLeaf({ ca, san: [{ type: 'url', value: uri }], ct: { keys: ct } });
    expect(run(await leaf('spiffe://own.example/ci/build'), policy)).toBe('verified');
    for (const uri of ['spiffe://own.example/ci/../prod/deploy', 'spiffe://own.example/ci/%2e%2e/prod', 'spiffe://own.example/ci/build?x=1', 'spiffe://own.example/ci/build/']) {
      expect(run(await leaf(uri), policy), uri).toBe('POLICY_TRUST_DOMAIN_MISMATCH');
    }
  });
});
