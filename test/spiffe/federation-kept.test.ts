/**
 * A federated trust domain's bundle, once accepted, survives a restart of the federation client
 * (host/spiffe/federation.ts with `stateDir`), as SPIRE keeps federated bundles in its datastore:
 * a server restarted while the other trust domain's bundle endpoint is down keeps trusting it,
 * instead of refusing every SVID of that trust domain until the endpoint is back.
 */
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { expect, it } from 'vitest';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { FederationClient } from '../../host/spiffe/federation.js';

it('a restart while the bundle endpoint is down keeps the bundle accepted before', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-federation-kept-'));
  const ca = await TrustDomainCa.open({ trustDomain: 'a.test' });
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ca.bundle()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/bundle`;
  const opts = { relationships: [{ trustDomain: 'a.test', url, profile: 'https_web' as const }], allowInsecureHttp: true, stateDir: dir };
  try {
    const first = new FederationClient(opts);
    await first.start();
    first.close();
    const fetched = first.bundles().get('a.test')!;
    expect(fetched.x509Authorities).toHaveLength(1);

    await new Promise<void>((r) => server.close(() => r())); // the endpoint goes down
    const failures: string[] = [];
    const restarted = new FederationClient({ ...opts, log: (msg) => failures.push(msg) });
    await restarted.start();
    restarted.close();
    expect(failures).toContain('federated bundle refresh failed');
    const kept = restarted.bundles().get('a.test');
    expect(kept?.x509Authorities.map((d) => Buffer.from(d).toString('base64'))).toEqual(ca.x509Authorities().map((d) => Buffer.from(d).toString('base64')));
    expect(kept?.jwtKeys.map((k) => k.kid)).toEqual(ca.jwtAuthorities().map((k) => k.kid));
    expect(kept?.sequence).toBe(ca.bundleSequence);
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it('keeps a bundle whose X.509 authority has a key JWK cannot express (brainpool), as it was fetched', async () => {
  // parseBundle takes any certificate in x5c; the authority's own key (brainpoolP256r1 here, or
  // RSA-PSS) has no JWK form in node:crypto. Kept by re-encoding the parsed bundle, such a bundle
  // failed every refresh and was never trusted at all; the bytes fetched are kept instead.
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const signing = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const spki = generateKeyPairSync('ec', { namedCurve: 'brainpoolP256r1' }).publicKey.export({ format: 'der', type: 'spki' });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01', subject: 'CN=b.test', issuer: 'CN=b.test', publicKey: new x509.PublicKey(spki), signingKey: signing.privateKey as never, signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const x5c = Buffer.from(cert.rawData).toString('base64');
  const doc = JSON.stringify({ keys: [{ kty: 'EC', use: 'x509-svid', x5c: [x5c] }], spiffe_sequence: 3 });
  const dir = await mkdtemp(join(tmpdir(), 'cairn-federation-kept-'));
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(doc));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/bundle`;
  const opts = { relationships: [{ trustDomain: 'b.test', url, profile: 'https_web' as const }], allowInsecureHttp: true, stateDir: dir };
  try {
    const failures: string[] = [];
    const first = new FederationClient({ ...opts, log: (msg, f) => failures.push(`${msg} ${String(f?.err)}`) });
    await first.start();
    first.close();
    expect(failures).toEqual([]);
    expect(first.bundles().get('b.test')?.x509Authorities.map((d) => Buffer.from(d).toString('base64'))).toEqual([x5c]);

    await new Promise<void>((r) => server.close(() => r()));
    const restarted = new FederationClient(opts);
    await restarted.start();
    restarted.close();
    expect(restarted.bundles().get('b.test')?.x509Authorities.map((d) => Buffer.from(d).toString('base64'))).toEqual([x5c]);
    expect(restarted.bundles().get('b.test')?.sequence).toBe(3);
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
