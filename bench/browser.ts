/**
 * The WASM core embedded in a browser (headless Chromium, the portable bundle of
 * scripts/build-browser.mjs), against the browser's own WebCrypto in the same page and run:
 *  - ECDSA P-256: 256 signatures by distinct keys. The core checks them over their SHA-256
 *    digests in one verifyBatch (all in WASM: a page has no node:crypto ECDH). WebCrypto can only
 *    verify over the message, so it imports each key and verifies each message, all 256 at once
 *    (Promise.all: Chromium spreads them over its threads), which is its best case;
 *  - Ed25519: the same, where the browser's WebCrypto has Ed25519;
 *  - an RFC 6962 root of 10,000 leaves: the core's leafHashes + rootFromLeafHashes against the
 *    same tree built with crypto.subtle.digest (every level's hashes requested at once).
 * Medians of 7 timed runs after 2 untimed ones, each side on identical input.
 *
 * WebCrypto cannot verify ECDSA over a digest, which is what hashedrekord entries and bundles
 * checked by digest need; the P-256 rows compare the core's digest check with WebCrypto's message
 * check, the nearest thing a page has. The core runs on the page's one thread; WebCrypto's
 * Promise.all row uses Chromium's worker threads (both cores here), its one-at-a-time row does not.
 *
 * CAIRN_CHROMIUM_FLAGS passes extra browser flags. With `--js-flags=--no-wasm-dynamic-tiering`
 * (every function compiled by TurboFan up front) the P-256 figure stayed the same (6,432 against
 * 6,400/s), so Chromium's slower run than Node's (about 156 against 132 µs per check) is not
 * its baseline tier.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBrowser } from '../scripts/build-browser.mjs';
import { chromiumPath, runInChromium } from '../scripts/chromium.mjs';
import * as twin from '../host/core/reference.js';
import { fmt, table, type BenchOptions, type SuiteResult } from './harness.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const SCRIPT = `
  import * as core from '/cairn-core.js';
  const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  async function time(f, runs, warm) {
    for (let i = 0; i < warm; i++) await f();
    const out = [];
    for (let i = 0; i < runs; i++) { const t = performance.now(); await f(); out.push(performance.now() - t); }
    return median(out);
  }
  let report;
  try {
    await core.initCore({ source: fetch(new URL('/cairn.wasm', location.href)) });
    const d = await (await fetch('/data.json')).json();
    const runs = d.runs, warm = d.warm;
    const p = d.p256.map((x) => ({ spki: bytes(x.spki), digest: bytes(x.digest), der: bytes(x.der), raw: bytes(x.raw), msg: bytes(x.msg) }));
    const e = d.ed25519.map((x) => ({ spki: bytes(x.spki), msg: bytes(x.msg), sig: bytes(x.sig) }));
    const coreP = () => { const v = core.verifyBatch(p.map((x) => ({ alg: 'ecdsa-p256-sha256', publicKey: x.spki, digestOrMessage: x.digest, signature: x.der }))); if (!v.every(Boolean)) throw new Error('core P-256 refused a good signature'); };
    const webP = async () => { const v = await Promise.all(p.map(async (x) => crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, await crypto.subtle.importKey('spki', x.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']), x.raw, x.msg))); if (!v.every(Boolean)) throw new Error('WebCrypto refused a good P-256 signature'); };
    const webPSeq = async () => { for (const x of p) { if (!(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, await crypto.subtle.importKey('spki', x.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']), x.raw, x.msg))) throw new Error('WebCrypto refused a good P-256 signature'); } };
    const coreE = () => { const v = core.verifyBatch(e.map((x) => ({ alg: 'ed25519', publicKey: x.spki, digestOrMessage: x.msg, signature: x.sig }))); if (!v.every(Boolean)) throw new Error('core Ed25519 refused a good signature'); };
    let webE;
    try {
      await crypto.subtle.importKey('spki', e[0].spki, { name: 'Ed25519' }, false, ['verify']);
      webE = async () => { const v = await Promise.all(e.map(async (x) => crypto.subtle.verify({ name: 'Ed25519' }, await crypto.subtle.importKey('spki', x.spki, { name: 'Ed25519' }, false, ['verify']), x.sig, x.msg))); if (!v.every(Boolean)) throw new Error('WebCrypto refused a good Ed25519 signature'); };
    } catch { webE = undefined; }
    const leaves = d.leaves.map(bytes);
    let coreRoot, webRoot;
    const coreM = () => { coreRoot = hex(core.rootFromLeafHashes(core.leafHashes(leaves))); };
    const cat = (...parts) => { const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0)); let o = 0; for (const x of parts) { out.set(x, o); o += x.length; } return out; };
    const webM = async () => {
      // RFC 6962 §2.1: leaves 0x00 || data, nodes 0x01 || left || right, the odd one carried up.
      let level = (await Promise.all(leaves.map((l) => crypto.subtle.digest('SHA-256', cat(new Uint8Array([0]), l))))).map((b) => new Uint8Array(b));
      while (level.length > 1) {
        const pairs = [];
        for (let i = 0; i + 1 < level.length; i += 2) pairs.push(crypto.subtle.digest('SHA-256', cat(new Uint8Array([1]), level[i], level[i + 1])));
        const next = (await Promise.all(pairs)).map((b) => new Uint8Array(b));
        if (level.length % 2) next.push(level[level.length - 1]);
        level = next;
      }
      webRoot = hex(level[0]);
    };
    report = {
      ua: navigator.userAgent,
      ecdh: core.p256ScalarMulInstalled(),
      p256: { core: await time(coreP, runs, warm), web: await time(webP, runs, warm), n: p.length },
      p256Seq: { core: 0, web: await time(webPSeq, runs, warm), n: p.length },
      ed25519: { core: await time(coreE, runs, warm), web: webE ? await time(webE, runs, warm) : null, n: e.length },
      merkle: { core: await time(coreM, runs, warm), web: await time(webM, runs, warm), n: leaves.length },
    };
    report.rootsAgree = coreRoot === webRoot && coreRoot === d.root;
  } catch (err) {
    report = { error: String(err && err.stack || err) };
  }
  await fetch('/result', { method: 'POST', body: JSON.stringify(report) });
`;

interface Timing {
  core: number;
  web: number | null;
  n: number;
}

export async function browserSuite(opts: BenchOptions): Promise<SuiteResult> {
  const title = 'WASM core in a browser (headless Chromium) vs the browser\'s WebCrypto';
  const chromium = chromiumPath();
  if (!chromium) return { title, markdown: 'Skipped: no chromium on PATH (`apt-get install chromium`).' };
  const n = opts.quick ? 64 : 256;
  const p256 = Array.from({ length: n }, (_, i) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const msg = Buffer.from(`browser bench ${i} ${Math.random()}`);
    return {
      spki: hex(publicKey.export({ type: 'spki', format: 'der' })),
      msg: hex(msg),
      digest: hex(twin.sha256(msg)),
      der: hex(sign('sha256', msg, privateKey)),
      raw: hex(sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
    };
  });
  const ed25519 = Array.from({ length: n }, (_, i) => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const msg = Buffer.from(`browser bench ed25519 ${i}`);
    return { spki: hex(publicKey.export({ type: 'spki', format: 'der' })), msg: hex(msg), sig: hex(sign(null, msg, privateKey)) };
  });
  const leafCount = opts.quick ? 2_000 : 10_000;
  const leaves = Array.from({ length: leafCount }, (_, i) => Buffer.from(`leaf ${i} `.padEnd(100, '.')));
  const root = hex(twin.rootFromLeafHashes(Buffer.concat(leaves.map((l) => twin.leafHash(l)))));
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-browser-'));
  try {
    const out = await buildBrowser(join(dir, 'site'));
    const r = (await runInChromium({
      script: SCRIPT,
      timeoutMs: 300_000,
      ...(process.env.CAIRN_CHROMIUM_FLAGS ? { args: process.env.CAIRN_CHROMIUM_FLAGS.split(' ') } : {}),
      files: {
        '/data.json': { type: 'application/json', body: JSON.stringify({ p256, ed25519, leaves: leaves.map(hex), root, runs: opts.quick ? 3 : 7, warm: 2 }) },
        '/cairn-core.js': { type: 'text/javascript', body: await readFile(join(out, 'cairn-core.js')) },
        '/cairn.wasm': { type: 'application/wasm', body: await readFile(join(out, 'cairn.wasm')) },
      },
    })) as { error?: string; ua: string; ecdh: boolean; p256: Timing; p256Seq: Timing; ed25519: Timing; merkle: Timing; rootsAgree: boolean };
    if (r.error) throw new Error(`the page failed: ${r.error}`);
    if (!r.rootsAgree) throw new Error('the core and WebCrypto computed different roots');
    const perSec = (ms: number, count: number): string => Math.round((count * 1000) / ms).toLocaleString('en-US');
    const ratio = (t: Timing): string => (t.web === null ? '—' : `${(t.web / t.core).toFixed(2)}×`);
    const browser = /(HeadlessChrome|Chrome)\/[\d.]+/.exec(r.ua)?.[0] ?? r.ua;
    const rows = [
      [`ECDSA P-256, ${r.p256.n} distinct keys (core: over the digests, one verifyBatch; WebCrypto: import + verify over the messages, all at once)`, perSec(r.p256.core, r.p256.n), perSec(r.p256.web!, r.p256.n), ratio(r.p256)],
      ['same, WebCrypto one signature at a time (await each)', perSec(r.p256.core, r.p256.n), perSec(r.p256Seq.web!, r.p256.n), `${(r.p256Seq.web! / r.p256.core).toFixed(2)}×`],
      [`Ed25519, ${r.ed25519.n} distinct keys`, perSec(r.ed25519.core, r.ed25519.n), r.ed25519.web === null ? 'not in this browser' : perSec(r.ed25519.web, r.ed25519.n), ratio(r.ed25519)],
      [`RFC 6962 root of ${r.merkle.n.toLocaleString('en-US')} leaves of 100 bytes (leaves/s)`, perSec(r.merkle.core, r.merkle.n), perSec(r.merkle.web!, r.merkle.n), ratio(r.merkle)],
    ];
    const markdown = `${browser}, headless, on this machine; the bundle loaded as an ES module from loopback, the module fetched with \`initCore({ source })\`; node:crypto's ECDH step absent (${r.ecdh ? 'UNEXPECTEDLY present' : 'all P-256 work in WASM'}). Medians of ${opts.quick ? 3 : 7} runs after 2 untimed ones; every signature verified by both sides, both roots equal to Node's.\n\n` +
      table(['work', 'core (per s)', 'WebCrypto (per s)', 'core vs WebCrypto'], rows) +
      `\n\nMedian times (ms): P-256 core ${fmt.ms(r.p256.core)} / WebCrypto ${fmt.ms(r.p256.web!)}; Ed25519 core ${fmt.ms(r.ed25519.core)} / WebCrypto ${r.ed25519.web === null ? '—' : fmt.ms(r.ed25519.web)}; Merkle core ${fmt.ms(r.merkle.core)} / WebCrypto ${fmt.ms(r.merkle.web!)}.`;
    return { title, markdown };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
