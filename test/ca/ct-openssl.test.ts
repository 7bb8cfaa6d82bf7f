/**
 * Embedded SCTs from the real CT personality (host/log, RFC 6962 add-pre-chain), checked here by
 * an independent RFC 6962 §3.2 verifier against the log's key; and outside judges: `openssl
 * verify` for the chain and `openssl x509 -text` for the extensions.
 */
import { execFileSync } from 'node:child_process';
import { createHash, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, Extensions } from '@peculiar/asn1-x509';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chainOf, clientKey, issuerConfigDoc, post, startCa, startCtLog, TestIssuer, v2Body, type RunningCa } from './fixtures.js';

let iss: TestIssuer;
let log: Awaited<ReturnType<typeof startCtLog>>;
let ca: RunningCa;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-openssl-'));
  iss = await TestIssuer.start();
  log = await startCtLog();
  ca = await startCa(issuerConfigDoc(iss), { ct: log.ct });
});
afterAll(async () => {
  await ca?.close();
  await log?.close();
  await iss?.close();
  await rm(dir, { recursive: true, force: true });
});

const u = (n: number | bigint, bytes: number): Buffer => {
  const b = Buffer.alloc(bytes);
  if (bytes === 8) b.writeBigUInt64BE(BigInt(n));
  else b.writeUIntBE(Number(n), 0, bytes);
  return b;
};

/** RFC 6962 §3.2/§3.3: verify every embedded SCT of `leafDer` issued by `issuerDer` against the log key. */
function verifyEmbeddedScts(leafDer: Buffer, issuerDer: Buffer): { timestamp: bigint; logId: Buffer }[] {
  const cert = AsnConvert.parse(leafDer, Certificate);
  const exts = cert.tbsCertificate.extensions!;
  const sctExt = exts.find((e) => e.extnID === '1.3.6.1.4.1.11129.2.4.2');
  expect(sctExt).toBeDefined();
  expect(sctExt!.critical).toBe(false);
  // extnValue holds an OCTET STRING whose contents are the TLS SignedCertificateTimestampList.
  const inner = Buffer.from(sctExt!.extnValue.buffer);
  expect(inner[0]).toBe(0x04);
  const hl = inner[1]! < 0x80 ? 2 : 2 + (inner[1]! & 0x7f);
  const list = inner.subarray(hl);
  expect(list.readUInt16BE(0)).toBe(list.length - 2);
  // The precertificate's TBS is the final TBS without the SCT list extension (§3.2).
  cert.tbsCertificate.extensions = new Extensions(exts.filter((e) => e.extnID !== '1.3.6.1.4.1.11129.2.4.2'));
  const tbs = Buffer.from(AsnConvert.serialize(cert.tbsCertificate));
  const issuerKeyHash = createHash('sha256').update(new X509Certificate(issuerDer).publicKey.export({ format: 'der', type: 'spki' })).digest();
  const out = [];
  let p = 2;
  while (p < list.length) {
    const len = list.readUInt16BE(p);
    const s = list.subarray(p + 2, p + 2 + len);
    p += 2 + len;
    expect(s[0]).toBe(0); // v1
    const logId = s.subarray(1, 33);
    const timestamp = s.readBigUInt64BE(33);
    const extLen = s.readUInt16BE(41);
    const ext = s.subarray(43, 43 + extLen);
    let q = 43 + extLen;
    expect([s[q], s[q + 1]]).toEqual([4, 3]); // sha256 / ecdsa
    const sigLen = s.readUInt16BE(q + 2);
    const sig = s.subarray(q + 4, q + 4 + sigLen);
    q += 4 + sigLen;
    expect(q).toBe(s.length);
    const signed = Buffer.concat([Uint8Array.of(0, 0), u(timestamp, 8), u(1, 2), issuerKeyHash, u(tbs.length, 3), tbs, u(extLen, 2), ext]);
    expect(verify('sha256', signed, log.ct.publicKey, sig)).toBe(true);
    out.push({ timestamp, logId });
  }
  return out;
}

