/**
 * Anyone may start a trust-domain registration: the proof is a JWT-SVID signed by a bundle the
 * requester made up, so a client can open pending registrations for any names it likes. They must
 * not pile up in the CA's database for ever: a pending registration expires after a day (deleted
 * on the next registration, refused by validate), and past MAX_PENDING open ones the CA answers
 * 503 instead of storing more.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, expect, it } from 'vitest';
import { MAX_PENDING, registrationAudience, TrustDomainRegistry, TrustDomainStore } from '../../host/ca/trust-domains.js';

const DAY = 24 * 3600_000;
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let bundle: { keys: Record<string, unknown>[] };

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  bundle = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', use: 'jwt-svid' }] };
});

/** A registration request for `td` with a valid proof from the made-up bundle. */
async function request(td: string, now: number) {
  const spiffeIds = [`spiffe://${td}/build`];
  const proof = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setSubject(spiffeIds[0]!)
    .setAudience(registrationAudience(td, bundle, spiffeIds))
    .setExpirationTime(Math.floor(now / 1000) + 300)
    .sign(privateKey);
  return { trustDomain: td, bundle, spiffeIds, proof };
}

function registry(store: TrustDomainStore, clock: { now: number }): TrustDomainRegistry {
  return new TrustDomainRegistry(store, { challenge: 'http-01', resolve: {}, audience: 'sigstore', insecureLoopbackIssuers: false }, () => clock.now);
}

it('drops pending registrations that were never validated once they expire', async () => {
  const store = new TrustDomainStore(':memory:');
  const clock = { now: Date.now() };
  const reg = registry(store, clock);
  for (let i = 0; i < 20; i++) expect((await reg.register(await request(`junk${i}.attacker.test`, clock.now))).registration.status).toBe('pending');
  // A day later nobody answered their challenges: they are gone at the next registration, and a
  // validate of one of them is refused before any challenge fetch.
  clock.now += DAY + 1;
  await expect(reg.validate('junk0.attacker.test')).rejects.toMatchObject({ code: 'CA_CHALLENGE_FAILED', message: expect.stringMatching(/expired/) });
  await reg.register(await request('fresh.attacker.test', clock.now));
  for (let i = 0; i < 20; i++) expect(reg.get(`junk${i}.attacker.test`)).toBeUndefined();
  expect(reg.get('fresh.attacker.test')?.status).toBe('pending');
  store.close();
});

it('answers 503 past MAX_PENDING open registrations, and a pending one can still be re-registered', async () => {
  const store = new TrustDomainStore(':memory:');
  const clock = { now: Date.now() };
  const reg = registry(store, clock);
  const first = await reg.register(await request('mine.example.test', clock.now));
  for (let i = 1; i < MAX_PENDING; i++) {
    store.put({ ...first.registration, trustDomain: `filler${i}.attacker.test`, registeredAt: clock.now });
  }
  await expect(reg.register(await request('one-more.attacker.test', clock.now))).rejects.toMatchObject({ code: 'CA_OVERLOADED', status: 503, retryAfter: 60 });
  expect(reg.get('one-more.attacker.test')).toBeUndefined();
  // Replacing an existing pending registration adds no row, so it is not refused.
  expect((await reg.register(await request('mine.example.test', clock.now))).registration.status).toBe('pending');
  store.close();
});
