/**
 * Mutation fuzzing of the key material a Fulcio client submits (signing-cert API v2: publicKey PEM
 * / base64 SPKI, or a PKCS#10 certificateSigningRequest): every outcome is a key or a CaError
 * code, never another error (a 500 at the root handler).
 */
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { checkedCsrKey, parseSpki } from '../../host/ca/core.js';
import { fuzz, mutateBytesN, mutateText, outcomeAsync, outcome, rng } from '../mutate.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const pems = (['P-256', 'P-384'] as const).map((c) => generateKeyPairSync('ec', { namedCurve: c }).publicKey.export({ format: 'pem', type: 'spki' }) as string);
pems.push(generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string);
pems.push(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }) as string);
const ders = pems.map((p) => Buffer.from(p.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));

describe('fuzz: submitted keys and CSRs', () => {
  it('parseSpki answers a key or CA_UNSUPPORTED_KEY on mutated PEM and DER', () => {
    const { crashes, codes } = fuzz(0xca5, 4000, (r) => {
      const i = Math.floor(r() * pems.length);
      return r() < 0.5 ? mutateText(pems[i]!, r) : Buffer.from(mutateBytesN(ders[i]!, r)).toString('base64');
    }, (s) => outcome(() => void parseSpki(s).key), { budgetMs: 2500 });
    expect(crashes).toEqual([]);
    expect([...codes.keys()].filter((c) => c !== 'ok' && c !== 'CA_UNSUPPORTED_KEY')).toEqual([]);
  });

  it('checkedCsrKey answers a key or a CaError code on mutated requests', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never as { publicKey: never; privateKey: never };
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=fuzz', keys, signingAlgorithm: alg });
    const der = Buffer.from(csr.rawData);
    expect(await outcomeAsync(() => checkedCsrKey(der.toString('base64')))).toBe('ok');
    const r = rng(0xc52);
    const crashes: string[] = [];
    const codes = new Set<string>();
    const start = performance.now();
    for (let i = 0; i < 2000 && performance.now() - start < 2500; i++) {
      const s = r() < 0.2 ? mutateText(csr.toString('pem'), r) : Buffer.from(mutateBytesN(der, r)).toString('base64');
      const o = await outcomeAsync(() => checkedCsrKey(s));
      codes.add(o);
      if (o.startsWith('CRASH') && crashes.length < 5) crashes.push(`iteration ${i}: ${o}`);
    }
    expect(crashes).toEqual([]);
    expect([...codes].filter((c) => c !== 'ok' && !c.startsWith('CA_'))).toEqual([]);
  });
});