it('embeds an SCT from the CT log that verifies against the log key (RFC 6962 §3.2)', async () => {
  const sub = 'spiffe://example.org/ns/ci/sa/builder';
  const r = await post(`${ca.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
  expect(r.status, r.text).toBe(200);
  expect(r.json.signedCertificateEmbeddedSct).toBeDefined();
  const chain = chainOf(r.json).map((p) => Buffer.from(p.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  const scts = verifyEmbeddedScts(chain[0]!, chain[1]!);
  expect(scts).toHaveLength(1);
  expect(scts[0]!.logId.equals(createHash('sha256').update(log.ct.publicKey.export({ format: 'der', type: 'spki' })).digest())).toBe(true);
  expect(Math.abs(Number(scts[0]!.timestamp) - Date.now())).toBeLessThan(60_000);
  // Tampering with the TBS (another key) makes the SCT fail: the check can fail.
  const other = await post(`${ca.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
  const otherLeaf = Buffer.from(chainOf(other.json)[0]!.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const spliced = AsnConvert.parse(otherLeaf, Certificate);
  const orig = AsnConvert.parse(chain[0]!, Certificate);
  spliced.tbsCertificate.extensions = orig.tbsCertificate.extensions; // SCT of the first cert on the second TBS
  expect(() => verifyEmbeddedScts(Buffer.from(AsnConvert.serialize(spliced)), chain[1]!)).toThrow();
});

it('reaches the CT log in this process directly and one in another process over HTTP: both give a verifying embedded SCT', async () => {
  const overHttp = await startCa(issuerConfigDoc(iss), { ct: { ...log.ct, transport: 'http' } });
  try {
    const before = Number((await (await fetch(`${log.ct.url}/ct/v1/get-sth`)).json() as { tree_size: number }).tree_size);
    for (const c of [ca, overHttp]) {
      const sub = 'spiffe://example.org/ns/ci/sa/transport';
      const r = await post(`${c.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
      expect(r.status, r.text).toBe(200);
      const chain = chainOf(r.json).map((p) => Buffer.from(p.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
      expect(verifyEmbeddedScts(chain[0]!, chain[1]!)).toHaveLength(1);
    }
    // Both precertificates were sequenced by the one CT log.
    const after = Number((await (await fetch(`${log.ct.url}/ct/v1/get-sth`)).json() as { tree_size: number }).tree_size);
    expect(after - before).toBe(2);
  } finally {
    await overHttp.close();
  }
});

it('openssl verify accepts the chain and x509 -text shows the Fulcio profile', async () => {
  const sub = 'spiffe://example.org/openssl';
  const r = await post(`${ca.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
  expect(r.status, r.text).toBe(200);
  const [leaf, inter, root] = chainOf(r.json);
  await writeFile(join(dir, 'leaf.pem'), leaf!);
  await writeFile(join(dir, 'inter.pem'), inter!);
  await writeFile(join(dir, 'root.pem'), root!);
  const out = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'inter.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
  expect(out.trim()).toBe(`${join(dir, 'leaf.pem')}: OK`);
  // A leaf checked against the wrong root fails: the judge can say no.
  await writeFile(join(dir, 'self.pem'), inter!);
  expect(() => execFileSync('openssl', ['verify', '-CAfile', join(dir, 'self.pem'), '-partial_chain', '-untrusted', join(dir, 'root.pem'), join(dir, 'root.pem')], { stdio: 'pipe' })).toThrow();

  const text = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' });
  expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\s/);
  expect(text).toMatch(/X509v3 Extended Key Usage:\s+Code Signing\s/);
  expect(text).toMatch(/X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/example\.org\/openssl\s/);
  expect(text).toMatch(/X509v3 Subject Key Identifier/);
  expect(text).toMatch(/X509v3 Authority Key Identifier/);
  expect(text).toMatch(/1\.3\.6\.1\.4\.1\.57264\.1\.1:/);
  expect(text).toMatch(/1\.3\.6\.1\.4\.1\.57264\.1\.8:/);
  expect(text).toMatch(/1\.3\.6\.1\.4\.1\.57264\.1\.24:/);
  expect(text).toMatch(/CT Precertificate SCTs:\s+Signed Certificate Timestamp:\s+Version\s+: v1 \(0x0\)/);
  expect(text).not.toMatch(/CT Precertificate Poison/);
  expect(text).toMatch(/Subject: ?\n/);
  const days = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-startdate', '-enddate', '-serial'], { encoding: 'utf8' });
  const start = Date.parse(/notBefore=(.*)/.exec(days)![1]!);
  const end = Date.parse(/notAfter=(.*)/.exec(days)![1]!);
  expect(end - start).toBe(600_000);
  expect(/serial=([0-9A-F]+)/.exec(days)![1]!).toHaveLength(40);
});

it('an SCT from a log other than the pinned one, or an unreachable log, is CA_CT_FAILED (503), no certificate', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const sub = 'spiffe://example.org/ct-fail';
  const wrongKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const wrong = await startCa(issuerConfigDoc(iss), { ct: { url: log.ct.url, publicKey: wrongKey } });
  const wrongHttp = await startCa(issuerConfigDoc(iss), { ct: { url: log.ct.url, publicKey: wrongKey, transport: 'http' } });
  const down = await startCa(issuerConfigDoc(iss), { ct: { url: 'http://127.0.0.1:1', publicKey: log.ct.publicKey } });
  try {
    for (const c of [wrong, wrongHttp, down]) {
      const r = await post(`${c.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
      expect(r.status, r.text).toBe(503);
      expect(r.json.error).toBe('CA_CT_FAILED');
      expect(r.headers.get('retry-after')).toBe('5'); // every 503 says when to come back
    }
  } finally {
    await wrong.close();
    await wrongHttp.close();
    await down.close();
  }
});

it('a CT log over HTTP that errs, answers junk, answers too much, redirects or returns a forged SCT signature: CA_CT_FAILED (503)', async () => {
  const { createServer } = await import('node:http');
  const sub = 'spiffe://example.org/ct-junk';
  let mode = '';
  const fake = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      if (mode === '500') return res.writeHead(500).end('{}');
      if (mode === 'junk') return res.writeHead(200, { 'content-type': 'application/json' }).end('not json');
      if (mode === 'huge') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pad: 'x'.repeat(20_000) }));
      if (mode === 'redirect') return res.writeHead(302, { location: `${log.ct.url}/ct/v1/add-pre-chain` }).end();
      // forged: the real log's SCT with one bit of its signature flipped (LogID still right).
      const real = await fetch(`${log.ct.url}/ct/v1/add-pre-chain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
      const sct = (await real.json()) as { signature: string };
      const sig = Buffer.from(sct.signature, 'base64');
      sig[sig.length - 1]! ^= 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...sct, signature: sig.toString('base64') }));
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
  const ca2 = await startCa(issuerConfigDoc(iss), { ct: { url, publicKey: log.ct.publicKey, transport: 'http' } });
  try {
    for (mode of ['500', 'junk', 'huge', 'redirect', 'forged']) {
      const r = await post(`${ca2.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
      expect(r.status, `${mode}: ${r.text}`).toBe(503);
      expect(r.json.error, mode).toBe('CA_CT_FAILED');
    }
    // The same log reached directly over HTTP (no forgery) issues: the failures above are the fakes'.
    const direct = await startCa(issuerConfigDoc(iss), { ct: { ...log.ct, transport: 'http' } });
    try {
      const ok = await post(`${direct.url}/api/v2/signingCert`, v2Body(await iss.mint('spiffe', { sub }), clientKey(), sub));
      expect(ok.status, ok.text).toBe(200);
    } finally {
      await direct.close();
    }
  } finally {
    await ca2.close();
    await new Promise<void>((r) => fake.close(() => r()));
  }
});
