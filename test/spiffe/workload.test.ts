/**
 * The Workload API end to end: a running standalone server, a gRPC client built only from the
 * public proto, JWT-SVIDs validated with jose against the keys found through OIDC discovery, and
 * X509-SVIDs checked against X509-SVID §4–§5.
 */
import { X509Certificate as NodeX509, createPrivateKey, createPublicKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, splitDer, startServer, streamReader, unary, workloadClient, type Server, type WorkloadClient } from './helpers.js';

const TD = 'example.org';
const LOCAL_AGENT = `spiffe://${TD}/spire/agent/local`;
const uid = process.getuid!();
const gid = process.getgid!();

interface X509SvidResponse {
  svids: { spiffe_id: string; x509_svid: Buffer; x509_svid_key: Buffer; bundle: Buffer; hint: string }[];
  federated_bundles: Record<string, Buffer>;
}

let server: Server;
let client: WorkloadClient;

beforeAll(async () => {
  server = await startServer(TD);
  const res = await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/build`, parentId: LOCAL_AGENT, selectors: [`unix:uid:${uid}`, `unix:gid:${gid}`], hint: 'internal' });
  expect(res.status).toBe(201);
  client = workloadClient(server.socket);
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

describe('JWT-SVID', () => {
  it('is issued over the socket and verifies with jose against /keys found through OIDC discovery', async () => {
    const res = await unary<{ svids: { spiffe_id: string; svid: string; hint: string }[] }>(client, 'FetchJWTSVID', { audience: ['sigstore'] });
    expect(res.svids).toHaveLength(1);
    const { spiffe_id, svid, hint } = res.svids[0]!;
    expect(spiffe_id).toBe(`spiffe://${TD}/build`);
    expect(hint).toBe('internal');

    const disco = (await (await fetch(`${server.oidc}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string; id_token_signing_alg_values_supported: string[] };
    expect(disco.issuer).toBe(server.oidc);
    expect(disco.id_token_signing_alg_values_supported).toContain('ES256');
    const { payload, protectedHeader } = await jwtVerify(svid, createRemoteJWKSet(new URL(disco.jwks_uri)), { issuer: disco.issuer, audience: 'sigstore' });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.kid).toBeTypeOf('string');
    expect(payload.sub).toBe(`spiffe://${TD}/build`);
    expect(payload.aud).toBe('sigstore');
    expect(payload.exp! - payload.iat!).toBe(300);
  });

  it('ValidateJWTSVID accepts its own token for the right audience and refuses the wrong one', async () => {
    const { svids } = await unary<{ svids: { svid: string }[] }>(client, 'FetchJWTSVID', { audience: ['a', 'b'] });
    const ok = await unary<{ spiffe_id: string; claims: { fields: Record<string, unknown> } }>(client, 'ValidateJWTSVID', { audience: 'b', svid: svids[0]!.svid });
    expect(ok.spiffe_id).toBe(`spiffe://${TD}/build`);
    expect(ok.claims.fields.sub).toEqual({ stringValue: `spiffe://${TD}/build`, kind: 'stringValue' });
    await expect(unary(client, 'ValidateJWTSVID', { audience: 'c', svid: svids[0]!.svid })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(unary(client, 'ValidateJWTSVID', { audience: 'b', svid: 'not.a.jwt' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    // A token whose signature was tampered with.
    const [h, p, s] = svids[0]!.svid.split('.');
    const forged = `${h}.${p}.${s!.slice(0, -4)}${s!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    await expect(unary(client, 'ValidateJWTSVID', { audience: 'b', svid: forged })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('refuses an empty audience and a malformed spiffe_id with InvalidArgument, a foreign one with PermissionDenied', async () => {
    await expect(unary(client, 'FetchJWTSVID', { audience: [] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(unary(client, 'FetchJWTSVID', { audience: ['x'], spiffe_id: 'spiffe://Example.org/x' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(unary(client, 'FetchJWTSVID', { audience: ['x'], spiffe_id: `spiffe://${TD}/other` })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('FetchJWTBundles streams the JWKS keyed by the trust domain ID', async () => {
    const r = streamReader<{ bundles: Record<string, Buffer> }>(client.FetchJWTBundles!({}, header()) as grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>);
    const m = await r.next();
    r.cancel();
    const jwks = JSON.parse(m.bundles[`spiffe://${TD}`]!.toString()) as { keys: { kid: string; kty: string }[] };
    const keys = (await (await fetch(`${server.oidc}/keys`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(keys.keys.map((k) => k.kid));
  });
});

describe('X509-SVID', () => {
  it('conforms to X509-SVID: one URI SAN, KU digitalSignature critical, EKU server+client auth, not a CA, chains to the bundle', async () => {
    const r = streamReader<X509SvidResponse>(client.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<X509SvidResponse>);
    const m = await r.next();
    r.cancel();
    expect(m.svids).toHaveLength(1);
    const s = m.svids[0]!;
    expect(s.spiffe_id).toBe(`spiffe://${TD}/build`);
    const [leafDer, ...rest] = splitDer(s.x509_svid);
    expect(rest).toHaveLength(0);
    const leaf = new x509.X509Certificate(leafDer!);
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)!;
    const uris = san.names.items.filter((n) => n.type === 'url');
    expect(uris.map((u) => u.value)).toEqual([`spiffe://${TD}/build`]);
    const ku = leaf.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages & x509.KeyUsageFlags.digitalSignature).toBeTruthy();
    expect(ku.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)).toBe(0);
    const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension)!;
    expect(eku.usages).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(leaf.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(false);

    // The key is PKCS#8 and belongs to the certificate.
    const key = createPrivateKey({ key: s.x509_svid_key, format: 'der', type: 'pkcs8' });
    expect(createPublicKey(key).export({ format: 'jwk' })).toEqual(new NodeX509(leafDer!).publicKey.export({ format: 'jwk' }));

    // Path validation to a bundle certificate (signature, issuer, validity).
    const bundle = splitDer(s.bundle).map((d) => new NodeX509(d));
    const nodeLeaf = new NodeX509(leafDer!);
    const issuer = bundle.find((c) => nodeLeaf.checkIssued(c));
    expect(issuer).toBeDefined();
    expect(nodeLeaf.verify(issuer!.publicKey)).toBe(true);
    expect(issuer!.ca).toBe(true);
    expect(new Date(nodeLeaf.validTo).getTime()).toBeLessThanOrEqual(new Date(issuer!.validTo).getTime());

    // The bundle on /bundle (the federation endpoint) publishes the same CA with use x509-svid.
    const doc = (await (await fetch(`${server.admin}/bundle`)).json()) as { keys: { use: string; x5c?: string[] }[]; spiffe_sequence: number; spiffe_refresh_hint: number };
    const x5c = doc.keys.filter((k) => k.use === 'x509-svid').map((k) => k.x5c![0]);
    expect(x5c).toContain(Buffer.from(issuer!.raw).toString('base64'));
    expect(doc.keys.some((k) => k.use === 'jwt-svid')).toBe(true);
    expect(doc.spiffe_sequence).toBeGreaterThan(0);
    expect(doc.spiffe_refresh_hint).toBe(300);
  });

  it('pushes a new SVID on the open stream after CA rotation, and the bundle keeps the old CA during the overlap', async () => {
    const r = streamReader<X509SvidResponse>(client.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<X509SvidResponse>);
    const first = await r.next();
    const firstLeaf = new NodeX509(splitDer(first.svids[0]!.x509_svid)[0]!);
    const before = splitDer(first.svids[0]!.bundle).length;
    const rot = await server.api('POST', '/admin/v1/rotate');
    expect(rot.status).toBe(200);
    const second = await r.next();
    r.cancel();
    const secondLeaf = new NodeX509(splitDer(second.svids[0]!.x509_svid)[0]!);
    expect(secondLeaf.serialNumber).not.toBe(firstLeaf.serialNumber);
    const bundle = splitDer(second.svids[0]!.bundle).map((d) => new NodeX509(d));
    expect(bundle.length).toBe(before + 1);
    // Signed by the new authority; the old SVID still verifies against the (overlapping) bundle.
    const newIssuer = bundle.find((c) => secondLeaf.checkIssued(c))!;
    const oldIssuer = bundle.find((c) => firstLeaf.checkIssued(c))!;
    expect(newIssuer.fingerprint256).not.toBe(oldIssuer.fingerprint256);
    expect(secondLeaf.verify(newIssuer.publicKey)).toBe(true);
    expect(firstLeaf.verify(oldIssuer.publicKey)).toBe(true);
  });

  it('FetchX509Bundles streams the own trust domain bundle', async () => {
    const r = streamReader<{ bundles: Record<string, Buffer> }>(client.FetchX509Bundles!({}, header()) as grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>);
    const m = await r.next();
    r.cancel();
    expect(Object.keys(m.bundles)).toEqual([`spiffe://${TD}`]);
    expect(splitDer(m.bundles[`spiffe://${TD}`]!).every((d) => new NodeX509(d).ca)).toBe(true);
  });
});

describe('Workload Endpoint errors', () => {
  it('answers InvalidArgument to every RPC without the workload.spiffe.io header', async () => {
    const none = new grpc.Metadata();
    await expect(unary(client, 'FetchJWTSVID', { audience: ['x'] }, none)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(unary(client, 'ValidateJWTSVID', { audience: 'x', svid: 'a.b.c' }, none)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const wrong = new grpc.Metadata();
    wrong.set('workload.spiffe.io', 'True');
    await expect(unary(client, 'FetchJWTSVID', { audience: ['x'] }, wrong)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    for (const m of ['FetchX509SVID', 'FetchX509Bundles', 'FetchJWTBundles']) {
      const r = streamReader(client[m]!({}, none) as grpc.ClientReadableStream<unknown>);
      await expect(r.next()).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    }
  });

  it('answers Unimplemented for the WIT-SVID profile it does not offer', async () => {
    const r = streamReader(client.FetchWITSVID!({}, header()) as grpc.ClientReadableStream<unknown>);
    await expect(r.next()).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  });
});

describe('workload attestation by peer credentials', () => {
  it('answers PermissionDenied when the caller uid is not registered, and ends an open stream when its entry is deleted', async () => {
    const other = await startServer('other.example');
    const c = workloadClient(other.socket);
    try {
      // Registered for another uid only.
      const e = await other.api('POST', '/admin/v1/entries', { spiffeId: 'spiffe://other.example/svc', parentId: 'spiffe://other.example/spire/agent/local', selectors: [`unix:uid:${uid + 1}`] });
      expect(e.status).toBe(201);
      await expect(unary(c, 'FetchJWTSVID', { audience: ['x'] })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      const r1 = streamReader(c.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<unknown>);
      await expect(r1.next()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      const r2 = streamReader(c.FetchX509Bundles!({}, header()) as grpc.ClientReadableStream<unknown>);
      await expect(r2.next()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });

      // Now register our uid: served; then delete the entry: the open stream ends PermissionDenied.
      const mine = await other.api('POST', '/admin/v1/entries', { spiffeId: 'spiffe://other.example/me', parentId: 'spiffe://other.example/spire/agent/local', selectors: [`unix:uid:${uid}`] });
      const r3 = streamReader<X509SvidResponse>(c.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<X509SvidResponse>);
      expect((await r3.next()).svids[0]!.spiffe_id).toBe('spiffe://other.example/me');
      expect((await other.api('DELETE', `/admin/v1/entries/${(mine.json as { id: string }).id}`)).status).toBe(204);
      await expect(r3.next()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    } finally {
      c.close();
      await other.close();
    }
  });

  it('an entry under another parent (another agent) is not served by this agent', async () => {
    const e = await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/elsewhere`, parentId: `spiffe://${TD}/spire/agent/join_token/abc`, selectors: [`unix:uid:${uid}`] });
    expect(e.status).toBe(201);
    const res = await unary<{ svids: { spiffe_id: string }[] }>(client, 'FetchJWTSVID', { audience: ['x'] });
    expect(res.svids.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/build`]);
  });
});
