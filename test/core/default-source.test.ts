/**
 * initCore() without a `source`, where the module has to find cairn.wasm itself: the portable
 * bundle (scripts/build-browser.mjs) copied on its own, as README's "Embedding the WASM core"
 * describes, finds the cairn.wasm shipped next to it in runtimes with node:fs (Node, Bun, Deno),
 * and a runtime with no file system at all (a browser) gets the coded CORE_WASM_UNAVAILABLE, as a
 * missing build does on Node, instead of a module-resolution TypeError.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { buildBrowser } from '../../scripts/build-browser.mjs';

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `body` in a fresh Node process (ES module) with `core` bound to the bundle; returns its stdout. */
function inNode(bundle: string, body: string): string {
  const script = `const core = await import(${JSON.stringify(pathToFileURL(bundle).href)});\n${body}`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
}

it('the portable bundle, copied on its own, loads the cairn.wasm next to it when initCore() is given no source', async () => {
  // A directory whose ../../build holds no cairn.wasm, unlike the repository's dist/browser.
  dir = await mkdtemp(join(tmpdir(), 'cairn-default-source-'));
  const out = await buildBrowser(join(dir, 'a', 'b', 'bundle'));
  const r = inNode(join(out, 'cairn-core.js'), `
    try {
      await core.initCore();
      console.log(Buffer.from(core.sha256(new TextEncoder().encode('abc'))).toString('hex'));
    } catch (e) {
      console.log(e.code ?? String(e));
    }`);
  expect(r).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
}, 60_000);

it('a runtime without node:fs gets CORE_WASM_UNAVAILABLE from initCore() with no source, and can then pass one', async () => {
  dir ??= await mkdtemp(join(tmpdir(), 'cairn-default-source-'));
  const out = await buildBrowser(join(dir, 'nofs'));
  // The bundle as a browser sees it: node:fs/promises cannot be resolved (node:crypto still can).
  const { readFile, writeFile } = await import('node:fs/promises');
  const file = join(out, 'cairn-core.js');
  const src = await readFile(file, 'utf8');
  expect(src).toContain('import("node:fs/promises")');
  await writeFile(file, src.replaceAll('import("node:fs/promises")', 'import("node:no-such-module")'));
  const r = inNode(file, `
    const got = await core.initCore().then(() => 'loaded', (e) => e.code ?? String(e));
    const { readFile } = await import('node:fs/promises');
    await core.initCore({ source: await readFile(new URL('cairn.wasm', ${JSON.stringify(pathToFileURL(file).href)})) });
    console.log(JSON.stringify([got, Buffer.from(core.sha256(new Uint8Array(0))).toString('hex')]));`);
  expect(JSON.parse(r)).toEqual(['CORE_WASM_UNAVAILABLE', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']);
}, 60_000);
