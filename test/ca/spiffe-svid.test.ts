/**
 * The CA trusting a real SPIFFE trust domain (host/spiffe), as `cairn up` wires it: a JWT-SVID
 * fetched over the Workload API socket (audience `sigstore`) becomes a code-signing certificate
 * whose only SAN is the workload's SPIFFE ID, with an embedded SCT from the real CT log.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, unary, workloadClient, type Server, type WorkloadClient } from '../spiffe/helpers.js';
import { chainOf, clientKey, post, startCa, startCtLog, v2Body, type RunningCa } from './fixtures.js';

const TD = 'build.example';
let spiffe: Server;
let client: WorkloadClient;
let log: Awaited<ReturnType<typeof startCtLog>>;
let ca: RunningCa;

beforeAll(async () => {
  spiffe = await startServer(TD);
  const res = await spiffe.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/ci/builder`, parentId: `spiffe://${TD}/spire/agent/local`, selectors: [`unix:uid:${process.getuid!()}`], hint: 'ci' });
  expect(res.status).toBe(201);
  client = workloadClient(spiffe.socket);
  log = await startCtLog();
  ca = await startCa({
    'oidc-issuers': {
      [spiffe.oidc]: { 'issuer-url': spiffe.oidc, 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': TD, 'insecure-loopback-http': true },
    },
  }, { ct: log.ct });
}, 30_000);
afterAll(async () => {
  client?.close();
  await ca?.close();
  await log?.close();
  await spiffe?.close();
});

it('a JWT-SVID from the Workload API gets a certificate for its SPIFFE ID', async () => {
  const { svids } = await unary<{ svids: { spiffe_id: string; svid: string }[] }>(client, 'FetchJWTSVID', { audience: ['sigstore'] });
  const { spiffe_id, svid } = svids[0]!;
  expect(spiffe_id).toBe(`spiffe://${TD}/ci/builder`);
  const r = await post(`${ca.url}/api/v2/signingCert`, v2Body(svid, clientKey(), spiffe_id));
  expect(r.status, r.text).toBe(200);
  expect(r.json.signedCertificateEmbeddedSct).toBeDefined();
  const leaf = new x509.X509Certificate(chainOf(r.json)[0]!);
  expect(leaf.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()).toEqual([{ type: 'url', value: spiffe_id }]);
  expect(Buffer.from(leaf.extensions.find((e) => e.type === '1.3.6.1.4.1.57264.1.1')!.value).toString()).toBe(spiffe.oidc);
  // The same SVID minted for another audience is refused.
  const other = await unary<{ svids: { svid: string }[] }>(client, 'FetchJWTSVID', { audience: ['not-sigstore'] });
  const bad = await post(`${ca.url}/api/v2/signingCert`, v2Body(other.svids[0]!.svid, clientKey(), spiffe_id));
  expect(bad.status).toBe(401);
  expect(bad.json.error).toBe('CA_INVALID_TOKEN');
});
