/**
 * The agent API's replay cache (host/spiffe/agent-api.ts SeenJtis): a jti is refused a second time
 * while its proof could still pass the 60 s iat window, and is let go after it. Agents poll every
 * few seconds for ever, and join-token agents come back under new IDs: without expiry the server
 * would keep up to 20,000 jtis for every agent it ever heard from.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installErrorHandler } from '../../host/http/errors.js';
import { agentRoutes, bodyHash, SeenJtis } from '../../host/spiffe/agent-api.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { SpiffeStore } from '../../host/spiffe/store.js';

interface TestAgent { id: string; key: KeyObject; chain: string[] }

const clock = { now: Date.now() };
const seen = new SeenJtis();
let ca: TrustDomainCa;
let store: SpiffeStore;
let app: FastifyInstance;
const agents: TestAgent[] = [];

beforeAll(async () => {
  ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
  store = new SpiffeStore({ path: ':memory:' });
  app = Fastify();
  installErrorHandler(app);
  await agentRoutes(app, { ca, store, agentSvidTtlMs: 3_600_000, now: () => clock.now, seen });
  for (let i = 0; i < 30; i++) {
    const id = `spiffe://example.org/spire/agent/join_token/${i.toString(16).padStart(32, '0')}`;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const svid = await ca.mintX509Svid(id, { publicKey, ttlMs: 3_600_000 });
    store.recordAgent({ spiffeId: id, attestationType: 'join_token', selectors: [], attestedAt: clock.now, svidSerial: svid.serial.toLowerCase() });
    agents.push({ id, key: privateKey, chain: svid.chain.map((c) => Buffer.from(c).toString('base64')) });
  }
});

afterAll(async () => {
  await app.close();
  store.close();
});

/** An Authorization header for GET /agent/v1/entries, as remote-agent.ts signs it. */
function proof(a: TestAgent): string {
  const h = Buffer.from(JSON.stringify({ alg: 'ES256', x5c: a.chain })).toString('base64url');
  const p = Buffer.from(JSON.stringify({ htm: 'GET', htu: '/agent/v1/entries', iat: Math.floor(clock.now / 1000), jti: randomBytes(16).toString('base64url'), bh: bodyHash(undefined) })).toString('base64url');
  return `SVID ${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), { key: a.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const entries = (authorization: string) => app.inject({ method: 'GET', url: '/agent/v1/entries', headers: { authorization } });

it('refuses a replayed proof, and lets the jtis of agents that went quiet go once the window has passed', async () => {
  let first = '';
  for (const a of agents) {
    for (let i = 0; i < 5; i++) {
      const auth = proof(a);
      first ||= auth;
      expect((await entries(auth)).statusCode).toBe(200);
    }
  }
  expect(seen.size).toBe(agents.length * 5);
  const replay = await entries(first);
  expect(replay.statusCode).toBe(401);
  expect(replay.json().message).toMatch(/replayed/);

  // Two minutes on, only one agent is still polling: every other jti has expired and is gone,
  // with the agents that held them.
  clock.now += 120_000;
  expect((await entries(proof(agents[0]!))).statusCode).toBe(200);
  expect(seen.size).toBe(1);
  // The old proof stays refused (its iat is out of the window now).
  expect((await entries(first)).statusCode).toBe(401);
});

it('bounds one agent\'s jtis (oldest first) without touching another agent\'s', () => {
  const s = new SeenJtis(3);
  const t = 1_000_000;
  expect(s.add('a', 'j0', t + 60_000, t)).toBe(true);
  expect(s.add('b', 'k0', t + 60_000, t)).toBe(true);
  for (let i = 1; i <= 3; i++) expect(s.add('a', `j${i}`, t + 60_000, t)).toBe(true);
  expect(s.size).toBe(4);
  expect(s.add('b', 'k0', t + 60_000, t + 1)).toBe(false);
  expect(s.add('a', 'j3', t + 60_000, t + 1)).toBe(false);
  // Expired: no longer held (the proof would fail the iat window anyway).
  expect(s.add('a', 'j3', t + 200_000, t + 60_001)).toBe(true);
});
