/**
 * SPIFFE suite.
 *  1. TPM quote checks per second: the WASM routine (assembly/tpm.ts) against its node:crypto twin
 *     (host/core/tpm-reference.ts) on the same TPMS_ATTEST — magic/type/nonce/selection checks plus
 *     the recomputed PCR digest over PCRs 0, 1, 7 — and the full server-side verification (AK
 *     public area parsing + quote checks + ECDSA P-256 signature), with the bare ECDSA verification
 *     as the floor measured in the same run. The quote is signed by a software key shaped as a TPM
 *     AK (restricted signing, fixedTPM...), so the suite needs no swtpm.
 *  2. SVID issuance per second: JWT-SVIDs (ES256) and X509-SVIDs (fresh P-256 key + certificate),
 *     with the bare ES256 JWS sign as baseline.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { SignJWT } from 'jose';
import { Bench } from 'tinybench';
import { initTpm, referenceQuoteChecker, wasmQuoteChecker } from '../host/core/tpm.js';
import { TrustDomainCa } from '../host/spiffe/ca.js';
import { parseAkPublic, verifyTpmSignature } from '../host/spiffe/tpm-attestor.js';
import { fmt, table, type BenchOptions, type SuiteResult } from './harness.js';

const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const tpm2b = (b: Buffer) => Buffer.concat([u16(b.length), b]);

/** A software ECC key marshalled as a TPM AK public area (TPMT_PUBLIC, Part 2 §12.2.4). */
function softwareAk() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const tpmt = Buffer.concat([
    u16(0x0023), u16(0x000b), u32(0x00050072), tpm2b(Buffer.alloc(0)),
    u16(0x0010), u16(0x0018), u16(0x000b), u16(0x0003), u16(0x0010),
    tpm2b(Buffer.from(jwk.x!, 'base64url')), tpm2b(Buffer.from(jwk.y!, 'base64url')),
  ]);
  return { privateKey, tpm2bPublic: tpm2b(tpmt) };
}

function quote(nonce: Buffer, pcrValues: Buffer[]): Buffer {
  const digest = createHash('sha256').update(Buffer.concat(pcrValues)).digest();
  return Buffer.concat([
    u32(0xff544347), u16(0x8018), tpm2b(Buffer.concat([u16(0x000b), randomBytes(32)])), tpm2b(nonce),
    Buffer.alloc(17), Buffer.alloc(8), u32(1), u16(0x000b), Buffer.from([3, 0b10000011, 0, 0]), tpm2b(digest),
  ]);
}

/** TPMT_SIGNATURE for ECDSA-SHA256 from a DER-free (r||s) signature. */
function tpmSignature(p1363: Buffer): Buffer {
  return Buffer.concat([u16(0x0018), u16(0x000b), tpm2b(p1363.subarray(0, 32)), tpm2b(p1363.subarray(32))]);
}

async function run(bench: Bench): Promise<{ name: string; hz: number }[]> {
  await bench.run();
  return bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
    return { name: t.name, hz: 1000 / r.latency.p50 };
  });
}

export async function spiffeSuite(opts: BenchOptions): Promise<SuiteResult> {
  const time = opts.quick ? 300 : 1500;
  const warmupTime = opts.quick ? 50 : 200;
  await initTpm();

  // 1. Quotes
  const nonce = randomBytes(32);
  const pcrValues = [0, 1, 7].map((i) => createHash('sha256').update(`pcr${i}`).digest());
  const attest = quote(nonce, pcrValues);
  const input = { attest, nonce, pcrs: [0, 1, 7], pcrValues };
  const ak = softwareAk();
  const akB64 = ak.tpm2bPublic.toString('base64');
  const p1363 = sign('sha256', attest, { key: ak.privateKey, dsaEncoding: 'ieee-p1363' });
  const sig = tpmSignature(p1363);
  const akParsed = parseAkPublic(ak.tpm2bPublic);
  if (!verifyTpmSignature(akParsed, attest, sig)) throw new Error('bench quote does not verify');
  for (const c of [wasmQuoteChecker, referenceQuoteChecker]) c.checkQuote(input);

  const qb = new Bench({ time, warmupTime });
  qb
    .add('quote checks, WASM (assembly/tpm.ts)', () => {
      wasmQuoteChecker.checkQuote(input);
    })
    .add('quote checks, twin (node:crypto)', () => {
      referenceQuoteChecker.checkQuote(input);
    })
    .add('baseline: bare ECDSA P-256 verify (node:crypto)', () => {
      verify('sha256', attest, { key: akParsed.key, dsaEncoding: 'ieee-p1363' }, p1363);
    })
    .add('full verification: AK parse + WASM checks + AK signature', () => {
      const a = parseAkPublic(Buffer.from(akB64, 'base64'));
      wasmQuoteChecker.checkQuote(input);
      if (!verifyTpmSignature(a, attest, sig)) throw new Error('bad');
    });
  const q = await run(qb);

  // 2. SVIDs
  const ca = await TrustDomainCa.open({ trustDomain: 'bench.example', jwtIssuer: 'https://oidc.bench.example' });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sb = new Bench({ time, warmupTime });
  sb
    .add('baseline: bare ES256 JWS (jose SignJWT)', async () => {
      await new SignJWT({ sub: 'spiffe://bench.example/w', aud: 'x' }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    })
    .add('JWT-SVID issuance (TrustDomainCa.mintJwtSvid)', async () => {
      await ca.mintJwtSvid('spiffe://bench.example/w', ['sigstore']);
    })
    .add('X509-SVID issuance (new P-256 key + certificate)', async () => {
      await ca.mintX509Svid('spiffe://bench.example/w');
    });
  const s = await run(sb);

  const twin = q[1]!.hz;
  const jwsBase = s[0]!.hz;
  const markdown = [
    '### TPM quote verification (PCRs 0, 1, 7; SHA-256 bank)',
    '',
    table(['implementation', 'checks/s', 'vs twin'], q.map((r) => [r.name, fmt.ops(r.hz), fmt.x(r.hz / twin)])),
    '',
    `In the full server path the WASM quote checks take ${((q[3]!.hz / q[0]!.hz) * 100).toFixed(1)}% of the time; the rest is`,
    'importing the AK public key from its TPM public area and the ECDSA P-256 signature verification.',
    '',
    '### SVID issuance',
    '',
    table(['operation', 'per s', 'vs bare ES256 JWS'], s.map((r) => [r.name, fmt.ops(r.hz), fmt.x(r.hz / jwsBase)])),
  ].join('\n');
  return { title: 'SPIFFE: TPM quote checks and SVID issuance', markdown };
}
