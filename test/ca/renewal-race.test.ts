/**
 * An issuing CA that changes while a certificate is being made (a subordinate's renewal,
 * host/ca/subordinate-client.ts, calls setIssuingCa at any time): the request keeps the CA it
 * started with, so the final certificate's issuer is the one the CT log's SCT was made for and
 * the one named by the chain it is returned with. The switch is made while the precertificate is
 * at the (real) CT log, the one await where a mix-up could happen.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseIssuersConfig } from '../../host/ca/config.js';
import { CodeSigningCa } from '../../host/ca/core.js';
import { ensureGeneratedCa, loadFileCa, type LoadedCa } from '../../host/ca/keys.js';
import { TokenVerifier } from '../../host/ca/oidc.js';
import { localCt, registerLocalCt } from '../../host/log/local-ct.js';
import { clientKey, issuerConfigDoc, startCtLog, TestIssuer } from './fixtures.js';

let dir: string;
let iss: TestIssuer;
let ctLog: Awaited<ReturnType<typeof startCtLog>>;
let first: LoadedCa;
let second: LoadedCa;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-race-'));
  iss = await TestIssuer.start();
  ctLog = await startCtLog();
  for (const d of ['a', 'b']) await mkdir(join(dir, d));
  first = await loadFileCa(await ensureGeneratedCa(join(dir, 'a')));
  second = await loadFileCa(await ensureGeneratedCa(join(dir, 'b')));
});
afterAll(async () => {
  await ctLog.close();
  await iss.close();
  await rm(dir, { recursive: true, force: true });
});

it('a CA switched while the precertificate is at the CT log does not change the certificate in flight', async () => {
  const issuers = parseIssuersConfig(issuerConfigDoc(iss));
  const realAdd = localCt(ctLog.ct.url)!;
  expect(realAdd).toBeDefined();
  // The same log, reached under another URL whose handler switches the CA first.
  const url = 'http://switching-ct.invalid';
  let switched = 0;
  const ca: CodeSigningCa = new CodeSigningCa({ issuers, verifier: new TokenVerifier(issuers), ca: first, ct: { ...ctLog.ct, url } });
  const unregister = registerLocalCt(url, async (body, precert) => {
    ca.setIssuingCa(second);
    switched++;
    return realAdd(body, precert);
  });
  try {
    const key = clientKey();
    const token = await iss.mint('email', { sub: 'x', email: 'dev@example.com', email_verified: true });
    const issued = await ca.signingCert({ token, publicKey: key.pem, proofOfPossession: Buffer.from(key.prove('dev@example.com'), 'base64') });
    expect(switched).toBe(1);
    expect(issued.embedded).toBe(true);
    const leaf = new X509Certificate(issued.chainPem[0]!);
    // The chain returned is the first CA's, and so is the signature on the leaf.
    expect(issued.chainPem[1]).toBe(first.chainPem[0]);
    expect(leaf.verify(new X509Certificate(first.chainPem[0]!).publicKey)).toBe(true);
    expect(leaf.issuer).toBe(new X509Certificate(first.chainPem[0]!).subject);
    // The next request uses the new CA.
    const next = await ca.signingCert({ token, publicKey: key.pem, proofOfPossession: Buffer.from(key.prove('dev@example.com'), 'base64') });
    expect(new X509Certificate(next.chainPem[0]!).verify(new X509Certificate(second.chainPem[0]!).publicKey)).toBe(true);
  } finally {
    unregister();
  }
});
