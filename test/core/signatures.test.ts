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
import { coreExports } from '../../host/core/wasm.js';
import * as wasm from '../../host/core/signatures.js';
import * as reference from '../../host/core/signatures-reference.js';
import type { SignatureItem } from '../../host/core/signature-formats.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';

const V = join(import.meta.dirname, '../../conformance/vectors/wycheproof');
type Wy = { testGroups: { publicKeyDer: string; tests: { tcId: number; msg: string; sig: string; result: string; comment: string }[] }[] };
const load = (f: string): Wy => JSON.parse(readFileSync(join(V, f), 'utf8')) as Wy;
const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

beforeAll(() => initCore());

const impls = [['wasm', wasm], ['reference twin', reference]] as const;

function vectors(file: string, alg: SignatureItem['alg'], signatureFormat?: 'p1363'): { item: SignatureItem; result: string; id: string }[] {
  const out: { item: SignatureItem; result: string; id: string }[] = [];
  for (const g of load(file).testGroups) {
    for (const t of g.tests) {
      const msg = hex(t.msg);
      out.push({ id: `${file}#${t.tcId} ${t.comment}`, result: t.result, item: { alg, publicKey: hex(g.publicKeyDer), digestOrMessage: alg === 'ed25519' ? msg : sha256(msg), signature: hex(t.sig), ...(signatureFormat ? { signatureFormat } : {}) } });
    }
  }
  return out;
}

