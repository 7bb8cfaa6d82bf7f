/**
 * `cairn verify --bulk <dir>` (the compiled CLI): whole bundles verified on worker threads
 * (host/verify/bulk-pool.ts), or on the main thread for small inputs and with --workers 0; both
 * ways give the same report. Happy-path conformance bundles pass; a tampered copy fails with its
 * code; the exit status says whether everything verified.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../bin/cairn.js');
const ASSETS = join(import.meta.dirname, '../../conformance/vectors/sigstore-conformance/test/assets/bundle-verify');
const ROOT = join(import.meta.dirname, '../../conformance/vectors/root-signing/targets/trusted_root.json');
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const CASES = ['happy-path-v0.1', 'happy-path-v0.2', 'happy-path-v0.3', 'happy-path-v0.3-new-mediaType'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-bulk-'));
  for (const c of CASES) {
    await copyFile(join(ASSETS, 'a.txt'), join(dir, `${c}.txt`));
    await copyFile(join(ASSETS, c, 'bundle.sigstore.json'), join(dir, `${c}.txt.sigstore.json`));
  }
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function run(target: string, extra: string[] = []): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, 'verify', '--bulk', target, '--trusted-root', ROOT, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--quiet', ...extra]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}
/** The report without its timing, to compare the two ways of running. */
const report = (out: string): string => out.replace(/ in [0-9.]+ s/, '');

it('verifies a directory of bundles and exits 0 when all verify, on the main thread (small input) and on worker threads', async () => {
  const here = await run(dir);
  expect(here.out).toMatch(new RegExp(`^verified ${CASES.length}/${CASES.length} bundles in `));
  expect(here.code).toBe(0);
  const pool = await run(dir, ['--workers', '2']);
  expect(pool.code).toBe(0);
  expect(report(pool.out)).toBe(report(here.out));
}, 60_000);

it('fails when there is nothing to verify: an empty directory or list is not "verified 0/0"', async () => {
  const empty = join(dir, 'empty');
  await mkdir(empty);
  await writeFile(join(empty, 'notes.txt'), 'no bundles here');
  await writeFile(join(dir, 'empty.list'), '# nothing listed\n\n');
  for (const target of [empty, join(dir, 'empty.list')]) {
    const r = await run(target);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^FAIL BULK_EMPTY: /);
    expect(r.out).toBe('');
  }
}, 60_000);

