/**
 * Interop with OpenSSL's RFC 3161 client: `openssl ts -query` -> a real loopback Cairn TSA ->
 * `openssl ts -verify` with the served chain. Skipped (with the reason printed) without openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Standalone } from '../../host/cli/serve.js';
import { pemCertificates, toPem } from '../../host/tsa/keys.js';
import { startStandalone } from '../../host/tsa/standalone.js';
import { verifyTimestampToken } from '../../host/tsa/verify.js';
import { hasTool, statusOf } from './helpers.js';

const haveOpenssl = hasTool('openssl');
if (!haveOpenssl) console.warn('test/tsa/openssl.test.ts skipped: openssl not found on PATH (CI installs it via apt)');

describe.skipIf(!haveOpenssl)('openssl ts round trip', () => {
  let dir: string;
  let tsa: Standalone;
  const openssl = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  async function stamp(query: string): Promise<{ status: number; body: Uint8Array }> {
    const res = await fetch(`${tsa.ready.tsa}/api/v1/timestamp`, {
      method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: await readFile(join(dir, query)),
    });
    return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsa-openssl-'));
    tsa = await startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1' });
    const chain = pemCertificates(await (await fetch(`${tsa.ready.tsa}/api/v1/timestamp/certchain`)).text());
    await writeFile(join(dir, 'tsa.pem'), toPem(chain[0]!));
    await writeFile(join(dir, 'root.pem'), toPem(chain[chain.length - 1]!));
    await writeFile(join(dir, 'f'), 'the artifact\n');
  });
  afterAll(async () => {
    await tsa?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['nonce + cert', ['-cert']],
    ['nonce, no cert', []],
    ['no nonce + cert', ['-no_nonce', '-cert']],
    ['no nonce, no cert', ['-no_nonce']],
  ])('%s', async (name, flags) => {
    const q = `q-${name.replace(/\W+/g, '_')}.tsq`;
    const r = q.replace('.tsq', '.tsr');
    openssl('ts', '-query', '-data', 'f', '-sha256', ...flags, '-out', q);
    const res = await stamp(q);
    expect(res.status).toBe(201);
    await writeFile(join(dir, r), res.body);
    // -untrusted supplies the TSA cert when the token does not carry it.
    const out = openssl('ts', '-verify', '-data', 'f', '-in', r, '-CAfile', 'root.pem', '-untrusted', 'tsa.pem');
    expect(out).toContain('Verification: OK');
    // openssl's own check of the request/response pairing (nonce, imprint, policy).
    expect(openssl('ts', '-verify', '-queryfile', q, '-in', r, '-CAfile', 'root.pem', '-untrusted', 'tsa.pem')).toContain('Verification: OK');
    const text = openssl('ts', '-reply', '-in', r, '-text');
    expect(text).toContain('Policy OID: 1.3.6.1.4.1.57264.2');
    expect(text).toContain(flags.includes('-no_nonce') ? 'Nonce: unspecified' : 'Nonce: 0x');
  });

  it('sha512 query, verified by openssl and by our verifier', async () => {
    openssl('ts', '-query', '-data', 'f', '-sha512', '-cert', '-out', 'q512.tsq');
    const res = await stamp('q512.tsq');
    await writeFile(join(dir, 'r512.tsr'), res.body);
    expect(openssl('ts', '-verify', '-data', 'f', '-in', 'r512.tsr', '-CAfile', 'root.pem')).toContain('Verification: OK');
    const root = pemCertificates(await readFile(join(dir, 'root.pem'), 'utf8'));
    expect(verifyTimestampToken(res.body, { data: await readFile(join(dir, 'f')), trustedCerts: root }).hashAlgorithm).toBe('sha512');
  });

  it('a sha1 query is rejected with badAlg, and openssl reads the rejection', async () => {
    openssl('ts', '-query', '-data', 'f', '-sha1', '-out', 'q1.tsq');
    const res = await stamp('q1.tsq');
    expect(res.status).toBe(400);
    expect(statusOf(res.body)).toEqual({ status: 2n, failInfo: ['badAlg'], hasToken: false });
    await writeFile(join(dir, 'r1.tsr'), res.body);
    const text = openssl('ts', '-reply', '-in', 'r1.tsr', '-text');
    expect(text).toContain('Status: Rejected.');
    expect(text).toContain('unrecognized or unsupported algorithm identifier');
  });

  it('a policy the TSA does not serve is rejected with unacceptedPolicy', async () => {
    openssl('ts', '-query', '-data', 'f', '-sha256', '-tspolicy', '1.2.3.4', '-out', 'qp.tsq');
    const res = await stamp('qp.tsq');
    expect(statusOf(res.body).failInfo).toEqual(['unacceptedPolicy']);
  });

  it('a 159-bit random serial (serials: random) is read and verified by openssl', async () => {
    await writeFile(join(dir, 'random.yaml'), 'serials: random\n');
    const rnd = await startStandalone({ dataDir: join(dir, 'data-random'), port: 0, host: '127.0.0.1', config: join(dir, 'random.yaml') });
    try {
      const chain = pemCertificates(await (await fetch(`${rnd.ready.tsa}/api/v1/timestamp/certchain`)).text());
      await writeFile(join(dir, 'rnd-root.pem'), toPem(chain[chain.length - 1]!));
      openssl('ts', '-query', '-data', 'f', '-sha256', '-cert', '-out', 'qr.tsq');
      const res = await fetch(`${rnd.ready.tsa}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: await readFile(join(dir, 'qr.tsq')) });
      expect(res.status).toBe(201);
      await writeFile(join(dir, 'rr.tsr'), new Uint8Array(await res.arrayBuffer()));
      expect(openssl('ts', '-verify', '-queryfile', 'qr.tsq', '-in', 'rr.tsr', '-CAfile', 'rnd-root.pem')).toContain('Verification: OK');
      // openssl prints the serial in hex: far more than a counter's few digits (the top bits are random).
      const hex = /Serial number: 0x([0-9A-F]+)/.exec(openssl('ts', '-reply', '-in', 'rr.tsr', '-text'))?.[1];
      expect(hex && hex.length >= 24 && hex.length <= 40).toBe(true);
    } finally {
      await rnd.close();
    }
  });
});
