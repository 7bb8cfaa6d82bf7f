/**
 * Signature verification suite (issue 10), all rows measured in this run, ops/s = 1 / median:
 *  - ECDSA P-256 over a digest: Cairn's core (arbitrary key: WASM with node:crypto's ECDH for the
 *    last multiplication, and WASM alone; registered key) vs @noble/curves
 *    (prehash off — what a log or verifier needs for hashedrekord) and node:crypto's KeyObject
 *    verify (which must hash the message itself: the floor for a native implementation).
 *  - Ed25519: Cairn WASM single and batched (64 distinct keys — the target row —, one shared key,
 *    a registered key) vs node:crypto (OpenSSL), libsodium-wrappers and noble single verifies.
 * Targets per core: P-256 registered ≥ 14,000/s, arbitrary ≥ 6,500/s; Ed25519 batches of 64
 * ≥ 15,000/s. Every batch holds 64 different messages and signatures.
 */
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { Bench } from 'tinybench';
import { initCore, installRuntimeScalarMul, registerKey, setP256ScalarMul, verifyBatch, verifySignature, type SignatureItem } from '../host/core/index.js';
import { fmt, medianMs, table, type BenchOptions, type SuiteResult } from './harness.js';

const ARBITRARY = 'p256: Cairn core, arbitrary key (WASM builds T, node:crypto ECDH computes x(u2·T))';

