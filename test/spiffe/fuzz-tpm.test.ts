/**
 * Mutation fuzzing of the TPM structures the SPIFFE server reads from an agent: TPM2B_PUBLIC /
 * TPMT_PUBLIC of the AK and EK (Part 2 §12.2.4), TPMT_SIGNATURE (§11.3.4), TPMS_ATTEST (both
 * quote checkers, WASM and node:crypto), and the EK certificate's TCG subjectAltName. Every
 * outcome is a success or a coded error, and the two quote checkers agree.
 */
import { createHash, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initTpm, referenceQuoteChecker, wasmQuoteChecker } from '../../host/core/tpm.js';
import { integer, oid, seq, set, tlv } from '../../host/tsa/encode.js';
import { objectName, parseAkPublic, tpmIdentityOf, verifyTpmSignature } from '../../host/spiffe/tpm-attestor.js';
import { parseEkPublic } from '../../host/spiffe/tpm-credential.js';
import { fuzz, mutateBytesN, outcome } from '../mutate.js';

const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const tpm2b = (b: Uint8Array): Buffer => Buffer.concat([u16(b.length), b]);

// TPMA_OBJECT: fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign
const AK_ATTRS = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 18);
// fixedTPM | fixedParent | sensitiveDataOrigin | adminWithPolicy | restricted | decrypt
const EK_ATTRS = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 16) | (1 << 17);

const ecAk = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecJwk = ecAk.publicKey.export({ format: 'jwk' });
const akEcc = tpm2b(Buffer.concat([
  u16(0x0023), u16(0x000b), u32(AK_ATTRS), tpm2b(Buffer.alloc(0)),
  u16(0x0010), u16(0x0018), u16(0x000b), u16(0x0003), u16(0x0010),
  tpm2b(Buffer.from(ecJwk.x!, 'base64url')), tpm2b(Buffer.from(ecJwk.y!, 'base64url')),
]));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const modulus = Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url');
const akRsa = Buffer.concat([
  u16(0x0001), u16(0x000b), u32(AK_ATTRS), tpm2b(Buffer.alloc(0)),
  u16(0x0010), u16(0x0014), u16(0x000b), u16(2048), u32(0), tpm2b(modulus),
]);
const ek = tpm2b(Buffer.concat([
  u16(0x0001), u16(0x000b), u32(EK_ATTRS), tpm2b(Buffer.alloc(32, 0x83)),
  u16(0x0006), u16(128), u16(0x0043), u16(0x0010), u16(2048), u32(0), tpm2b(modulus),
]));

const pcrValues = [0, 1, 7].map((i) => createHash('sha256').update(`pcr${i}`).digest());
const nonce = Buffer.alloc(32, 0x4e);
const attest = Buffer.concat([
  u32(0xff544347), u16(0x8018), tpm2b(Buffer.concat([u16(0x000b), Buffer.alloc(32, 0x51)])), tpm2b(nonce),
  Buffer.alloc(8, 0x11), u32(7), u32(3), Buffer.from([1]), Buffer.alloc(8, 0x22),
  u32(1), u16(0x000b), Buffer.from([3, 0b10000011, 0, 0]),
  tpm2b(createHash('sha256').update(Buffer.concat(pcrValues)).digest()),
]);
const p1363 = sign('sha256', attest, { key: ecAk.privateKey, dsaEncoding: 'ieee-p1363' });
const ecSig = Buffer.concat([u16(0x0018), u16(0x000b), tpm2b(p1363.subarray(0, 32)), tpm2b(p1363.subarray(32))]);
const rsaSig = Buffer.concat([u16(0x0014), u16(0x000b), tpm2b(sign('sha256', attest, rsa.privateKey))]);

/** An EK certificate with a TCG directoryName SAN (TCG EK Credential Profile 2.0 §3.2.9). */
function ekCertificate(berVersion: boolean): Uint8Array {
  const utf8 = (s: string): Uint8Array => tlv(0x0c, new TextEncoder().encode(s));
  const utc = (s: string): Uint8Array => tlv(0x17, new TextEncoder().encode(s));
  const alg = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(set(seq(oid('2.5.4.3'), utf8('Vendor EK CA'))));
  const tcg = seq(set(seq(oid('2.23.133.2.1'), utf8('id:53544D20')), seq(oid('2.23.133.2.2'), utf8('ST33')), seq(oid('2.23.133.2.3'), utf8('id:0100'))));
  // A BER long-form length where DER wants the short form (X.690 §10.1): OpenSSL reads it and
  // verifies the signature over the bytes as sent, as vendor EK certificates in the field need.
  const version = berVersion ? Uint8Array.of(0xa0, 0x81, 0x03, 0x02, 0x01, 0x02) : tlv(0xa0, integer(2n));
  const tbs = tlv(0x30, version, integer(7n), alg, name, seq(utc('200101000000Z'), utc('400101000000Z')), seq(),
    new Uint8Array(rsa.publicKey.export({ type: 'spki', format: 'der' })),
    tlv(0xa3, seq(seq(oid('2.5.29.17'), tlv(0x01, Uint8Array.of(0xff)), tlv(0x04, seq(tlv(0xa4, tcg)))))));
  return seq(tbs, alg, tlv(0x03, Uint8Array.of(0), sign('sha256', tbs, ecAk.privateKey)));
}

