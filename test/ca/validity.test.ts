/**
 * The code-signing leaf's validity window against its issuing CA's (RFC 5280 §4.1.2.5, §6.1.3):
 * a leaf never outlives the CA that signs it, and a CA outside its own window does not issue.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ensureGeneratedCa, loadFileCa, rotateGeneratedCa, splitPem, type LoadedCa } from '../../host/ca/keys.js';
import { leafTemplate, VALIDITY_MS, type LeafRequest } from '../../host/ca/profile.js';

let dir: string;
let ca: LoadedCa;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-validity-'));
  ca = await loadFileCa(await ensureGeneratedCa(dir));
});
afterAll(async () => {
  await ca.signer.close();
  await rm(dir, { recursive: true, force: true });
});

const request = (now: Date): LeafRequest => ({
  publicKeySpki: new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' })),
  principal: { san: { type: 'email', value: 'dev@example.com' }, challenge: 'dev@example.com', extensions: {} },
  issuerUrl: 'https://issuer.example',
  subject: 'dev@example.com',
  now,
});

it('issues the full 10 minutes while the CA has them', () => {
  const now = new Date(ca.cert.notAfter.getTime() - 60 * 60_000);
  const t = leafTemplate(ca, request(now));
  expect(t.notAfter.getTime() - t.notBefore.getTime()).toBe(VALIDITY_MS);
});

it('ends a leaf no later than the issuing CA certificate', () => {
  const caEnd = ca.cert.notAfter.getTime();
  const t = leafTemplate(ca, request(new Date(caEnd - 2 * 60_000)));
  expect(t.notAfter.getTime()).toBe(caEnd);
  // notAfter is inclusive (RFC 5280 §4.1.2.5): issuing at the CA's last second is still allowed.
  expect(leafTemplate(ca, request(new Date(caEnd))).notAfter.getTime()).toBe(caEnd);
});

it('refuses to issue outside the issuing CA certificate\'s window', () => {
  expect(() => leafTemplate(ca, request(new Date(ca.cert.notAfter.getTime() + 1000)))).toThrow(expect.objectContaining({ code: 'CA_BAD_CONFIG', status: 503 }));
  expect(() => leafTemplate(ca, request(new Date(ca.cert.notBefore.getTime() - 1000)))).toThrow(expect.objectContaining({ code: 'CA_BAD_CONFIG' }));
});

it('a rotation late in the root\'s life gives an intermediate that ends with the root, and none after it', async () => {
  const d = await mkdtemp(join(tmpdir(), 'ca-validity-rotate-'));
  try {
    const cfg = await ensureGeneratedCa(d);
    const chain = async (): Promise<X509Certificate[]> => splitPem(await readFile(cfg.chain, 'utf8')).map((p) => new X509Certificate(p));
    const root = (await chain())[1]!;
    const rootEnd = new Date(root.validTo).getTime();
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(rootEnd - 365 * 86_400_000);
      await rotateGeneratedCa(d);
      const [inter] = await chain();
      expect(new Date(inter!.validTo).getTime()).toBe(rootEnd);
      vi.setSystemTime(rootEnd + 1000);
      await expect(rotateGeneratedCa(d)).rejects.toMatchObject({ code: 'CA_BAD_CONFIG' });
    } finally {
      vi.useRealTimers();
    }
  } finally {
    await rm(d, { recursive: true, force: true });
  }
});

it('/readyz is 503 while the issuing CA certificate is outside its window (every request would be CA_BAD_CONFIG), 200 inside it', async () => {
  const { CodeSigningCa } = await import('../../host/ca/core.js');
  const { build } = await import('../../host/ca/plugin.js');
  const issuers = { 'oidc-issuers': {} } as never;
  const app = await build({ ca: new CodeSigningCa({ ca, issuers, verifier: { verify: async () => { throw new Error('unused'); } } }), issuers });
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(ca.cert.notAfter.getTime() - 60_000);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    // A subordinate whose renewals failed, or a generated intermediate left to expire.
    vi.setSystemTime(ca.cert.notAfter.getTime() + 1000);
    const r = await app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json().reason).toMatch(/issuing CA certificate is not valid now/);
  } finally {
    vi.useRealTimers();
    await app.close();
  }
});

it('/readyz is 503 while the issuing CA key cannot sign (an HSM session lost), 200 when it signs again', async () => {
  const { CodeSigningCa } = await import('../../host/ca/core.js');
  const { build } = await import('../../host/ca/plugin.js');
  const { KeyError } = await import('../../host/keys/errors.js');
  let lost = false;
  const signer = { ...ca.signer, sign: (d: Uint8Array) => (lost ? Promise.reject(new KeyError('KEY_PKCS11', 'C_Sign failed')) : ca.signer.sign(d)) };
  const issuers = { 'oidc-issuers': {} } as never;
  const app = await build({ ca: new CodeSigningCa({ ca: { ...ca, signer }, issuers, verifier: { verify: async () => { throw new Error('unused'); } } }), issuers });
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    lost = true;
    vi.setSystemTime(Date.now() + 2000); // past the probe's reuse window
    const r = await app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json().reason).toBe('the signing key cannot sign: C_Sign failed');
    lost = false;
    vi.setSystemTime(Date.now() + 2000);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  } finally {
    vi.useRealTimers();
    await app.close();
  }
});
