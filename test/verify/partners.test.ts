/**
 * The seed's cross-organisation model: two `cairn up` stacks, a.test and b.test. A verifies B's
 * artifacts with its own trusted root plus B's as a partner root for trust domain b.test; B's CA
 * is then trusted for b.test's SPIFFE IDs only, so a certificate B's CA issues for an a.test
 * identity (a misconfigured or compromised partner) does not pass, though it would under a
 * plainly merged trusted root. Run through verifyFiles and the compiled CLI (single and --bulk
 * with a worker thread).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../../host/cli/up.js';
import { fetchJwtSvid } from '../../host/signer/identity.js';
import { signArtifact } from '../../host/signer/sign.js';
import { verifyFiles } from '../../host/verify/index.js';
import { TestIssuer } from '../ca/fixtures.js';

const BIN = join(import.meta.dirname, '../../bin/cairn.js');
let dir: string;
let a: RunningStack;
let b: RunningStack;
let rogueIssuer: TestIssuer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-partners-'));
  rogueIssuer = await TestIssuer.start();
  const env = process.env.SPIFFE_ENDPOINT_SOCKET;
  delete process.env.SPIFFE_ENDPOINT_SOCKET;
  try {
    a = await startStack({ dataDir: join(dir, 'a'), host: '127.0.0.1', port: 0, trustDomain: 'a.test', operator: 'a.test', config: {} });
    // B's CA also trusts an issuer that vouches for a.test identities: it should not.
    b = await startStack({
      dataDir: join(dir, 'b'), host: '127.0.0.1', port: 0, trustDomain: 'b.test', operator: 'b.test',
      config: { oidcIssuers: { [rogueIssuer.url('rogue')]: { 'issuer-url': rogueIssuer.url('rogue'), 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': 'a.test', 'insecure-loopback-http': true } } },
    });
  } finally {
    if (env) process.env.SPIFFE_ENDPOINT_SOCKET = env;
  }
}, 90_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await rogueIssuer?.close();
  await rm(dir, { recursive: true, force: true });
});

async function signWithB(name: string, token: () => Promise<string>): Promise<string> {
  const artifact = join(dir, 'out', name);
  await mkdir(join(dir, 'out'), { recursive: true });
  await writeFile(artifact, `${name} ${Math.random()}`);
  const bundle = await signArtifact(await readFile(artifact), { endpoints: { ca: b.ready.ca, log: b.ready.log, tsa: b.ready.tsa }, token });
  await writeFile(`${artifact}.sigstore.json`, JSON.stringify(bundle));
  return artifact;
}

it('A accepts B\'s identities through a partner root, and not identities B\'s CA issues outside b.test', async () => {
  const good = await signWithB('app.tar', async () => (await fetchJwtSvid(b.ready.socket, 'sigstore')).token);
  const partners = [{ trustDomain: 'b.test', trustedRoot: b.ready.trustedRoot }];
  const r = await verifyFiles({ artifact: good, bundle: `${good}.sigstore.json`, trustedRoot: a.ready.trustedRoot, partners, policy: { identity: b.ready.identity, issuer: b.ready.oidc } });
  expect(r.identity).toBe(b.ready.identity);
  // Without the partner root, B's log (checked first) and CA are unknown to A.
  await expect(verifyFiles({ artifact: good, bundle: `${good}.sigstore.json`, trustedRoot: a.ready.trustedRoot, policy: { identity: b.ready.identity, issuer: b.ready.oidc } })).rejects.toMatchObject({ code: 'TLOG_UNKNOWN_LOG' });

  const forged = 'spiffe://a.test/release';
  const bad = await signWithB('forged.tar', () => rogueIssuer.mint('rogue', { sub: forged }));
  const policy = { identity: forged, issuer: rogueIssuer.url('rogue') };
  // Trusting B's root outright (as a merged trusted_root.json would) accepts it...
  await expect(verifyFiles({ artifact: bad, bundle: `${bad}.sigstore.json`, trustedRoot: b.ready.trustedRoot, policy })).resolves.toMatchObject({ identity: forged });
  // ...as a partner for b.test, it is refused.
  const err = await verifyFiles({ artifact: bad, bundle: `${bad}.sigstore.json`, trustedRoot: a.ready.trustedRoot, partners, policy }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'CERTIFICATE_UNTRUSTED' });
  expect((err as Error).message).toMatch(/trust domain this partner CA is trusted for/);
}, 60_000);

it('the CLI takes --partner-root, for one bundle and in bulk on worker threads', async () => {
  const run = promisify(execFile);
  const good = await signWithB('cli.tar', async () => (await fetchJwtSvid(b.ready.socket, 'sigstore')).token);
  const one = await run(process.execPath, [BIN, 'verify', good, '--trusted-root', a.ready.trustedRoot, '--partner-root', `b.test=${b.ready.trustedRoot}`, '--spiffe-trust-domain', 'b.test']);
  expect(one.stdout).toMatch(/^OK: /);
  const bulkDir = join(dir, 'bulk');
  await mkdir(bulkDir, { recursive: true });
  for (const n of ['x', 'y']) {
    const f = await signWithB(n, async () => (await fetchJwtSvid(b.ready.socket, 'sigstore')).token);
    await writeFile(join(bulkDir, n), await readFile(f));
    await writeFile(join(bulkDir, `${n}.sigstore.json`), await readFile(`${f}.sigstore.json`));
  }
  const bulk = await run(process.execPath, [BIN, 'verify', '--bulk', bulkDir, '--workers', '1', '--quiet', '--trusted-root', a.ready.trustedRoot, '--partner-root', `b.test=${b.ready.trustedRoot}`, '--spiffe-trust-domain', 'b.test']);
  expect(bulk.stdout).toMatch(/verified 2\/2/);
  // The partner's CA for another trust domain than its own: every bundle fails.
  const wrong = await run(process.execPath, [BIN, 'verify', '--bulk', bulkDir, '--workers', '1', '--quiet', '--trusted-root', a.ready.trustedRoot, '--partner-root', `c.test=${b.ready.trustedRoot}`, '--insecure-ignore-identity']).catch((e: { stdout: string; code: number }) => e);
  expect((wrong as { code: number }).code).toBe(1);
  expect((wrong as { stdout: string }).stdout).toMatch(/verified 0\/2/);
  await expect(run(process.execPath, [BIN, 'verify', good, '--trusted-root', a.ready.trustedRoot, '--partner-root', 'no-equals-sign', '--spiffe-trust-domain', 'b.test'])).rejects.toThrow(/trust-domain=path/);
}, 60_000);

it('a partner\'s trusted root can come through its TUF repository, pinned by its first root', async () => {
  const run = promisify(execFile);
  const good = await signWithB('tuf.tar', async () => (await fetchJwtSvid(b.ready.socket, 'sigstore')).token);
  const cache = join(dir, 'tuf-cache');
  const bRoot = join(dir, 'b', 'tuf', 'metadata', '1.root.json');
  const one = await run(process.execPath, [BIN, 'verify', good, '--trusted-root', a.ready.trustedRoot, '--partner-tuf', `b.test=${b.ready.tuf}`, '--partner-tuf-root', `b.test=${bRoot}`, '--tuf-cache', cache, '--spiffe-trust-domain', 'b.test']);
  expect(one.stdout).toMatch(/^OK: /);
  // Pinning A's root for B's repository: B's metadata does not verify, nothing is trusted.
  const wrong = await run(process.execPath, [BIN, 'verify', good, '--trusted-root', a.ready.trustedRoot, '--partner-tuf', `b.test=${b.ready.tuf}`, '--partner-tuf-root', `b.test=${join(dir, 'a', 'tuf', 'metadata', '1.root.json')}`, '--tuf-cache', join(dir, 'tuf-cache-2'), '--spiffe-trust-domain', 'b.test']).catch((e: { stderr: string; code: number }) => e);
  expect((wrong as { code: number }).code).toBe(1);
  expect((wrong as { stderr: string }).stderr).toMatch(/TRUSTED_ROOT_MALFORMED: TUF/);
  // The root pin is required.
  await expect(run(process.execPath, [BIN, 'verify', good, '--trusted-root', a.ready.trustedRoot, '--partner-tuf', `b.test=${b.ready.tuf}`, '--tuf-cache', cache, '--spiffe-trust-domain', 'b.test'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--partner-tuf-root/) });
}, 60_000);
