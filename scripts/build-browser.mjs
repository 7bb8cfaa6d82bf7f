// Builds the portable bundle of the WASM core for browsers, Deno and Bun: dist/browser/cairn-core.js
// (one ES module: the typed API of host/core, no Node built-ins) and dist/browser/cairn.wasm.
// node:crypto and node:fs are only ever imported dynamically by the core, and only where they exist
// (the ECDH step and the default module path); they stay external, and the embedder passes the
// module itself: `await initCore({ source: fetch(new URL('cairn.wasm', import.meta.url)) })`.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildBrowser(outdir = join(root, 'dist', 'browser')) {
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: [join(root, 'host', 'core', 'index.ts')],
    outfile: join(outdir, 'cairn-core.js'),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['node:*'],
    sourcemap: true,
    logLevel: 'warning',
  });
  await copyFile(join(root, 'build', 'cairn.wasm'), join(outdir, 'cairn.wasm'));
  return outdir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildBrowser();
  console.log(`browser bundle: ${out}`);
}
