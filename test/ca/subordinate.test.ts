/**
 * The seed's fourth deployment model, end to end on loopback: a public stack (`cairn up`: SPIFFE,
 * CA, log, TSA) registers the subordinate CA server of another trust domain, prod.acme.test; that
 * server (`cairn serve ca` with `parent:`) gets a name-constrained CA certificate with a JWT-SVID
 * from its own SPIFFE server and issues leaves itself; a build workload of prod.acme.test signs
 * through it, and the bundle verifies against the public trusted root alone.
 *
 * Outside judge: `openssl verify` accepts the subordinate's leaves up to the public root and
 * refuses the leaves it issues outside its trust domain (permitted subtree violation).
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFileCa, ensureGeneratedCa, type LoadedCa } from '../../host/ca/keys.js';
import { startStandalone as startCaStandalone } from '../../host/ca/standalone.js';
import { checkParentChain, loadParentRoots, SubordinateClient } from '../../host/ca/subordinate-client.js';
import { SubordinateIssuer, parseSubordinatesConfig } from '../../host/ca/subordinate.js';
import { parseIssuersConfig } from '../../host/ca/config.js';
import { TokenVerifier } from '../../host/ca/oidc.js';
import { CaError } from '../../host/ca/errors.js';
import type { Standalone } from '../../host/cli/serve.js';
import { startStack, type RunningStack } from '../../host/cli/up.js';
import { fetchJwtSvid } from '../../host/signer/identity.js';
import { signArtifact } from '../../host/signer/sign.js';
import { verifyFiles } from '../../host/verify/index.js';
import { startServer, type Server } from '../spiffe/helpers.js';
import { hasTool } from '../tsa/helpers.js';
import { CodeSigningCa } from '../../host/ca/core.js';
import { clientKey, startCa, TestIssuer, type RunningCa } from './fixtures.js';
import { makeRoot } from '../verify/forge.js';

const TD = 'prod.acme.test';
const SUB_ID = `spiffe://${TD}/cairn/ca`;
const BUILD_ID = `spiffe://${TD}/build`;
const haveOpenssl = hasTool('openssl');
if (!haveOpenssl) console.warn('test/ca/subordinate.test.ts: the openssl checks are skipped: openssl not found on PATH (CI installs it via apt)');

let dir: string;
let acme: Server;
let pub: RunningStack;
let sub: Standalone;
let subDir: string;

const pem = (der: Uint8Array): string => new X509Certificate(der).toString();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-subca-'));
  acme = await startServer(TD);
  const uid = process.getuid!();
  for (const [id, hint] of [[SUB_ID, 'ca'], [BUILD_ID, 'build'], [`spiffe://${TD}/rogue`, 'rogue']] as const) {
    const r = await acme.api('POST', '/admin/v1/entries', { spiffeId: id, parentId: `spiffe://${TD}/spire/agent/local`, selectors: [`unix:uid:${uid}`], hint });
    expect(r.status).toBe(201);
  }
  const acmeIssuer = { 'issuer-url': acme.oidc, 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': TD, 'insecure-loopback-http': true };
  const env = process.env.SPIFFE_ENDPOINT_SOCKET;
  delete process.env.SPIFFE_ENDPOINT_SOCKET;
  pub = await startStack({
    dataDir: join(dir, 'public'), host: '127.0.0.1', port: 0, trustDomain: 'public.test', operator: 'public.test',
    config: { oidcIssuers: { [acme.oidc]: acmeIssuer }, ca: { subordinates: { validity: '720h', registered: [{ 'spiffe-id': SUB_ID }] } } },
  });
  if (env) process.env.SPIFFE_ENDPOINT_SOCKET = env;
  const root = JSON.parse(await readFile(pub.ready.trustedRoot, 'utf8'));
  const ctPem = createPublicKey({ key: Buffer.from(root.ctlogs[0].publicKey.rawBytes, 'base64'), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }) as string;
  subDir = join(dir, 'sub');
  const cfg = join(dir, 'sub-ca.json');
  await writeFile(cfg, JSON.stringify({
    'oidc-issuers': { [acme.oidc]: acmeIssuer },
    parent: { url: pub.ready.ca, socket: acme.socket, spiffeId: SUB_ID },
    ct: { url: pub.ready.ct, publicKey: ctPem, transport: 'http' },
  }));
  sub = await startCaStandalone({ dataDir: subDir, port: 0, host: '127.0.0.1', config: cfg });
}, 90_000);

afterAll(async () => {
  await sub?.close();
  await pub?.close();
  await acme?.close();
  await rm(dir, { recursive: true, force: true });
});

const buildToken = async (): Promise<string> => (await fetchJwtSvid(acme.socket, 'sigstore', BUILD_ID)).token;

async function subordinateChain(): Promise<x509.X509Certificate[]> {
  return (await readFile(join(subDir, 'sub-chain.pem'), 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new x509.X509Certificate(p));
}

describe('the parent CA', () => {
  it('issued the subordinate a CA certificate constrained to its trust domain, logged in CT, and stored it 0600', async () => {
    const [cert, root] = await subordinateChain();
    expect(cert!.subject).toContain(`CN=${TD}`);
    const bc = cert!.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(true);
    expect(bc.pathLength).toBe(0);
    expect(bc.critical).toBe(true);
    const nc = cert!.extensions.find((e) => e.type === '2.5.29.30')!;
    expect(nc.critical).toBe(true);
    expect(cert!.extensions.some((e) => e.type === '1.3.6.1.4.1.11129.2.4.2')).toBe(true); // embedded SCT
    const days = (cert!.notAfter.getTime() - cert!.notBefore.getTime()) / 86_400_000;
    expect(days).toBe(30);
    // Signed by the public root (pathLen 1), not by the leaf-issuing intermediate (pathLen 0).
    const publicRoot = JSON.parse(await readFile(pub.ready.trustedRoot, 'utf8')).certificateAuthorities[0].certChain.certificates.at(-1).rawBytes;
    expect(Buffer.from(root!.rawData).toString('base64')).toBe(publicRoot);
    expect(await cert!.verify({ publicKey: root!.publicKey, signatureOnly: true })).toBe(true);
    expect((await stat(join(subDir, 'sub-key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(subDir, 'sub-passphrase'))).mode & 0o777).toBe(0o600);
  });

  it('refuses identities that are not registered, requests without a token, and broken CSRs', async () => {
    const url = `${pub.ready.ca}/cairn/v1/subordinate-ca`;
    const csr = (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']), signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } })).toString('pem');
    const post = async (body: unknown): Promise<{ status: number; json: { error?: string } }> => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as { error?: string } };
    };
    const rogue = (await fetchJwtSvid(acme.socket, 'sigstore', `spiffe://${TD}/rogue`)).token;
    const a = await post({ credentials: { oidcIdentityToken: rogue }, certificateSigningRequest: Buffer.from(csr).toString('base64') });
    expect(a.status).toBe(403);
    expect(a.json.error).toBe('CA_NOT_REGISTERED');
    const b = await post({ certificateSigningRequest: Buffer.from(csr).toString('base64') });
    expect(b.status).toBe(401);
    const good = (await fetchJwtSvid(acme.socket, 'sigstore', SUB_ID)).token;
    const c = await post({ credentials: { oidcIdentityToken: good }, certificateSigningRequest: Buffer.from('not a csr').toString('base64') });
    expect(c.status).toBe(400);
    expect(c.json.error).toBe('CA_BAD_REQUEST');
    const d = await post({ credentials: { oidcIdentityToken: good } });
    expect(d.status).toBe(400);
    // The audience is checked as for leaves.
    const other = (await fetchJwtSvid(acme.socket, 'not-sigstore', SUB_ID)).token;
    const e = await post({ credentials: { oidcIdentityToken: other }, certificateSigningRequest: Buffer.from(csr).toString('base64') });
    expect(e.status).toBe(401);
  });

  it('will not sign subordinates with a CA whose pathLen is 0', async () => {
    const d = await mkdtemp(join(tmpdir(), 'cairn-subca-inter-'));
    try {
      const inter = await loadFileCa(await ensureGeneratedCa(d));
      const issuers = parseIssuersConfig({ 'oidc-issuers': { [acme.oidc]: { 'issuer-url': acme.oidc, 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': TD, 'insecure-loopback-http': true } } });
      const config = parseSubordinatesConfig({ registered: [{ 'spiffe-id': SUB_ID }] }, issuers);
      expect(() => new SubordinateIssuer({ issuers, verifier: new TokenVerifier(issuers), config, parent: inter })).toThrow(/pathLen 0/);
      // Registering an ID whose trust domain has no spiffe issuer is a config error.
      expect(() => parseSubordinatesConfig({ registered: [{ 'spiffe-id': 'spiffe://other.test/ca' }] }, issuers)).toThrow(CaError);
      expect(() => parseSubordinatesConfig({ registered: [{ 'spiffe-id': SUB_ID }], validity: '9999h' }, issuers)).toThrow(/validity/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});

describe('a build in prod.acme.test signing through its own subordinate CA', () => {
  it('makes a bundle that Cairn verifies against the public trusted root alone', async () => {
    const artifact = join(dir, 'app.tar');
    await writeFile(artifact, `release ${Math.random()}`);
    const bundle = await signArtifact(await readFile(artifact), { endpoints: { ca: sub.ready.ca!, log: pub.ready.log, tsa: pub.ready.tsa }, token: buildToken });
    // The bundle carries the subordinate (v0.2 x509CertificateChain): the verifier cannot know it otherwise.
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle+json;version=0.2');
    const vm = bundle.verificationMaterial as { x509CertificateChain: { certificates: { rawBytes: string }[] } };
    expect(vm.x509CertificateChain.certificates).toHaveLength(2);
    const file = join(dir, 'app.tar.sigstore.json');
    await writeFile(file, JSON.stringify(bundle));
    const r = await verifyFiles({ artifact, bundle: file, trustedRoot: pub.ready.trustedRoot, policy: { identity: BUILD_ID, issuer: acme.oidc } });
    expect(r.identity).toBe(BUILD_ID);

    // Without the subordinate in the bundle there is no path to the public root.
    const leafOnly = { ...bundle, verificationMaterial: { ...vm, x509CertificateChain: { certificates: vm.x509CertificateChain.certificates.slice(0, 1) } } };
    await writeFile(file, JSON.stringify(leafOnly));
    await expect(verifyFiles({ artifact, bundle: file, trustedRoot: pub.ready.trustedRoot, policy: { identity: BUILD_ID, issuer: acme.oidc } })).rejects.toMatchObject({ code: 'CERTIFICATE_UNTRUSTED' });

    if (haveOpenssl) {
      const leafPem = pem(Buffer.from(vm.x509CertificateChain.certificates[0]!.rawBytes, 'base64'));
      const subPem = pem(Buffer.from(vm.x509CertificateChain.certificates[1]!.rawBytes, 'base64'));
      const [, root] = await subordinateChain();
      await writeFile(join(dir, 'leaf.pem'), leafPem);
      await writeFile(join(dir, 'sub.pem'), subPem);
      await writeFile(join(dir, 'root.pem'), root!.toString('pem'));
      const out = execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'sub.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
      expect(out).toContain('OK');
    }
  });

  it('a subordinate issuing outside its trust domain is refused by Cairn and by openssl', async () => {
    // The subordinate's own key and certificate, used by a CA that trusts other issuers: what a
    // compromised or misconfigured subordinate server could do.
    const stolen: LoadedCa = await loadFileCa({ key: join(subDir, 'sub-key.pem'), chain: join(subDir, 'sub-chain.pem'), passphraseFile: join(subDir, 'sub-passphrase') });
    const t = await TestIssuer.start();
    let rogue: RunningCa | undefined;
    try {
      const common = { 'client-id': 'sigstore', 'insecure-loopback-http': true };
      rogue = await startCa({ 'oidc-issuers': { [t.url('spiffe')]: { ...common, 'issuer-url': t.url('spiffe'), type: 'spiffe', 'spiffe-trust-domain': 'public.test' }, [t.url('email')]: { ...common, 'issuer-url': t.url('email'), type: 'email' } } }, { issuing: stolen });
      const cases = [
        { token: () => t.mint('spiffe', { sub: 'spiffe://public.test/release' }), identity: 'spiffe://public.test/release', issuer: t.url('spiffe'), why: /outside the permitted subtrees/ },
        { token: () => t.mint('email', { sub: 'x', email: 'dev@public.test', email_verified: true }), identity: 'dev@public.test', issuer: t.url('email'), why: /outside the permitted subtrees/ },
      ];
      for (const c of cases) {
        const artifact = join(dir, 'rogue.tar');
        await writeFile(artifact, `rogue ${Math.random()}`);
        const bundle = await signArtifact(await readFile(artifact), { endpoints: { ca: rogue.url, log: pub.ready.log, tsa: pub.ready.tsa }, token: c.token });
        const file = join(dir, 'rogue.sigstore.json');
        await writeFile(file, JSON.stringify(bundle));
        const err = await verifyFiles({ artifact, bundle: file, trustedRoot: pub.ready.trustedRoot, policy: { identity: c.identity, issuer: c.issuer } }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'CERTIFICATE_UNTRUSTED' });
        expect((err as Error).message).toMatch(c.why);
        if (haveOpenssl) {
          const vm = bundle.verificationMaterial as { x509CertificateChain: { certificates: { rawBytes: string }[] } };
          await writeFile(join(dir, 'rogue-leaf.pem'), pem(Buffer.from(vm.x509CertificateChain.certificates[0]!.rawBytes, 'base64')));
          await writeFile(join(dir, 'sub.pem'), stolen.chainPem[0]!);
          await writeFile(join(dir, 'root.pem'), stolen.chainPem[1]!);
          let stderr = '';
          try {
            execFileSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'sub.pem'), join(dir, 'rogue-leaf.pem')], { stdio: 'pipe' });
          } catch (e) {
            stderr = String((e as { stdout?: Buffer }).stdout ?? '') + String((e as { stderr?: Buffer }).stderr ?? '');
          }
          expect(stderr).toMatch(/permitted subtree violation/);
        }
      }
    } finally {
      await rogue?.close();
      await t.close();
      await stolen.signer.close();
    }
  });
});

describe('renewal (the "certbot")', () => {
  it('renews with a fresh key, swaps the issuing CA, and reuses a stored certificate on restart', async () => {
    const d = await mkdtemp(join(tmpdir(), 'cairn-subca-client-'));
    let renewed: LoadedCa | undefined;
    const client = await SubordinateClient.start({ dataDir: d, parent: { url: pub.ready.ca, socket: acme.socket, spiffeId: SUB_ID }, onRenew: (c) => (renewed = c) });
    try {
      const first = client.current!;
      const acmeIssuer = { 'issuer-url': acme.oidc, 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': TD, 'insecure-loopback-http': true };
      const issuers = parseIssuersConfig({ 'oidc-issuers': { [acme.oidc]: acmeIssuer } });
      const csa = new CodeSigningCa({ issuers, verifier: new TokenVerifier(issuers), ca: first });
      const leafFrom = async (): Promise<string[]> => {
        const key = clientKey();
        return (await csa.signingCert({ token: await buildToken(), publicKey: key.pem, proofOfPossession: Buffer.from(key.prove(BUILD_ID), 'base64') })).chainPem;
      };
      const before = await leafFrom();
      const second = await client.renew();
      expect(renewed).toBe(second);
      csa.setIssuingCa(second);
      const after = await leafFrom();
      expect(Buffer.from(second.signer.publicKeySpki).equals(Buffer.from(first.signer.publicKeySpki))).toBe(false);
      expect(second.cert.serialNumber).not.toBe(first.cert.serialNumber);
      expect(before[1]).toBe(first.chainPem[0]);
      expect(after[1]).toBe(second.chainPem[0]);
      expect(new X509Certificate(after[0]!).verify(new X509Certificate(second.chainPem[0]!).publicKey)).toBe(true);
      expect(new X509Certificate(after[0]!).verify(new X509Certificate(first.chainPem[0]!).publicKey)).toBe(false);
      // The stored files are the renewed ones; a restart picks them up instead of asking again
      // (the parent URL here leads nowhere).
      const again = await SubordinateClient.start({ dataDir: d, parent: { url: 'http://127.0.0.1:1', socket: acme.socket, spiffeId: SUB_ID } });
      expect(again.current!.cert.serialNumber).toBe(second.cert.serialNumber);
      again.close();
    } finally {
      client.close();
      await rm(d, { recursive: true, force: true });
    }
  });

  it('the parent\'s chain must link: each certificate issued and signed by the next', async () => {
    const d = await mkdtemp(join(tmpdir(), 'cairn-subca-chain-'));
    const client = await SubordinateClient.start({ dataDir: d, parent: { url: pub.ready.ca, socket: acme.socket, spiffeId: SUB_ID } });
    try {
      const chain = client.current!.chainPem;
      expect(chain.length).toBeGreaterThanOrEqual(2);
      const spki = new X509Certificate(chain[0]!).publicKey.export({ format: 'der', type: 'spki' });
      expect(() => checkParentChain(chain, spki)).not.toThrow();
      // The same certificate for our key, but a chain that ends somewhere else.
      const other = new X509Certificate((await makeRoot('Another CA')).der).toString();
      expect(() => checkParentChain([chain[0]!, other], spki)).toThrow(expect.objectContaining({ code: 'CA_PARENT_FAILED', message: expect.stringMatching(/not issued by the next/) }));
      // And what was already checked: another key, no chain.
      expect(() => checkParentChain(chain, createPublicKey(clientKey().pem).export({ format: 'der', type: 'spki' }))).toThrow(expect.objectContaining({ code: 'CA_PARENT_FAILED', message: expect.stringMatching(/another key/) }));
      expect(() => checkParentChain([], spki)).toThrow(expect.objectContaining({ code: 'CA_PARENT_FAILED' }));
    } finally {
      client.close();
      await rm(d, { recursive: true, force: true });
    }
  });

  it('with parent.roots pinned, the chain must end at one of them; a stored chain that does not is not used', async () => {
    const d = await mkdtemp(join(tmpdir(), 'cairn-subca-roots-'));
    const other = new X509Certificate((await makeRoot('Another CA')).der).toString();
    await writeFile(join(d, 'other-root.pem'), other);
    for (const sub of ['ok', 'refused']) await mkdir(join(d, sub));
    try {
      // The parent's real root, taken from its trusted root: the chain ends at it.
      const trusted = JSON.parse(await readFile(pub.ready.trustedRoot, 'utf8'));
      const certs = trusted.certificateAuthorities[0].certChain.certificates as { rawBytes: string }[];
      await writeFile(join(d, 'parent-root.pem'), pem(Buffer.from(certs[certs.length - 1]!.rawBytes, 'base64')));
      const client = await SubordinateClient.start({ dataDir: join(d, 'ok'), parent: { url: pub.ready.ca, socket: acme.socket, spiffeId: SUB_ID, roots: join(d, 'parent-root.pem') } });
      const chain = client.current!.chainPem;
      client.close();
      const spki = new X509Certificate(chain[0]!).publicKey.export({ format: 'der', type: 'spki' });
      const [root] = await loadParentRoots(join(d, 'parent-root.pem'));
      expect(() => checkParentChain(chain, spki, [root!])).not.toThrow();
      // A chain that stops below the root: its last certificate must be issued by a pinned root.
      expect(() => checkParentChain(chain.slice(0, -1), spki, [root!])).not.toThrow();
      // A parent whose chain ends elsewhere is refused before anything is stored.
      const pinnedOther = { url: pub.ready.ca, socket: acme.socket, spiffeId: SUB_ID, roots: join(d, 'other-root.pem') };
      await expect(SubordinateClient.start({ dataDir: join(d, 'refused'), parent: pinnedOther })).rejects.toMatchObject({ code: 'CA_PARENT_FAILED', message: expect.stringMatching(/pinned root/) });
      await expect(stat(join(d, 'refused', 'sub-chain.pem'))).rejects.toThrow();
      // The certificate stored under the first pin is not reused once the pin changes: the start
      // asks the parent again (which leads nowhere here), instead of serving it.
      await expect(SubordinateClient.start({ dataDir: join(d, 'ok'), parent: { ...pinnedOther, url: 'http://127.0.0.1:1' } })).rejects.toMatchObject({ code: 'CA_PARENT_FAILED' });
      // A pin file that holds no CA certificate is a configuration error.
      await writeFile(join(d, 'junk.pem'), 'not a certificate');
      await expect(loadParentRoots(join(d, 'junk.pem'))).rejects.toMatchObject({ code: 'CA_BAD_CONFIG' });
      await expect(loadParentRoots(join(d, 'missing.pem'))).rejects.toMatchObject({ code: 'CA_BAD_CONFIG' });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('a renewal that completes after close switches to nothing and hands nothing on', async () => {
    const d = await mkdtemp(join(tmpdir(), 'cairn-subca-close-'));
    let renewals = 0;
    const client = await SubordinateClient.start({ dataDir: d, parent: { url: pub.ready.ca, socket: acme.socket, spiffeId: SUB_ID }, onRenew: () => void renewals++ });
    try {
      const first = client.current!;
      const inFlight = client.renew(); // the parent is still answering when the server closes
      client.close();
      const got = await inFlight;
      expect(renewals).toBe(0);
      expect(client.current).toBe(first);
      expect(got).toBe(first);
    } finally {
      client.close();
      await rm(d, { recursive: true, force: true });
    }
  });

  it('fails with CA_PARENT_FAILED when the parent refuses, and keeps nothing', async () => {
    const d = await mkdtemp(join(tmpdir(), 'cairn-subca-refused-'));
    try {
      await expect(SubordinateClient.start({ dataDir: d, parent: { url: pub.ready.ca, socket: acme.socket, spiffeId: `spiffe://${TD}/rogue` } })).rejects.toMatchObject({ code: 'CA_PARENT_FAILED' });
      await expect(stat(join(d, 'sub-chain.pem'))).rejects.toThrow();
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
