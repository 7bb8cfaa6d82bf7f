/**
 * The WASM core embedded in a browser (headless Chromium, the portable bundle of
 * scripts/build-browser.mjs), against the browser's own WebCrypto in the same page and run; the
 * work, timing and table are bench/webcrypto.ts's, shared with bench/runtimes.ts (Deno, Bun):
 * P-256 and Ed25519 with 256 distinct keys, an RFC 6962 root of 10,000 leaves. A page has no
 * node:crypto ECDH, so all P-256 work runs in WASM. The core runs on the page's one thread;
 * WebCrypto's Promise.all row uses Chromium's worker threads (both cores here), its
 * one-at-a-time row does not.
 *
 * CAIRN_CHROMIUM_FLAGS passes extra browser flags. With `--js-flags=--no-wasm-dynamic-tiering`
 * (every function compiled by TurboFan up front) the P-256 figure stayed the same (6,432 against
 * 6,400/s), so Chromium's slower run than Node's (about 156 against 132 µs per check) is not
 * its baseline tier.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBrowser } from '../scripts/build-browser.mjs';
import { chromiumPath, runInChromium } from '../scripts/chromium.mjs';
import { type BenchOptions, type SuiteResult } from './harness.js';
import { MEASURE, webCryptoInputs, webCryptoTable, type Measured } from './webcrypto.js';

const SCRIPT = `
  import * as core from '/cairn-core.js';
  ${MEASURE}
  let report;
  try {
    await core.initCore({ source: fetch(new URL('/cairn.wasm', location.href)) });
    report = { ...(await measure(core, await (await fetch('/data.json')).json())), ua: navigator.userAgent };
  } catch (err) {
    report = { error: String(err && err.stack || err) };
  }
  await fetch('/result', { method: 'POST', body: JSON.stringify(report) });
`;

export async function browserSuite(opts: BenchOptions): Promise<SuiteResult> {
  const title = 'WASM core in a browser (headless Chromium) vs the browser\'s WebCrypto';
  const chromium = chromiumPath();
  if (!chromium) return { title, markdown: 'Skipped: no chromium on PATH (`apt-get install chromium`).' };
  const data = webCryptoInputs(opts.quick);
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-browser-'));
  try {
    const out = await buildBrowser(join(dir, 'site'));
    const r = (await runInChromium({
      script: SCRIPT,
      timeoutMs: 300_000,
      ...(process.env.CAIRN_CHROMIUM_FLAGS ? { args: process.env.CAIRN_CHROMIUM_FLAGS.split(' ') } : {}),
      files: {
        '/data.json': { type: 'application/json', body: JSON.stringify(data) },
        '/cairn-core.js': { type: 'text/javascript', body: await readFile(join(out, 'cairn-core.js')) },
        '/cairn.wasm': { type: 'application/wasm', body: await readFile(join(out, 'cairn.wasm')) },
      },
    })) as unknown as Measured & { ua: string };
    const body = webCryptoTable(r, 'the page');
    const browser = /(HeadlessChrome|Chrome)\/[\d.]+/.exec(r.ua)?.[0] ?? r.ua;
    return {
      title,
      markdown: `${browser}, headless, on this machine; the bundle loaded as an ES module from loopback, the module fetched with \`initCore({ source })\`; node:crypto's ECDH step absent (${r.ecdh ? 'UNEXPECTEDLY present' : 'all P-256 work in WASM'}). Medians of ${opts.quick ? 3 : 7} runs after 2 untimed ones; every signature verified by both sides, both roots equal to Node's.\n\n${body}`,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