it('requires an identity policy (or --key): without one it fails with POLICY_MISSING, unless --insecure-ignore-identity says so', async () => {
  const bare = async (extra: string[]) => {
    try {
      const r = await promisify(execFile)(process.execPath, [BIN, 'verify', ...extra, '--trusted-root', ROOT, '--quiet']);
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };
  const one = join(dir, `${CASES[0]}.txt`);
  for (const args of [['--bulk', dir], [one], [one, '--certificate-oidc-issuer', ISSUER], [one, '--spiffe-path-prefix', '/ci'], [one, '--certificate-identity', IDENTITY], [one, '--certificate-identity-regexp', '.*']]) {
    const r = await bare(args);
    expect(r.code, args.join(' ')).toBe(1);
    expect(r.err).toMatch(/^FAIL POLICY_MISSING: /);
  }
  expect((await bare(['--bulk', dir, '--insecure-ignore-identity'])).out).toMatch(new RegExp(`^verified ${CASES.length}/${CASES.length} `));
  expect((await bare([one, '--insecure-ignore-identity'])).out).toMatch(/^OK: /);
}, 60_000);

it('refuses a --workers value that is not a whole number from 0 to 64', async () => {
  for (const v of ['-1', '1.5', 'x', '65']) {
    const r = await run(dir, ['--workers', v]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--workers/);
  }
}, 60_000);

it('reports each failing bundle with its code and exits 1', async () => {
  const j = JSON.parse(await readFile(join(dir, 'happy-path-v0.3.txt.sigstore.json'), 'utf8'));
  const sig = Buffer.from(j.messageSignature.signature, 'base64');
  sig[sig.length - 1]! ^= 1;
  j.messageSignature.signature = sig.toString('base64');
  await copyFile(join(ASSETS, 'a.txt'), join(dir, 'tampered.txt'));
  await writeFile(join(dir, 'tampered.txt.sigstore.json'), JSON.stringify(j));
  await writeFile(join(dir, 'broken.txt.sigstore.json'), '{not json');
  await copyFile(join(ASSETS, 'a.txt'), join(dir, 'broken.txt'));
  const r = await run(dir);
  expect(r.code).toBe(1);
  expect(r.out).toMatch(new RegExp(`^verified ${CASES.length}/${CASES.length + 2} bundles in .*; 2 failed:`));
  // The log entry names the original signature, so the flipped one fails the body check first.
  expect(r.out).toMatch(/FAIL .*tampered\.txt\.sigstore\.json: TLOG_BODY_MISMATCH: /);
  expect(r.out).toMatch(/FAIL .*broken\.txt\.sigstore\.json: BUNDLE_MALFORMED: /);
  const pool = await run(dir, ['--workers', '2']);
  expect(pool.code).toBe(1);
  expect(report(pool.out)).toBe(report(r.out));
}, 60_000);

it('verifies managed-key bundles with --key in bulk mode, and refuses them with another key', async () => {
  const c = join(ASSETS, 'managed-key-happy-path');
  const d = await mkdtemp(join(tmpdir(), 'cairn-bulk-key-'));
  try {
    await copyFile(join(existsSync(join(c, 'artifact')) ? c : ASSETS, existsSync(join(c, 'artifact')) ? 'artifact' : 'a.txt'), join(d, 'x.bin'));
    await copyFile(join(c, 'bundle.sigstore.json'), join(d, 'x.bin.sigstore.json'));
    const root = existsSync(join(c, 'trusted_root.json')) ? join(c, 'trusted_root.json') : ROOT;
    const run = async (key: string, workers: string) => {
      try {
        const r = await promisify(execFile)(process.execPath, [BIN, 'verify', '--bulk', d, '--trusted-root', root, '--key', key, '--quiet', '--workers', workers]);
        return { code: 0, out: r.stdout };
      } catch (e) {
        return { code: (e as { code: number }).code, out: (e as { stdout: string }).stdout };
      }
    };
    const { generateKeyPairSync } = await import('node:crypto');
    await writeFile(join(d, 'other.pub'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string);
    for (const workers of ['0', '2']) {
      const ok = await run(join(c, 'key.pub'), workers);
      expect(ok.out).toMatch(/^verified 1\/1 bundles/);
      expect(ok.code).toBe(0);
      const bad = await run(join(d, 'other.pub'), workers);
      expect(bad.code).toBe(1);
      expect(bad.out).toMatch(/FAIL .*x\.bin\.sigstore\.json: [A-Z_]+: /);
    }
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}, 60_000);

it('keeps every verdict with its bundle across CLI chunks and worker chunks (2,100 bundles, every 150th tampered)', async () => {
  const many = await mkdtemp(join(tmpdir(), 'cairn-bulk-many-'));
  try {
    const texts = await Promise.all(CASES.map((c) => readFile(join(ASSETS, c, 'bundle.sigstore.json'), 'utf8')));
    const tamper = (t: string): string => {
      const j = JSON.parse(t);
      const sig = Buffer.from(j.messageSignature.signature, 'base64');
      sig[sig.length - 1]! ^= 1;
      j.messageSignature.signature = sig.toString('base64');
      return JSON.stringify(j);
    };
    const bad: string[] = [];
    const artifact = await readFile(join(ASSETS, 'a.txt'));
    for (let i = 0; i < 2100; i++) {
      const name = `b${String(i).padStart(4, '0')}.txt`;
      const isBad = i % 150 === 7;
      if (isBad) bad.push(name);
      await writeFile(join(many, name), artifact);
      await writeFile(join(many, `${name}.sigstore.json`), isBad ? tamper(texts[i % texts.length]!) : texts[i % texts.length]!);
    }
    // Above 1,000 bundles the default is one worker per core; --workers 0 keeps them on the main thread.
    for (const extra of [[], ['--workers', '0']]) {
      const r = await run(many, extra);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(new RegExp(`^verified ${2100 - bad.length}/2100 bundles in .*; ${bad.length} failed:`));
      const failed = [...r.out.matchAll(/FAIL .*\/(b\d{4}\.txt)\.sigstore\.json: TLOG_BODY_MISMATCH/g)].map((m) => m[1]).sort();
      expect(failed).toEqual(bad);
    }
  } finally {
    await rm(many, { recursive: true, force: true });
  }
}, 120_000);
