/**
 * An agent SVID renewal (host/spiffe/agent-api.ts POST /agent/v1/renew) awaits the CA between
 * checking the caller's SVID serial and recording the new one. An eviction, or a re-attestation
 * that superseded the caller's SVID, can land in that window: the renewal must then be refused,
 * not record its serial as current (that would bring a superseded SVID's holder back to life).
 * The CA's mint is held open here while the eviction or re-attestation happens.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installErrorHandler } from '../../host/http/errors.js';
import { agentRoutes, bodyHash } from '../../host/spiffe/agent-api.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { SpiffeStore } from '../../host/spiffe/store.js';

let ca: TrustDomainCa;
let store: SpiffeStore;
let app: FastifyInstance;

beforeAll(async () => {
  ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
  store = new SpiffeStore({ path: ':memory:' });
  app = Fastify();
  installErrorHandler(app);
  await agentRoutes(app, { ca, store, agentSvidTtlMs: 3_600_000 });
});

afterAll(async () => {
  await app.close();
  store.close();
});

async function attested(n: number): Promise<{ id: string; key: KeyObject; chain: string[]; serial: string }> {
  const id = `spiffe://example.org/spire/agent/tpm/${n.toString(16).padStart(64, '0')}`;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const svid = await ca.mintX509Svid(id, { publicKey, ttlMs: 3_600_000 });
  store.recordAgent({ spiffeId: id, attestationType: 'tpm', selectors: [], attestedAt: Date.now(), svidSerial: svid.serial.toLowerCase() });
  return { id, key: privateKey, chain: svid.chain.map((c) => Buffer.from(c).toString('base64')), serial: svid.serial.toLowerCase() };
}

/** POST /agent/v1/renew signed as remote-agent.ts signs it, with the CA's mint held until `release`. */
async function renewHeldOpen(a: { key: KeyObject; chain: string[] }): Promise<{ reply: Promise<{ statusCode: number }>; inside: Promise<void>; release: () => void }> {
  const body = { publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
  const h = Buffer.from(JSON.stringify({ alg: 'ES256', x5c: a.chain })).toString('base64url');
  const p = Buffer.from(JSON.stringify({ htm: 'POST', htu: '/agent/v1/renew', iat: Math.floor(Date.now() / 1000), jti: randomBytes(16).toString('base64url'), bh: bodyHash(body) })).toString('base64url');
  const authorization = `SVID ${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), { key: a.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const mint = ca.mintX509Svid.bind(ca);
  ca.mintX509Svid = async (...args) => {
    ca.mintX509Svid = mint;
    entered();
    await gate;
    return mint(...args);
  };
  const reply = app.inject({ method: 'POST', url: '/agent/v1/renew', headers: { authorization, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { reply, inside, release };
}

it('refuses a renewal whose agent was evicted while its SVID was being minted', async () => {
  const a = await attested(1);
  const r = await renewHeldOpen(a);
  await r.inside;
  expect(store.deleteAgent(a.id)).toBe(true);
  r.release();
  expect((await r.reply).statusCode).toBe(403);
  expect(store.getAgent(a.id)).toBeUndefined();
});

it('refuses a renewal from an SVID that a re-attestation superseded meanwhile, and leaves the new attestation alone', async () => {
  const a = await attested(2);
  const r = await renewHeldOpen(a);
  await r.inside;
  // The node attests again (a TPM keeps its agent ID): only the new SVID is live from now on.
  store.recordAgent({ spiffeId: a.id, attestationType: 'tpm', selectors: [], attestedAt: Date.now(), svidSerial: 'abcdef01' });
  r.release();
  expect((await r.reply).statusCode).toBe(403);
  expect(store.getAgent(a.id)).toMatchObject({ svidSerial: 'abcdef01' });
  expect(store.getAgent(a.id)?.previousSerial).toBeUndefined();
});

it('still renews when nothing changed meanwhile', async () => {
  const a = await attested(3);
  const r = await renewHeldOpen(a);
  await r.inside;
  r.release();
  expect((await r.reply).statusCode).toBe(200);
  expect(store.getAgent(a.id)?.previousSerial).toBe(a.serial);
});