beforeAll(async () => {
  await initTpm();
});

describe('fuzz: TPM structures', () => {
  it('the unmutated inputs parse and verify', () => {
    const ak = parseAkPublic(akEcc);
    expect(verifyTpmSignature(ak, attest, ecSig)).toBe(true);
    expect(verifyTpmSignature(parseAkPublic(akRsa), attest, rsaSig)).toBe(true);
    expect(parseEkPublic(ek).spkiSha256).toMatch(/^[0-9a-f]{64}$/);
    for (const c of [wasmQuoteChecker, referenceQuoteChecker]) expect(c.checkQuote({ attest, nonce, pcrs: [0, 1, 7], pcrValues }).clock).toBe(0x1111111111111111n);
  });

  it('parseAkPublic, parseEkPublic and objectName answer SPIFFE_TPM_REJECTED or a key', () => {
    const seeds = [akEcc, akRsa, ek];
    const { crashes, runs } = fuzz(0x7e4, 3000, (r) => mutateBytesN(seeds[Math.floor(r() * seeds.length)]!, r), (b) => {
      for (const f of [() => parseAkPublic(b), () => parseEkPublic(b), () => objectName(b)]) {
        const o = outcome(f);
        if (o !== 'ok' && o !== 'SPIFFE_TPM_REJECTED') return o.startsWith('CRASH') ? o : `CRASH unexpected code ${o}`;
      }
      return 'ok';
    });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(500);
  });

  it('verifyTpmSignature answers a boolean or SPIFFE_TPM_REJECTED on mutated TPMT_SIGNATUREs', () => {
    const keys = [parseAkPublic(akEcc), parseAkPublic(akRsa)];
    const { crashes, codes } = fuzz(0x516, 3000, (r) => ({ k: keys[Math.floor(r() * 2)]!, s: mutateBytesN(r() < 0.5 ? ecSig : rsaSig, r) }), ({ k, s }) =>
      outcome(() => {
        if (verifyTpmSignature(k, attest, s) && !Buffer.from(s).equals(ecSig) && !Buffer.from(s).equals(rsaSig)) throw new Error(`a mutated signature verified: ${Buffer.from(s).toString('hex')} vs ${ecSig.toString('hex')}`);
      }));
    expect(crashes).toEqual([]);
    expect([...codes.keys()].every((c) => c === 'ok' || c === 'SPIFFE_TPM_REJECTED')).toBe(true);
  });

  it('both quote checkers answer the same TPM_QUOTE_* code on mutated TPMS_ATTEST', () => {
    const { crashes, runs } = fuzz(0xa77e57, 4000, (r) => mutateBytesN(attest, r), (b) => {
      const w = outcome(() => wasmQuoteChecker.checkQuote({ attest: b, nonce, pcrs: [0, 1, 7], pcrValues }));
      const ref = outcome(() => referenceQuoteChecker.checkQuote({ attest: b, nonce, pcrs: [0, 1, 7], pcrValues }));
      if (w !== ref) return `CRASH checkers disagree: wasm ${w}, reference ${ref}`;
      return w;
    });
    expect(crashes).toEqual([]);
    expect(runs).toBeGreaterThan(500);
  });

  it('tpmIdentityOf never throws on a certificate OpenSSL reads (regression: a BER-encoded EK certificate)', () => {
    expect(tpmIdentityOf(new X509Certificate(ekCertificate(false)))).toEqual({ manufacturer: 'id:53544D20', model: 'ST33', version: 'id:0100' });
    // OpenSSL reads this one, and its manufacturer signature verifies; the strict DER reader
    // refuses it. That must cost the TCG selectors only, not the whole attestation.
    const ber = new X509Certificate(ekCertificate(true));
    expect(ber.verify(ecAk.publicKey)).toBe(true);
    expect(tpmIdentityOf(ber)).toEqual({});
    const good = ekCertificate(false);
    const { crashes } = fuzz(0xec, 3000, (r) => mutateBytesN(good, r), (b) => {
      let c: X509Certificate;
      try {
        c = new X509Certificate(b);
      } catch {
        return 'openssl refused';
      }
      return outcome(() => tpmIdentityOf(c));
    });
    expect(crashes).toEqual([]);
  });
});
