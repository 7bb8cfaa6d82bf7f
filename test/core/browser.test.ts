/**
 * The WASM core embedded in a browser: the portable bundle (scripts/build-browser.mjs →
 * cairn-core.js + cairn.wasm) loaded as an ES module by headless Chromium from a loopback HTTP
 * server, with no Node built-ins. The page checks the same signatures, Merkle roots and proofs
 * that node:crypto (the core's twin) judged here, and posts its answers back. In the browser
 * there is no node:crypto ECDH, so every P-256 step runs in WASM (the deferred batch path
 * included). Skipped, with the reason printed, when Chromium is missing; CI installs it.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBrowser } from '../../scripts/build-browser.mjs';
import { chromiumPath, runInChromium } from '../../scripts/chromium.mjs';
import * as twin from '../../host/core/reference.js';
import { verifyBatch as twinVerify } from '../../host/core/signatures-reference.js';
import type { SignatureItem } from '../../host/core/index.js';

const chromium = chromiumPath();
if (!chromium) console.warn('test/core/browser.test.ts skipped: no chromium on PATH (CI installs it via apt)');

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Case {
  items: { alg: string; publicKey: string; digestOrMessage: string; signature: string }[];
  leaves: string[];
  proofs: { index: number; proof: string[] }[];
  messages: string[];
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

let dir: string;
let page: Promise<Record<string, unknown>>;
let expected: { verdicts: boolean[]; root: string; sizes: number; hashes: string[] };

const SCRIPT = `
  import * as core from '/cairn-core.js';
  const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  let report;
  try {
    await core.initCore({ source: fetch(new URL('/cairn.wasm', location.href)) });
    const d = await (await fetch('/data.json')).json();
    const items = d.items.map((i) => ({ alg: i.alg, publicKey: bytes(i.publicKey), digestOrMessage: bytes(i.digestOrMessage), signature: bytes(i.signature) }));
    const verdicts = core.verifyBatch(items);
    const one = items.map((i) => core.verifySignature(i));
    const leafHashes = core.leafHashes(d.leaves.map(bytes));
    const root = hex(core.rootFromLeafHashes(leafHashes));
    const inclusion = d.proofs.map((p) => core.verifyInclusion(leafHashes.subarray(p.index * 32, p.index * 32 + 32), p.index, 1000, p.proof.map(bytes), bytes(root)));
    const wrong = core.verifyInclusion(leafHashes.subarray(0, 32), 1, 1000, d.proofs[0].proof.map(bytes), bytes(root));
    const hashes = d.messages.map((m) => hex(core.sha256(new TextEncoder().encode(m))));
    report = { verdicts, one, root, inclusion, wrong, hashes, ecdh: core.p256ScalarMulInstalled(), ua: navigator.userAgent };
  } catch (e) {
    report = { error: String(e && e.stack || e) };
  }
  await fetch('/result', { method: 'POST', body: JSON.stringify(report) });
`;

beforeAll(async () => {
  if (!chromium) return;
  dir = await mkdtemp(join(tmpdir(), 'cairn-browser-'));
  const out = await buildBrowser(join(dir, 'site'));
  const items = signatures();
  const leaves = Array.from({ length: 1000 }, (_, i) => Buffer.from(`leaf ${i}`));
  const packed = Buffer.concat(leaves.map((l) => twin.leafHash(l)));
  const root = twin.rootFromLeafHashes(packed);
  const proofs = [0, 1, 499, 998, 999].map((index) => ({ index, proof: twin.inclusionProof(packed, index).map(hex) }));
  const messages = ['', 'abc', 'x'.repeat(1000)];
  const data: Case = {
    items: items.map((it) => ({ alg: it.alg, publicKey: hex(it.publicKey), digestOrMessage: hex(it.digestOrMessage), signature: hex(it.signature) })),
    leaves: leaves.map(hex),
    proofs,
    messages,
  };
  expected = { verdicts: twinVerify(items), root: hex(root), sizes: 1000, hashes: messages.map((m) => createHash('sha256').update(m).digest('hex')) };
  expect(expected.verdicts.filter((v) => !v).length).toBeGreaterThan(10); // the tampered ones really fail
  page = runInChromium({
    script: SCRIPT,
    files: {
      '/data.json': { type: 'application/json', body: JSON.stringify(data) },
      '/cairn-core.js': { type: 'text/javascript', body: await readFile(join(out, 'cairn-core.js')) },
      '/cairn.wasm': { type: 'application/wasm', body: await readFile(join(out, 'cairn.wasm')) },
    },
  });
  page.catch(() => undefined); // awaited in the test
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it.skipIf(!chromium)('in headless Chromium, the core gives node:crypto\'s verdicts, roots and proofs, all in WASM', async () => {
  const r = await page;
  expect(r.error).toBeUndefined();
  expect(String(r.ua)).toMatch(/Chrome/);
  expect(r.ecdh).toBe(false); // no node:crypto in a browser: the WASM-only path ran
  expect(r.verdicts).toEqual(expected.verdicts);
  expect(r.one).toEqual(expected.verdicts);
  expect(r.root).toBe(expected.root);
  expect(r.inclusion).toEqual([true, true, true, true, true]);
  expect(r.wrong).toBe(false);
  expect(r.hashes).toEqual(expected.hashes);
}, 90_000);
