/**
 * A federated trust domain's bundle, once accepted, survives a restart of the federation client
 * (host/spiffe/federation.ts with `stateDir`), as SPIRE keeps federated bundles in its datastore:
 * a server restarted while the other trust domain's bundle endpoint is down keeps trusting it,
 * instead of refusing every SVID of that trust domain until the endpoint is back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
