/**
 * Trust-domain registration with the dns-01 challenge (host/ca/trust-domains.ts, RFC 8555 §8.4
 * adapted): the registration stays pending until a TXT record at _cairn-challenge.<trust domain>
 * holds base64url(SHA-256(key authorization)); the CA looks it up through a real DNS exchange
 * (node's resolver, over UDP) with a small authoritative server run here on loopback.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dnsChallengeName, parseTrustDomainsConfig, registrationAudience, TrustDomainRegistry, TrustDomainStore } from '../../host/ca/trust-domains.js';

const TD = 'dns.acme.test';
let dns: Socket;
let port: number;
let dir: string;
const txt = new Map<string, string[]>();
const queried: string[] = [];

/** Answers TXT queries from `txt` (NXDOMAIN for other names); RFC 1035 §4.1 message layout. */
function answer(q: Buffer): Buffer {
  let at = 12;
  const labels: string[] = [];
  while (q[at]! > 0) {
    labels.push(q.subarray(at + 1, at + 1 + q[at]!).toString());
    at += 1 + q[at]!;
  }
  const question = q.subarray(12, at + 5);
  const name = labels.join('.').toLowerCase();
  queried.push(name);
  const values = q.readUInt16BE(at + 1) === 16 ? txt.get(name) : undefined;
  const head = Buffer.alloc(12);
  head.writeUInt16BE(q.readUInt16BE(0), 0); // id
  head.writeUInt16BE(0x8400 | (values ? 0 : 3), 2); // response, authoritative, NOERROR / NXDOMAIN
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(values?.length ?? 0, 6);
  const rrs = (values ?? []).map((v) => {
    // A value over 255 bytes is split into several character-strings (RFC 1035 §3.3.14).
    const chunks = v.match(/.{1,255}/g) ?? [''];
    const rdata = Buffer.concat(chunks.map((c) => Buffer.concat([Uint8Array.of(c.length), Buffer.from(c)])));
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(16, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([head, question, ...rrs]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-td-dns-'));
  dns = createSocket('udp4');
  dns.on('message', (m, r) => dns.send(answer(m), r.port, r.address));
  await new Promise<void>((r) => dns.bind(0, '127.0.0.1', r));
  port = dns.address().port;
});
afterAll(async () => {
  dns.close();
  await rm(dir, { recursive: true, force: true });
});

it('stays pending until the TXT record holds the digest of the key authorization, then activates', async () => {
  const cfg = parseTrustDomainsConfig({ challenge: 'dns-01', dnsServers: [`127.0.0.1:${port}`] });
  const store = new TrustDomainStore(join(dir, 'td.db'));
  const registry = new TrustDomainRegistry(store, cfg);
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const bundle = { keys: [{ ...(await exportJWK(publicKey)), use: 'jwt-svid', kid: 'k1' }] };
  const ids = [`spiffe://${TD}/build`];
  const proof = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
    .setSubject(`spiffe://${TD}/registrar`)
    .setAudience(registrationAudience(TD, bundle, ids))
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
  const r = await registry.register({ trustDomain: TD, bundle, spiffeIds: ids, proof });
  expect(r.registration.status).toBe('pending');
  const ch = r.challenge!;
  if (ch.type !== 'dns-01') throw new Error(`expected dns-01, got ${ch.type}`);
  expect(ch.name).toBe(`_cairn-challenge.${TD}`);
  expect(ch.name).toBe(dnsChallengeName(TD));
  expect(ch.value).toBe(createHash('sha256').update(ch.keyAuthorization).digest('base64url'));

  // No record, then a wrong one, then the key authorization itself (not its digest): refused.
  await expect(registry.validate(TD)).rejects.toMatchObject({ code: 'CA_CHALLENGE_FAILED' });
  txt.set(ch.name, ['something else']);
  await expect(registry.validate(TD)).rejects.toMatchObject({ code: 'CA_CHALLENGE_FAILED' });
  txt.set(ch.name, [ch.keyAuthorization]);
  await expect(registry.validate(TD)).rejects.toMatchObject({ code: 'CA_CHALLENGE_FAILED' });
  expect((await registry.verify(await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' }).setSubject(ids[0]!).setAudience('sigstore').setIssuedAt().setExpirationTime('5m').sign(privateKey)))).toBeUndefined();

  // The right digest, among other TXT records at the name: active.
  txt.set(ch.name, ['v=other', ch.value]);
  const active = await registry.validate(TD);
  expect(active.status).toBe('active');
  expect(queried).toContain(`_cairn-challenge.${TD}`);
  // The trust domain's JWT-SVIDs now verify for the registered ID.
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' }).setSubject(ids[0]!).setAudience('sigstore').setIssuedAt().setExpirationTime('5m').sign(privateKey);
  expect((await registry.verify(token))?.claims.sub).toBe(ids[0]);
  store.close();
});

it('refuses a dnsServers list that is not IP addresses, and an unknown challenge', () => {
  expect(() => parseTrustDomainsConfig({ challenge: 'dns-01', dnsServers: ['ns.example.com'] })).toThrow(/dnsServers/);
  expect(() => parseTrustDomainsConfig({ challenge: 'tls-alpn-01' })).toThrow(/challenge must be/);
});
