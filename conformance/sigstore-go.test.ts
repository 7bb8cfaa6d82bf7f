/**
 * sigstore-go's test bundles (conformance/vectors/sigstore-go/INDEX.txt gives the upstream
 * expectations, from pkg/verify/signed_entity_test.go and docs/verification.md), through the
 * in-process verifier. npm provenance names its subject by sha512, so those run by digest.
 */
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyFiles, type Policy } from '../host/verify/index.js';

const V = join(import.meta.dirname, 'vectors/sigstore-go');
const B = (f: string) => join(V, 'pkg/testing/data/bundles', f);
const R = (f: string) => join(V, 'pkg/testing/data/trusted-roots', f);
const NPM_SHA512_200 = 'sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c';
const NPM_SHA512_130 = 'sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751';
const GH = 'https://token.actions.githubusercontent.com';

let testContent: string;
beforeAll(async () => {
  testContent = join(await mkdtemp(join(tmpdir(), 'sgo-')), 'artifact');
  await writeFile(testContent, 'test content');
});

interface Case {
  name: string;
  bundle: string;
  root: string;
  artifact: () => string;
  policy?: Policy;
  key?: string;
  options?: { tlogThreshold?: number };
  expect: 'pass' | 'fail';
}

const cases: Case[] = [
  { name: 'sigstore-js 2.0.0 npm provenance (v0.1, intoto 0.0.2, proof + checkpoint)', bundle: B('sigstore.js@2.0.0-provenance.sigstore.json'), root: R('public-good.json'), artifact: () => NPM_SHA512_200,
    policy: { identity: 'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main', issuer: GH, predicateType: 'https://slsa.dev/provenance/v1' }, expect: 'pass' },
  { name: 'same bundle, wrong identity', bundle: B('sigstore.js@2.0.0-provenance.sigstore.json'), root: R('public-good.json'), artifact: () => NPM_SHA512_200, policy: { identity: 'https://github.com/evil/repo/.github/workflows/release.yml@refs/heads/main', issuer: GH }, expect: 'fail' },
  { name: 'same bundle, another package digest', bundle: B('sigstore.js@2.0.0-provenance.sigstore.json'), root: R('public-good.json'), artifact: () => NPM_SHA512_130, policy: { issuer: GH }, expect: 'fail' },
  { name: 'DSSE envelope with two signatures', bundle: B('dsse-2sigs.sigstore.json'), root: R('public-good.json'), artifact: () => NPM_SHA512_200, expect: 'fail' },
  { name: 'Fulcio otherName (username) SAN, scaffolding instance', bundle: B('othername.sigstore.json'), root: R('scaffolding.json'), artifact: () => 'sha256:bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b',
    policy: { identity: 'foo!oidc.local', issuer: 'http://oidc.local:8080' }, expect: 'pass' },
  { name: 'otherName SAN is not an email', bundle: B('othername.sigstore.json'), root: R('scaffolding.json'), artifact: () => 'sha256:bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b',
    policy: { identity: 'foo@oidc.local', issuer: 'http://oidc.local:8080' }, expect: 'fail' },
  { name: 'key-signed, RFC 3161 only, no tlog (key treated as always valid)', bundle: B('public-key-validity.sigstore.json'), root: R('public-key-validity.json'), artifact: () => testContent,
    key: join(V, 'pkg/testing/data/public-keys/public-key-validity.pem'), options: { tlogThreshold: 0 }, expect: 'pass' },
  { name: 'examples: npm provenance, SET only, SAN regexp', bundle: join(V, 'examples/bundle-provenance.json'), root: join(V, 'examples/trusted-root-public-good.json'), artifact: () => NPM_SHA512_130,
    policy: { identityRegexp: /^https:\/\/github\.com\/sigstore\/sigstore-js\//, issuer: GH }, expect: 'pass' },
  { name: 'examples: npm publish attestation with the registry key', bundle: join(V, 'examples/bundle-publish.json'), root: join(V, 'examples/trusted-root-public-good.json'), artifact: () => NPM_SHA512_130,
    key: join(V, 'examples/publish_key.pub'), expect: 'pass' },
];

describe('sigstore-go bundles', () => {
  for (const c of cases) {
    it(`${c.expect.toUpperCase()}: ${c.name}`, async () => {
      let got: string;
      try {
        await verifyFiles({ artifact: c.artifact(), bundle: c.bundle, trustedRoot: c.root, ...(c.key ? { key: c.key } : {}), policy: c.policy ?? {}, ...(c.options ? { options: c.options } : {}) });
        got = 'pass';
      } catch (e) {
        got = `fail (${(e as { code?: string }).code}: ${(e as Error).message})`;
      }
      expect(got.startsWith(c.expect), got).toBe(true);
    });
  }
});
