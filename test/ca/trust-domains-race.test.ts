/**
 * Trust-domain registrations change across awaits (host/ca/trust-domains.ts): validate fetches the
 * http-01 answer, update checks the proof. What either writes must be decided on what is stored
 * when it writes, not on what it read before the await:
 *  - a validate held up at the challenge server must not put back the bundle it read, over a
 *    bundle rotation (update) made since another validate activated the registration;
 *  - of two updates checked against the same registered bundle, only the first may be written: the
 *    second was authorised by a key the first may have rotated away from.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registrationAudience, TrustDomainRegistry, TrustDomainStore } from '../../host/ca/trust-domains.js';

const TD = 'race.acme.test';
const ids = [`spiffe://${TD}/build`];
let key: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let first: { keys: Record<string, unknown>[] };
let server: Server;
let port: number;
let answer = '';
/** While set, the challenge server holds the next request: `arrived` resolves, `release` answers it. */
let hold: { arrived: () => void; release?: () => void } | undefined;

const bundleOf = async (kid: string): Promise<{ keys: Record<string, unknown>[] }> => {
  const pair = await generateKeyPair('ES256');
  return { keys: [{ ...(await exportJWK(pair.publicKey)), kid, use: 'jwt-svid' }] };
};

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey;
  first = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', use: 'jwt-svid' }] };
  server = createServer((_req, res) => {
    const send = (): void => void res.end(answer);
    if (!hold || hold.release) return send();
    hold.release = send;
    hold.arrived();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const proof = (bundle: unknown): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject(ids[0]!).setAudience(registrationAudience(TD, bundle, ids)).setExpirationTime(Math.floor(Date.now() / 1000) + 300).sign(key);

/** A registration of TD with the first bundle, pending its http-01 answer (which the server gives). */
async function pendingRegistry(): Promise<{ reg: TrustDomainRegistry; store: TrustDomainStore }> {
  const store = new TrustDomainStore(':memory:');
  const reg = new TrustDomainRegistry(store, { challenge: 'http-01', resolve: { [TD]: `127.0.0.1:${port}` }, audience: 'sigstore', insecureLoopbackIssuers: false });
  const { challenge } = await reg.register({ trustDomain: TD, bundle: first, spiffeIds: ids, proof: await proof(first) });
  answer = challenge!.keyAuthorization;
  return { reg, store };
}

it('a validate held at the challenge server does not undo a bundle rotation made meanwhile', async () => {
  const { reg, store } = await pendingRegistry();
  const arrived = new Promise<void>((r) => (hold = { arrived: r }));
  const slow = reg.validate(TD);
  await arrived;
  expect((await reg.validate(TD)).status).toBe('active');
  const rotated = await bundleOf('k2');
  await reg.update(TD, { bundle: rotated, spiffeIds: ids, proof: await proof(rotated) });
  hold!.release!();
  hold = undefined;
  expect((await slow).status).toBe('active');
  expect(store.get(TD)!.bundle).toBe(JSON.stringify(rotated));
});

it('of two updates authorised by the same registered bundle, the second is refused', async () => {
  const { reg, store } = await pendingRegistry();
  expect((await reg.validate(TD)).status).toBe('active');
  const a = await bundleOf('ka');
  const b = await bundleOf('kb');
  const results = await Promise.allSettled([
    reg.update(TD, { bundle: a, spiffeIds: ids, proof: await proof(a) }),
    reg.update(TD, { bundle: b, spiffeIds: ids, proof: await proof(b) }),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
  expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'CA_CONFLICT' });
  expect(store.get(TD)!.bundle).toBe(JSON.stringify(a));
});
