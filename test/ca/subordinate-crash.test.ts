/**
 * A subordinate CA renews its certificate with a new key (host/ca/subordinate-client.ts), and the
 * key and chain files change together. The key went first, over the old one: a crash before the
 * chain was written left the new key beside the old chain, the pair was thrown away at the next
 * start, and with the parent unreachable then the CA could not start (or waited, CA_PENDING),
 * although its old certificate had a third of its life left. The crash is staged with a wrapped
 * node:fs/promises; the parent is a small server signing the CSR under a generated root, and the
 * JWT-SVID comes from a stub of the Workload API client.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { encodeNameConstraints } from '../../host/verify/name-constraints.js';
import { subordinateConstraints } from '../../host/ca/subordinate.js';

/**
 * Where the process "dies": `write` fails the creation of a file named `name` or of a temp file
 * for it; `rename` fails only the rename whose target is exactly `name`, after everything before it.
 */
let crashOn: { op: 'write' | 'rename'; name: string } | undefined;
const crash = (op: 'write' | 'rename', target: unknown): void => {
  const base = basename(String(target));
  if (crashOn?.op === op && (op === 'rename' ? base === crashOn.name : base.startsWith(crashOn.name))) throw new Error(`simulated crash writing ${String(target)}`);
};

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof fs.writeFile = async (path, ...rest) => {
    crash('write', path);
    return fs.writeFile(path, ...rest);
  };
  const open: typeof fs.open = async (path, ...rest) => {
    if (/\.tmp$/.test(String(path))) crash('write', path);
    return fs.open(path, ...rest);
  };
  const rename: typeof fs.rename = async (from, to) => {
    crash('rename', to);
    return fs.rename(from, to);
  };
  return { ...fs, default: { ...fs, writeFile, open, rename }, writeFile, open, rename };
});

const SUB_ID = 'spiffe://prod.acme.test/cairn/ca';
vi.mock('../../host/signer/identity.js', () => ({ fetchJwtSvid: async () => ({ token: 'stub', spiffeId: SUB_ID }) }));

const { SubordinateClient } = await import('../../host/ca/subordinate-client.js');

const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

let dir: string;
let parent: Server;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-subca-crash-'));
  const rootKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Test Parent Root', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys: rootKeys as never, signingAlgorithm: SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  }, x509Crypto);
  let serial = 1;
  parent = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      void (async () => {
        const csrPem = Buffer.from((JSON.parse(body) as { certificateSigningRequest: string }).certificateSigningRequest, 'base64').toString('utf8');
        const csr = new x509.Pkcs10CertificateRequest(csrPem);
        const cert = await x509.X509CertificateGenerator.create({
          serialNumber: (++serial).toString(16).padStart(2, '0'), subject: 'CN=prod.acme.test', issuer: root.subject,
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

it.each([
  ['before the chain file is replaced', { op: 'write', name: 'sub-chain.pem' }],
  ['after the chain file is replaced, before the key file is', { op: 'rename', name: 'sub-key.pem' }],
] as const)('a subordinate CA that crashes during a renewal %s restarts on a stored certificate while its parent is down', async (_, target) => {
  const dataDir = join(dir, target.name.replace('.pem', ''));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const client = await SubordinateClient.start({ dataDir, parent: { url, socket: 'unix:///nonexistent' } });
  const serials = [client.current!.cert.serialNumber];
  crashOn = target;
  try {
    await expect(client.renew()).rejects.toThrow(/simulated crash/);
  } finally {
    crashOn = undefined;
    client.close();
  }
  // The parent is unreachable at the restart: only what the files hold can be served.
  const again = await SubordinateClient.start({ dataDir, parent: { url: 'http://127.0.0.1:1', socket: 'unix:///nonexistent' } });
  try {
    expect(again.current).toBeDefined();
    expect(again.current!.cert.notAfter.getTime()).toBeGreaterThan(Date.now());
    // The old pair, or the renewed one whose chain was already in place.
    if (target.op === 'write') expect(again.current!.cert.serialNumber).toBe(serials[0]);
    else expect(again.current!.cert.serialNumber).not.toBe(serials[0]);
  } finally {
    again.close();
    await again.current?.signer.close();
  }
}, 20_000);
