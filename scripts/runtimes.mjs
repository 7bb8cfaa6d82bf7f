// Finds Deno and Bun and runs an ES module in one of them, for the test of the portable bundle in
// those runtimes (test/core/runtimes.test.ts) and its benchmark (bench/runtimes.ts). CI installs
// both from the npm registry into .ci/runtimes (their own installers download from elsewhere).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pinned = fileURLToPath(new URL('../.ci/runtimes/node_modules/.bin/', import.meta.url));

const runtimes = {
  deno: {
    env: 'CAIRN_DENO',
    // Reading the directory is the only permission; no update check (it would go to the network).
    args: (dir, file) => ['run', '--no-prompt', `--allow-read=${dir}`, file],
    extraEnv: { DENO_NO_UPDATE_CHECK: '1' },
    prelude: 'const readBytes = (f) => Deno.readFile(new URL(f, import.meta.url));\nconst runtimeName = `Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`;\n',
  },
  bun: {
    env: 'CAIRN_BUN',
    // Bun has no permissions; --no-install stops it from fetching packages for unknown imports.
    args: (_dir, file) => ['--no-install', file],
    extraEnv: {},
    prelude: 'const readBytes = async (f) => new Uint8Array(await Bun.file(new URL(f, import.meta.url)).arrayBuffer());\nconst runtimeName = `Bun ${Bun.version}`;\n',
  },
};

const executable = (p) => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The `name` ('deno' | 'bun') binary: $CAIRN_DENO / $CAIRN_BUN, else .ci/runtimes, else PATH; undefined if absent. */
export function runtimePath(name) {
  const r = runtimes[name];
  if (!r) throw new Error(`unknown runtime "${name}"`);
  const fromEnv = process.env[r.env];
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined;
  for (const d of [pinned, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)]) {
    if (executable(join(d, name))) return join(d, name);
  }
  return undefined;
}

/**
 * Writes `script` as `dir`/main.mjs after a prelude that defines `readBytes(fileInDir)` (the
 * runtime's own file API, resolving to a Uint8Array) and `runtimeName`, runs it with `dir` as the
 * only readable place, and resolves with the JSON of the last line it prints.
 */
export async function runInRuntime(name, { dir, script, timeoutMs = 60_000, binary = runtimePath(name) }) {
  const r = runtimes[name];
  if (!binary) throw new Error(`no ${name} found (${r.env}, .ci/runtimes, PATH)`);
  const file = join(dir, 'main.mjs');
  await writeFile(file, r.prelude + script);
  const child = spawn(binary, r.args(dir, file), { cwd: dir, env: { ...process.env, ...r.extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  let timer;
  try {
    const code = await Promise.race([
      new Promise((resolve, reject) => child.once('error', reject).once('close', resolve)),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from ${name} in ${timeoutMs / 1000} s`)), timeoutMs))),
    ]);
    const last = out.trim().split('\n').pop() ?? '';
    if (code !== 0 || !last.startsWith('{')) throw new Error(`${name} exited with ${code}: ${err.trim() || out.trim()}`);
    return JSON.parse(last);
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
}
