/**
 * A remote agent closed while its SVID renewal is at the server (host/spiffe/remote-agent.ts):
 * the renewal in flight used to schedule the next one when it came back, after close, so a closed
 * agent went on renewing (and rewriting its key and SVID files) every half-life for as long as
 * the process lived. close() must wait for the renewal in flight and schedule nothing more.
 * The server here mints agent SVIDs of a few seconds, so renewals come every second.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { build } from '../../host/spiffe/plugin.js';
import { startRemoteAgent } from '../../host/spiffe/remote-agent.js';
import { SpiffeStore } from '../../host/spiffe/store.js';

let dir: string;
let store: SpiffeStore;
let app: FastifyInstance;
let url: string;
let renewals = 0;
let hold: { arrived: () => void; gate: Promise<void> } | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-agent-close-'));
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
  store = new SpiffeStore({ path: ':memory:' });
  app = await build({ ca, store, issuer: () => url, agentSvidTtlMs: 4_000 });
  app.addHook('onRequest', async (req) => {
    if (req.url !== '/agent/v1/renew') return;
    renewals++;
    if (hold) {
      const h = hold;
      hold = undefined;
      h.arrived();
      await h.gate;
    }
  });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app.close();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

it('a renewal in flight at close neither outlives close nor schedules another', async () => {
  const { token } = store.createJoinToken(60);
  const agent = await startRemoteAgent({ server: url, insecureBootstrap: true, joinToken: token, socketPath: join(dir, 'agent.sock'), workDir: join(dir, 'agent'), pollMs: 60_000 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await new Promise<void>((arrived) => (hold = { arrived, gate }));
  // The renewal is at the server now; close the agent and let the server answer.
  let closed = false;
  const closing = agent.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 50));
  release();
  await closing;
  expect(closed).toBe(true);
  const atClose = renewals;
  await new Promise((r) => setTimeout(r, 1_800));
  expect(renewals).toBe(atClose);
}, 15_000);
