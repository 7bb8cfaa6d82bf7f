/**
 * Federation with the https_spiffe bundle endpoint profile (SPIFFE Federation §5.2.2): A serves
 * over TLS with its own X509-SVID (spiffe://a.test/spire/server, re-minted at half its TTL); a
 * client authenticates it by its chain to a.test's X.509 authorities and by that SPIFFE ID, with
 * no host name check. B federates with A that way, starting from a bootstrap bundle file.
 */
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseBundle, type ParsedBundle } from '../../host/spiffe/bundle.js';
import { fetchBundle, FederationClient, validateRelationship, type FederationRelationship } from '../../host/spiffe/federation.js';
import { header, startServer, streamReader, workloadClient, type Server, type WorkloadClient } from './helpers.js';

let a: Server;
let b: Server;
let other: Server;
let cb: WorkloadClient;
let bootstrap: ParsedBundle;
let bundleText: string;

/** A's bundle as an operator would copy it out of band (here: one unauthenticated GET). */
async function unauthenticatedBundle(s: Server): Promise<string> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    https.get(`${s.admin}/bundle`, { rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

/** The certificate a TLS server presents (not authenticated: for inspection). */
function servedCertificate(url: string): Promise<X509Certificate> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      resolve(new X509Certificate(s.getPeerCertificate().raw));
      s.end();
    });
    s.on('error', reject);
  });
}

/** A's admin API over TLS, authenticated as a SPIFFE peer would be (chain to a.test, no host name). */
async function adminA(method: string, path: string): Promise<number> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(`${a.admin}${path}`, {
      method, agent: false, headers: { authorization: `Bearer ${a.adminToken}` },
      ca: bootstrap.x509Authorities.map((d) => new X509Certificate(d).toString()),
      checkServerIdentity: (_h, cert) => (cert.subjectaltname === 'URI:spiffe://a.test/spire/server' ? undefined : new Error('not A')),
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

const rel = (over: Partial<FederationRelationship> = {}): FederationRelationship => ({
  trustDomain: 'a.test', url: `${a.admin}/bundle`, profile: 'https_spiffe', endpointSpiffeId: 'spiffe://a.test/spire/server', bootstrap, ...over,
});

beforeAll(async () => {
  // x509SvidTtl 4 s: the server's TLS certificate is re-minted every 2 s.
  a = await startServer('a.test', 'tls: { spiffe: true }\nrefreshHint: 1\nx509SvidTtl: 4\n');
  other = await startServer('a.test', 'tls: { spiffe: true }\n'); // the same name, another CA
  bundleText = await unauthenticatedBundle(a);
  bootstrap = parseBundle('a.test', bundleText);
  const file = join(a.dir, 'a.test.bundle.json');
  await writeFile(file, bundleText);
  b = await startServer('b.test', `federation:\n  - { trustDomain: a.test, url: '${a.admin}/bundle', profile: https_spiffe, endpointSpiffeId: 'spiffe://a.test/spire/server', bundle: ${file} }\n`);
  cb = workloadClient(b.socket);
  expect((await b.api('POST', '/admin/v1/entries', { spiffeId: 'spiffe://b.test/verifier', parentId: 'spiffe://b.test/spire/agent/local', selectors: [`unix:uid:${process.getuid!()}`], federatesWith: ['a.test'] })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  cb?.close();
  await b?.close();
  await other?.close();
  await a?.close();
});

it('A presents its own X509-SVID, and the endpoint authenticates with the bootstrap bundle and the expected SPIFFE ID only', async () => {
  const leaf = await servedCertificate(a.admin);
  expect(leaf.subjectAltName).toBe('URI:spiffe://a.test/spire/server');
  const got = await fetchBundle(rel());
  expect(got.x509Authorities.map((d) => Buffer.from(d).toString('hex'))).toEqual(bootstrap.x509Authorities.map((d) => Buffer.from(d).toString('hex')));
  // Another SPIFFE ID than the one expected, or the same name under another CA: refused.
  await expect(fetchBundle(rel({ endpointSpiffeId: 'spiffe://a.test/spire/other' }))).rejects.toMatchObject({ code: 'SPIFFE_BAD_BUNDLE' });
  await expect(fetchBundle(rel({ url: `${other.admin}/bundle` }))).rejects.toMatchObject({ code: 'SPIFFE_BAD_BUNDLE' });
});

it('refuses https_spiffe relationships without an endpoint SPIFFE ID or a bootstrap bundle of its trust domain', () => {
  expect(() => validateRelationship(rel({ endpointSpiffeId: undefined }))).toThrow(/endpointSpiffeId/);
  expect(() => validateRelationship(rel({ bootstrap: undefined }))).toThrow(/bootstrap bundle of a\.test/);
  expect(() => validateRelationship(rel({ bootstrap: { ...bootstrap, trustDomain: 'b.test' } }))).toThrow(/bootstrap bundle of a\.test/);
  expect(validateRelationship(rel()).profile).toBe('https_spiffe');
});

it('the server certificate is re-minted at half its TTL, and the client keeps authenticating across a CA rotation', async () => {
  const first = (await servedCertificate(a.admin)).serialNumber;
  await new Promise((r) => setTimeout(r, 2_600));
  expect((await servedCertificate(a.admin)).serialNumber).not.toBe(first);

  const failures: string[] = [];
  const client = new FederationClient({ relationships: [rel()], log: (msg, fields) => failures.push(`${msg} ${JSON.stringify(fields)}`) });
  try {
    await client.start();
    const before = client.bundles().get('a.test')!.x509Authorities.length;
    expect(await adminA('POST', '/admin/v1/rotate')).toBe(200);
    // After the rotation, a fetch authenticated with the bundle held sees the new authority.
    await client.refresh(rel());
    expect(client.bundles().get('a.test')!.x509Authorities.length).toBe(before + 1);
    // Once A's certificate is re-minted by the new CA, only a client holding the new bundle
    // authenticates it: the bootstrap bundle alone no longer does.
    await new Promise((r) => setTimeout(r, 2_600));
    await expect(fetchBundle(rel())).rejects.toMatchObject({ code: 'SPIFFE_BAD_BUNDLE' });
    await client.refresh(rel());
    expect(client.bundles().get('a.test')!.x509Authorities.length).toBe(before + 1);
    expect(failures).toEqual([]); // every refresh above authenticated A and fetched its bundle
  } finally {
    client.close();
  }
}, 30_000);

it("B's Workload API exposes A's bundle, fetched over https_spiffe from the bootstrap file", async () => {
  const xb = streamReader<{ bundles: Record<string, Buffer> }>(cb.FetchX509Bundles!({}, header()) as grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>);
  const first = await xb.next();
  xb.cancel();
  expect(Object.keys(first.bundles).sort()).toEqual(['spiffe://a.test', 'spiffe://b.test']);
}, 30_000);
