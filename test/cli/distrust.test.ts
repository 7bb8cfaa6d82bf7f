/**
 * The seed's answer to a lost key, end to end on a `cairn up` stack: a compromise "can usually be
 * tied to a rough point in time ... Why revoke anything before then?"
 *
 *  1. Two bundles are signed by sigstore-js, one before and one after a time T.
 *  2. `cairn trust-root distrust --ca <id> --since T --tuf-repo` closes the issuing CA's window at
 *     T and publishes the file through the stack's TUF repository.
 *  3. Cairn (from the file, and through TUF with `cairn verify --tuf`) and sigstore-js (through
 *     TUF) all still accept the first bundle and refuse the second.
 *  4. A restart with the distrusted key still configured leaves the window closed at T.
 *  5. `cairn ca rotate` replaces the issuing key under the same root; after a restart the stack
 *     signs with it, the trusted root lists both chains, and the old window still ends at T (the
 *     restart's merge neither reopens it nor moves it to the restart time).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign, verify } from 'sigstore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cairnVerify, down, execFileP, jwtSvid, up, type Stack } from './stack.js';

const cairn = async (args: string[]): Promise<string> => (await execFileP(process.execPath, [BIN, ...args])).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('distrusting a CA from a point in time, then rotating its key', () => {
  let dir: string;
  let data: string;
  let stack: Stack;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-distrust-'));
    data = join(dir, 'data');
    stack = await up(data);
  }, 90_000);
  afterAll(async () => {
    if (stack && stack.child.exitCode === null) await down(stack);
    await rm(dir, { recursive: true, force: true });
  });

  type Signed = { bundle: Awaited<ReturnType<typeof sign>>; artifact: Buffer; path: string; file: string };
  const signOne = async (tag: string): Promise<Signed> => {
    const r = stack.ready;
    const artifact = Buffer.from(`${tag} ${Date.now()}\n`);
    const bundle = await sign(artifact, { fulcioURL: r.ca, rekorURL: r.log, tsaServerURL: r.tsa, identityToken: await jwtSvid(r.socket) });
    const file = join(dir, `${tag}.txt`);
    await writeFile(file, artifact);
    await writeFile(`${file}.sigstore.json`, JSON.stringify(bundle));
    return { bundle, artifact, file, path: `${file}.sigstore.json` };
  };
  // Cairn's verdict: 0, or 1 with the error's code.
  const cairnSays = async (s: Signed, oidc: string, extra: string[] = []) => {
    const r = await cairnVerify([s.file, '--bundle', s.path, '--trusted-root', stack.ready.trustedRoot, '--certificate-identity', stack.ready.identity, '--certificate-oidc-issuer', oidc, ...extra]);
    return r.code === 0 ? 'verified' : (/\b[A-Z][A-Z0-9_]{5,}\b/.exec(r.output)?.[0] ?? r.output);
  };
  // Cairn's verdict with the trusted root fetched through the stack's TUF repository (cairn verify --tuf).
  const cairnViaTuf = async (s: Signed, oidc: string) => {
    const r = await cairnVerify([s.file, '--bundle', s.path, '--tuf', stack.ready.tuf, '--tuf-root', join(data, 'tuf', 'metadata', '1.root.json'), '--tuf-cache', join(dir, `cairn-tuf-${++caches}`), '--certificate-identity', stack.ready.identity, '--certificate-oidc-issuer', oidc]);
    return r.code === 0 ? 'verified' : (/\b[A-Z][A-Z0-9_]{5,}\b/.exec(r.output)?.[0] ?? r.output);
  };
  // sigstore-js's verdict, with the trusted root it fetches itself through the stack's TUF repository.
  let caches = 0;
  const sigstoreSays = async (s: Signed) => {
    const tuf = { tufMirrorURL: stack.ready.tuf, tufRootPath: join(data, 'tuf', 'metadata', '1.root.json'), tufCachePath: join(dir, `tuf-cache-${++caches}`) };
    try {
      await verify(s.bundle, s.artifact, { ...tuf, certificateIdentityURI: stack.ready.identity });
      return 'verified';
    } catch (e) {
      return (e as { code?: string }).code ?? (e as Error).message;
    }
  };

  let before: Signed;
  let after: Signed;
  let since: string;
  let oidc: string;
  let oldCa: string;

  it('after distrust from T, both verifiers keep what was signed before T and refuse what was signed after', async () => {
    oidc = stack.ready.oidc;
    before = await signOne('before');
    // Integrated times are whole seconds: leave more than a second on each side of T.
    await sleep(1200);
    since = new Date().toISOString();
    await sleep(1200);
    after = await signOne('after');
    expect([await cairnSays(before, oidc), await cairnSays(after, oidc)]).toEqual(['verified', 'verified']);

    const cas = (await cairn(['trust-root', 'show', stack.ready.trustedRoot])).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; id: string }).filter((i) => i.kind === 'ca');
    expect(cas).toHaveLength(1);
    oldCa = cas[0]!.id;
    const out = JSON.parse(await cairn(['trust-root', 'distrust', stack.ready.trustedRoot, '--ca', oldCa, '--since', since, '--tuf-repo', join(data, 'tuf')]));
    expect(out.distrusted.validFor.end).toBe(since);
    expect(out.tuf.changed).toBe(true);

    expect(await cairnSays(before, oidc)).toBe('verified');
    expect(await cairnSays(after, oidc)).toBe('CERTIFICATE_UNTRUSTED');
    expect(await cairnViaTuf(before, oidc)).toBe('verified');
    expect(await cairnViaTuf(after, oidc)).toBe('CERTIFICATE_UNTRUSTED');
    expect(await sigstoreSays(before)).toBe('verified');
    expect(await sigstoreSays(after)).toBe('CERTIFICATE_ERROR');
  }, 90_000);

  it('cairn verify can require independent time sources: the stack gives two (its log and its TSA)', async () => {
    expect(await cairnSays(before, oidc, ['--timestamp-threshold', '2'])).toBe('verified');
    expect(await cairnSays(before, oidc, ['--timestamp-threshold', '3'])).toBe('TIMESTAMP_MISSING');
    expect(await cairnSays(before, oidc, ['--tlog-threshold', '2'])).toBe('TLOG_ENTRY_MISSING');
    expect(await cairnSays(before, oidc, ['--ctlog-threshold', '2'])).toBe('SCT_INVALID');
  }, 60_000);

  it('a restart with the distrusted key still configured keeps the window closed at T', async () => {
    expect(await down(stack)).toBe(0);
    stack = await up(data);
    const root = JSON.parse(await readFile(stack.ready.trustedRoot, 'utf8')) as { certificateAuthorities: { validFor: { end?: string } }[] };
    expect(root.certificateAuthorities.map((c) => c.validFor.end)).toEqual([since]);
    expect(await cairnSays(after, oidc)).toBe('CERTIFICATE_UNTRUSTED');
    expect(await sigstoreSays(after)).toBe('CERTIFICATE_ERROR');
    expect(await sigstoreSays(before)).toBe('verified');
  }, 90_000);

  it('cairn ca rotate gives the stack a new issuing key; the old window still ends at T, and new bundles verify', async () => {
    expect(await down(stack)).toBe(0);
    const keyBefore = await readFile(join(data, 'ca', 'ca-key.pem'), 'utf8');
    const rotated = JSON.parse(await cairn(['ca', 'rotate', '--data-dir', join(data, 'ca')]));
    expect(rotated.retired).toBe(oldCa);
    expect(rotated.current).not.toBe(oldCa);
    expect(await readFile(join(data, 'ca', 'ca-key.pem'), 'utf8')).not.toBe(keyBefore); // the old issuing key is gone

    stack = await up(data);
    const root = JSON.parse(await readFile(stack.ready.trustedRoot, 'utf8')) as { certificateAuthorities: { validFor: { start: string; end?: string }; certChain: { certificates: { rawBytes: string }[] } }[] };
    expect(root.certificateAuthorities).toHaveLength(2);
    const [old, current] = root.certificateAuthorities;
    expect(old!.validFor.end).toBe(since);
    expect(current!.validFor.end).toBeUndefined();
    // Same root certificate under both intermediates.
    expect(old!.certChain.certificates[1]!.rawBytes).toBe(current!.certChain.certificates[1]!.rawBytes);

    const fresh = await signOne('rotated');
    expect(fresh.bundle.verificationMaterial.certificate ?? fresh.bundle.verificationMaterial.x509CertificateChain).toBeDefined();
    // The certificates name the issuer URL of the run that made them (--port 0 moves it).
    expect(await cairnSays(fresh, stack.ready.oidc)).toBe('verified');
    expect(await cairnSays(before, oidc)).toBe('verified');
    expect(await cairnSays(after, oidc)).toBe('CERTIFICATE_UNTRUSTED');
    expect(await sigstoreSays(fresh)).toBe('verified');
    expect(await sigstoreSays(before)).toBe('verified');
    expect(await sigstoreSays(after)).toBe('CERTIFICATE_ERROR');
  }, 120_000);
});
