/** The first Chromium-like browser on PATH, or undefined. */
export function chromiumPath(): string | undefined;
/** Serves `files` (plus `/` and `/test.js` = `script`) on loopback, runs the page in headless Chromium, resolves with what it POSTs to /result. */
export function runInChromium(o: { files: Record<string, { type: string; body: string | Buffer }>; script: string; timeoutMs?: number; browser?: string; args?: string[] }): Promise<Record<string, unknown>>;
