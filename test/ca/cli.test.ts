/**
 * `cairn serve ca --data-dir DIR --port 0 --config FILE` in a child process: one ready line, the
 * CA generated on first start (keys 0600) and reused on the next, a token minted by the test
 * issuer gets a certificate, SIGTERM exits cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chainOf, clientKey, post, TestIssuer, v2Body } from './fixtures.js';

let iss: TestIssuer;
let dir: string;
beforeAll(async () => {
  iss = await TestIssuer.start();
  dir = await mkdtemp(join(tmpdir(), 'ca-cli-'));
});
afterAll(async () => {
  await iss?.close();
  await rm(dir, { recursive: true, force: true });
});

async function serve(config: string): Promise<{ url: string; stop(): Promise<number | null> }> {
  const main = pathToFileURL(join(import.meta.dirname, '../../host/cli/main.ts')).href;
  const args = ['serve', 'ca', '--data-dir', join(dir, 'data'), '--port', '0', '--config', config];
  const code = `const m = await import(${JSON.stringify(main)}); await m.main(['node', 'cairn', ...${JSON.stringify(args)}]);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    void exited.then((c) => reject(new Error(`exited ${c} before ready: ${err}`)));
  });
  const ready = JSON.parse(line) as { ready: boolean; ca: string };
  expect(ready.ready).toBe(true);
  expect(ready.ca).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  return {
    url: ready.ca,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

it('serves, generates its CA once and reuses it', async () => {
  const config = join(dir, 'ca.yaml');
  await writeFile(config, [
    'oidc-issuers:',
    `  ${iss.url('spiffe')}:`,
    `    issuer-url: ${iss.url('spiffe')}`,
    '    client-id: sigstore',
    '    type: spiffe',
    '    spiffe-trust-domain: example.org',
    '    insecure-loopback-http: true',
    '',
  ].join('\n'));
  const a = await serve(config);
  let first: string[];
  try {
    const sub = 'spiffe://example.org/cli';
    const r = await post(`${a.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
    expect(r.status, r.text).toBe(200);
    expect(r.json.signedCertificateDetachedSct).toBeDefined();
    first = chainOf(r.json).slice(1);
  } finally {
    expect(await a.stop()).toBe(0);
  }
  for (const f of (await readdir(join(dir, 'data'))).filter((f) => /key|passphrase/.test(f))) {
    expect((await stat(join(dir, 'data', f))).mode & 0o777, f).toBe(0o600);
  }
  const b = await serve(config);
  try {
    const tb = (await (await fetch(`${b.url}/api/v2/trustBundle`)).json()) as { chains: { certificates: string[] }[] };
    expect(tb.chains[0]!.certificates.map((p) => p.trim())).toEqual(first.map((p) => p.trim()));
  } finally {
    expect(await b.stop()).toBe(0);
  }
}, 40_000);
