/**
 * The WASM core embedded in Deno and in Bun (the portable bundle of scripts/build-browser.mjs,
 * cairn.wasm read with the runtime's own file API), against that runtime's own WebCrypto in the
 * same script and run; the work, timing and table are bench/webcrypto.ts's, shared with
 * bench/browser.ts: P-256 and Ed25519 with 256 distinct keys, an RFC 6962 root of 10,000 leaves.
 * Both runtimes have node:crypto's createECDH; the P-256 batch is timed with that step
 * (installRuntimeScalarMul) and then all in WASM. initCore installs it on Bun, not on Deno, where
 * this suite measured the step to be five times slower than finishing the check in WASM.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBrowser } from '../scripts/build-browser.mjs';
import { runInRuntime, runtimePath, type RuntimeName } from '../scripts/runtimes.mjs';
import { type BenchOptions, type SuiteResult } from './harness.js';
import { MEASURE, webCryptoInputs, webCryptoTable, type Measured } from './webcrypto.js';

const SCRIPT = `
import * as core from './cairn-core.js';
${MEASURE}
let report;
try {
  await core.initCore({ source: await readBytes('cairn.wasm') });
  report = { ...(await measure(core, JSON.parse(new TextDecoder().decode(await readBytes('data.json'))))), runtime: runtimeName };
} catch (err) {
  report = { error: String(err && err.stack || err) };
}
console.log(JSON.stringify(report));
`;

export async function runtimesSuite(opts: BenchOptions): Promise<SuiteResult> {
  const title = 'WASM core in Deno and Bun vs the runtime\'s WebCrypto';
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-runtimes-'));
  try {
    const bundle = await buildBrowser(join(dir, 'bundle'));
    await writeFile(join(bundle, 'data.json'), JSON.stringify(webCryptoInputs(opts.quick)));
    const parts: string[] = [];
    for (const name of ['deno', 'bun'] as RuntimeName[]) {
      const binary = runtimePath(name);
      if (!binary) {
        parts.push(`${name}: skipped, no binary ($CAIRN_${name.toUpperCase()}, .ci/runtimes/node_modules/.bin, PATH; \`npm ci --prefix .ci/runtimes\` installs it).`);
        continue;
      }
      const own = join(dir, name);
      await cp(bundle, own, { recursive: true });
      const r = (await runInRuntime(name, { dir: own, script: SCRIPT, binary, timeoutMs: 300_000 })) as unknown as Measured & { runtime: string };
      const body = webCryptoTable(r, name);
      parts.push(`${r.runtime}${name === 'deno' ? ' (`deno run --allow-read=<dir>`, no other permission)' : ''}; the bundle imported as an ES module, cairn.wasm read with ${name === 'deno' ? '`Deno.readFile`' : '`Bun.file(…).arrayBuffer()`'} and passed to \`initCore({ source })\`; node:crypto's ECDH step ${r.ecdh ? `present, ${r.ecdhDefault ? 'and installed by initCore' : 'but left out by initCore (it is slower here than WASM)'}` : 'absent (all P-256 work in WASM)'}. Medians of ${opts.quick ? 3 : 7} runs after 2 untimed ones; every signature verified by both sides, both roots equal to Node's.\n\n${body}`);
    }
    return { title, markdown: parts.join('\n\n') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
