/**
 * The per-service sections of a `cairn up` config reach their service: up.example.yaml says the
 * stack adds its wiring (the CA's issuers, the SPIFFE entries) on top of them, and the README
 * gives a CA's `oidc-issuers` "under `ca:` in a `cairn up` config". Neither may be dropped. The
 * Workload API socket is the stack's own, under the data directory, as the ready line shows it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStackConfig, startStack, type RunningStack } from '../../host/cli/up.js';

const ACME = 'https://oidc.prod.acme.example';

describe('cairn up: per-service config sections', () => {
  let dir: string | undefined;
  let stack: RunningStack | undefined;
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps ca.oidc-issuers and spiffe.entries beside the issuers and entries the stack adds', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-upcfg-'));
    const data = join(dir, 'data');
    const env = process.env.SPIFFE_ENDPOINT_SOCKET;
    delete process.env.SPIFFE_ENDPOINT_SOCKET;
    try {
      // The README's parent-CA config, under `ca:`: the subordinate's trust domain needs its issuer,
      // or the CA refuses to start (CA_BAD_CONFIG) as if none had been given.
      stack = await startStack({
        dataDir: data, host: '127.0.0.1', port: 0, trustDomain: 'cairn.local', operator: 'cairn.local',
        config: {
          ca: {
            'oidc-issuers': { [ACME]: { 'client-id': 'sigstore', type: 'spiffe', 'spiffe-trust-domain': 'prod.acme.example' } },
            subordinates: { registered: [{ 'spiffe-id': 'spiffe://prod.acme.example/cairn/ca' }] },
          },
          spiffe: { entries: [{ spiffeId: 'spiffe://cairn.local/ci/build', selectors: ['unix:uid:4242'], hint: 'build' }] },
        },
      });
    } finally {
      if (env) process.env.SPIFFE_ENDPOINT_SOCKET = env;
    }
    const caCfg = parseYaml(await readFile(join(data, 'ca', 'up.generated.yaml'), 'utf8')) as { 'oidc-issuers': Record<string, unknown> };
    expect(Object.keys(caCfg['oidc-issuers'])).toEqual([stack.ready.oidc, ACME]);

    const token = (await readFile(join(data, 'spiffe', 'admin-token'), 'utf8')).trim();
    const res = await fetch(`${stack.ready.oidc}/admin/v1/entries`, { headers: { authorization: `Bearer ${token}` } });
    const ids = ((await res.json()) as { entries: { spiffeId: string }[] }).entries.map((e) => e.spiffeId).sort();
    expect(ids).toEqual(['spiffe://cairn.local/ci/build', stack.ready.identity].sort());
  }, 60_000);

  it('serves its Workload API under the data directory even when SPIFFE_ENDPOINT_SOCKET names another agent', async () => {
    const base = await mkdtemp(join(tmpdir(), 'cairn-upsock-'));
    // A SPIRE agent of this host, as workloads find it through SPIFFE_ENDPOINT_SOCKET.
    const foreign = join(base, 'spire-agent.sock');
    const spire = createServer((c) => c.end('spire'));
    await new Promise<void>((r) => spire.listen(foreign, r));
    const env = process.env.SPIFFE_ENDPOINT_SOCKET;
    process.env.SPIFFE_ENDPOINT_SOCKET = `unix://${foreign}`;
    let s: RunningStack | undefined;
    try {
      s = await startStack({ dataDir: join(base, 'data'), host: '127.0.0.1', port: 0, trustDomain: 'cairn.local', operator: 'cairn.local', config: {} });
      expect(s.ready.socket).toBe(join(base, 'data', 'spiffe', 'agent.sock'));
      // The other agent's socket is still its own.
      const got = await new Promise<string>((resolve, reject) => {
        const c = connect(foreign);
        let t = '';
        c.on('data', (d) => (t += d.toString()));
        c.on('end', () => resolve(t));
        c.on('error', reject);
      });
      expect(got).toBe('spire');
    } finally {
      if (env === undefined) delete process.env.SPIFFE_ENDPOINT_SOCKET;
      else process.env.SPIFFE_ENDPOINT_SOCKET = env;
      await s?.close();
      await new Promise<void>((r) => spire.close(() => r()));
      await rm(base, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses sections of the wrong shape with STACK_BAD_CONFIG', () => {
    expect(() => parseStackConfig('spiffe: { entries: { a: 1 } }')).toThrow(expect.objectContaining({ code: 'STACK_BAD_CONFIG' }));
    expect(() => parseStackConfig('ca: { oidc-issuers: [x] }')).toThrow(expect.objectContaining({ code: 'STACK_BAD_CONFIG' }));
  });
});
