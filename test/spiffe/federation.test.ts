/**
 * Federation between two running servers: A serves its bundle endpoint over HTTPS (https_web
 * profile; its self-signed TLS certificate is the trust anchor B is configured with), B polls it at
 * A's spiffe_refresh_hint and exposes it through its Workload API.
 */
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchBundle } from '../../host/spiffe/federation.js';
import { header, splitDer, startServer, streamReader, unary, workloadClient, type Server, type WorkloadClient } from './helpers.js';

const uid = process.getuid!();
let dir: string;
let a: Server;
let b: Server;
let ca: WorkloadClient;
let cb: WorkloadClient;
let tlsCertPem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spiffe-fed-'));
  const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=127.0.0.1',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  }, crypto);
  tlsCertPem = cert.toString('pem');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64')}\n-----END PRIVATE KEY-----\n`;
  await writeFile(join(dir, 'tls.crt'), tlsCertPem);
  await writeFile(join(dir, 'tls.key'), keyPem, { mode: 0o600 });

  a = await startServer('a.test', `tls: { cert: ${join(dir, 'tls.crt')}, key: ${join(dir, 'tls.key')} }\nrefreshHint: 1\n`);
  b = await startServer('b.test', `federation:\n  - { trustDomain: a.test, url: '${a.admin}/bundle', profile: https_web, ca: ${join(dir, 'tls.crt')} }\n`);
  // A's admin API is HTTPS with a self-signed certificate: tests reach it through `adminA`.
  ca = workloadClient(a.socket);
  cb = workloadClient(b.socket);
  expect((await b.api('POST', '/admin/v1/entries', { spiffeId: 'spiffe://b.test/verifier', parentId: 'spiffe://b.test/spire/agent/local', selectors: [`unix:uid:${uid}`], federatesWith: ['a.test'] })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  ca?.close();
  cb?.close();
  await b?.close();
  await a?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A's admin API over HTTPS with the test anchor. */
async function adminA(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(`${a.admin}${path}`, { method, ca: tlsCertPem, headers: { authorization: `Bearer ${a.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

it('the bundle endpoint is served over TLS and authenticated with the configured anchor only', async () => {
  expect(a.admin.startsWith('https://')).toBe(true);
  const bundle = await fetchBundle({ trustDomain: 'a.test', url: `${a.admin}/bundle`, profile: 'https_web', ca: tlsCertPem });
  expect(bundle.x509Authorities.length).toBeGreaterThan(0);
  expect(bundle.refreshHintSeconds).toBe(1);
  await expect(fetchBundle({ trustDomain: 'a.test', url: `${a.admin}/bundle`, profile: 'https_web' })).rejects.toMatchObject({ code: 'SPIFFE_BAD_BUNDLE' });
});

it("B's Workload API exposes A's bundles, validates A's JWT-SVIDs and pushes A's rotation", async () => {
  expect((await adminA('POST', '/admin/v1/entries', { spiffeId: 'spiffe://a.test/client', parentId: 'spiffe://a.test/spire/agent/local', selectors: [`unix:uid:${uid}`] })).status).toBe(201);

  const xb = streamReader<{ bundles: Record<string, Buffer> }>(cb.FetchX509Bundles!({}, header()) as grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>);
  const first = await xb.next();
  expect(Object.keys(first.bundles).sort()).toEqual(['spiffe://a.test', 'spiffe://b.test']);
  const before = splitDer(first.bundles['spiffe://a.test']!).length;

  const jb = streamReader<{ bundles: Record<string, Buffer> }>(cb.FetchJWTBundles!({}, header()) as grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>);
  const jwks = JSON.parse((await jb.next()).bundles['spiffe://a.test']!.toString()) as { keys: unknown[] };
  jb.cancel();
  expect(jwks.keys.length).toBeGreaterThan(0);

  // A workload of A authenticates to a workload of B with a JWT-SVID; B validates it.
  const { svids } = await unary<{ svids: { svid: string }[] }>(ca, 'FetchJWTSVID', { audience: ['spiffe://b.test/verifier'] });
  const v = await unary<{ spiffe_id: string }>(cb, 'ValidateJWTSVID', { audience: 'spiffe://b.test/verifier', svid: svids[0]!.svid });
  expect(v.spiffe_id).toBe('spiffe://a.test/client');

  // X509-SVID responses carry A's bundle as a federated bundle (Workload API §4.6).
  const xs = streamReader<{ federated_bundles: Record<string, Buffer> }>(cb.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<{ federated_bundles: Record<string, Buffer> }>);
  expect(Object.keys((await xs.next()).federated_bundles)).toEqual(['spiffe://a.test']);
  xs.cancel();

  // A rotates; B picks it up at the 1 s refresh hint and pushes the new bundle on the open stream.
  expect((await adminA('POST', '/admin/v1/rotate')).status).toBe(200);
  const next = await xb.next(10_000);
  xb.cancel();
  expect(splitDer(next.bundles['spiffe://a.test']!).length).toBe(before + 1);
}, 30_000);
