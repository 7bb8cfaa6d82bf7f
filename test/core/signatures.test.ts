/**
 * Signature verification, WASM (host/core/signatures.ts) and the twin
 * (host/core/signatures-reference.ts), over one shared suite: every Wycheproof vector for ECDSA
 * P-256 (DER and P1363) and Ed25519, random agreement with node:crypto, registered keys, and
 * malformed inputs.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import * as wasm from '../../host/core/signatures.js';
import * as reference from '../../host/core/signatures-reference.js';
import type { SignatureItem } from '../../host/core/signature-formats.js';

const V = join(import.meta.dirname, '../../conformance/vectors/wycheproof');
type Wy = { testGroups: { publicKeyDer: string; tests: { tcId: number; msg: string; sig: string; result: string; comment: string }[] }[] };
const load = (f: string): Wy => JSON.parse(readFileSync(join(V, f), 'utf8')) as Wy;
const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

beforeAll(() => initCore());

const impls = [['wasm', wasm], ['reference twin', reference]] as const;

function vectors(file: string, alg: SignatureItem['alg']): { item: SignatureItem; result: string; id: string }[] {
  const out: { item: SignatureItem; result: string; id: string }[] = [];
  for (const g of load(file).testGroups) {
    for (const t of g.tests) {
      const msg = hex(t.msg);
      out.push({ id: `${file}#${t.tcId} ${t.comment}`, result: t.result, item: { alg, publicKey: hex(g.publicKeyDer), digestOrMessage: alg === 'ed25519' ? msg : sha256(msg), signature: hex(t.sig) } });
    }
  }
  return out;
}

const sets = [
  vectors('ecdsa_secp256r1_sha256_test.json', 'ecdsa-p256-sha256'),
  vectors('ecdsa_secp256r1_sha256_p1363_test.json', 'ecdsa-p256-sha256'),
  vectors('ed25519_test.json', 'ed25519'),
];

describe.each(impls)('%s', (_name, impl) => {
  it.each(['ecdsa DER', 'ecdsa P1363', 'ed25519'].map((n, i) => [n, i] as const))('Wycheproof %s: every valid vector verifies, every invalid one is refused', (_n, i) => {
    const got = impl.verifyBatch(sets[i]!.map((v) => v.item));
    const wrong = sets[i]!.filter((v, j) => (v.result === 'valid' && !got[j]) || (v.result === 'invalid' && got[j]));
    expect(wrong.map((w) => w.id)).toEqual([]);
    expect(sets[i]!.length).toBeGreaterThan(100);
  });

  it('agrees with node:crypto on random keys, messages and tampering, and reports exactly which item failed', () => {
    const items: SignatureItem[] = [];
    const expected: boolean[] = [];
    for (let i = 0; i < 40; i++) {
      const ec = i % 2 === 0;
      const { privateKey, publicKey } = ec ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
      const msg = Buffer.from(`message ${i} ${Math.random()}`);
      const sig = ec ? sign('sha256', msg, i % 4 === 0 ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey) : sign(null, msg, privateKey);
      const tamper = i % 5 === 3;
      if (tamper) sig[sig.length - 3] ^= 1;
      items.push({ alg: ec ? 'ecdsa-p256-sha256' : 'ed25519', publicKey: publicKey.export({ format: 'der', type: 'spki' }), digestOrMessage: ec ? sha256(msg) : msg, signature: sig });
      expected.push(!tamper);
    }
    expect(impl.verifyBatch(items)).toEqual(expected);
  });

  it('uses registered keys transparently', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    expect(impl.registerKey(spki)).toBe(true);
    const items = Array.from({ length: 10 }, (_, i) => {
      const m = Buffer.from(`r${i}`);
      return { alg: 'ecdsa-p256-sha256' as const, publicKey: spki, digestOrMessage: sha256(m), signature: sign('sha256', m, privateKey) };
    });
    items[4]!.digestOrMessage = sha256(Buffer.from('other'));
    expect(impl.verifyBatch(items)).toEqual(items.map((_, i) => i !== 4));
  });

  it('refuses malformed input: wrong lengths, r or s = 0 or >= n, off-curve and identity-less keys, non-canonical Ed25519 S', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const d = sha256(Buffer.from('x'));
    const good = new Uint8Array(sign('sha256', Buffer.from('x'), { key: privateKey, dsaEncoding: 'ieee-p1363' }));
    const base = { alg: 'ecdsa-p256-sha256' as const, publicKey: spki, digestOrMessage: d, signature: good };
    expect(impl.verifySignature(base)).toBe(true);
    const n = hex('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    const withR = (r: Uint8Array) => { const s = new Uint8Array(good); s.set(r, 0); return s; };
    const withS = (x: Uint8Array) => { const s = new Uint8Array(good); s.set(x, 32); return s; };
    const cases: [string, Partial<SignatureItem>][] = [
      ['short digest', { digestOrMessage: d.subarray(0, 31) }],
      ['long digest', { digestOrMessage: new Uint8Array(33) }],
      ['short signature', { signature: good.subarray(0, 63) }],
      ['r = 0', { signature: withR(new Uint8Array(32)) }],
      ['s = 0', { signature: withS(new Uint8Array(32)) }],
      ['r = n', { signature: withR(n) }],
      ['s = n', { signature: withS(n) }],
      ['s = 2^256 - 1', { signature: withS(new Uint8Array(32).fill(0xff)) }],
      ['off-curve key', { publicKey: (() => { const k = new Uint8Array(spki); k[90] ^= 1; return k; })() }],
      ['zero point', { publicKey: (() => { const k = new Uint8Array(spki); k.fill(0, 27); return k; })() }],
      ['truncated SPKI', { publicKey: spki.subarray(0, 90) }],
      ['wrong alg for key', { alg: 'ed25519' }],
    ];
    for (const [name, patch] of cases) expect(impl.verifySignature({ ...base, ...patch } as SignatureItem), name).toBe(false);
    // Ed25519: S >= L is non-canonical (RFC 8032 §5.1.7) and must be refused.
    const ed = generateKeyPairSync('ed25519');
    const m = Buffer.from('ed');
    const sig = new Uint8Array(sign(null, m, ed.privateKey));
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let S = 0n;
    for (let i = 31; i >= 0; i--) S = (S << 8n) | BigInt(sig[32 + i]!);
    let S2 = S + L;
    const bad = new Uint8Array(sig);
    for (let i = 0; i < 32; i++) { bad[32 + i] = Number(S2 & 0xffn); S2 >>= 8n; }
    const edItem = { alg: 'ed25519' as const, publicKey: new Uint8Array(ed.publicKey.export({ format: 'der', type: 'spki' })), digestOrMessage: m, signature: sig };
    expect(impl.verifySignature(edItem)).toBe(true);
    expect(impl.verifySignature({ ...edItem, signature: bad })).toBe(false);
    expect(impl.verifySignature({ ...edItem, signature: sig.subarray(0, 63) })).toBe(false);
  });
});

it('WASM and the twin agree on every Wycheproof vector, "acceptable" ones included', () => {
  for (const set of sets) {
    const items = set.map((v) => v.item);
    expect(wasm.verifyBatch(items)).toEqual(reference.verifyBatch(items));
  }
});
