/**
 * `cairn verify --bulk` with --predicate-type, on what `cairn sign` and `cairn attest` leave
 * beside an artifact X: X.sigstore.json (its signature) and X.intoto.sigstore.json (an attestation
 * about it). Only an attestation has a predicate type, so with --predicate-type the attestations
 * are the bundles to verify, as a single `cairn verify X --predicate-type` reads
 * X.intoto.sigstore.json; the signature bundles used to be verified too and failed every run
 * (POLICY_PREDICATE_MISMATCH). Without --predicate-type both kinds are verified.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

const ASSETS = join(import.meta.dirname, '../../conformance/vectors/sigstore-conformance/test/assets/bundle-verify');
const ROOT = join(import.meta.dirname, '../../conformance/vectors/root-signing/targets/trusted_root.json');
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const SLSA = 'https://slsa.dev/provenance/v1';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-bulk-attest-'));
  await copyFile(join(ASSETS, 'a.txt'), join(dir, 'a.txt'));
  await copyFile(join(ASSETS, 'happy-path-v0.3', 'bundle.sigstore.json'), join(dir, 'a.txt.sigstore.json'));
  await copyFile(join(ASSETS, 'happy-path-intoto-in-dsse-v3', 'bundle.sigstore.json'), join(dir, 'a.txt.intoto.sigstore.json'));
  await writeFile(join(dir, 'artifacts.list'), `${join(dir, 'a.txt')}\n`);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** The CLI from its sources (bin/cairn.js runs the compiled dist/). */
function verify(extra: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const argv = ['node', 'cairn', 'verify', '--trusted-root', ROOT, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--quiet', ...extra];
  const code = `const m = await import(${JSON.stringify(join(import.meta.dirname, '../../host/cli/main.ts'))}); await m.main(${JSON.stringify(argv)});`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('close', (c) => resolve({ code: c, out, err })));
}

it('with --predicate-type, a directory holding both kinds of bundle verifies its attestations', async () => {
  const r = await verify(['--bulk', dir, '--predicate-type', SLSA]);
  expect(r.out, r.err).toMatch(/^verified 1\/1 bundles/);
  expect(r.out).not.toMatch(/FAIL/);
  expect(r.code).toBe(0);
  // The single-bundle form agrees.
  expect((await verify([join(dir, 'a.txt'), '--predicate-type', SLSA])).code).toBe(0);
}, 60_000);

it('with --predicate-type, an artifact listed alone is paired with its attestation', async () => {
  const r = await verify(['--bulk', join(dir, 'artifacts.list'), '--predicate-type', SLSA]);
  expect(r.out, r.err).toMatch(/^verified 1\/1 bundles/);
  expect(r.code).toBe(0);
}, 60_000);

it('without --predicate-type, both kinds of bundle are verified against the artifact', async () => {
  const r = await verify(['--bulk', dir]);
  expect(r.out, r.err).toMatch(/^verified 2\/2 bundles/);
  expect(r.code).toBe(0);
}, 60_000);
