/**
 * A minimal parent CA for subordinate-client tests (POST /cairn/v1/subordinate-ca): it certifies
 * any CSR as a CA name-constrained to `trustDomain`, under a self-signed root of its own, and
 * counts what it issued. No tokens are checked: the tests stub the Workload API.
 */
import { createServer } from 'node:http';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { encodeNameConstraints } from '../../host/verify/name-constraints.js';
import { subordinateConstraints } from '../../host/ca/subordinate.js';

const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface StubParent {
  url: string;
  /** Certificates issued so far. */
  issued(): number;
  close(): Promise<void>;
}

export async function startStubParent(trustDomain: string): Promise<StubParent> {
  const rootKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Test Parent Root', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys: rootKeys as never, signingAlgorithm: SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  }, x509Crypto);
  let issued = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      void (async () => {
        const csrPem = Buffer.from((JSON.parse(body) as { certificateSigningRequest: string }).certificateSigningRequest, 'base64').toString('utf8');
        const csr = new x509.Pkcs10CertificateRequest(csrPem);
        const cert = await x509.X509CertificateGenerator.create({
          serialNumber: (++issued + 1).toString(16).padStart(2, '0'), subject: `CN=${trustDomain}`, issuer: root.subject,
          notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
          publicKey: await csr.publicKey.export(x509Crypto), signingKey: rootKeys.privateKey, signingAlgorithm: SIGN,
          extensions: [
            new x509.BasicConstraintsExtension(true, 0, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
            new x509.Extension('2.5.29.30', true, encodeNameConstraints(subordinateConstraints(trustDomain))),
          ],
        }, x509Crypto);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ chain: { certificates: [cert.toString('pem'), root.toString('pem')] } }));
      })().catch((e: unknown) => res.writeHead(500).end(String(e)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return {
    url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
    issued: () => issued,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
