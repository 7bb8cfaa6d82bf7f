/**
 * Mutation fuzzing of the proposed entries the log reads from any client (POST
 * /api/v1/log/entries: hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2; Rekor v2 hashedRekordRequestV002
 * and dsseRequestV002): every mutation is admitted or refused with a LogError code (a 4xx), never
 * a TypeError that the root handler would turn into a 500.
 */
import { createHash, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { prepareEntry } from '../../host/log/entries.js';
import { prepareEntryV2 } from '../../host/log/entries-v2.js';
import { LogError } from '../../host/log/errors.js';
import { fuzz, mutateJson, outcomeAsync, rng } from '../mutate.js';
import { certSigner, ecSigner, hashedrekord, pae, type Signer } from './helpers.js';

let seeds: unknown[] = [];
let v2seeds: unknown[] = [];

beforeAll(async () => {
  await initCore();
  const s = ecSigner();
  const c: Signer = await certSigner('spiffe://acme.example/build', 'ci@acme.example');
  const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: 'ab'.repeat(32) } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} }));
  const type = 'application/vnd.in-toto+json';
  const sig = sign('sha256', pae(type, statement), s.privateKey);
  const envelope = JSON.stringify({ payloadType: type, payload: statement.toString('base64'), signatures: [{ sig: sig.toString('base64'), keyid: '' }] });
  const twice = (b: Buffer | string): string => Buffer.from(Buffer.from(b).toString('base64')).toString('base64');
  seeds = [
    hashedrekord(s, Buffer.from('fuzz artifact')).body,
    hashedrekord(c, Buffer.from('fuzz artifact')).body,
    { apiVersion: '0.0.1', kind: 'dsse', spec: { proposedContent: { envelope, verifiers: [Buffer.from(s.publicKeyPem).toString('base64')] } } },
    {
      apiVersion: '0.0.2', kind: 'intoto',
      spec: { content: { envelope: { payloadType: type, payload: twice(statement), signatures: [{ keyid: 'k1', sig: twice(sig), publicKey: Buffer.from(s.publicKeyPem).toString('base64') }] }, hash: { algorithm: 'sha256', value: createHash('sha256').update(envelope).digest('hex') } } },
    },
  ];
  const der = (p: string): string => Buffer.from(p.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64');
  const art = Buffer.from('v2 artifact');
  v2seeds = [
    { hashedRekordRequestV002: { digest: createHash('sha256').update(art).digest('base64'), signature: { content: sign('sha256', art, s.privateKey).toString('base64'), verifier: { publicKey: { rawBytes: der(s.publicKeyPem) }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } } } },
    { hashedRekordRequestV002: { digest: createHash('sha256').update(art).digest('base64'), signature: { content: sign('sha256', art, c.privateKey).toString('base64'), verifier: { x509Certificate: { rawBytes: der(c.certPem!) }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } } } },
    { dsseRequestV002: { envelope: { payloadType: type, payload: statement.toString('base64'), signatures: [{ sig: sig.toString('base64'), keyid: '' }] }, verifiers: [{ publicKey: { rawBytes: der(s.publicKeyPem) }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' }] } },
  ];
});

async function run(seed: number, docs: () => unknown[], prepare: (d: unknown) => unknown): Promise<string[]> {
  const r = rng(seed);
  const crashes: string[] = [];
  const codes = new Set<string>();
  const start = performance.now();
  for (let i = 0; i < 3000 && performance.now() - start < 3000; i++) {
    const list = docs();
    let d = list[Math.floor(r() * list.length)];
    for (let k = 1 + Math.floor(r() * 3); k > 0; k--) d = mutateJson(d, r);
    const o = await outcomeAsync(() => prepare(d));
    codes.add(o);
    if (o.startsWith('CRASH') && crashes.length < 5) crashes.push(`seed ${seed} iteration ${i}: ${o} ${JSON.stringify(d).slice(0, 300)}`);
  }
  // Every code is a LogError's: the root handler answers it with its own 4xx status.
  for (const c of codes) if (c !== 'ok' && !c.startsWith('CRASH') && !(new LogError(c as never, '').status < 500)) crashes.push(`code ${c} is a 5xx`);
  return crashes;
}

describe('fuzz: proposed log entries', () => {
  it('the unmutated entries are admitted', async () => {
    for (const d of seeds) expect(await outcomeAsync(() => prepareEntry(d))).toBe('ok');
    for (const d of v2seeds) expect(await outcomeAsync(() => prepareEntryV2(d))).toBe('ok');
  });

  it('prepareEntry (Rekor v1 kinds) answers a LogError code on mutated entries', async () => {
    expect(await run(0x1e4, () => seeds, prepareEntry)).toEqual([]);
  });

  it('prepareEntryV2 answers a LogError code on mutated requests', async () => {
    expect(await run(0x2e4, () => v2seeds, prepareEntryV2)).toEqual([]);
  });
});
