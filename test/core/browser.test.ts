/**
 * The WASM core embedded in a browser: the portable bundle (scripts/build-browser.mjs →
 * cairn-core.js + cairn.wasm) loaded as an ES module by headless Chromium from a loopback HTTP
 * server, with no Node built-ins. The page checks the same signatures, Merkle roots and proofs
 * that node:crypto (the core's twin) judged here (test/core/portable-cases.ts, shared with the
 * Deno and Bun test), and posts its answers back. In the browser there is no node:crypto ECDH, so
 * every P-256 step runs in WASM (the deferred batch path included). Skipped, with the reason
 * printed, when Chromium is missing; CI installs it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBrowser } from '../../scripts/build-browser.mjs';
import { chromiumPath, runInChromium } from '../../scripts/chromium.mjs';
import { expectTwinAnswers, portableCases, RUN_CASES, type TwinAnswers } from './portable-cases.js';

const chromium = chromiumPath();
if (!chromium) console.warn('test/core/browser.test.ts skipped: no chromium on PATH (CI installs it via apt)');

let dir: string;
let page: Promise<Record<string, unknown>>;
let expected: TwinAnswers;

const SCRIPT = `
  import * as core from '/cairn-core.js';
  ${RUN_CASES}
  let report;
  try {
    await core.initCore({ source: fetch(new URL('/cairn.wasm', location.href)) });
    report = { ...(await runCases(core, await (await fetch('/data.json')).json())), ua: navigator.userAgent };
  } catch (e) {
    report = { error: String(e && e.stack || e) };
  }
  await fetch('/result', { method: 'POST', body: JSON.stringify(report) });
`;

beforeAll(async () => {
  if (!chromium) return;
  dir = await mkdtemp(join(tmpdir(), 'cairn-browser-'));
  const out = await buildBrowser(join(dir, 'site'));
  const cases = portableCases();
  expected = cases.expected;
  page = runInChromium({
    script: SCRIPT,
    files: {
      '/data.json': { type: 'application/json', body: JSON.stringify(cases.data) },
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
  expect([r.ecdhDefault, r.ecdh]).toEqual([false, false]); // no node:crypto in a browser: the WASM-only path ran
  expectTwinAnswers(r, expected);
}, 90_000);
