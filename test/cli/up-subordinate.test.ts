/**
 * `cairn up` as a subordinate CA in one command (the seed's fourth model): the stack's config
 * names a parent CA (`ca: { parent: { url } }`), and the stack starts even though the parent does
 * not certify it yet.
 *  - Its CA answers 503 CA_PENDING with Retry-After, and its /readyz says why.
 *  - Its trusted_root.json lists no CA yet.
 *  - Once the parent is up and has the stack's trust domain registered, the CA gets its
 *    name-constrained certificate over the stack's own Workload API, with no restart.
 *  - The trust files are written again, anchored at the parent's root and published through TUF.
 *  - A workload of the stack signs through it, and the bundle verifies against the stack's
 *    trusted root and against the parent's.
 *
 * The parent is a second stack (`cairn up` with `ca.subordinates`), started after the first, on
 * fixed ports so that the first can name its URL in advance.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../../host/cli/up.js';
import { fetchJwtSvid } from '../../host/signer/identity.js';
import { signArtifact } from '../../host/signer/sign.js';
import { fetchTrustedRootViaTuf } from '../../host/trust/tuf-client.js';
import { verifyFiles } from '../../host/verify/index.js';

const TD = 'acme.up.test';
const CA_ID = `spiffe://${TD}/cairn/ca`;

let dir: string;
let child: RunningStack;
let parent: RunningStack | undefined;
let parentBase: number;

/** A base port N with N..N+4 free on 127.0.0.1 (a stack with a fixed --port uses five). */
async function freeRange(): Promise<number> {
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let i = 0; i < 5 && ok; i++) ok = await free(base + i);
    if (ok) return base;
  }
  throw new Error('no five consecutive free ports');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-up-sub-'));
  parentBase = await freeRange();
  const env = process.env.SPIFFE_ENDPOINT_SOCKET;
  delete process.env.SPIFFE_ENDPOINT_SOCKET;
  try {
    child = await startStack({
      dataDir: join(dir, 'acme'), host: '127.0.0.1', port: 0, trustDomain: TD, operator: TD, logLevel: 'silent',
      config: { ca: { parent: { url: `http://127.0.0.1:${parentBase + 1}`, retryMaxSeconds: 2 } } },
    });
  } finally {
    if (env) process.env.SPIFFE_ENDPOINT_SOCKET = env;
  }
}, 120_000);
afterAll(async () => {
  await child?.close();
  await parent?.close();
  await rm(dir, { recursive: true, force: true });
});

async function until(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('starts without a certificate: CA_PENDING with Retry-After, unready, and no CA in the trusted root', async () => {
  const r = await fetch(`${child.ready.ca}/api/v2/signingCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(r.status).toBe(503);
  expect(r.headers.get('retry-after')).toBe('5');
  expect(((await r.json()) as { error: string }).error).toBe('CA_PENDING');
  const ready = await fetch(`${child.ready.ca}/readyz`);
  expect(ready.status).toBe(503);
  expect(((await ready.json()) as { reason: string }).reason).toMatch(/parent CA/);
  // The stack's own /readyz aggregates its services': unready, naming the CA.
  const stackReady = await fetch(child.ready.tuf.replace(/\/tuf$/, '/readyz'));
  expect(stackReady.status).toBe(503);
  expect(((await stackReady.json()) as { reason: string }).reason).toMatch(new RegExp(`^${child.ready.ca}: .*parent CA`));
  const root = JSON.parse(await readFile(child.ready.trustedRoot, 'utf8')) as { certificateAuthorities: unknown[]; tlogs: unknown[] };
  expect(root.certificateAuthorities).toEqual([]);
  expect(root.tlogs).toHaveLength(1); // the rest of the stack is up
});

it('gets its certificate once the parent registers it, with no restart; the stack signs and both trusted roots verify', async () => {
  // The parent: a public stack whose CA certifies the subordinate's ID, trusting the stack's
  // JWT-SVIDs through its OIDC discovery.
  const issuer = { 'issuer-url': child.ready.oidc, 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': TD, 'insecure-loopback-http': true };
  parent = await startStack({
    dataDir: join(dir, 'public'), host: '127.0.0.1', port: parentBase, trustDomain: 'public.up.test', operator: 'public.up.test', logLevel: 'silent',
    config: { oidcIssuers: { [child.ready.oidc]: issuer }, ca: { subordinates: { validity: '720h', registered: [{ 'spiffe-id': CA_ID }] } } },
  });
  expect(parent.ready.ca).toBe(`http://127.0.0.1:${parentBase + 1}`);
  await until('the subordinate CA to be ready', async () => (await fetch(`${child.ready.ca}/readyz`)).status === 200);
  expect((await fetch(child.ready.tuf.replace(/\/tuf$/, '/readyz'))).status).toBe(200);

  // The trust files now anchor at the parent's root, in the file and through TUF.
  const parentRoot = JSON.parse(await readFile(parent.ready.trustedRoot, 'utf8')) as { certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[] };
  const publicRootDer = parentRoot.certificateAuthorities[0]!.certChain.certificates.at(-1)!.rawBytes;
  await until('the trust files to be rewritten', async () => (JSON.parse(await readFile(child.ready.trustedRoot, 'utf8')) as { certificateAuthorities: unknown[] }).certificateAuthorities.length === 1);
  const root = JSON.parse(await readFile(child.ready.trustedRoot, 'utf8')) as typeof parentRoot & { certificateAuthorities: { uri: string }[] };
  expect(root.certificateAuthorities[0]!.uri).toBe(child.ready.ca);
  expect(root.certificateAuthorities[0]!.certChain.certificates.at(-1)!.rawBytes).toBe(publicRootDer);
  const viaTuf = (await fetchTrustedRootViaTuf({ url: child.ready.tuf, root: join(dir, 'acme', 'tuf', 'metadata', '1.root.json'), cacheDir: join(dir, 'tuf-cache') })) as typeof root;
  expect(viaTuf.certificateAuthorities).toEqual(root.certificateAuthorities);

  // A workload of the stack signs through its subordinate CA, log and TSA.
  const artifact = join(dir, 'app.tar');
  await writeFile(artifact, `release ${Math.random()}`);
  const token = async () => (await fetchJwtSvid(`unix://${child.ready.socket}`, 'sigstore', child.ready.identity)).token;
  const bundle = await signArtifact(await readFile(artifact), { endpoints: { ca: child.ready.ca, log: child.ready.log, tsa: `${child.ready.tsa}/api/v1/timestamp` }, token });
  expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle+json;version=0.2'); // carries the subordinate
  const file = join(dir, 'app.tar.sigstore.json');
  await writeFile(file, JSON.stringify(bundle));
  const policy = { identity: child.ready.identity, issuer: child.ready.oidc };
  expect((await verifyFiles({ artifact, bundle: file, trustedRoot: child.ready.trustedRoot, policy })).identity).toBe(child.ready.identity);
  // The parent's trusted root knows nothing of the stack's log and TSA: add them to it.
  const parentPlusLogs = { ...parentRoot, tlogs: (root as unknown as { tlogs: unknown[] }).tlogs, ctlogs: (root as unknown as { ctlogs: unknown[] }).ctlogs, timestampAuthorities: (root as unknown as { timestampAuthorities: unknown[] }).timestampAuthorities };
  const mixed = join(dir, 'parent-ca-child-logs.json');
  await writeFile(mixed, JSON.stringify(parentPlusLogs));
  expect((await verifyFiles({ artifact, bundle: file, trustedRoot: mixed, policy })).identity).toBe(child.ready.identity);
}, 120_000);
