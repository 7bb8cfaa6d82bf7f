/**
 * The whole stack, as a user gets it: `cairn up` (bin/cairn.js, the compiled entry point that
 * `npm start` runs) as a child process on free ports, then a client nobody here wrote:
 *
 *  - sigstore-js (`sigstore` 4) signs a file with fulcioURL/rekorURL/tsaServerURL pointed at the
 *    stack and a JWT-SVID fetched from the stack's Workload API socket as the identity token;
 *  - sigstore-js verifies the bundle with the trusted root it fetches itself, through tuf-js, from
 *    the stack's TUF repository (tufMirrorURL + the repository's 1.root.json), requiring the SPIFFE
 *    ID as certificate identity;
 *  - `cairn verify` gives the same verdicts;
 *  - a restart keeps the log and the trust root, and the old bundle still verifies.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign, verify } from 'sigstore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cairnVerify as verifyCli, down, execFileP, jwtSvid, up, type Stack } from './stack.js';

let lastVerifyOutput = '';
async function listFiles(d: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(d, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

async function cairnVerify(args: string[]): Promise<number> {
  const r = await verifyCli(args);
  lastVerifyOutput = r.output;
  return r.code;
}

describe('cairn up: the whole stack against sigstore-js', () => {
  let dir: string;
  let stack: Stack;
  const artifact = Buffer.from(`a build output ${Date.now()}\n`);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-up-'));
    stack = await up(join(dir, 'data'));
  }, 90_000);
  afterAll(async () => {
    if (stack && stack.child.exitCode === null) await down(stack);
    await rm(dir, { recursive: true, force: true });
  });

  let bundlePath: string;
  let artifactPath: string;
  let bundle: Awaited<ReturnType<typeof sign>>;
  let firstOidc: string;

  it('prints the ready line with every endpoint, on loopback, with key files at 0600', async () => {
    const r = stack.ready;
    for (const k of ['ca', 'log', 'ct', 'tsa', 'oidc', 'tuf'] as const) expect(r[k], k).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    expect(r.identity).toMatch(/^spiffe:\/\/cairn\.local\/local\/uid\/\d+$/);
    const root = JSON.parse(await readFile(r.trustedRoot, 'utf8')) as Record<string, unknown[]>;
    expect(root.mediaType).toBe('application/vnd.dev.sigstore.trustedroot.v0.2+json');
    for (const k of ['tlogs', 'ctlogs', 'certificateAuthorities', 'timestampAuthorities']) expect(root[k]!.length, k).toBeGreaterThan(0);
    const cfg = JSON.parse(await readFile(r.signingConfig, 'utf8')) as { mediaType: string };
    expect(cfg.mediaType).toBe('application/vnd.dev.sigstore.signingconfig.v0.2+json');
    // Keys and other secrets are owner-only.
    const data = join(dir, 'data');
    for (const f of ['log/rekor-key.pem', 'log/ct-key.pem', 'ca/ca-key.pem', 'ca/ca-root-key.pem', 'ca/ca-passphrase', 'tsa/tsa-key.pem', 'spiffe/spiffe-ca.json']) {
      expect((await stat(join(data, f))).mode & 0o777, f).toBe(0o600);
    }
    for (const svc of ['ca', 'log', 'tsa']) {
      const h = await fetch(`${r[svc as 'ca']}/healthz`);
      expect(h.status, svc).toBe(200);
      const m = await fetch(`${r[svc as 'ca']}/metrics`);
      expect(await m.text()).toContain('cairn_http_requests_total');
    }
  });

  it('sigstore-js signs with a JWT-SVID from the socket and verifies through the stack TUF repository', async () => {
    const r = stack.ready;
    const identityToken = await jwtSvid(r.socket);
    bundle = await sign(artifact, { fulcioURL: r.ca, rekorURL: r.log, tsaServerURL: r.tsa, identityToken });
    expect(bundle.verificationMaterial.tlogEntries.length).toBe(1);
    // Structured logs (pino JSON on stderr) record the requests, never the token.
    await new Promise((res) => setTimeout(res, 200));
    expect(stack.stderr()).toMatch(/"service":"ca".*"statusCode":200/);
    expect(stack.stderr()).not.toContain(identityToken.split('.')[1]!);
    expect(bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps?.length).toBe(1);
    artifactPath = join(dir, 'artifact.txt');
    bundlePath = join(dir, 'artifact.txt.sigstore.json');
    await writeFile(artifactPath, artifact);
    await writeFile(bundlePath, JSON.stringify(bundle));

    const tuf = {
      tufMirrorURL: r.tuf,
      tufRootPath: join(dir, 'data', 'tuf', 'metadata', '1.root.json'),
      tufCachePath: join(dir, 'tuf-cache'),
    };
    const signer = await verify(bundle, artifact, { ...tuf, certificateIdentityURI: r.identity, certificateIssuer: r.oidc });
    expect(signer.identity?.subjectAlternativeName).toBe(r.identity);
    await expect(verify(bundle, Buffer.from('tampered'), { ...tuf, certificateIdentityURI: r.identity })).rejects.toThrow();
    await expect(verify(bundle, artifact, { ...tuf, certificateIdentityURI: 'spiffe://cairn.local/someone/else' })).rejects.toThrow();
  }, 60_000);

  it('cairn verify agrees with sigstore-js', async () => {
    const r = stack.ready;
    const base = ['--bundle', bundlePath, '--trusted-root', r.trustedRoot, '--certificate-identity', r.identity, '--certificate-oidc-issuer', r.oidc];
    expect(await cairnVerify([artifactPath, ...base]), lastVerifyOutput).toBe(0);
    const other = join(dir, 'other.txt');
    await writeFile(other, 'tampered');
    expect(await cairnVerify([other, ...base])).toBe(1);
    expect(await cairnVerify([artifactPath, ...base.slice(0, 4), '--certificate-identity', 'spiffe://cairn.local/someone/else', '--certificate-oidc-issuer', r.oidc])).toBe(1);
  }, 60_000);

  it('cairn sign and cairn attest sign keylessly through the socket; both bundles verify with Cairn and sigstore-js', async () => {
    const r = stack.ready;
    const file = join(dir, 'out.bin');
    await writeFile(file, Buffer.from(`build output ${Date.now()}`));
    const common = ['--signing-config', r.signingConfig, '--socket', r.socket];
    const before = await listFiles(dir);
    await execFileP(process.execPath, [BIN, 'sign', file, ...common]);
    const bundle = JSON.parse(await readFile(`${file}.sigstore.json`, 'utf8'));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    const policy = ['--trusted-root', r.trustedRoot, '--certificate-identity', r.identity, '--certificate-oidc-issuer', r.oidc];
    expect(await cairnVerify([file, '--bundle', `${file}.sigstore.json`, ...policy]), lastVerifyOutput).toBe(0);
    const tuf = { tufMirrorURL: r.tuf, tufRootPath: join(dir, 'data', 'tuf', 'metadata', '1.root.json'), tufCachePath: join(dir, 'tuf-cache-2') };
    await verify(bundle, await readFile(file), { ...tuf, certificateIdentityURI: r.identity, certificateIssuer: r.oidc });

    const pred = join(dir, 'pred.json');
    await writeFile(pred, JSON.stringify({ buildDefinition: { buildType: 'https://example.org/test' }, runDetails: { builder: { id: 'local' } } }));
    // Without --out the attestation goes beside the signature, not over it (FILE.intoto.sigstore.json),
    // and verify --predicate-type looks for it there.
    const attBundle = `${file}.intoto.sigstore.json`;
    await execFileP(process.execPath, [BIN, 'attest', file, '--predicate', pred, '--type', 'https://slsa.dev/provenance/v1', ...common]);
    expect(JSON.parse(await readFile(`${file}.sigstore.json`, 'utf8')).messageSignature).toBeDefined();
    expect(await cairnVerify([file, ...policy, '--predicate-type', 'https://slsa.dev/provenance/v1']), lastVerifyOutput).toBe(0);
    expect(await cairnVerify([file, '--bundle', attBundle, ...policy, '--predicate-type', 'https://slsa.dev/provenance/v1']), lastVerifyOutput).toBe(0);
    expect(await cairnVerify([file, '--bundle', attBundle, ...policy, '--predicate-type', 'https://example.org/other'])).toBe(1);
    await verify(JSON.parse(await readFile(attBundle, 'utf8')), { ...tuf, certificateIdentityURI: r.identity, certificateIssuer: r.oidc });
    // The ephemeral keys never touched the disk: the only new files are the two bundles (+ inputs).
    const added = (await listFiles(dir)).filter((f) => !before.includes(f) && !f.includes('tuf-cache'));
    expect(added.sort()).toEqual([attBundle, `${file}.sigstore.json`, pred].sort());
  }, 60_000);

  it('cairn monitor, given only the stack trusted root, finds the entries and the certificates made for this identity', async () => {
    const r = stack.ready;
    const pattern = `^${r.identity.replace(/[.]/g, '\\.')}$`;
    const run = async (extra: string[]) => (await execFileP(process.execPath, [BIN, 'monitor', '--log', r.log, '--trusted-root', r.trustedRoot, '--identity', pattern, ...extra])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; identities: string[] });
    // sigstore-js's signature and cairn sign (hashedrekord), cairn attest (dsse): all signed under this identity.
    const entries = await run([]);
    expect(entries.map((e) => e.kind).sort()).toEqual(['dsse', 'hashedrekord', 'hashedrekord']);
    expect(entries.every((e) => e.identities.includes(`uri:${r.identity}`))).toBe(true);
    // The same entries read through the log's Rekor v1 API instead of its tiles.
    expect(await run(['--rekor-v1'])).toEqual(entries);
    // Their certificates, as the CA logged them to its CT log (precertificates, before issuance).
    const certs = await run(['--ct']);
    expect(certs.length).toBe(3);
    expect(certs.every((c) => c.kind === 'precert')).toBe(true);
  }, 60_000);

  it('stops cleanly on SIGTERM; a restart keeps the log, the keys and the trust root', async () => {
    const before = JSON.parse(await readFile(stack.ready.trustedRoot, 'utf8')) as Record<string, { publicKey?: { rawBytes: string }; certChain?: unknown }[]>;
    firstOidc = stack.ready.oidc;
    const sizeBefore = ((await (await fetch(`${stack.ready.log}/api/v1/log`)).json()) as { treeSize: number }).treeSize;
    expect(sizeBefore).toBeGreaterThanOrEqual(1);
    expect(await down(stack)).toBe(0);

    stack = await up(join(dir, 'data'));
    const after = JSON.parse(await readFile(stack.ready.trustedRoot, 'utf8')) as typeof before;
    // Same keys and chains (URLs may differ: --port 0 picks new ports).
    for (const k of ['tlogs', 'ctlogs']) expect(after[k]!.map((l) => l.publicKey!.rawBytes)).toEqual(expect.arrayContaining(before[k]!.map((l) => l.publicKey!.rawBytes)));
    for (const k of ['certificateAuthorities', 'timestampAuthorities']) expect(JSON.stringify(after[k]!.map((a) => a.certChain))).toContain(JSON.stringify(before[k]![0]!.certChain));
    const sizeAfter = ((await (await fetch(`${stack.ready.log}/api/v1/log`)).json()) as { treeSize: number }).treeSize;
    expect(sizeAfter).toBe(sizeBefore);
    expect((await stat(stack.ready.trustedRoot)).isFile()).toBe(true);

    // The certificate names the issuer URL of the first run (--port 0 moved it since).
    const base = ['--bundle', bundlePath, '--trusted-root', stack.ready.trustedRoot, '--certificate-identity', stack.ready.identity, '--certificate-oidc-issuer', firstOidc];
    expect(await cairnVerify([artifactPath, ...base]), lastVerifyOutput).toBe(0);
  }, 120_000);
});
