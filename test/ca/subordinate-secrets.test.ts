/**
 * A subordinate CA's passphrase file (sub-passphrase, host/ca/subordinate-client.ts) that group or
 * others can read is refused, with its chmod hint, before the parent is asked for a certificate.
 * It was read with a plain readFile after the parent had answered: the parent issued a CA
 * certificate, the new key was written encrypted under the exposed passphrase, and only then did
 * loading it fail; a subordinate waiting for its parent (parent.wait, as `cairn up` sets) asked for
 * another certificate on every retry. The parent is a small server signing the CSR under a
 * generated root; the JWT-SVID comes from a stub of the Workload API client.
 */
import { createServer, type Server } from 'node:http';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { encodeNameConstraints } from '../../host/verify/name-constraints.js';
import { subordinateConstraints } from '../../host/ca/subordinate.js';

const SUB_ID = 'spiffe://prod.acme.test/cairn/ca';
vi.mock('../../host/signer/identity.js', () => ({ fetchJwtSvid: async () => ({ token: 'stub', spiffeId: SUB_ID }) }));

const { SubordinateClient } = await import('../../host/ca/subordinate-client.js');

const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

let dir: string;
let parent: Server;
let url: string;
let issued = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-subca-secrets-'));
  const rootKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Test Parent Root', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys: rootKeys as never, signingAlgorithm: SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  }, x509Crypto);
  parent = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      void (async () => {
        const csrPem = Buffer.from((JSON.parse(body) as { certificateSigningRequest: string }).certificateSigningRequest, 'base64').toString('utf8');
        const csr = new x509.Pkcs10CertificateRequest(csrPem);
        const cert = await x509.X509CertificateGenerator.create({
          serialNumber: (++issued + 1).toString(16).padStart(2, '0'), subject: 'CN=prod.acme.test', issuer: root.subject,
          notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
          publicKey: await csr.publicKey.export(x509Crypto), signingKey: rootKeys.privateKey, signingAlgorithm: SIGN,
          extensions: [
            new x509.BasicConstraintsExtension(true, 0, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
            new x509.Extension('2.5.29.30', true, encodeNameConstraints(subordinateConstraints('prod.acme.test'))),
          ],
        }, x509Crypto);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ chain: { certificates: [cert.toString('pem'), root.toString('pem')] } }));
      })().catch((e: unknown) => res.writeHead(500).end(String(e)));
    });
  });
  await new Promise<void>((r) => parent.listen(0, '127.0.0.1', r));
  const a = parent.address();
  url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});

afterAll(async () => {
  await new Promise((r) => parent.close(r));
  await rm(dir, { recursive: true, force: true });
});

it('a sub-passphrase readable by others is refused before the parent is asked, and the stored key stays', async () => {
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const first = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } });
  first.close();
  await first.current!.signer.close();
  expect(issued).toBe(1);
  const key = await readFile(join(dataDir, 'sub-key.pem'), 'utf8');

  const passphrase = join(dataDir, 'sub-passphrase');
  await chmod(passphrase, 0o644);
  await expect(SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } }))
    .rejects.toMatchObject({ code: 'KEY_FILE_INVALID', message: expect.stringContaining(`chmod 600 ${passphrase}`) });
  // No certificate was asked for, and no key was written under the exposed passphrase.
  expect(issued).toBe(1);
  expect(await readFile(join(dataDir, 'sub-key.pem'), 'utf8')).toBe(key);

  // Waiting for the parent (parent.wait) retries with the same refusal, still without asking it.
  const waiting = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent', wait: true } });
  try {
    expect(waiting.current).toBeUndefined();
    expect(waiting.lastError?.message).toContain('chmod 600');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(issued).toBe(1);
  } finally {
    waiting.close();
  }

  // Private again: the stored certificate is used as it is.
  await chmod(passphrase, 0o600);
  const again = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } });
  try {
    expect(again.current).toBeDefined();
    expect(issued).toBe(1);
  } finally {
    again.close();
    await again.current?.signer.close();
  }
}, 20_000);
