/**
 * The cases the portable bundle (scripts/build-browser.mjs) runs outside Node, shared by the
 * browser test (headless Chromium) and the Deno/Bun test: node:crypto makes the inputs here and
 * the node:crypto twins (host/core/reference.ts, signatures-reference.ts) judge them; the
 * embedded core runs `runCases` (JS source, evaluated there) and its report must match.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { expect } from 'vitest';
import * as twin from '../../host/core/reference.js';
import { verifyBatch as twinVerify } from '../../host/core/signatures-reference.js';
import type { SignatureItem } from '../../host/core/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** What the embedded script reads (hex strings: JSON is all it gets). */
export interface PortableData {
  items: { alg: string; publicKey: string; digestOrMessage: string; signature: string }[];
  leaves: string[];
  proofs: { index: number; proof: string[] }[];
  messages: string[];
}

export interface TwinAnswers {
  verdicts: boolean[];
  root: string;
  hashes: string[];
}

/** Signatures over digests (P-256, 40 distinct keys so the batch takes the deferred route) and messages (Ed25519), a quarter tampered. */
function signatures(): SignatureItem[] {
  const out: SignatureItem[] = [];
  for (let i = 0; i < 40; i++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const msg = Buffer.from(`p256 message ${i}`);
    const sig = sign('sha256', msg, privateKey);
    if (i % 4 === 3) sig[sig.length - 3]! ^= 0x01;
    out.push({ alg: 'ecdsa-p256-sha256', publicKey: publicKey.export({ type: 'spki', format: 'der' }), digestOrMessage: createHash('sha256').update(i % 7 === 5 ? Buffer.from('other') : msg).digest(), signature: sig });
  }
  for (let i = 0; i < 20; i++) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const msg = Buffer.from(`ed25519 message ${i}`);
    const sig = sign(null, msg, privateKey);
    if (i % 4 === 1) sig[5]! ^= 0x80;
    out.push({ alg: 'ed25519', publicKey: publicKey.export({ type: 'spki', format: 'der' }), digestOrMessage: msg, signature: sig });
  }
  return out;
}

/** Fresh inputs and the twins' answers: 60 signatures, a 1,000-leaf RFC 6962 tree with 5 inclusion proofs, 3 messages to hash. */
export function portableCases(): { data: PortableData; expected: TwinAnswers } {
  const items = signatures();
  const leaves = Array.from({ length: 1000 }, (_, i) => Buffer.from(`leaf ${i}`));
  const packed = Buffer.concat(leaves.map((l) => twin.leafHash(l)));
  const messages = ['', 'abc', 'x'.repeat(1000)];
  const expected = { verdicts: twinVerify(items), root: hex(twin.rootFromLeafHashes(packed)), hashes: messages.map((m) => createHash('sha256').update(m).digest('hex')) };
  // The tampered ones really fail, or the comparison proves little.
  if (expected.verdicts.filter((v) => !v).length <= 10) throw new Error('too few refused signatures among the cases');
  return {
    data: {
      items: items.map((it) => ({ alg: it.alg, publicKey: hex(it.publicKey), digestOrMessage: hex(it.digestOrMessage), signature: hex(it.signature) })),
      leaves: leaves.map(hex),
      proofs: [0, 1, 499, 998, 999].map((index) => ({ index, proof: twin.inclusionProof(packed, index).map(hex) })),
      messages,
    },
    expected,
  };
}

/**
 * `runCases(core, data)`, as source for the embedded script (plain ES2022, no Node built-ins).
 * Signatures run in one batch and one at a time, each way twice: first with node:crypto's ECDH
 * step wherever the runtime has one (Deno and Bun do, though initCore leaves it out on Deno), then
 * with none, so the core finishes the deferred batch itself (p256_finish_deferred).
 */
export const RUN_CASES = `
async function runCases(core, d) {
  const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const items = d.items.map((i) => ({ alg: i.alg, publicKey: bytes(i.publicKey), digestOrMessage: bytes(i.digestOrMessage), signature: bytes(i.signature) }));
  const ecdhDefault = core.p256ScalarMulInstalled();
  const ecdh = await core.installRuntimeScalarMul();
  const verdicts = core.verifyBatch(items);
  const one = items.map((i) => core.verifySignature(i));
  core.setP256ScalarMul(undefined);
  const wasmOnly = { verdicts: core.verifyBatch(items), one: items.map((i) => core.verifySignature(i)) };
  const n = d.leaves.length;
  const leafHashes = core.leafHashes(d.leaves.map(bytes));
  const root = hex(core.rootFromLeafHashes(leafHashes));
  const inclusion = d.proofs.map((p) => core.verifyInclusion(leafHashes.subarray(p.index * 32, p.index * 32 + 32), p.index, n, p.proof.map(bytes), bytes(root)));
  const wrong = core.verifyInclusion(leafHashes.subarray(0, 32), 1, n, d.proofs[0].proof.map(bytes), bytes(root));
  const hashes = d.messages.map((m) => hex(core.sha256(new TextEncoder().encode(m))));
  return { ecdhDefault, ecdh, verdicts, one, wasmOnly, root, inclusion, wrong, hashes };
}
`;

/** The embedded core's report must be the twins' answers, on both P-256 paths. */
export function expectTwinAnswers(r: Record<string, unknown>, expected: TwinAnswers): void {
  expect(r.error).toBeUndefined();
  expect(r.verdicts).toEqual(expected.verdicts);
  expect(r.one).toEqual(expected.verdicts);
  expect(r.wasmOnly).toEqual({ verdicts: expected.verdicts, one: expected.verdicts });
  expect(r.root).toBe(expected.root);
  expect(r.inclusion).toEqual([true, true, true, true, true]);
  expect(r.wrong).toBe(false);
  expect(r.hashes).toEqual(expected.hashes);
}
