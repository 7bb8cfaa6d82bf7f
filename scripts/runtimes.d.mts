export type RuntimeName = 'deno' | 'bun';
/** The binary: $CAIRN_DENO / $CAIRN_BUN, else .ci/runtimes/node_modules/.bin, else PATH; undefined if absent. */
export function runtimePath(name: RuntimeName): string | undefined;
/** Runs `script` as `dir`/main.mjs (with `readBytes(file)` and `runtimeName` defined), `dir` its only readable place; resolves with the JSON of its last stdout line. */
export function runInRuntime(name: RuntimeName, o: { dir: string; script: string; timeoutMs?: number; binary?: string }): Promise<Record<string, unknown>>;
