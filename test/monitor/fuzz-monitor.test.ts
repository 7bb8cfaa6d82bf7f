/**
 * Mutation fuzzing of what the monitor reads from a log it does not trust: C2SP entry bundles,
 * Rekor entry bodies (JSON with PEM / DER certificates) and RFC 6962 MerkleTreeLeafs. Every
 * outcome is a result or a MonitorError code; an identity is found however the body nests it.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ctLeafIdentities, entryIdentities, splitBundle } from '../../host/monitor/monitor.js';
import { integer, oid, seq, set, tlv } from '../../host/tsa/encode.js';
import { fuzz, mutateBytesN, mutateJson, outcome } from '../mutate.js';

const ID = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

/** A certificate with a URI subjectAltName, DER (RFC 5280 §4.1). */
function certificate(): Uint8Array {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const alg = seq(oid('1.2.840.10045.4.3.2'));
  const utc = (s: string): Uint8Array => tlv(0x17, new TextEncoder().encode(s));
  const name = seq(set(seq(oid('2.5.4.10'), tlv(0x0c, new TextEncoder().encode('sigstore.dev')))));
  const san = seq(tlv(0x86, new TextEncoder().encode(ID)));
  const tbs = seq(tlv(0xa0, integer(2n)), integer(42n), alg, name, seq(utc('250101000000Z'), utc('250101001000Z')), seq(),
    new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    tlv(0xa3, seq(seq(oid('2.5.29.17'), tlv(0x01, Uint8Array.of(0xff)), tlv(0x04, san)))));
  return seq(tbs, alg, tlv(0x03, Uint8Array.of(0), sign('sha256', tbs, privateKey)));
}
const der = Buffer.from(certificate());
const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
const body = {
  apiVersion: '0.0.1',
  kind: 'hashedrekord',
  spec: {
    data: { hash: { algorithm: 'sha256', value: 'ab'.repeat(32) } },
    signature: { content: Buffer.alloc(70, 1).toString('base64'), publicKey: { content: Buffer.from(pem).toString('base64') } },
  },
};
const v2body = { apiVersion: '0.0.2', kind: 'hashedrekord', spec: { hashedRekordV002: { signature: { verifier: { x509Certificate: { rawBytes: der.toString('base64') } } } } } };
const bundle = (entries: Uint8Array[]): Uint8Array => Buffer.concat(entries.flatMap((e) => [Buffer.from([e.length >> 8, e.length & 0xff]), Buffer.from(e)]));
/** RFC 6962 §3.4 MerkleTreeLeaf, x509_entry. */
const leaf = Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(8, 1), Buffer.from([0, 0]), Buffer.from([der.length >> 16, (der.length >> 8) & 0xff, der.length & 0xff]), der, Buffer.from([0, 0])]);

describe('fuzz: monitor inputs', () => {
  it('finds the identity in v1 and v2 bodies and in a CT leaf', () => {
    expect(entryIdentities(Buffer.from(JSON.stringify(body))).identities).toEqual([`uri:${ID}`]);
    expect(entryIdentities(Buffer.from(JSON.stringify(v2body))).identities).toEqual([`uri:${ID}`]);
    expect(ctLeafIdentities(leaf).identities).toEqual([`uri:${ID}`]);
  });

  it('regression: a 30,000-level body is read, not a RangeError, and what it hides deep down is found', () => {
    const depth = 20_000;
    const deep = `{"kind":"hashedrekord","x":${'['.repeat(depth)}{"publicKey":{"content":"${Buffer.from(pem).toString('base64')}"}}${']'.repeat(depth)}}`;
    expect(deep.length).toBeLessThan(65_536); // fits one C2SP entry
    expect(entryIdentities(Buffer.from(deep)).identities).toEqual([`uri:${ID}`]);
    const deeper = `{"kind":"hashedrekord","x":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
    expect(outcome(() => entryIdentities(Buffer.from(deeper)))).toBe('ok');
  });

  it('entryIdentities answers on mutated bodies (JSON structure and bytes)', () => {
    const seeds = [body, v2body];
    const { crashes, runs } = fuzz(0x4d0, 3000, (r) => {
      if (r() < 0.5) return mutateBytesN(Buffer.from(JSON.stringify(seeds[Math.floor(r() * 2)])), r);
      let d: unknown = seeds[Math.floor(r() * 2)];
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) d = mutateJson(d, r);
      return Buffer.from(JSON.stringify(d) ?? '');
    }, (b) => outcome(() => entryIdentities(b)), { budgetMs: 2500 });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(300);
  });

  it('ctLeafIdentities and splitBundle answer a result or MONITOR_BAD_RESPONSE on mutated bytes', () => {
    const entries = [Buffer.from(JSON.stringify(body)), Buffer.from(JSON.stringify(v2body)), leaf];
    const tile = bundle(entries);
    const { crashes, codes } = fuzz(0xc7, 4000, (r) => (r() < 0.5 ? { leaf: mutateBytesN(leaf, r) } : { tile: mutateBytesN(tile, r) }), (x) =>
      outcome(() => (x.leaf ? ctLeafIdentities(x.leaf) : splitBundle(x.tile!, entries.length))), { budgetMs: 2000 });
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => c !== 'ok' && c !== 'MONITOR_BAD_RESPONSE')).toEqual([]);
  });
});
