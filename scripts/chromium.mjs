// Runs an ES module page in headless Chromium and returns what it reports: the files are served
// from a loopback HTTP server, the page's /test.js ends by POSTing its JSON result to /result.
// Shared by the browser test (test/core/browser.test.ts) and the browser benchmark (bench/browser.ts).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The first Chromium-like browser on PATH, or undefined. */
export function chromiumPath() {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      const p = execFileSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * `files`: URL path → { type, body } (body a string or Buffer); `/` and `/test.js` are added.
 * Resolves with the parsed JSON the page posted, or rejects after `timeoutMs`.
 */
export async function runInChromium({ files, script, timeoutMs = 60_000, browser = chromiumPath(), args = [] }) {
  if (!browser) throw new Error('no chromium on PATH');
  const profile = await mkdtemp(join(tmpdir(), 'cairn-chromium-'));
  let resolveResult;
  const result = new Promise((r) => (resolveResult = r));
  const all = {
    '/': { type: 'text/html', body: '<!doctype html><meta charset="utf-8"><script type="module" src="/test.js"></script>' },
    '/test.js': { type: 'text/javascript', body: script },
    ...files,
  };
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/result') {
      let body = '';
      req.on('data', (c) => (body += c.toString('utf8')));
      req.on('end', () => {
        res.writeHead(204).end();
        resolveResult(JSON.parse(body));
      });
      return;
    }
    const f = all[req.url ?? '/'];
    if (!f) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': f.type }).end(f.body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const child = spawn(browser, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${profile}`, ...args, `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
  let timer;
  try {
    return await Promise.race([
      result,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from the browser in ${timeoutMs / 1000} s`)), timeoutMs))),
      new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`the browser exited (${code}) before answering`)))),
    ]);
  } finally {
    clearTimeout(timer);
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await new Promise((r) => server.close(r));
    // Chromium's helper processes outlive the killed browser for a moment and still write to the
    // profile (an rm right away failed with ENOTEMPTY about one run in five); retry until they stop.
    await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}
