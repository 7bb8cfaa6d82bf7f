/**
 * Mutation fuzzing of the CT personality's chain reader (RFC 6962 §4.1 add-chain, add-pre-chain):
 * the submitted (pre)certificate and its issuer are mutated as bytes, and the request as JSON;
 * every outcome is a parsed chain or CT_BAD_CHAIN, never another error (a 500 at the root handler).
 */
import { webcrypto, X509Certificate } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseChain } from '../../host/log/ct.js';
import { mutateBytesN, mutateJson, outcomeAsync, rng } from '../mutate.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

let pre: Buffer[];
let fin: Buffer[];
let root: X509Certificate;

beforeAll(async () => {
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
  const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
  const ca = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Fuzz CA', keys: caKeys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 0, true)] });
  const leaf = (poison: boolean) => x509.X509CertificateGenerator.create({
    serialNumber: poison ? '02' : '03', subject: '', issuer: ca.subject, publicKey: leafKeys.publicKey, signingKey: caKeys.privateKey, signingAlgorithm: alg,
    notBefore: new Date(), notAfter: new Date(Date.now() + 6e5),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/w' }], true), ...(poison ? [new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Uint8Array.of(5, 0))] : [])],
  });
  pre = [Buffer.from((await leaf(true)).rawData), Buffer.from(ca.rawData)];
  fin = [Buffer.from((await leaf(false)).rawData), Buffer.from(ca.rawData)];
  root = new X509Certificate(Buffer.from(ca.rawData));
});

describe('fuzz: CT chains', () => {
  it('the unmutated chains are accepted', async () => {
    expect((await parseChain({ chain: pre.map((c) => c.toString('base64')) }, true, [root])).entryType).toBe(1);
    expect((await parseChain({ chain: fin.map((c) => c.toString('base64')) }, false, [root])).entryType).toBe(0);
  });

  it('parseChain answers a chain or CT_BAD_CHAIN on mutated certificates and requests', async () => {
    const r = rng(0xc7c4a1);
    const crashes: string[] = [];
    const codes = new Set<string>();
    const start = performance.now();
    let runs = 0;
    for (let i = 0; i < 3000 && performance.now() - start < 3000; i++, runs++) {
      const precert = r() < 0.5;
      const chain = (precert ? pre : fin).map((c) => Buffer.from(c));
      let req: unknown;
      if (r() < 0.8) {
        const at = r() < 0.7 ? 0 : 1;
        chain[at] = Buffer.from(mutateBytesN(chain[at]!, r));
        req = { chain: chain.map((c) => c.toString('base64')) };
      } else req = mutateJson({ chain: chain.map((c) => c.toString('base64')) }, r);
      const o = await outcomeAsync(() => parseChain(req, precert, r() < 0.5 ? [root] : []));
      codes.add(o);
      if (o.startsWith('CRASH') && crashes.length < 5) crashes.push(`iteration ${i}: ${o}`);
    }
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(300);
    expect([...codes].filter((c) => c !== 'ok' && c !== 'CT_BAD_CHAIN')).toEqual([]);
  });
});
