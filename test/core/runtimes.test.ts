/**
 * The WASM core embedded in Deno and in Bun: the portable bundle (scripts/build-browser.mjs →
 * cairn-core.js + cairn.wasm) imported as an ES module by a script run in each, which reads
 * cairn.wasm with the runtime's own file API and passes the bytes to `initCore({ source })`. It
 * checks the signatures, Merkle root, proofs and hashes that the node:crypto twins judged here
 * (test/core/portable-cases.ts, shared with the browser test) and prints its answers as JSON.
 * Deno gets read access to the script's directory and nothing else, so the core must need no
 * other permission. Each runtime is skipped, with the reason printed, when its binary is missing;
 * CI installs both from the npm registry into .ci/runtimes.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBrowser } from '../../scripts/build-browser.mjs';
import { runInRuntime, runtimePath, type RuntimeName } from '../../scripts/runtimes.mjs';
import { expectTwinAnswers, portableCases, RUN_CASES, type TwinAnswers } from './portable-cases.js';

const runtimes = (['deno', 'bun'] as RuntimeName[]).map((name) => ({ name, binary: runtimePath(name) }));
for (const { name, binary } of runtimes) {
  if (!binary) console.warn(`test/core/runtimes.test.ts: ${name} skipped: no ${name} binary ($CAIRN_${name.toUpperCase()}, .ci/runtimes/node_modules/.bin, PATH); CI installs it via .ci/runtimes (npm ci --prefix .ci/runtimes)`);
}

const SCRIPT = `
import * as core from './cairn-core.js';
${RUN_CASES}
let report;
try {
  await core.initCore({ source: await readBytes('cairn.wasm') });
  report = { ...(await runCases(core, JSON.parse(new TextDecoder().decode(await readBytes('data.json'))))), runtime: runtimeName };
} catch (e) {
  report = { error: String(e && e.stack || e) };
}
console.log(JSON.stringify(report));
`;

let dir: string;
let bundle: string;
let expected: TwinAnswers;

beforeAll(async () => {
  if (runtimes.every((r) => !r.binary)) return;
  dir = await mkdtemp(join(tmpdir(), 'cairn-runtimes-'));
  bundle = await buildBrowser(join(dir, 'bundle'));
  const cases = portableCases();
  expected = cases.expected;
  await writeFile(join(bundle, 'data.json'), JSON.stringify(cases.data));
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const { name, binary } of runtimes) {
  it.skipIf(!binary)(`in ${name}, the core gives node:crypto's verdicts, roots and proofs, with and without the runtime's ECDH step`, async () => {
    const own = join(dir, name); // one directory per runtime: it may read only that one
    await cp(bundle, own, { recursive: true });
    const r = await runInRuntime(name, { dir: own, script: SCRIPT, binary: binary! });
    expect(String(r.runtime)).toMatch(name === 'deno' ? /^Deno \d/ : /^Bun \d/);
    expect(r.ecdhDefault).toBe(name === 'bun'); // initCore leaves Deno's slow node:crypto ECDH out
    expect(r.ecdh).toBe(true); // so the verdicts below cover the ECDH step as well as WASM only
    expectTwinAnswers(r, expected);
  }, 90_000);
}