const sets = [
  vectors('ecdsa_secp256r1_sha256_test.json', 'ecdsa-p256-sha256'),
  vectors('ecdsa_secp256r1_sha256_p1363_test.json', 'ecdsa-p256-sha256', 'p1363'),
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
      const p1363 = ec && i % 4 === 0;
      const sig = ec ? sign('sha256', msg, p1363 ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey) : sign(null, msg, privateKey);
      const tamper = i % 5 === 3;
      if (tamper) sig[sig.length - 3] ^= 1;
      items.push({ alg: ec ? 'ecdsa-p256-sha256' : 'ed25519', publicKey: publicKey.export({ format: 'der', type: 'spki' }), digestOrMessage: ec ? sha256(msg) : msg, signature: sig, ...(p1363 ? { signatureFormat: 'p1363' as const } : {}) });
      expected.push(!tamper);
    }
    expect(impl.verifyBatch(items)).toEqual(expected);
  });

  it('reads an ECDSA signature only in its declared form: DER by default, r‖s when the item says p1363', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const m = Buffer.from('declared form');
    const base = { alg: 'ecdsa-p256-sha256' as const, publicKey: publicKey.export({ format: 'der', type: 'spki' }), digestOrMessage: sha256(m) };
    const der = sign('sha256', m, privateKey);
    const raw = sign('sha256', m, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(impl.verifyBatch([
      { ...base, signature: der },
      { ...base, signature: raw },
      { ...base, signature: raw, signatureFormat: 'p1363' },
      { ...base, signature: der, signatureFormat: 'p1363' },
      { ...base, signature: der, signatureFormat: 'der' },
    ])).toEqual([true, false, true, false, true]);
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
    const base = { alg: 'ecdsa-p256-sha256' as const, publicKey: spki, digestOrMessage: d, signature: good, signatureFormat: 'p1363' as const };
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

it('P-256 batches (one shared inversion of s per 128) give the single-call verdicts: across chunk boundaries, registered and one-off keys, out-of-range r and s mid-batch', () => {
  const N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
  const keys = Array.from({ length: 5 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const spki = (i: number): Uint8Array => new Uint8Array(keys[i]!.publicKey.export({ format: 'der', type: 'spki' }));
  expect(wasm.registerKey(spki(0))).toBe(true);
  const items: SignatureItem[] = [];
  for (let i = 0; i < 150; i++) {
    const msg = Buffer.from(`batch ${i}`);
    const k = i % keys.length;
    const sig = new Uint8Array(sign('sha256', msg, { key: keys[k]!.privateKey, dsaEncoding: 'ieee-p1363' }));
    const item: SignatureItem = { alg: 'ecdsa-p256-sha256', publicKey: spki(k), digestOrMessage: createHash('sha256').update(msg).digest(), signature: sig, signatureFormat: 'p1363' };
    if (i % 17 === 3) sig[40] ^= 1; // wrong s
    if (i % 23 === 5) sig.fill(0, 0, 32); // r = 0
    if (i % 29 === 7) sig.set(N, 32); // s = n
    if (i % 31 === 9) item.digestOrMessage = createHash('sha256').update('other').digest();
    items.push(item);
  }
  const single = items.map((it) => wasm.verifySignature(it));
  expect(single.filter(Boolean).length).toBeGreaterThan(100);
  expect(single.filter((x) => !x).length).toBeGreaterThan(15);
  expect(wasm.verifyBatch(items)).toEqual(single);
  expect(wasm.verifyBatch(items)).toEqual(reference.verifyBatch(items));
});

describe('one-off P-256 keys finished by a runtime multiplication (p256_verify_batch_deferred)', () => {
  // verifyBatch with and without node:crypto's ECDH doing x(u2·T): both must give every verdict
  // of the WASM-only path, and the deferred path must really be the one taken.
  const withoutMul = <T>(f: () => T): T => {
    wasm.setP256ScalarMul(undefined);
    try {
      return f();
    } finally {
      expect(wasm.p256ScalarMulInstalled()).toBe(false);
    }
  };
  it('initCore installed it here (Node has ECDH, and it gives x(2·G))', () => {
    expect(wasm.p256ScalarMulInstalled()).toBe(true);
  });

  it('is left out when the process starts with CAIRN_WASM_ONLY=1', async () => {
    const { execFileSync } = await import('node:child_process');
    const core = new URL('../../host/core/index.ts', import.meta.url).href;
    const run = (env: NodeJS.ProcessEnv): string =>
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `const c = await import(${JSON.stringify(core)}); await c.initCore(); console.log(c.p256ScalarMulInstalled());`], { env, encoding: 'utf8' }).trim();
    expect(run({ ...process.env, CAIRN_WASM_ONLY: '1' })).toBe('false');
    expect(run({ ...process.env, CAIRN_WASM_ONLY: '' })).toBe('true');
  });

  it('every Wycheproof P-256 vector (DER and P1363, "k*G has a large x-coordinate" among them) gets the WASM-only verdict, in batches (finished in the core by p256_finish_deferred) and alone', async () => {
    const all = [...sets[0]!, ...sets[1]!];
    expect(all.some((v) => v.id.includes('large x-coordinate'))).toBe(true);
    const items = all.map((v) => v.item);
    const pure = withoutMul(() => ({ batch: wasm.verifyBatch(items), single: items.map((it) => wasm.verifySignature(it)) }));
    expect(pure.batch).toEqual(pure.single);
    // The runtime multiplication, counted.
    const { createECDH } = await import('node:crypto');
    const ecdh = createECDH('prime256v1');
    let calls = 0;
    wasm.setP256ScalarMul((k, point) => {
      calls++;
      ecdh.setPrivateKey(k);
      return ecdh.computeSecret(point);
    });
    try {
      expect(wasm.verifyBatch(items)).toEqual(pure.batch);
      expect(items.map((it) => wasm.verifySignature(it))).toEqual(pure.single);
      expect(calls).toBeGreaterThan(400);
    } finally {
      expect(await wasm.installRuntimeScalarMul()).toBe(true);
    }
  });

  it('refuses a key with Q = −(e·r⁻¹)·G, where T = O and u1·G + u2·Q is the identity (SEC 1 §4.1.4 step 5)', () => {
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    const e = createHash('sha256').update('T = O').digest();
    const r = 0x1234567890abcdefn, s = 0x42n;
    const modInv = (a: bigint): bigint => {
      let [t, nt, rr, nr] = [0n, 1n, n, ((a % n) + n) % n];
      while (nr !== 0n) {
        const q = rr / nr;
        [t, nt] = [nt, t - q * nt];
        [rr, nr] = [nr, rr - q * nr];
      }
      return ((t % n) + n) % n;
    };
    const c = (BigInt(`0x${e.toString('hex')}`) % n) * modInv(r) % n;
    const Q = p256.Point.BASE.multiply(n - c); // −c·G
    const be = (v: bigint): Uint8Array => new Uint8Array(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
    const spki = new Uint8Array([...hex('3059301306072a8648ce3d020106082a8648ce3d030107034200'), ...Q.toBytes(false)]);
    const item: SignatureItem = { alg: 'ecdsa-p256-sha256', publicKey: spki, digestOrMessage: e, signature: new Uint8Array([...be(r), ...be(s)]), signatureFormat: 'p1363' };
    const other: SignatureItem = { ...item, signature: new Uint8Array([...be(r + 1n), ...be(s)]) };
    expect(wasm.verifyBatch([item, other, item])).toEqual([false, false, false]);
    expect(wasm.verifySignature(item)).toBe(false);
    expect(withoutMul(() => wasm.verifyBatch([item, other]))).toEqual([false, false]);
    expect(reference.verifyBatch([item, other])).toEqual([false, false]);
  });

  it('accepts a runtime that drops leading zero bytes of x (pads it back), on a signature whose r starts with a zero byte', async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(kp.publicKey.export({ format: 'der', type: 'spki' }));
    let item: SignatureItem | undefined;
    for (let i = 0; i < 20_000 && !item; i++) {
      const msg = Buffer.from(`leading zero ${i}`);
      const sig = new Uint8Array(sign('sha256', msg, { key: kp.privateKey, dsaEncoding: 'ieee-p1363' }));
      if (sig[0] === 0) item = { alg: 'ecdsa-p256-sha256', publicKey: spki, digestOrMessage: createHash('sha256').update(msg).digest(), signature: sig, signatureFormat: 'p1363' };
    }
    expect(item).toBeDefined();
    const { createECDH } = await import('node:crypto');
    const ecdh = createECDH('prime256v1');
    let stripped = 0;
    wasm.setP256ScalarMul((k, point) => {
      ecdh.setPrivateKey(k);
      const x = ecdh.computeSecret(point);
      let z = 0;
      while (z < x.length - 1 && x[z] === 0) z++;
      if (z > 0) stripped++;
      return x.subarray(z);
    });
    try {
      const bad = { ...item!, digestOrMessage: createHash('sha256').update('other').digest() };
      expect(wasm.verifyBatch([item!, bad, item!])).toEqual([true, false, true]);
      expect(stripped).toBeGreaterThan(0);
    } finally {
      expect(await wasm.installRuntimeScalarMul()).toBe(true);
    }
  });

  it('falls back to the core alone when the runtime multiplication throws', async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const items = Array.from({ length: 5 }, (_, i) => {
      const msg = Buffer.from(`fallback ${i}`);
      return { alg: 'ecdsa-p256-sha256' as const, publicKey: new Uint8Array(kp.publicKey.export({ format: 'der', type: 'spki' })), digestOrMessage: createHash('sha256').update(msg).digest(), signature: new Uint8Array(sign('sha256', i === 3 ? Buffer.from('other') : msg, kp.privateKey)) };
    });
    wasm.setP256ScalarMul(() => {
      throw new Error('refused');
    });
    try {
      expect(wasm.verifyBatch(items)).toEqual([true, true, true, false, true]);
    } finally {
      expect(await wasm.installRuntimeScalarMul()).toBe(true);
    }
  });
});

describe('Ed25519 batch verification (WASM) and the cofactored rule', () => {
  const spkiOf = (raw: Uint8Array): Uint8Array => new Uint8Array([...hex('302a300506032b6570032100'), ...raw]);
  const keyPairs = Array.from({ length: 6 }, () => generateKeyPairSync('ed25519'));
  const edItem = (i: number, msg: Uint8Array): SignatureItem => {
    const kp = keyPairs[i % keyPairs.length]!;
    return { alg: 'ed25519', publicKey: new Uint8Array(kp.publicKey.export({ format: 'der', type: 'spki' })), digestOrMessage: msg, signature: new Uint8Array(sign(null, msg, kp.privateKey)) };
  };

  it('batch and single verification agree on every Wycheproof Ed25519 vector', () => {
    const items = sets[2]!.map((v) => v.item);
    expect(wasm.verifyBatch(items)).toEqual(items.map((it) => wasm.verifySignature(it)));
  });

  it('an all-valid batch of 150 (repeated, registered and one-off keys, 3 chunks) verifies; one bad item in it is pinpointed', () => {
    expect(wasm.registerKey(edItem(0, new Uint8Array()).publicKey)).toBe(true);
    const items = Array.from({ length: 150 }, (_, i) => edItem(i, Buffer.from(`batch ${i}`)));
    // Every seventh item gets a one-off key of its own.
    for (let i = 6; i < 150; i += 7) {
      const kp = generateKeyPairSync('ed25519');
      const m = Buffer.from(`batch ${i}`);
      items[i] = { alg: 'ed25519', publicKey: new Uint8Array(kp.publicKey.export({ format: 'der', type: 'spki' })), digestOrMessage: m, signature: new Uint8Array(sign(null, m, kp.privateKey)) };
    }
    for (const impl of [wasm, reference]) expect(impl.verifyBatch(items).every(Boolean)).toBe(true);
    const bad = items.map((it) => ({ ...it }));
    bad[70] = { ...bad[70]!, digestOrMessage: Buffer.from('batch 71') };
    bad[143] = { ...bad[143]!, signature: Uint8Array.from(bad[143]!.signature, (b, j) => (j === 10 ? b ^ 1 : b)) };
    const expected = bad.map((_, i) => i !== 70 && i !== 143);
    expect(wasm.verifyBatch(bad)).toEqual(expected);
    expect(reference.verifyBatch(bad)).toEqual(expected);
  });

  it('the batch equation itself holds for valid items and fails when any one is wrong (raw exports)', () => {
    const x = coreExports() as unknown as Record<string, (...a: number[]) => number> & { memory: { buffer: ArrayBuffer } };
    const run = (items: SignatureItem[]): [number, number[]] => {
      const io = new Uint8Array(x.memory.buffer, x.ed25519_io!(), 128 + 16384);
      x.ed25519_batch_reset!();
      const idx = items.map((it) => {
        io.set(it.publicKey.subarray(12), 0);
        const key = x.ed25519_batch_key!(-1);
        io.set(it.signature, 32);
        io.set(globalThis.crypto.getRandomValues(new Uint8Array(16)), 96);
        x.ed25519_begin!();
        io.set(it.digestOrMessage, 128);
        x.ed25519_update!(it.digestOrMessage.length);
        return x.ed25519_push!(key);
      });
      return [x.ed25519_verify_batch!(), idx.map((i) => x.ed25519_verify_item!(i))];
    };
    const items = Array.from({ length: 64 }, (_, i) => edItem(i, Buffer.from(`raw ${i}`)));
    expect(run(items)).toEqual([1, items.map(() => 1)]);
    for (const victim of [0, 31, 63]) {
      const bad = items.map((it) => ({ ...it }));
      bad[victim] = { ...bad[victim]!, digestOrMessage: Buffer.from('changed') };
      const [batch, single] = run(bad);
      expect(batch).toBe(0);
      expect(single).toEqual(items.map((_, i) => (i === victim ? 0 : 1)));
    }
  });

  it('messages longer than the 16 KiB WASM chunk are hashed in pieces', () => {
    for (const len of [16383, 16384, 16385, 100_000]) {
      const m = new Uint8Array(len).map((_, i) => (i * 31) & 0xff);
      const it = edItem(len, m);
      expect(wasm.verifySignature(it), `${len}`).toBe(true);
      const other = new Uint8Array(m);
      other[len - 1] ^= 1;
      expect(wasm.verifySignature({ ...it, digestOrMessage: other }), `${len} tampered at the end`).toBe(false);
    }
  });

  it('refuses small-order public keys (the identity accepts R = O, S = 0 for any message under OpenSSL)', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const order8 = hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
    const forged = new Uint8Array(64);
    forged.set(identity, 0);
    for (const A of [identity, order8]) {
      const it: SignatureItem = { alg: 'ed25519', publicKey: spkiOf(A), digestOrMessage: Buffer.from('any message'), signature: forged };
      expect(wasm.verifySignature(it)).toBe(false);
      expect(reference.verifySignature(it)).toBe(false);
      expect(wasm.registerKey(spkiOf(A))).toBe(false);
    }
    // A non-canonical key encoding (y = p, i.e. y ≡ 0) is refused too.
    const yp = hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
    expect(wasm.registerKey(spkiOf(yp))).toBe(false);
  });

  it('is cofactored: a signature whose R has an order-8 component verifies in single and batch form (noble agrees), and OpenSSL, cofactorless, refuses it', () => {
    // Built here with the private scalar: R' = r·B + T (T of order 8), S = r + k'·a with k' = H(R' ‖ A ‖ M).
    const sk = ed25519.utils.randomSecretKey();
    const { scalar: a, pointBytes: A } = ed25519.utils.getExtendedPublicKey(sk);
    const L = ed25519.Point.Fn.ORDER;
    const T = ed25519.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
    const r = 1234567890123456789012345678901234567890n % L;
    const Rb = ed25519.Point.BASE.multiply(r).add(T).toBytes();
    const M = Buffer.from('torsion');
    const h = createHash('sha512').update(Rb).update(A).update(M).digest();
    let k = 0n;
    for (let i = 63; i >= 0; i--) k = (k << 8n) | BigInt(h[i]!);
    const S = (r + (k % L) * a) % L;
    const sig = new Uint8Array(64);
    sig.set(Rb, 0);
    for (let i = 0, v = S; i < 32; i++, v >>= 8n) sig[32 + i] = Number(v & 0xffn);
    const item: SignatureItem = { alg: 'ed25519', publicKey: spkiOf(A), digestOrMessage: M, signature: sig };
    expect(ed25519.verify(sig, M, A, { zip215: false })).toBe(true); // @noble/curves: cofactored, strict encodings
    expect(wasm.verifySignature(item)).toBe(true);
    const honest = edItem(1, Buffer.from('honest'));
    expect(wasm.verifyBatch([honest, item, honest, item])).toEqual([true, true, true, true]);
    expect(reference.verifySignature(item)).toBe(false); // OpenSSL: cofactorless
  });
});

