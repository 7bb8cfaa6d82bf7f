/**
 * A small forge for hostile-bundle tests: its own CA, CT log (real embedded SCTs), Rekor-v1-style
 * log (SETs) and checkpoint-only entries, and the bundles they make. Everything is signed for
 * real, so each test changes exactly one thing a verifier must catch.
 */
import { createRequire } from 'node:module';
import { createHash, generateKeyPairSync, KeyObject, sign, webcrypto } from 'node:crypto';
import { leafHash } from '../../host/core/index.js';
import { setPayload } from '../../host/log/set.js';
import { pae } from '../../host/log/entries.js';
import { tbsWithoutExtension } from '../../host/log/ct.js';

const require = createRequire(import.meta.url);
require('reflect-metadata');
export const x509: any = require('@peculiar/x509');
x509.cryptoProvider.set(webcrypto as any);

const ALG = { name: 'ECDSA', hash: 'SHA-256' };
const GEN = { name: 'ECDSA', namedCurve: 'P-256' };
export const OID_SCT = '1.3.6.1.4.1.11129.2.4.2';

export async function genKeys() {
  const k = (await webcrypto.subtle.generateKey(GEN, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  return { ...k, priv: KeyObject.from(k.privateKey), pub: KeyObject.from(k.publicKey) };
}
export type Keys = Awaited<ReturnType<typeof genKeys>>;

export function spkiOf(k: KeyObject): Buffer {
  return k.export({ format: 'der', type: 'spki' }) as Buffer;
}

export async function makeRoot(cn: string, keys?: Keys) {
  keys ??= await genKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: `CN=${cn}`, notBefore: new Date(Date.now() - 86400e3), notAfter: new Date(Date.now() + 86400e3 * 365),
    signingAlgorithm: ALG, keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)],
  });
  return { keys, cert, der: Buffer.from(cert.rawData) };
}

export interface LeafOpts {
  ca: { keys: Keys; cert: any };
  subject?: string;
  san?: { type: string; value: string }[];
  issuerUrl?: string; // Fulcio 1.3.6.1.4.1.57264.1.8 (UTF8String)
  ct?: { keys: Keys };
  notBefore?: Date;
  notAfter?: Date;
  keys?: Keys;
  extra?: any[];
  /** extKeyUsage OIDs (default codeSigning); null: no extKeyUsage extension. */
  eku?: string[] | null;
  /** keyUsage flags (default digitalSignature). */
  keyUsage?: number;
}

export function utf8String(s: string): ArrayBuffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 0xffff) throw new Error('too long');
  const len = b.length < 128 ? Buffer.from([b.length]) : b.length < 256 ? Buffer.from([0x81, b.length]) : Buffer.from([0x82, b.length >> 8, b.length & 255]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x0c]), len, b])).buffer;
}
function octet(b: Buffer): Buffer {
  const len = b.length < 128 ? Buffer.from([b.length]) : b.length < 256 ? Buffer.from([0x81, b.length]) : Buffer.from([0x82, b.length >> 8, b.length & 255]);
  return Buffer.concat([Buffer.from([0x04]), len, b]);
}
const u = (n: number | bigint, bytes: number) => { const b = Buffer.alloc(bytes); if (bytes === 8) b.writeBigUInt64BE(BigInt(n)); else b.writeUIntBE(Number(n), 0, bytes); return b; };

export async function makeLeaf(o: LeafOpts) {
  const keys = o.keys ?? (await genKeys());
  const notBefore = o.notBefore ?? new Date(Math.floor(Date.now() / 1000) * 1000 - 300e3);
  const notAfter = o.notAfter ?? new Date(notBefore.getTime() + 900e3);
  const exts = (sct: Buffer | undefined) => [
    new x509.KeyUsagesExtension(o.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
    ...(o.eku === null ? [] : [new x509.ExtendedKeyUsageExtension(o.eku ?? ['1.3.6.1.5.5.7.3.3'])]),
    ...(o.san ? [new x509.SubjectAlternativeNameExtension(o.san as any, true)] : []),
    ...(o.issuerUrl ? [new x509.Extension('1.3.6.1.4.1.57264.1.8', false, utf8String(o.issuerUrl))] : []),
    ...(o.extra ?? []),
    ...(sct ? [new x509.Extension(OID_SCT, false, new Uint8Array(octet(sct)).buffer)] : []),
  ];
  const create = (sct?: Buffer) => x509.X509CertificateGenerator.create({
    serialNumber: '0a0b0c', subject: o.subject ?? '', issuer: o.ca.cert.subject, notBefore, notAfter,
    signingAlgorithm: ALG, publicKey: keys.publicKey, signingKey: o.ca.keys.privateKey, extensions: exts(sct),
  });
  let cert = await create(o.ct ? Buffer.alloc(10) : undefined);
  if (o.ct) {
    const tbs = tbsWithoutExtension(new Uint8Array(cert.rawData), OID_SCT)!.tbs;
    const issuerKeyHash = createHash('sha256').update(Buffer.from(o.ca.cert.publicKey.rawData)).digest();
    const ts = BigInt(notBefore.getTime() + 1000);
    const signed = Buffer.concat([Buffer.from([0, 0]), u(ts, 8), u(1, 2), issuerKeyHash, u(tbs.length, 3), tbs, u(0, 2)]);
    const sig = sign('sha256', signed, o.ct.keys.priv);
    const logId = createHash('sha256').update(spkiOf(o.ct.keys.pub)).digest();
    const sct = Buffer.concat([Buffer.from([0]), logId, u(ts, 8), u(0, 2), Buffer.from([4, 3]), u(sig.length, 2), sig]);
    const list = Buffer.concat([u(sct.length + 2, 2), u(sct.length, 2), sct]);
    cert = await create(list);
    const tbs2 = tbsWithoutExtension(new Uint8Array(cert.rawData), OID_SCT)!.tbs;
    if (!tbs2.equals(tbs)) throw new Error('precert TBS not stable');
  }
  return { keys, cert, der: Buffer.from(cert.rawData), pem: cert.toString('pem') as string };
}

const window = (start: Date) => ({ start: start.toISOString() });

export function trustedRoot(o: { cas: Buffer[][]; tlogs?: { keys: Keys; checkpointKeyId?: Buffer }[]; ctlogs?: Keys[]; tsas?: Buffer[][] }) {
  const start = new Date(Date.now() - 86400e3);
  const log = (k: Keys, cp?: Buffer) => ({
    baseUrl: 'https://log.example', hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: spkiOf(k.pub).toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: window(start) },
    logId: { keyId: createHash('sha256').update(spkiOf(k.pub)).digest().toString('base64') },
    ...(cp ? { checkpointKeyId: { keyId: cp.toString('base64') } } : {}),
  });
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: (o.tlogs ?? []).map((l) => log(l.keys, l.checkpointKeyId)),
    ctlogs: (o.ctlogs ?? []).map((k) => log(k)),
    certificateAuthorities: o.cas.map((chain) => ({ subject: {}, uri: 'https://ca.example', certChain: { certificates: chain.map((d) => ({ rawBytes: d.toString('base64') })) }, validFor: window(start) })),
    timestampAuthorities: (o.tsas ?? []).map((chain) => ({ subject: {}, uri: 'https://tsa.example', certChain: { certificates: chain.map((d) => ({ rawBytes: d.toString('base64') })) }, validFor: window(start) })),
  };
}

