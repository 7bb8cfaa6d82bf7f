/**
 * Slow clients (host/http/timeouts.ts): every service's HTTP server limits how long a request may
 * take to arrive and how long a connection may sit silent, so slowloris-style clients (headers or
 * a body that never complete) cannot hold connections, and descriptors, for ever. fastify's
 * defaults switch Node's request timeout off.
 */
import 'reflect-metadata';
import { generateKeyPairSync, createPublicKey, webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { FastifyInstance } from 'fastify';
import { afterAll, expect, it } from 'vitest';
import { parseIssuersConfig } from '../../host/ca/config.js';
import { CodeSigningCa } from '../../host/ca/core.js';
import { TokenVerifier } from '../../host/ca/oidc.js';
import { build as buildCa } from '../../host/ca/plugin.js';
import { ensureGeneratedCa, loadFileCa } from '../../host/ca/keys.js';
import { initCore } from '../../host/core/index.js';
import { HEADERS_TIMEOUT_MS, IDLE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../../host/http/timeouts.js';
import { TransparencyLog } from '../../host/log/log.js';
import { build as buildLog } from '../../host/log/plugin.js';
import { SqliteLogStore } from '../../host/log/store.js';
import { noteKeyFor } from '../../host/log/note.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { build as buildSpiffe } from '../../host/spiffe/plugin.js';
import { SpiffeStore } from '../../host/spiffe/store.js';
import { build as buildTuf } from '../../host/trust/tuf-plugin.js';
import { TimestampAuthority } from '../../host/tsa/core.js';
import { createTsaIdentity } from '../../host/tsa/keys.js';
import { build as buildTsa } from '../../host/tsa/plugin.js';
import { SerialStore } from '../../host/tsa/store.js';
import { build as buildWitness } from '../../host/witness/plugin.js';
import { Witness, WitnessStore } from '../../host/witness/witness.js';

const dirs: string[] = [];
const apps: FastifyInstance[] = [];
const sockets: Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const a of apps) await a.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'cairn-timeouts-'));
  dirs.push(d);
  return d;
};

async function witnessApp(): Promise<FastifyInstance> {
  const logKey = generateKeyPairSync('ed25519').privateKey;
  const store = new WitnessStore(join(await tempDir(), 'witness.db'));
  const app = await buildWitness({ witness: new Witness('timeouts.test/w1', generateKeyPairSync('ed25519').privateKey, [{ origin: 'log.test', keys: [noteKeyFor('log.test', createPublicKey(logKey))] }], store) });
  apps.push(app);
  return app;
}

/** A self-signed certificate for the SPIFFE server's TLS variant. */
async function selfSigned(): Promise<{ key: string; cert: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=localhost', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000), keys: keys as never, signingAlgorithm: alg }, webcrypto as never);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { key: `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`, cert: cert.toString('pem') };
}

it('every service\'s server limits headers, whole requests and silent connections', async () => {
  await initCore();
  const servers: Record<string, FastifyInstance> = {};
  servers.witness = await witnessApp();

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const log = await TransparencyLog.open({ store: new SqliteLogStore(join(await tempDir(), 'log.db')), key: privateKey, origin: 'timeouts.test' });
  servers.log = await buildLog({ rekor: log, rekorKey: privateKey, treeId: '0000000000000001' });

  const issuers = parseIssuersConfig({ 'oidc-issuers': {} });
  const issuing = await loadFileCa(await ensureGeneratedCa(await tempDir()));
  servers.ca = await buildCa({ ca: new CodeSigningCa({ issuers, verifier: new TokenVerifier(issuers), ca: issuing }), issuers });

  const { identity } = await createTsaIdentity({ type: 'ecdsa-p256' });
  servers.tsa = await buildTsa({ authority: new TimestampAuthority(identity), serials: new SerialStore({ path: ':memory:' }) });

  const spiffeCa = await TrustDomainCa.open({ trustDomain: 'example.org' });
  servers.spiffe = await buildSpiffe({ ca: spiffeCa, store: new SpiffeStore({ path: ':memory:' }), issuer: () => 'http://127.0.0.1' });
  servers.spiffeTls = await buildSpiffe({ ca: spiffeCa, store: new SpiffeStore({ path: ':memory:' }), issuer: () => 'https://127.0.0.1', https: await selfSigned() });

  servers.tuf = await buildTuf({ repoDir: await tempDir() });
  apps.push(...Object.values(servers).filter((a) => a !== servers.witness));

  const limits = Object.fromEntries(Object.entries(servers).map(([name, app]) => {
    const s = app.server as unknown as { headersTimeout: number; requestTimeout: number; timeout: number; connectionsCheckingInterval: number };
    return [name, { headersTimeout: s.headersTimeout, requestTimeout: s.requestTimeout, idle: s.timeout, checkEvery: s.connectionsCheckingInterval }];
  }));
  const expected = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, idle: IDLE_TIMEOUT_MS, checkEvery: 1_000 };
  expect(limits).toEqual(Object.fromEntries(Object.keys(servers).map((n) => [n, expected])));
  // Node answers 408 only when the headers limit is within the request limit.
  expect(HEADERS_TIMEOUT_MS).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS);
}, 60_000);

it('a body that never completes, or headers that never end, get 408 and the connection is closed', async () => {
  const app = await witnessApp();
  await app.listen({ port: 0, host: '127.0.0.1' });
  // The limits themselves are shortened for the test (the production ones are tens of seconds);
  // how often Node checks them is the production setting.
  const server = app.server as unknown as { headersTimeout: number; requestTimeout: number };
  server.headersTimeout = 300;
  server.requestTimeout = 300;
  const port = (app.server.address() as { port: number }).port;
  const slow = (first: string): Promise<string> => new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    sockets.push(s);
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
    s.write(first);
  });
  const partialBody = Array.from({ length: 10 }, () => slow('POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nold 0\n'));
  const partialHeaders = Array.from({ length: 10 }, () => slow('POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nX-Slow: '));
  const answers = await Promise.race([
    Promise.all([...partialBody, ...partialHeaders]),
    new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 10_000)),
  ]);
  expect(answers).toHaveLength(20);
  for (const a of answers) expect(a).toMatch(/^HTTP\/1\.1 408 /);
  // The server still serves.
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
}, 30_000);