it('the WASM SHA-512 (Ed25519 hashing) matches node:crypto across block boundaries', () => {
  const x = coreExports() as unknown as { memory: { buffer: ArrayBuffer }; ed25519_io(): number; sha512_digest(p: number, len: number): number };
  const at = x.ed25519_io() + 128;
  for (const len of [0, 1, 55, 111, 112, 113, 127, 128, 129, 239, 240, 256, 1000, 16384]) {
    const m = new Uint8Array(len).map((_, i) => (i * 7 + len) & 0xff);
    new Uint8Array(x.memory.buffer).set(m, at);
    const p = x.sha512_digest(at, len);
    expect(Buffer.from(new Uint8Array(x.memory.buffer, p, 64)).toString('hex'), `${len}`).toBe(createHash('sha512').update(m).digest('hex'));
  }
});

describe('P-256 batches through the simultaneous affine accumulation (assembly/p256.ts, ACC_N)', () => {
  // Batches of at least p256_set_affine_min records add their comb entries with the affine chord
  // rule, one shared inversion per round; smaller ones keep the Jacobian formulas. Every case runs
  // with the threshold forced to 1 (affine always) and to 10^6 (never), against the twin.
  const core = (): { p256_set_affine_min(v: number): number } => coreExports() as unknown as { p256_set_affine_min(v: number): number };
  const both = <T>(f: () => T): { affine: T; jacobian: T } => {
    const old = core().p256_set_affine_min(1);
    try {
      const affine = f();
      core().p256_set_affine_min(1_000_000);
      return { affine, jacobian: f() };
    } finally {
      core().p256_set_affine_min(old);
    }
  };
  const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const mod = (a: bigint): bigint => ((a % n) + n) % n;
  const inv = (a: bigint): bigint => {
    let [t, nt, r, nr] = [0n, 1n, n, mod(a)];
    while (nr !== 0n) {
      const q = r / nr;
      [t, nt] = [nt, t - q * nt];
      [r, nr] = [nr, r - q * nr];
    }
    return mod(t);
  };
  const be = (v: bigint): Uint8Array => new Uint8Array(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
  const spkiOf = (d: bigint): Uint8Array => new Uint8Array([...hex('3059301306072a8648ce3d020106082a8648ce3d030107034200'), ...p256.Point.BASE.multiply(d).toBytes(false)]);
  const item = (spki: Uint8Array, r: bigint, s: bigint, e: bigint): SignatureItem => ({ alg: 'ecdsa-p256-sha256', publicKey: spki, digestOrMessage: be(e), signature: new Uint8Array([...be(r), ...be(s)]), signatureFormat: 'p1363' });
  const xOf = (k: bigint): bigint => mod(p256.Point.BASE.multiply(mod(k)).toAffine().x);

  it('every Wycheproof P-256 vector with its key registered gets the twin\'s verdict either way, and so does every one-off key', () => {
    for (const set of [sets[0]!, sets[1]!]) {
      const byKey = new Map<string, SignatureItem[]>();
      for (const v of set) {
        const k = Buffer.from(v.item.publicKey).toString('hex');
        byKey.set(k, [...(byKey.get(k) ?? []), v.item]);
      }
      let registered = 0;
      for (const items of byKey.values()) {
        if (wasm.registerKey(items[0]!.publicKey)) registered++;
        const want = reference.verifyBatch(items);
        const got = both(() => wasm.verifyBatch(items));
        expect(got.affine).toEqual(want);
        expect(got.jacobian).toEqual(want);
      }
      expect(registered).toBeGreaterThan(10);
      // One-off keys (registration evicts the least recent of 8 slots: most of these are gone).
      const items = set.map((v) => v.item).filter((it) => !wasm.isKeyRegistered(it.publicKey));
      expect(items.length).toBeGreaterThan(100);
      const want = reference.verifyBatch(items);
      const got = both(() => wasm.verifyBatch(items));
      expect(got.affine).toEqual(want);
      expect(got.jacobian).toEqual(want);
    }
  });

  it('falls back to the Jacobian formulas where the chord rule has no answer: u1·G = u2·Q (a doubling) and u1·G = −u2·Q (the identity)', () => {
    const d = 0x5eed5eed5eed5eed5eed5eed5eed5eedn;
    const spki = spkiOf(d);
    expect(wasm.registerKey(spki)).toBe(true);
    const cases: { it: SignatureItem; valid: boolean }[] = [];
    for (const k of [7n, 0xdeadbeefn, n - 12345n]) {
      // u1 = k and u2 = k/d: u1·G + u2·Q = 2k·G, so r = x(2k·G) makes a valid signature.
      const r = xOf(2n * k);
      const s = mod(r * d * inv(k));
      cases.push({ it: item(spki, r, s, mod(k * s)), valid: true });
      // u1 = −u2·d: the sum is O, which SEC 1 §4.1.4 step 5 refuses whatever r is.
      const r2 = xOf(k);
      const s2 = mod(k + 99n);
      cases.push({ it: item(spki, r2, s2, mod(-r2 * d)), valid: false });
    }
    // The same keys signing ordinarily, so each batch mixes the exceptional records with others.
    const plain = Array.from({ length: 30 }, (_, i) => {
      const k = BigInt(1000 + i);
      const r = xOf(k);
      const e = BigInt(`0x${createHash('sha256').update(`plain ${i}`).digest('hex')}`) % n;
      return { it: item(spki, r, mod(inv(k) * (e + r * d)), e), valid: true };
    });
    const all = [...plain.slice(0, 10), ...cases, ...plain.slice(10)];
    const want = all.map((c) => c.valid);
    expect(reference.verifyBatch(all.map((c) => c.it))).toEqual(want);
    const got = both(() => wasm.verifyBatch(all.map((c) => c.it)));
    expect(got.affine).toEqual(want);
    expect(got.jacobian).toEqual(want);
    // With one-off keys in the batch too (p256_verify_batch_deferred), with and without the runtime step.
    const oneOff = plain.slice(0, 3).map((c) => ({ ...c, it: { ...c.it, publicKey: spkiOf(d + 1n) } }));
    const mixed = [...all, ...oneOff];
    const wantMixed = reference.verifyBatch(mixed.map((c) => c.it));
    expect(wantMixed.slice(0, all.length)).toEqual(want);
    expect(both(() => wasm.verifyBatch(mixed.map((c) => c.it)))).toEqual({ affine: wantMixed, jacobian: wantMixed });
    wasm.setP256ScalarMul(undefined);
    const pure = both(() => wasm.verifyBatch(mixed.map((c) => c.it)));
    void wasm.installRuntimeScalarMul();
    expect(pure).toEqual({ affine: wantMixed, jacobian: wantMixed });
  });

  it('one-off keys: T = 2Q (e·r⁻¹ = d, a doubling in the last round) verifies, T = O does not', async () => {
    const d = 0xc0ffee1234567890abcdefn;
    const spki = spkiOf(d);
    const items: SignatureItem[] = [];
    for (const k of [3n, 0x1234567n]) {
      // c = e·r⁻¹ = d makes T = d·G + Q = 2Q; u2 = k/(2d) then gives u2·T = k·G.
      const r = xOf(k);
      const u2 = mod(k * inv(2n * d));
      items.push(item(spki, r, mod(r * inv(u2)), mod(d * r)));
    }
    // T = O: Q = −c·G for c = e·r⁻¹.
    const e = 0x7777n, r = 0x1234567890abcdefn;
    const tZero = item(spkiOf(mod(-e * inv(r))), r, 0x42n, e);
    const batch = [items[0]!, tZero, items[1]!];
    expect(reference.verifyBatch(batch)).toEqual([true, false, true]);
    expect(both(() => wasm.verifyBatch(batch))).toEqual({ affine: [true, false, true], jacobian: [true, false, true] });
    wasm.setP256ScalarMul(undefined);
    try {
      expect(both(() => wasm.verifyBatch(batch))).toEqual({ affine: [true, false, true], jacobian: [true, false, true] });
    } finally {
      expect(await wasm.installRuntimeScalarMul()).toBe(true);
    }
  });
});
