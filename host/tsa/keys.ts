/**
 * The TSA's signing identity: a key behind the KeySigner interface (host/keys/types.ts) plus its
 * certificate chain. Until an operator supplies a key backend, the standalone TSA creates its own
 * identity on first start: a self-signed root and a TSA leaf (RFC 3161 §2.3 profile). The root's
 * private key is used once to sign the leaf and never stored, so nothing can mint another TSA cert
 * from this data directory; rotate by creating a fresh identity.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, webcrypto, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { KeySigner, SigningAlgorithm } from '../keys/types.js';
import { readSecretFile, writeFileDurably, writeSecretFile } from '../keys/file.js';
import { TsaError } from './errors.js';
import { OID_KP_TIMESTAMPING } from './oids.js';

export type TsaKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa';

export interface TsaIdentity {
  signer: KeySigner;
  /** DER, TSA leaf first, root last. */
  certificates: Uint8Array[];
}

const crypto = webcrypto;
/** @peculiar/x509 types its provider with the DOM `Crypto`; node's webcrypto is that at runtime. */
const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
type KeyPair = webcrypto.CryptoKeyPair;

/**
 * Wrap a node:crypto private key as a KeySigner. Signing is synchronous inside (OpenSSL), which
 * is the fast path the TSA relies on; the Promise only satisfies the interface.
 */
export function keySignerFromKeyObject(key: KeyObject): KeySigner {
  if (key.type !== 'private') throw new TsaError('TSA_BAD_IDENTITY', 'need a private key');
  let algorithm: SigningAlgorithm;
  let hash: string;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec' && curve === 'prime256v1') [algorithm, hash] = ['ecdsa-p256-sha256', 'sha256'];
  else if (key.asymmetricKeyType === 'ec' && curve === 'secp384r1') [algorithm, hash] = ['ecdsa-p384-sha384', 'sha384'];
  else if (key.asymmetricKeyType === 'rsa') [algorithm, hash] = ['rsa-pkcs1v15-sha256', 'sha256'];
  else throw new TsaError('TSA_BAD_IDENTITY', `unsupported TSA key ${key.asymmetricKeyType} ${curve ?? ''}`);
  const publicKeySpki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  return {
    algorithm,
    publicKeySpki,
    sign: (data) => Promise.resolve(new Uint8Array(cryptoSign(hash, data, { key, dsaEncoding: 'der' }))),
    close: () => Promise.resolve(),
  };
}

function keyParams(type: TsaKeyType): { gen: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams; sign: webcrypto.Algorithm | webcrypto.EcdsaParams } {
  switch (type) {
    case 'ecdsa-p256': return { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams };
    case 'ecdsa-p384': return { gen: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams };
    case 'rsa': return {
      gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      sign: { name: 'RSASSA-PKCS1-v1_5' },
    };
  }
}

/** Create a root + TSA leaf in memory. Exported for tests; `loadOrCreateTsaIdentity` persists. */
export async function createTsaIdentity(opts: { type?: TsaKeyType; commonName?: string; now?: Date } = {}): Promise<{ identity: TsaIdentity; keyPem: string }> {
  const type = opts.type ?? 'ecdsa-p256';
  const p = keyParams(type);
  const now = opts.now ?? new Date();
  const day = 86_400_000;
  const root = await crypto.subtle.generateKey(p.gen, false, ['sign', 'verify']) as KeyPair;
  const leaf = await crypto.subtle.generateKey(p.gen, true, ['sign', 'verify']) as KeyPair;
  const cn = opts.commonName ?? 'Cairn TSA';
  const serial = (): string => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${cn} Root, O=Cairn`,
    notBefore: new Date(now.getTime() - day),
    notAfter: new Date(now.getTime() + 20 * 365 * day),
    keys: root,
    signingAlgorithm: p.sign,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(root.publicKey, false, x509Crypto),
    ],
  }, x509Crypto);
  const leafCert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${cn}, O=Cairn`,
    issuer: rootCert.subject,
    notBefore: new Date(now.getTime() - day),
    notAfter: new Date(now.getTime() + 10 * 365 * day),
    publicKey: leaf.publicKey,
    signingKey: root.privateKey,
    signingAlgorithm: p.sign,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      // RFC 3161 §2.3: exactly one critical extendedKeyUsage, id-kp-timeStamping.
      new x509.ExtendedKeyUsageExtension([OID_KP_TIMESTAMPING], true),
      await x509.SubjectKeyIdentifierExtension.create(leaf.publicKey, false, x509Crypto),
      await x509.AuthorityKeyIdentifierExtension.create(root.publicKey, false, x509Crypto),
    ],
  }, x509Crypto);
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', leaf.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  return {
    identity: { signer: keySignerFromKeyObject(key), certificates: [new Uint8Array(leafCert.rawData), new Uint8Array(rootCert.rawData)] },
    keyPem,
  };
}

export function pemCertificates(pem: string): Uint8Array[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')),
  );
}

export function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * `<dataDir>/tsa-key.pem` (PKCS#8, mode 0600) and `<dataDir>/tsa-chain.pem` (leaf first): read
 * them if present, otherwise create and write them (chain first, then the key; each atomically via rename).
 */
export async function loadOrCreateTsaIdentity(dataDir: string, type: TsaKeyType = 'ecdsa-p256'): Promise<TsaIdentity> {
  const keyPath = join(dataDir, 'tsa-key.pem');
  const chainPath = join(dataDir, 'tsa-chain.pem');
  let keyPem: string | undefined;
  try {
    keyPem = await readSecretFile(keyPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (keyPem !== undefined) {
    const certificates = pemCertificates(await readFile(chainPath, 'utf8'));
    return { signer: keySignerFromKeyObject(createPrivateKey(keyPem)), certificates };
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const created = await createTsaIdentity({ type });
  // The chain first, then the key (0600 from the moment it exists): the key is what marks an
  // identity as present, so a crash between the two leaves no key and the next start makes a new
  // identity over the orphaned chain, instead of a key whose chain is missing for good.
  // Durably (fsync, rename, fsync of the directory): a power cut must not leave an empty chain
  // beside a key written after it.
  await writeFileDurably(chainPath, created.identity.certificates.map(toPem).join(''), 0o644);
  await writeSecretFile(keyPath, created.keyPem);
  return created.identity;
}
