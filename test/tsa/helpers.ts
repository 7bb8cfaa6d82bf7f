/**
 * Test-only helpers: certificates with chosen extensions and a CMS "forge" that builds tokens with
 * arbitrary signed attributes, so each verifier check can be shown to fail on its own.
 */
import 'reflect-metadata';
import { createHash, createPrivateKey, sign as cryptoSign, webcrypto, type KeyObject } from 'node:crypto';
import { accessSync, constants as fsc } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { algorithmIdentifier, integer, octets, oid, seq, set, tlv, compareBytes } from '../../host/tsa/encode.js';
import { checkDer, children, decodeInteger, tlvBytes, valueBytes } from '../../host/tsa/der.js';
import { FAILURE_BITS } from '../../host/tsa/errors.js';
import {
  OID_ATTR_CONTENT_TYPE, OID_ATTR_MESSAGE_DIGEST, OID_ATTR_SIGNING_CERT, OID_ATTR_SIGNING_CERT_V2, OID_ECDSA_SHA256, OID_KP_TIMESTAMPING,
  OID_SIGNED_DATA, OID_TST_INFO, HASH_OIDS,
} from '../../host/tsa/oids.js';

const wc = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

export interface TestPki {
  rootDer: Uint8Array;
  leafDer: Uint8Array;
  leafKey: KeyObject;
  rootKeys: webcrypto.CryptoKeyPair;
}

export async function makePki(opts: { ekus?: string[]; ekuCritical?: boolean; noEku?: boolean; notAfter?: Date; notBefore?: Date; keyUsage?: number } = {}): Promise<TestPki> {
  const subtle = webcrypto.subtle;
  const rootKeys = (await subtle.generateKey(alg, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leafKeys = (await subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Test Root', notBefore: new Date(now - 10 * 365 * DAY), notAfter: new Date(now + 10 * 365 * DAY),
    keys: rootKeys as never, signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  }, wc);
  const exts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey as never, false, wc),
  ];
  if (!opts.noEku) exts.push(new x509.ExtendedKeyUsageExtension(opts.ekus ?? [OID_KP_TIMESTAMPING], opts.ekuCritical ?? true));
  if (opts.keyUsage !== undefined) exts.push(new x509.KeyUsagesExtension(opts.keyUsage, true));
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=Test TSA', issuer: root.subject,
    notBefore: opts.notBefore ?? new Date(now - DAY), notAfter: opts.notAfter ?? new Date(now + 365 * DAY),
    publicKey: leafKeys.publicKey as never, signingKey: rootKeys.privateKey as never, signingAlgorithm: alg, extensions: exts,
  }, wc);
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', leafKeys.privateKey));
  return {
    rootDer: new Uint8Array(root.rawData), leafDer: new Uint8Array(leaf.rawData),
    leafKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), rootKeys,
  };
}

/** A minimal TSTInfo (RFC 3161 §2.4.2). */
export function tstInfo(opts: { data?: Uint8Array; serial?: bigint; genTime?: string; nonce?: bigint; policy?: string } = {}): Uint8Array {
  const h = createHash('sha256').update(opts.data ?? new TextEncoder().encode('hello')).digest();
  return seq(
    integer(1n), oid(opts.policy ?? '1.3.6.1.4.1.57264.2'), seq(algorithmIdentifier(HASH_OIDS.sha256), octets(h)),
    integer(opts.serial ?? 7n), tlv(0x18, new TextEncoder().encode(opts.genTime ?? '20250101000000Z')),
    ...(opts.nonce !== undefined ? [integer(opts.nonce)] : []),
  );
}

export interface ForgeOptions {
  tst?: Uint8Array;
  /** Replace/omit individual attributes. `undefined` = the correct value, `null` = leave out. */
  contentType?: Uint8Array | null;
  messageDigest?: Uint8Array | null;
  essV2?: Uint8Array | null;
  extraAttrs?: Uint8Array[];
  includeCert?: boolean;
  /** RFC 2634 signingCertificate (ESSCertID, SHA-1) instead of v2. */
  essV1?: boolean;
  /** ESSCertIDv2 with an explicit hash algorithm (RFC 5035 §4) instead of the DEFAULT sha256. */
  essV2Hash?: 'sha384' | 'sha512';
  /** sid as [0] subjectKeyIdentifier (SignerInfo version 3) instead of issuerAndSerialNumber. */
  sidSki?: Uint8Array;
  extraCerts?: Uint8Array[];
}

