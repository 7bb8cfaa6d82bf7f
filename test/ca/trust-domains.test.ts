/**
 * The seed's third deployment model on loopback: a public stack (`cairn up`) with trust-domain
 * registration open; the organisation prod.acme.test (its own SPIFFE server, no OIDC discovery the
 * public CA could reach) registers its bundle and build identity, answers the http-01 challenge,
 * and its build workload then signs with a JWT-SVID through the public CA. The bundle verifies
 * with Cairn and with sigstore-js (@sigstore/verify) against the public trusted root, and the
 * registration survives a restart of the stack.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { registrationAudience } from '../../host/ca/trust-domains.js';
import { startStack, type RunningStack } from '../../host/cli/up.js';
import { fetchJwtSvid } from '../../host/signer/identity.js';
import { signArtifact } from '../../host/signer/sign.js';
import { verifyFiles } from '../../host/verify/index.js';
import { startServer, type Server } from '../spiffe/helpers.js';
import { clientKey, post } from './fixtures.js';

const TD = 'prod.acme.test';
const BIN = join(import.meta.dirname, '../../bin/cairn.js');
const run = promisify(execFile);
const BUILD_ID = `spiffe://${TD}/build`;
const REGISTRAR_ID = `spiffe://${TD}/registrar`;
const SUB_ID = `spiffe://${TD}/cairn/ca`;

let dir: string;
let acme: Server;
let pub: RunningStack;
let answers: Map<string, string>;
let hostsSeen: string[];
let challengeServer: HttpServer;
let bundle: Record<string, unknown>;

async function startPublic(): Promise<RunningStack> {
  const env = process.env.SPIFFE_ENDPOINT_SOCKET;
  delete process.env.SPIFFE_ENDPOINT_SOCKET;
  try {
    const port = (challengeServer.address() as { port: number }).port;
    return await startStack({
      dataDir: join(dir, 'public'), host: '127.0.0.1', port: 0, trustDomain: 'public.test', operator: 'public.test',
      config: { ca: { trustDomains: { challenge: 'http-01', resolve: { [TD]: `127.0.0.1:${port}`, 'cli.acme.test': `127.0.0.1:${port}` }, insecureLoopbackIssuers: true }, subordinates: { registered: [{ 'spiffe-id': SUB_ID }] } } },
    });
  } finally {
    if (env) process.env.SPIFFE_ENDPOINT_SOCKET = env;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-td-'));
  answers = new Map();
  hostsSeen = [];
  challengeServer = createServer((req, res) => {
    hostsSeen.push(String(req.headers.host));
    const a = answers.get(req.url ?? '');
    if (a === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(a);
  });
  await new Promise<void>((r) => challengeServer.listen(0, '127.0.0.1', r));
  acme = await startServer(TD);
  const uid = process.getuid!();
  for (const [id, hint] of [[BUILD_ID, 'build'], [REGISTRAR_ID, 'registrar'], [SUB_ID, 'ca']] as const) {
    const r = await acme.api('POST', '/admin/v1/entries', { spiffeId: id, parentId: `spiffe://${TD}/spire/agent/local`, selectors: [`unix:uid:${uid}`], hint });
    expect(r.status).toBe(201);
  }
  bundle = (await (await fetch(acme.started.ready.bundle!)).json()) as Record<string, unknown>;
  pub = await startPublic();
}, 90_000);

afterAll(async () => {
  await pub?.close();
  await acme?.close();
  await new Promise((r) => challengeServer?.close(r));
  await rm(dir, { recursive: true, force: true });
});

const url = (p: string): string => `${pub.ready.ca}/cairn/v1/trust-domains${p}`;
const proofFor = async (b: unknown, ids: string[], id = REGISTRAR_ID): Promise<string> => (await fetchJwtSvid(acme.socket, registrationAudience(TD, b, ids), id)).token;
const buildToken = async (): Promise<string> => (await fetchJwtSvid(acme.socket, 'sigstore', BUILD_ID)).token;
const signingCert = async (token: string): Promise<{ status: number; json: Record<string, unknown> }> => {
  const key = clientKey();
  const sub = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sub as string;
  return post(`${pub.ready.ca}/api/v2/signingCert`, { credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: { algorithm: 'ECDSA', content: key.pem }, proofOfPossession: key.prove(sub) } });
};

describe('registration', () => {
  it('refuses proofs that do not come from the uploaded bundle or are bound to another request', async () => {
    const ids = [BUILD_ID];
    // A bundle whose only JWT key is not the one that signed the proof.
    const { publicKey } = await generateKeyPair('ES256');
    const foreign = { keys: [{ ...(await exportJWK(publicKey)), use: 'jwt-svid', kid: 'foreign' }] };
    const a = await post(url(''), { trustDomain: TD, bundle: foreign, spiffeIds: ids, proof: await proofFor(foreign, ids) });
    expect(a.status).toBe(403);
    expect(a.json.error).toBe('CA_BAD_PROOF');
    // A good proof for one list of IDs does not register another.
    const b = await post(url(''), { trustDomain: TD, bundle, spiffeIds: [`spiffe://${TD}/*`], proof: await proofFor(bundle, ids) });
    expect(b.status).toBe(403);
    expect(b.json.error).toBe('CA_BAD_PROOF');
    // Malformed requests.
    for (const body of [
      { trustDomain: 'NOT A DOMAIN', bundle, spiffeIds: ids, proof: 'x' },
      { trustDomain: TD, bundle: { keys: 'no' }, spiffeIds: ids, proof: 'x' },
      { trustDomain: TD, bundle, spiffeIds: ['spiffe://other.test/x'], proof: 'x' },
      { trustDomain: TD, bundle, spiffeIds: [], proof: 'x' },
    ]) {
      const r = await post(url(''), body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.json.error).toBe('CA_BAD_REQUEST');
    }
    expect((await fetch(url(`/${TD}`))).status).toBe(404);
  });

  it('is pending until the http-01 answer is published, then certifies only the registered IDs', async () => {
    const ids = [BUILD_ID];
    const r = await post(url(''), { trustDomain: TD, bundle, spiffeIds: ids, proof: await proofFor(bundle, ids) });
    expect(r.status, r.text).toBe(201);
    expect(r.json.status).toBe('pending');
    const ch = r.json.challenge as { type: string; url: string; token: string; keyAuthorization: string };
    expect(ch.type).toBe('http-01');
    expect(ch.url).toBe(`http://${TD}/.well-known/cairn-challenge/${ch.token}`);

    // Pending: the trust domain's tokens are not accepted yet (no OIDC issuer knows them either).
    expect((await signingCert(await buildToken())).json.error).toBe('CA_UNKNOWN_ISSUER');
    // Not published, then published wrong: refused.
    const v1 = await post(url(`/${TD}/validate`), {});
    expect(v1.status).toBe(403);
    expect(v1.json.error).toBe('CA_CHALLENGE_FAILED');
    answers.set(`/.well-known/cairn-challenge/${ch.token}`, `${ch.token}.wrong`);
    expect((await post(url(`/${TD}/validate`), {})).json.error).toBe('CA_CHALLENGE_FAILED');
    answers.set(`/.well-known/cairn-challenge/${ch.token}`, ch.keyAuthorization);
    const v2 = await post(url(`/${TD}/validate`), {});
    expect(v2.status, v2.text).toBe(200);
    expect(v2.json.status).toBe('active');
    expect(hostsSeen).toContain(TD);
    // Registering again is a conflict; the bundle is replaced with PUT.
    expect((await post(url(''), { trustDomain: TD, bundle, spiffeIds: ids, proof: await proofFor(bundle, ids) })).status).toBe(409);

    const ok = await signingCert(await buildToken());
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    // Another workload of the same trust domain is not registered.
    const other = await signingCert((await fetchJwtSvid(acme.socket, 'sigstore', REGISTRAR_ID)).token);
    expect(other.status).toBe(403);
    expect(other.json.error).toBe('CA_NOT_REGISTERED');
    // The audience is checked.
    expect((await signingCert((await fetchJwtSvid(acme.socket, 'not-sigstore', BUILD_ID)).token)).status).toBe(401);
  });

  it('a bundle is replaced only with a proof from the registered bundle', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const next = { ...bundle, keys: [...(bundle.keys as unknown[]), { ...(await exportJWK(publicKey)), use: 'jwt-svid', kid: 'next' }] };
    const ids = [BUILD_ID];
    // Signed only by the new key: refused.
    const self = await new SignJWT({ sub: REGISTRAR_ID, aud: registrationAudience(TD, next, ids) })
      .setProtectedHeader({ alg: 'ES256', kid: 'next', typ: 'JWT' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    const bad = await fetch(url(`/${TD}`), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: next, spiffeIds: ids, proof: self }) });
    expect(bad.status).toBe(403);
    // Signed by the registered key: accepted, and the new key now verifies the trust domain's tokens.
    const good = await fetch(url(`/${TD}`), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: next, spiffeIds: ids, proof: await proofFor(next, ids) }) });
    expect(good.status).toBe(200);
    const rotated = await new SignJWT({ sub: BUILD_ID, aud: 'sigstore' }).setProtectedHeader({ alg: 'ES256', kid: 'next', typ: 'JWT' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    expect((await signingCert(rotated)).status).toBe(200);
  });

  it('a registration may name the trust domain\'s OIDC issuer instead of JWT keys, checked by its host', async () => {
    const x509Only = { ...bundle, keys: (bundle.keys as { use: string }[]).filter((k) => k.use === 'x509-svid') };
    const ids = [BUILD_ID];
    // An issuer outside the trust domain's name is refused (loopback is allowed only by insecureLoopbackIssuers).
    const off = await fetch(url(`/${TD}`), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: x509Only, spiffeIds: ids, oidcIssuer: 'https://oidc.other.test', proof: 'x' }) });
    expect(off.status).toBe(400);
    const aud = registrationAudience(TD, x509Only, ids, acme.oidc);
    const put = await fetch(url(`/${TD}`), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: x509Only, spiffeIds: ids, oidcIssuer: acme.oidc, proof: (await fetchJwtSvid(acme.socket, aud, REGISTRAR_ID)).token }) });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(((await put.json()) as { oidcIssuer: string }).oidcIssuer).toBe(acme.oidc);
    // Tokens now go through the issuer's discovery: the acme server's own JWT-SVIDs pass, and the
    // certificate names the issuer...
    const ok = await signingCert(await buildToken());
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    const leaf = new (await import('node:crypto')).X509Certificate(((ok.json.signedCertificateEmbeddedSct as { chain: { certificates: string[] } }).chain.certificates[0])!);
    expect(leaf.toLegacyObject().subjectaltname).toBe(`URI:${BUILD_ID}`);
    // ...and a key that was only ever in an uploaded bundle no longer is trusted.
    const { privateKey } = await generateKeyPair('ES256');
    const stray = await new SignJWT({ sub: BUILD_ID, aud: 'sigstore', iss: acme.oidc }).setProtectedHeader({ alg: 'ES256', kid: 'next', typ: 'JWT' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    expect((await signingCert(stray)).status).toBe(401);
    // Back to the bundle with JWT keys, authorised through the issuer's keys.
    const back = await fetch(url(`/${TD}`), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle, spiffeIds: ids, proof: (await fetchJwtSvid(acme.socket, registrationAudience(TD, bundle, ids), REGISTRAR_ID)).token }) });
    expect(back.status).toBe(200);
  });

  it('a registered trust domain with no OIDC issuer can also get its subordinate CA certified', async () => {
    const current = (await (await fetch(url(`/${TD}`))).json()) as { bundle: unknown };
    const ids = [BUILD_ID, SUB_ID];
    const put = await fetch(url(`/${TD}`), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: current.bundle, spiffeIds: ids, proof: await proofFor(current.bundle, ids) }) });
    expect(put.status).toBe(200);
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const x509 = await import('@peculiar/x509');
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=acme', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    const r = await post(`${pub.ready.ca}/cairn/v1/subordinate-ca`, { credentials: { oidcIdentityToken: (await fetchJwtSvid(acme.socket, 'sigstore', SUB_ID)).token }, certificateSigningRequest: Buffer.from(csr.toString('pem')).toString('base64') });
    expect(r.status, r.text).toBe(201);
    expect(r.json.trustDomain).toBe(TD);
  });
});

describe('the CLI (cairn trust-domain)', () => {
  it('registers, validates and shows a second trust domain', async () => {
    const TD2 = 'cli.acme.test';
    const other = await startServer(TD2);
    try {
      const uid = process.getuid!();
      for (const id of [`spiffe://${TD2}/build`, `spiffe://${TD2}/registrar`]) {
        expect((await other.api('POST', '/admin/v1/entries', { spiffeId: id, parentId: `spiffe://${TD2}/spire/agent/local`, selectors: [`unix:uid:${uid}`] })).status).toBe(201);
      }
      const cli = async (...args: string[]): Promise<Record<string, unknown>> => JSON.parse((await run(process.execPath, [BIN, 'trust-domain', ...args])).stdout) as Record<string, unknown>;
      const r = await cli('register', '--ca', pub.ready.ca, '--trust-domain', TD2, '--spiffe-id', `spiffe://${TD2}/build`, '--bundle-url', other.started.ready.bundle!, '--socket', other.socket, '--as', `spiffe://${TD2}/registrar`);
      expect(r.status).toBe('pending');
      const ch = r.challenge as { token: string; keyAuthorization: string };
      await expect(run(process.execPath, [BIN, 'trust-domain', 'validate', '--ca', pub.ready.ca, TD2])).rejects.toMatchObject({ stderr: expect.stringMatching(/CA_CHALLENGE_FAILED/) });
      expect((await cli('show', '--ca', pub.ready.ca, TD2)).status).toBe('pending');
      answers.set(`/.well-known/cairn-challenge/${ch.token}`, ch.keyAuthorization);
      expect((await cli('validate', '--ca', pub.ready.ca, TD2)).status).toBe('active');
      const shown = await cli('show', '--ca', pub.ready.ca, TD2);
      expect(shown.spiffeIds).toEqual([`spiffe://${TD2}/build`]);
      expect(hostsSeen).toContain(TD2);
      await expect(run(process.execPath, [BIN, 'trust-domain', 'register', '--ca', pub.ready.ca, '--trust-domain', TD2, '--spiffe-id', `spiffe://${TD2}/build`])).rejects.toMatchObject({ stderr: expect.stringMatching(/--bundle/) });
    } finally {
      await other.close();
    }
  }, 60_000);
});

describe('signing as a registered trust domain', () => {
  it('gives bundles that Cairn and sigstore-js verify, with the trust domain as issuer, across a restart', async () => {
    const check = async (): Promise<void> => {
      const artifact = join(dir, 'app.tar');
      await writeFile(artifact, `release ${Math.random()}`);
      const b = await signArtifact(await readFile(artifact), { endpoints: { ca: pub.ready.ca, log: pub.ready.log, tsa: pub.ready.tsa }, token: buildToken });
      expect(b.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
      const file = join(dir, 'app.tar.sigstore.json');
      await writeFile(file, JSON.stringify(b));
      const r = await verifyFiles({ artifact, bundle: file, trustedRoot: pub.ready.trustedRoot, policy: { identity: BUILD_ID, issuer: `spiffe://${TD}` } });
      expect(r.identity).toBe(BUILD_ID);
      const root = TrustedRoot.fromJSON(JSON.parse(await readFile(pub.ready.trustedRoot, 'utf8')));
      new Verifier(toTrustMaterial(root), { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 })
        .verify(toSignedEntity(bundleFromJSON(b), await readFile(artifact)), { subjectAlternativeName: BUILD_ID, extensions: { issuer: `spiffe://${TD}` } });
    };
    await check();
    await pub.close();
    pub = await startPublic();
    const r = await fetch(url(`/${TD}`));
    expect(r.status).toBe(200);
    expect(((await r.json()) as { status: string }).status).toBe('active');
    await check();
  }, 60_000);
});