/** A Rekor-v1 style tlog entry with a SET (bundle v0.1). */
export function tlogEntrySet(log: Keys, body: object, opts: { integratedTime?: number; logIndex?: number } = {}) {
  const canon = Buffer.from(JSON.stringify(body));
  const integratedTime = opts.integratedTime ?? Math.floor(Date.now() / 1000) - 60;
  const logIndex = opts.logIndex ?? 7;
  const logIdHex = createHash('sha256').update(spkiOf(log.pub)).digest('hex');
  const set = sign('sha256', setPayload(canon, integratedTime, logIdHex, logIndex), log.priv);
  return {
    logIndex: String(logIndex), logId: { keyId: Buffer.from(logIdHex, 'hex').toString('base64') },
    kindVersion: { kind: (body as any).kind, version: (body as any).apiVersion },
    integratedTime: String(integratedTime), inclusionPromise: { signedEntryTimestamp: set.toString('base64') },
    canonicalizedBody: canon.toString('base64'),
  };
}

/** A tlog entry with only an inclusion proof (tree of size 1) and a signed checkpoint. */
export function tlogEntryProof(log: Keys, body: object, logIdForBundle: Buffer, keyHint: Buffer, origin = 'log.example') {
  const canon = Buffer.from(JSON.stringify(body));
  const root = Buffer.from(leafHash(canon));
  const note = `${origin}\n1\n${root.toString('base64')}\n`;
  const sig = sign('sha256', Buffer.from(note), log.priv);
  const checkpoint = `${note}\n\u2014 ${origin} ${Buffer.concat([keyHint.subarray(0, 4), sig]).toString('base64')}\n`;
  return {
    logIndex: '0', logId: { keyId: logIdForBundle.toString('base64') },
    kindVersion: { kind: (body as any).kind, version: (body as any).apiVersion },
    inclusionProof: { logIndex: '0', rootHash: root.toString('base64'), treeSize: '1', hashes: [], checkpoint: { envelope: checkpoint } },
    canonicalizedBody: canon.toString('base64'),
  };
}

export function dsseBody(payload: Buffer, sig: Buffer, certPem: string) {
  return {
    apiVersion: '0.0.1', kind: 'dsse',
    spec: { payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') }, signatures: [{ signature: sig.toString('base64'), verifier: Buffer.from(certPem).toString('base64') }] },
  };
}

export function hashedrekordBody(digestHex: string, sig: Buffer, keyOrCertPem: string) {
  return { apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: { hash: { algorithm: 'sha256', value: digestHex } }, signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(keyOrCertPem).toString('base64') } } } };
}

/** A signed DSSE bundle (v0.1, SET) from a leaf. */
export function dsseBundle(leaf: { keys: Keys; der: Buffer; pem: string }, log: Keys, payloadType: string, payload: Buffer) {
  const sig = sign('sha256', pae(payloadType, payload), leaf.keys.priv);
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: { x509CertificateChain: { certificates: [{ rawBytes: leaf.der.toString('base64') }] }, tlogEntries: [tlogEntrySet(log, dsseBody(payload, sig, leaf.pem))] },
    dsseEnvelope: { payloadType, payload: payload.toString('base64'), signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
  };
}

export function outcome(f: () => unknown): string {
  try {
    const r = f();
    return `PASS ${JSON.stringify(r)}`;
  } catch (e: any) {
    if (e?.name === 'VerificationError') return `VerificationError ${e.code}: ${e.message}`;
    return `CRASH (uncaught ${e?.constructor?.name}): ${e?.message}`;
  }
}
