/**
 * Loads the one Cairn WebAssembly module (build/cairn.wasm) and hands out its raw exports.
 *
 * Runtime-neutral on purpose: the only Node-specific step is reading the file, done through a
 * dynamic `import('node:fs/promises')` so that Deno, Bun and browsers can instead pass the bytes
 * (or a fetch Response) to `loadCore`. The module imports nothing but `env.abort`, which throws:
 * a failed assertion in the debug build must never be swallowed (STYLE.md point 7).
 */
import { instantiate } from '@assemblyscript/loader';
import { CoreError } from './errors.js';

/** Raw exports of build/cairn.wasm. Typed loosely here; each API file narrows what it uses. */
export type CoreExports = Record<string, unknown> & { memory: { buffer: ArrayBuffer; grow(pages: number): number } };

export type WasmSource = Uint8Array | ArrayBuffer | Response;

let exportsCache: CoreExports | undefined;
let loading: Promise<CoreExports> | undefined;
let loadedFlavour: 'release' | 'debug' = 'release';

function abort(msgPtr: number, filePtr: number, line: number, col: number): never {
  const mem = exportsCache?.memory;
  const read = (ptr: number): string => {
    if (!mem || !ptr) return '';
    // AssemblyScript strings: UTF-16LE, byte length stored at ptr - 4.
    const len = new Uint32Array(mem.buffer, ptr - 4, 1)[0]! >>> 1;
    return String.fromCharCode(...new Uint16Array(mem.buffer, ptr, len));
  };
  throw new Error(`wasm abort: ${read(msgPtr)} at ${read(filePtr)}:${line}:${col}`);
}

async function defaultBytes(flavour: 'release' | 'debug'): Promise<Uint8Array> {
  const name = flavour === 'debug' ? 'cairn.debug.wasm' : 'cairn.wasm';
  let readFile: (url: URL) => Promise<Uint8Array>;
  try {
    ({ readFile } = await import('node:fs/promises'));
  } catch {
    // A browser cannot resolve node:fs: the same coded error as a missing file on Node, not the
    // runtime's module-resolution TypeError (an uncoded error is a plain 500 to a service).
    throw new CoreError('CORE_WASM_UNAVAILABLE', `no file system to read ${name} from here; pass the module as initCore({ source }), e.g. source: fetch(new URL('${name}', import.meta.url))`);
  }
  // From host/core/*.ts (sources, tests), dist/host/core/*.js (compiled), or the portable bundle
  // dist/browser/cairn-core.js, which scripts/build-browser.mjs ships with cairn.wasm beside it.
  const candidates = [new URL(`../../build/${name}`, import.meta.url), new URL(`../../../build/${name}`, import.meta.url), new URL(`./${name}`, import.meta.url)];
  for (const url of candidates) {
    try {
      return await readFile(url);
    } catch {
      /* try the next location */
    }
  }
  throw new CoreError('CORE_WASM_UNAVAILABLE', `build/${name} not found; run \`npm run asbuild\``);
}

/**
 * Instantiate the module once (idempotent). `source` lets other runtimes supply the bytes;
 * `flavour: 'debug'` loads the assertion-checked debug build (tests use it).
 */
export function loadCore(opts: { source?: WasmSource; flavour?: 'release' | 'debug' } = {}): Promise<CoreExports> {
  if (exportsCache) return Promise.resolve(exportsCache);
  if (!loading) {
    loadedFlavour = opts.flavour ?? 'release';
    loading = (async () => {
      const src = opts.source ?? (await defaultBytes(loadedFlavour));
      const { exports } = await instantiate(src as Uint8Array, { env: { abort } });
      exportsCache = exports as unknown as CoreExports;
      return exportsCache;
    })();
    loading.catch(() => {
      loading = undefined;
    });
  }
  return loading;
}

/** The loaded exports; throws a coded error if `loadCore`/`initCore` has not completed. */
export function coreExports(): CoreExports {
  if (!exportsCache) throw new CoreError('CORE_NOT_INITIALISED', 'call initCore() before using the WASM core');
  return exportsCache;
}

export function coreFlavour(): 'release' | 'debug' {
  return loadedFlavour;
}
