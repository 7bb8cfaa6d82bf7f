/**
 * What a remote agent (host/spiffe/remote-agent.ts) takes from its server is checked before it is
 * kept: an entry list that is not a list of entries, a bundle with an X.509 authority that does
 * not parse, an agent SVID renewal for another key. Each used to be stored as-is: the first two
 * failed every Workload API call with INTERNAL until the server sent a good answer again, the
 * third was written to the agent's files: a key beside a certificate for another key. Now each
 * is refused and the last good state kept. The server is
 * Cairn's own, with its answers altered in an onSend hook.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseBundle } from '../../host/spiffe/bundle.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { build } from '../../host/spiffe/plugin.js';
import { startRemoteAgent, type RemoteAgent } from '../../host/spiffe/remote-agent.js';
import { SpiffeStore } from '../../host/spiffe/store.js';
import { header, streamReader, workloadClient } from './helpers.js';

let dir: string;
let store: SpiffeStore;
let app: FastifyInstance;
let url: string;
let agent: RemoteAgent;
let attestAnswer = '';
const tamper = new Map<string, (payload: string) => string>();
const logs: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-agent-answers-'));
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
  store = new SpiffeStore({ path: ':memory:' });
  app = await build({ ca, store, issuer: () => url });
  app.addHook('onSend', async (req, _reply, payload) => {
    const path = req.url.split('?')[0]!;
    if (path === '/node/v1/attest/join_token') attestAnswer = String(payload);
    const f = tamper.get(path);
    return f ? f(String(payload)) : payload;
  });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  const { token } = store.createJoinToken(60);
  agent = await startRemoteAgent({ server: url, insecureBootstrap: true, joinToken: token, socketPath: join(dir, 'agent.sock'), workDir: join(dir, 'agent'), pollMs: 50, log: (m, f) => logs.push(`${m} ${JSON.stringify(f)}`) });
  store.createEntry({ spiffeId: 'spiffe://example.org/app', parentId: agent.agentId, selectors: [`unix:uid:${process.getuid!()}`] });
});

afterAll(async () => {
  await agent?.close();
  await app?.close();
  store?.close();
  await rm(dir, { recursive: true, force: true });
});

const polls = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

async function svidIds(): Promise<string> {
  const c = workloadClient(agent.socketPath);
  const r = streamReader<{ svids: { spiffe_id: string }[] }>(c.FetchX509SVID!({}, header()) as grpc.ClientReadableStream<{ svids: { spiffe_id: string }[] }>);
  try {
    return (await r.next(5_000)).svids.map((s) => s.spiffe_id).join(',');
  } catch (e) {
    return String(e);
  } finally {
    r.cancel();
    c.close();
  }
}

it('a malformed entry list is refused and the last good one kept', async () => {
  await polls();
  expect(await svidIds()).toBe('spiffe://example.org/app');
  for (const bad of ['null', '{"entries":null}', '{"entries":{"a":1}}', '{"entries":[null]}', '{"entries":[{"id":"x","spiffeId":"spiffe://example.org/x","selectors":5}]}']) {
    tamper.set('/agent/v1/entries', () => bad);
    await polls();
    expect(await svidIds(), bad).toBe('spiffe://example.org/app');
  }
  tamper.clear();
  expect(logs.some((l) => l.includes('malformed entry list'))).toBe(true);
});

it('a bundle with an X.509 authority that does not parse is refused and the last good one kept', async () => {
  const garbage = { kty: 'EC', use: 'x509-svid', x5c: [Buffer.concat([Buffer.from([0x30, 0x20]), Buffer.alloc(32, 7)]).toString('base64')] };
  expect(() => parseBundle('example.org', JSON.stringify({ keys: [garbage] }))).toThrow(expect.objectContaining({ code: 'SPIFFE_BAD_BUNDLE' }));
  tamper.set('/bundle', (p) => {
    const j = JSON.parse(p) as { keys: unknown[] };
    j.keys.unshift(garbage);
    return JSON.stringify(j);
  });
  await polls();
  expect(await svidIds()).toBe('spiffe://example.org/app');
  tamper.clear();
  expect(logs.some((l) => l.includes('x5c is not a DER certificate'))).toBe(true);
});

it('an SVID renewal for another key is refused, and the stored key and SVID still belong together', async () => {
  const attested = JSON.parse(attestAnswer) as { spiffeId: string; svid: string[] };
  tamper.set('/agent/v1/renew', () => JSON.stringify({ spiffeId: attested.spiffeId, svid: attested.svid }));
  await expect(agent.renewSvid()).rejects.toMatchObject({ code: 'SPIFFE_UNAVAILABLE' });
  tamper.clear();
  // (The server itself renewed, so it now refuses the old SVID: an agent that got a mixed-up
  // answer re-attests. What must not happen is a key stored beside a certificate for another.)
  const key = createPrivateKey(await readFile(join(dir, 'agent', 'agent-key.pem')));
  const leaf = new X509Certificate((await readFile(join(dir, 'agent', 'agent-svid.pem'), 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
  expect(leaf.checkPrivateKey(key)).toBe(true);
});
