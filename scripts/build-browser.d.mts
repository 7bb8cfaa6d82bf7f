/** Builds dist/browser (or `outdir`): cairn-core.js (ES module) and cairn.wasm; resolves to the directory. */
export function buildBrowser(outdir?: string): Promise<string>;
