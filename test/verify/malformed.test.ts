/**
 * Hostile bundles and trusted roots (STYLE.md point 5): every mutation of a real bundle gives a
 * VerificationError with a code — never a TypeError, RangeError or SyntaxError — and never a pass.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { parseBundle, parseTrustedRoot, verifyBundle, VerificationError } from '../../host/verify/index.js';

const A = join(import.meta.dirname, '../../conformance/vectors/sigstore-conformance/test/assets/bundle-verify');
const bundleText = readFileSync(join(A, 'happy-path-v0.3/bundle.sigstore.json'), 'utf8');
const rootJson = JSON.parse(readFileSync(join(import.meta.dirname, '../../conformance/vectors/root-signing/targets/trusted_root.json'), 'utf8'));
const artifact = readFileSync(join(A, 'a.txt'));
const ID = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';

beforeAll(() => initCore());

function outcome(doc: unknown): string {
  try {
    verifyBundle(parseBundle(doc), { bytes: artifact }, parseTrustedRoot(rootJson), { identity: ID });
    return 'pass';
  } catch (e) {
    if (e instanceof VerificationError) return e.code;
    return `CRASH ${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

type Json = Record<string, any>;
const base = (): Json => JSON.parse(bundleText);

describe('hostile bundles', () => {
  it('the unmodified bundle passes', () => expect(outcome(base())).toBe('pass'));

  const mutations: [string, (b: Json) => void][] = [
    ['not an object', (b) => { for (const k of Object.keys(b)) delete b[k]; }],
    ['unknown media type', (b) => { b.mediaType = 'application/vnd.dev.sigstore.bundle.v9+json'; }],
    ['no verification material', (b) => { delete b.verificationMaterial; }],
    ['certificate rawBytes not base64', (b) => { b.verificationMaterial.certificate.rawBytes = '***'; }],
    ['certificate is garbage DER', (b) => { b.verificationMaterial.certificate.rawBytes = Buffer.from('garbage').toString('base64'); }],
    ['negative log index', (b) => { b.verificationMaterial.tlogEntries[0].logIndex = '-1'; }],
    ['huge log index', (b) => { b.verificationMaterial.tlogEntries[0].logIndex = '99999999999999999999999'; }],
    ['log index as object', (b) => { b.verificationMaterial.tlogEntries[0].logIndex = { a: 1 }; }],
    ['tlogEntries not a list', (b) => { b.verificationMaterial.tlogEntries = 'x'; }],
    ['inclusion proof hashes not a list', (b) => { b.verificationMaterial.tlogEntries[0].inclusionProof.hashes = 7; }],
    ['inclusion proof hash wrong length', (b) => { b.verificationMaterial.tlogEntries[0].inclusionProof.hashes[0] = 'AAAA'; }],
    ['tree size smaller than index', (b) => { b.verificationMaterial.tlogEntries[0].inclusionProof.treeSize = '1'; }],
    ['checkpoint without signatures', (b) => { const p = b.verificationMaterial.tlogEntries[0].inclusionProof; p.checkpoint.envelope = p.checkpoint.envelope.split('\n\n')[0] + '\n\n'; }],
    ['checkpoint not a string', (b) => { b.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint.envelope = 12; }],
    ['canonicalized body not JSON', (b) => { b.verificationMaterial.tlogEntries[0].canonicalizedBody = Buffer.from('{{{').toString('base64'); }],
    ['SET flipped', (b) => { const e = b.verificationMaterial.tlogEntries[0]; e.inclusionPromise.signedEntryTimestamp = Buffer.from(Buffer.from(e.inclusionPromise.signedEntryTimestamp, 'base64').map((x: number, i: number) => (i === 10 ? x ^ 1 : x))).toString('base64'); }],
    ['integrated time in the far future', (b) => { b.verificationMaterial.tlogEntries[0].integratedTime = '99999999999'; }],
    ['kindVersion missing', (b) => { delete b.verificationMaterial.tlogEntries[0].kindVersion; }],
    ['signature empty', (b) => { b.messageSignature.signature = ''; }],
    ['digest algorithm unknown', (b) => { b.messageSignature.messageDigest.algorithm = 'MD5'; }],
    ['neither content kind', (b) => { delete b.messageSignature; }],
    ['dsse with no signatures', (b) => { delete b.messageSignature; b.dsseEnvelope = { payload: '', payloadType: 'x', signatures: [] }; }],
    ['RFC 3161 token garbage', (b) => { b.verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [{ signedTimestamp: Buffer.from('junk').toString('base64') }] }; }],
    ['deep nesting', (b) => { let o: Json = {}; const top = o; for (let i = 0; i < 200; i++) { o.x = {}; o = o.x; } b.verificationMaterial.extra = top; }],
  ];
  for (const [name, mutate] of mutations) {
    it(`${name} → a coded VerificationError`, () => {
      const b = base();
      mutate(b);
      const r = outcome(b);
      expect(r).not.toBe('pass');
      expect(r).not.toMatch(/^CRASH/);
    });
  }

  it('every single-byte change of the JSON that still parses is refused with a code', () => {
    let crashes = 0;
    let passes = 0;
    for (let i = 0; i < bundleText.length; i += 7) {
      const t = bundleText.slice(0, i) + String.fromCharCode(bundleText.charCodeAt(i) ^ 1) + bundleText.slice(i + 1);
      let doc: unknown;
      try {
        doc = JSON.parse(t);
      } catch {
        continue;
      }
      const r = outcome(doc);
      if (r.startsWith('CRASH')) crashes++;
      if (r === 'pass') passes++;
    }
    expect(crashes).toBe(0);
    // A flip inside an unused field (e.g. a key name we ignore) may still pass; the signed parts may not.
    expect(passes).toBeLessThan(10);
  });
});

describe('hostile trusted roots', () => {
  const roots: [string, unknown][] = [
    ['not an object', 'x'],
    ['wrong media type', { ...rootJson, mediaType: 'text/plain' }],
    ['tlogs not a list', { ...rootJson, tlogs: {} }],
    ['log key garbage', { ...rootJson, tlogs: [{ ...rootJson.tlogs[0], publicKey: { ...rootJson.tlogs[0].publicKey, rawBytes: 'AAAA' } }] }],
    ['validity start missing', { ...rootJson, tlogs: [{ ...rootJson.tlogs[0], publicKey: { ...rootJson.tlogs[0].publicKey, validFor: {} } }] }],
    ['CA chain empty', { ...rootJson, certificateAuthorities: [{ ...rootJson.certificateAuthorities[0], certChain: { certificates: [] } }] }],
    // Timestamps without a zone would be read in the machine's local zone, a number as a year.
    ['validity start without a zone', { ...rootJson, tlogs: [{ ...rootJson.tlogs[0], publicKey: { ...rootJson.tlogs[0].publicKey, validFor: { start: '2021-01-12T11:53:27' } } }] }],
    ['validity end without a zone', { ...rootJson, certificateAuthorities: [{ ...rootJson.certificateAuthorities[0], validFor: { start: '2021-01-12T11:53:27Z', end: '2030-01-01T00:00:00' } }] }],
    ['validity end a number', { ...rootJson, certificateAuthorities: [{ ...rootJson.certificateAuthorities[0], validFor: { start: '2021-01-12T11:53:27Z', end: 20300101 } }] }],
  ];
  for (const [name, r] of roots) {
    it(`${name} → TRUSTED_ROOT_MALFORMED`, () => {
      expect(() => parseTrustedRoot(r)).toThrow(expect.objectContaining({ code: 'TRUSTED_ROOT_MALFORMED' }));
    });
  }
  it('reads RFC 3339 offsets and nanoseconds as the instants they name', () => {
    const t = parseTrustedRoot({ ...rootJson, tlogs: [{ ...rootJson.tlogs[0], publicKey: { ...rootJson.tlogs[0].publicKey, validFor: { start: '2021-01-12T13:53:27.123456789+02:00', end: '2030-01-01t00:00:00z' } } }] });
    expect(t.tlogs[0]!.validFor.start.toISOString()).toBe('2021-01-12T11:53:27.123Z');
    expect(t.tlogs[0]!.validFor.end!.toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });
});