/** Build a TimeStampToken (ContentInfo) signed by pki.leafKey with the chosen signed attributes. */
export function forgeToken(pki: TestPki, o: ForgeOptions = {}): Uint8Array {
  const tst = o.tst ?? tstInfo();
  const cert = pki.leafDer;
  const tbs = children(cert, children(cert, checkDer(cert))[0]!);
  const i = tbs[0]!.tag === 0xa0 ? 1 : 0;
  const serial = tlvBytes(cert, tbs[i]!);
  const issuer = tlvBytes(cert, tbs[i + 2]!);
  const attrs: Uint8Array[] = [];
  if (o.contentType !== null) attrs.push(seq(oid(OID_ATTR_CONTENT_TYPE), set(o.contentType ?? oid(OID_TST_INFO))));
  if (o.messageDigest !== null) attrs.push(seq(oid(OID_ATTR_MESSAGE_DIGEST), set(octets(o.messageDigest ?? createHash('sha256').update(tst).digest()))));
  if (o.essV1) {
    attrs.push(seq(oid(OID_ATTR_SIGNING_CERT), set(seq(seq(seq(octets(o.essV2 ?? createHash('sha1').update(cert).digest()), seq(seq(tlv(0xa4, issuer)), serial)))))));
  } else if (o.essV2 !== null) {
    const h = o.essV2Hash ?? 'sha256';
    const hash = o.essV2 ?? createHash(h).update(cert).digest();
    const alg = o.essV2Hash ? [algorithmIdentifier(HASH_OIDS[o.essV2Hash])] : [];
    attrs.push(seq(oid(OID_ATTR_SIGNING_CERT_V2), set(seq(seq(seq(...alg, octets(hash), seq(seq(tlv(0xa4, issuer)), serial)))))));
  }
  attrs.push(...(o.extraAttrs ?? []));
  attrs.sort(compareBytes);
  const toSign = set(...attrs);
  const sig = cryptoSign('sha256', toSign, { key: pki.leafKey, dsaEncoding: 'der' });
  const signedAttrs = Uint8Array.from(toSign);
  signedAttrs[0] = 0xa0;
  const sha = algorithmIdentifier(HASH_OIDS.sha256);
  const sid = o.sidSki ? tlv(0x80, o.sidSki) : seq(issuer, serial);
  const signerInfo = seq(integer(o.sidSki ? 3n : 1n), sid, sha, signedAttrs, algorithmIdentifier(OID_ECDSA_SHA256), octets(sig));
  const certs = [...(o.includeCert === false ? [] : [cert]), ...(o.extraCerts ?? [])];
  const signedData = seq(
    integer(3n), set(sha), seq(oid(OID_TST_INFO), tlv(0xa0, octets(tst))),
    ...(certs.length ? [tlv(0xa0, ...certs)] : []), set(signerInfo),
  );
  return seq(oid(OID_SIGNED_DATA), tlv(0xa0, signedData));
}

/** True if an executable named `name` is on PATH. */
export function hasTool(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(`${dir}/${name}`, fsc.X_OK);
      return dir !== '';
    } catch {
      return false;
    }
  });
}

/**
 * Decode a TimeStampResp's PKIStatusInfo by hand: status and the failInfo bit NAMES per
 * RFC 3161 §2.4.2 (asn1-tsp's PKIFailureInfoFlags number the bits differently, so it is not used).
 */
export function statusOf(der: Uint8Array): { status: bigint; failInfo: string[]; hasToken: boolean } {
  const top = children(der, checkDer(der));
  const si = children(der, top[0]!);
  const status = decodeInteger(valueBytes(der, si[0]!));
  const failInfo: string[] = [];
  const bs = si.find((t) => t.tag === 0x03);
  if (bs) {
    const v = valueBytes(der, bs);
    const bytes = v.subarray(1);
    for (const [name, bit] of Object.entries(FAILURE_BITS)) {
      if (bit >> 3 < bytes.length && (bytes[bit >> 3]! & (0x80 >> (bit & 7))) !== 0) failInfo.push(name);
    }
  }
  return { status, failInfo, hasToken: top.length > 1 };
}
