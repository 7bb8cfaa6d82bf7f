/**
 * The WASM core embedded in a browser: the portable bundle (scripts/build-browser.mjs →
 * cairn-core.js + cairn.wasm) loaded as an ES module by headless Chromium from a loopback HTTP
 * server, with no Node built-ins. The page checks the same signatures, Merkle roots and proofs
 * that node:crypto (the core's twin) judged here, and posts its answers back. In the browser
 * there is no node:crypto ECDH, so every P-256 step runs in WASM (the deferred batch path
 * included). Skipped, with the reason printed, when Chromium is missing; CI installs it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBrowser } from '../../scripts/build-browser.mjs';
import * as twin from '../../host/core/reference.js';
import { verifyBatch as twinVerify } from '../../host/core/signatures-reference.js';
import type { SignatureItem } from '../../host/core/index.js';

function chromiumPath(): string | undefined {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      /* next */
    }
  }
  return undefined;
}
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
let server: Server;
let browser: ChildProcess | undefined;
let page: { result: Promise<Record<string, unknown>> };
let expected: { verdicts: boolean[]; root: string; sizes: number; hashes: string[] };
let data: Case;

beforeAll(async () => {
  if (!chromium) return;
  dir = await mkdtemp(join(tmpdir(), 'cairn-browser-'));
  const out = await buildBrowser(join(dir, 'site'));
  const items = signatures();
  const leaves = Array.from({ length: 1000 }, (_, i) => Buffer.from(`leaf ${i}`));
  const leafHashes = leaves.map((l) => twin.leafHash(l));
  const packed = Buffer.concat(leafHashes);
  const root = twin.rootFromLeafHashes(packed);
  const proofs = [0, 1, 499, 998, 999].map((index) => ({ index, proof: twin.inclusionProof(packed, index).map(hex) }));
  const messages = ['', 'abc', 'x'.repeat(1000)];
  data = {
    items: items.map((it) => ({ alg: it.alg, publicKey: hex(it.publicKey), digestOrMessage: hex(it.digestOrMessage), signature: hex(it.signature) })),
    leaves: leaves.map(hex),
    proofs,
    messages,
  };
  expected = { verdicts: twinVerify(items), root: hex(root), sizes: 1000, hashes: messages.map((m) => createHash('sha256').update(m).digest('hex')) };
  expect(expected.verdicts.filter((v) => !v).length).toBeGreaterThan(10); // the tampered ones really fail

  let resolveResult!: (r: Record<string, unknown>) => void;
  page = { result: new Promise((r) => (resolveResult = r)) };
  const html = `<!doctype html><meta charset="utf-8"><script type="module" src="/test.js"></script>`;
  const script = `
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
  server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'POST' && url === '/result') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        res.writeHead(204).end();
        resolveResult(JSON.parse(body) as Record<string, unknown>);
      });
      return;
    }
    const send = (type: string, body: string | Buffer): void => void res.writeHead(200, { 'content-type': type }).end(body);
    if (url === '/') send('text/html', html);
    else if (url === '/test.js') send('text/javascript', script);
    else if (url === '/data.json') send('application/json', JSON.stringify(data));
    else if (url === '/cairn-core.js') send('text/javascript', await readFile(join(out, 'cairn-core.js')));
    else if (url === '/cairn.wasm') send('application/wasm', await readFile(join(out, 'cairn.wasm')));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  browser = spawn(chromium, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`, `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
}, 60_000);

afterAll(async () => {
  browser?.kill('SIGKILL');
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

it.skipIf(!chromium)('in headless Chromium, the core gives node:crypto\'s verdicts, roots and proofs, all in WASM', async () => {
  const r = await Promise.race([page.result, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no answer from the browser in 60 s')), 60_000))]);
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