export const signaturesSuite = async (opts: BenchOptions): Promise<SuiteResult> => {
  await initCore();
  if (!(await installRuntimeScalarMul())) throw new Error('node:crypto ECDH is unavailable or failed its known-answer check');
  const sodium = (await import('libsodium-wrappers')).default;
  await sodium.ready;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ec2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const msg = Buffer.from('a Sigstore artifact digest is 32 bytes, a message is anything');
  const digest = createHash('sha256').update(msg).digest();
  const sig = sign('sha256', msg, ec.privateKey);
  const sig2 = sign('sha256', msg, ec2.privateKey);
  const spki = ec.publicKey.export({ format: 'der', type: 'spki' });
  const spki2 = ec2.publicKey.export({ format: 'der', type: 'spki' });
  registerKey(spki2);
  const arbitrary: SignatureItem = { alg: 'ecdsa-p256-sha256', publicKey: spki, digestOrMessage: digest, signature: sig };
  const registered: SignatureItem = { alg: 'ecdsa-p256-sha256', publicKey: spki2, digestOrMessage: digest, signature: sig2 };
  const point = new Uint8Array(spki.subarray(26));
  const ed = generateKeyPairSync('ed25519');
  const edSig = sign(null, msg, ed.privateKey);
  const edSpki = ed.publicKey.export({ format: 'der', type: 'spki' });
  const edRaw = new Uint8Array(edSpki.subarray(12));
  const edItem = (kp: ReturnType<typeof generateKeyPairSync>, i: number): SignatureItem => {
    const m = Buffer.from(`${msg.toString()} #${i}`);
    return { alg: 'ed25519', publicKey: kp.publicKey.export({ format: 'der', type: 'spki' }), digestOrMessage: m, signature: sign(null, m, kp.privateKey) };
  };
  const edDistinct = Array.from({ length: 64 }, (_, i) => edItem(generateKeyPairSync('ed25519'), i));
  const edOneKey = Array.from({ length: 64 }, (_, i) => edItem(ed, i));
  const edReg = generateKeyPairSync('ed25519');
  const edRegistered = Array.from({ length: 64 }, (_, i) => edItem(edReg, i));
  registerKey(edRegistered[0]!.publicKey);
  const edSingle = edDistinct[0]!;

  const bench = new Bench({ time: opts.quick ? 300 : 1500, warmupTime: opts.quick ? 50 : 200 });
  bench
    .add('p256: node:crypto KeyObject verify (hashes the message)', () => { verify('sha256', msg, ec.publicKey, sig); })
    .add('p256: @noble/curves verify over the digest', () => { p256.verify(sig, digest, point, { prehash: false, lowS: false, format: 'der' }); })
    .add(ARBITRARY, () => { verifySignature(arbitrary); })
    .add('p256: Cairn WASM only (no runtime multiplication), arbitrary key', () => { verifySignature(arbitrary); }, {
      beforeAll: () => setP256ScalarMul(undefined),
      afterAll: async () => { await installRuntimeScalarMul(); },
    })
    .add('p256: Cairn WASM, registered key', () => { verifySignature(registered); })
    .add('ed25519: node:crypto verify', () => { verify(null, msg, ed.publicKey, edSig); })
    .add('ed25519: libsodium-wrappers', () => { sodium.crypto_sign_verify_detached(edSig, msg, edRaw); })
    .add('ed25519: @noble/curves', () => { ed25519.verify(edSig, msg, edRaw); })
    .add('ed25519: Cairn WASM single verify', () => { verifySignature(edSingle); })
    .add('ed25519: Cairn verifyBatch, batches of 64, 64 distinct keys (per signature)', () => { verifyBatch(edDistinct); })
    .add('ed25519: Cairn verifyBatch, batches of 64, one key (per signature)', () => { verifyBatch(edOneKey); })
    .add('ed25519: Cairn verifyBatch, batches of 64, registered key (per signature)', () => { verifyBatch(edRegistered); });
  await bench.run();
  // Worker pool: one large batch of distinct P-256 signatures, single thread vs all cores.
  const { VerifyPool } = await import('../host/core/pool.js');
  const pool = new VerifyPool();
  // Each signature by its own key, as in a log's hashedrekord traffic (Fulcio-certified ephemeral keys).
  const big: SignatureItem[] = Array.from({ length: opts.quick ? 512 : 2048 }, (_, i) => {
    const m = Buffer.from(`pool ${i}`);
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { alg: 'ecdsa-p256-sha256', publicKey: kp.publicKey.export({ format: 'der', type: 'spki' }), digestOrMessage: createHash('sha256').update(m).digest(), signature: sign('sha256', m, kp.privateKey) };
  });
  const bigEd: SignatureItem[] = Array.from({ length: opts.quick ? 1024 : 4096 }, (_, i) => edDistinct[i % 64]!);
  await pool.verifyBatch(big.slice(0, 64)); // warm the workers
  await pool.verifyBatch(bigEd.slice(0, 64));
  const single = await medianMs(() => verifyBatch(big), opts.quick ? 3 : 5);
  setP256ScalarMul(undefined);
  const wasmOnly = await medianMs(() => verifyBatch(big), opts.quick ? 3 : 5);
  await installRuntimeScalarMul();
  const pooled = await medianMs(() => pool.verifyBatch(big), opts.quick ? 3 : 5);
  const singleEd = await medianMs(() => verifyBatch(bigEd), opts.quick ? 3 : 5);
  const pooledEd = await medianMs(() => pool.verifyBatch(bigEd), opts.quick ? 3 : 5);
  await pool.close();
  const poolRows = [
    [`p256, ${big.length} distinct keys: verifyBatch, one thread`, fmt.ops((big.length * 1000) / single.median), '1.00×'],
    ['same batch, one thread, WASM only (no runtime multiplication)', fmt.ops((big.length * 1000) / wasmOnly.median), fmt.x(single.median / wasmOnly.median)],
    [`same batch, VerifyPool (${pool.size} workers)`, fmt.ops((big.length * 1000) / pooled.median), fmt.x(single.median / pooled.median)],
    [`ed25519 distinct keys, batch of ${bigEd.length}: verifyBatch, one thread`, fmt.ops((bigEd.length * 1000) / singleEd.median), '1.00×'],
    [`same batch, VerifyPool (${pool.size} workers)`, fmt.ops((bigEd.length * 1000) / pooledEd.median), fmt.x(singleEd.median / pooledEd.median)],
  ];
  const rate = (t: (typeof bench.tasks)[number]): number => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
    return (t.name.includes('batches of 64') ? 64 : 1) * 1000 / r.latency.p50;
  };
  const rows = bench.tasks.map((t) => ({ name: t.name, hz: rate(t) }));
  const byName = (s: string): number => rows.find((r) => r.name.startsWith(s))!.hz;
  const nodeP = byName('p256: node:crypto');
  const nodeEd = byName('ed25519: node:crypto');
  const target: Record<string, number> = { [ARBITRARY]: 6500, 'p256: Cairn WASM, registered key': 14000, 'ed25519: Cairn verifyBatch, batches of 64, 64 distinct keys (per signature)': 15000 };
  const md = [
    'One core, in-process (tinybench):',
    '',
    table(['verification', 'signatures/s', 'vs node:crypto (same curve)', 'target'], rows.map((r) => [
      r.name, fmt.ops(r.hz), fmt.x(r.hz / (r.name.startsWith('p256') ? nodeP : nodeEd)), target[r.name] ? `${fmt.ops(target[r.name]!)} (${r.hz >= target[r.name]! ? 'met' : 'missed'})` : '',
    ])),
    '',
    'Worker pool (target ≥ 1.8× one core):',
    '',
    table(['batch', 'signatures/s', 'vs one thread'], poolRows),
    '',
    'node:crypto cannot verify ECDSA over a precomputed digest (hashedrekord, Rekor v2, bundles verified by digest), so the practical baseline for those paths is @noble/curves. Ed25519 runs in WASM: strict encodings, cofactored equation; batches use one Straus multi-scalar multiplication with random 128-bit coefficients and share one term per key.',
  ].join('\n');
  return { title: 'Signature verification (ECDSA P-256, Ed25519)', markdown: md };
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  signaturesSuite({ quick: process.argv.includes('--quick') }).then((r) => console.log(`## ${r.title}\n\n${r.markdown}`));
}
