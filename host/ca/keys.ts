/**
 * The CA's key and chain, file backend: an encrypted PKCS#8 key (mode 0600) and a PEM chain
 * (issuing CA first, root last). The passphrase comes from the environment variable named in the
 * config (default CAIRN_CA_PASSPHRASE) or, for a self-contained `cairn up`, from a generated
 * passphrase file (0600) next to the key — documented as a development default, not a secret store.
 *
 * On first start without a configured key, a root (10 years) and an intermediate (5 years, path
 * length 0, EKU codeSigning like Fulcio's intermediates) are generated, both ECDSA P-256; the
 * root key is kept encrypted as well, so the CA can later issue subordinate CAs.
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { CaError } from './errors.js';
import { OID_CODE_SIGNING, type IssuingCa } from './profile.js';

const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface FileKeyConfig {
  /** Encrypted PKCS#8 PEM of the issuing CA's key. */
  key: string;
  /** PEM chain: the issuing CA certificate first, then any intermediates, root last. */
  chain: string;
  /** Environment variable holding the passphrase (default CAIRN_CA_PASSPHRASE). */
  passphraseEnv?: string;
  /** Or a file holding it (mode 0600). */
  passphraseFile?: string;
}

async function writeSecret(path: string, data: string): Promise<void> {
  await writeFile(`${path}.tmp`, data, { mode: 0o600 });
  await chmod(`${path}.tmp`, 0o600);
  await rename(`${path}.tmp`, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function passphrase(cfg: FileKeyConfig): Promise<string> {
  const env = process.env[cfg.passphraseEnv ?? 'CAIRN_CA_PASSPHRASE'];
  if (env) return env;
  if (cfg.passphraseFile) return (await readFile(cfg.passphraseFile, 'utf8')).trim();
  throw new CaError('CA_BAD_CONFIG', `no CA key passphrase: set ${cfg.passphraseEnv ?? 'CAIRN_CA_PASSPHRASE'} or passphraseFile`);
}

/** Loads an issuing CA from the file backend. */
export async function loadFileCa(cfg: FileKeyConfig): Promise<IssuingCa & { chainDer: Uint8Array[] }> {
  const pem = await readFile(cfg.key, 'utf8');
  let key;
  try {
    key = createPrivateKey({ key: pem, passphrase: await passphrase(cfg) });
  } catch (cause) {
    throw new CaError('CA_BAD_CONFIG', 'cannot decrypt the CA key (wrong passphrase or not an encrypted PKCS#8 key)', { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new CaError('CA_BAD_CONFIG', 'the CA key must be ECDSA P-256');
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC, false, ['sign']);
  const chainPem = splitPem(await readFile(cfg.chain, 'utf8'));
  if (chainPem.length === 0) throw new CaError('CA_BAD_CONFIG', `${cfg.chain} holds no certificates`);
  const certs = chainPem.map((p) => new x509.X509Certificate(p));
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', await webcrypto.subtle.importKey('spki', certs[0]!.publicKey.rawData, EC, true, ['verify'])));
  const keySpki = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const fromKey = Buffer.from((await import('node:crypto')).createPublicKey(keySpki).export({ format: 'der', type: 'spki' }));
  if (!spki.equals(fromKey)) throw new CaError('CA_BAD_CONFIG', 'the CA key does not match the first certificate of the chain');
  return { cert: certs[0]!, chainPem, signingKey, signingAlgorithm: SIGN, chainDer: certs.map((c) => new Uint8Array(c.rawData)) };
}

/** Generates root + intermediate under `dir` (first start of a self-contained CA) and returns the file config. */
export async function ensureGeneratedCa(dir: string, commonName = 'Cairn'): Promise<FileKeyConfig> {
  const cfg: FileKeyConfig = { key: join(dir, 'ca-key.pem'), chain: join(dir, 'ca-chain.pem'), passphraseFile: join(dir, 'ca-passphrase') };
  if (await exists(cfg.key)) return cfg;
  const pass = randomBytes(32).toString('base64url');
  const day = 86_400_000;
  const now = Date.now();
  const serial = (): string => randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');
  const root = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const inter = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: `CN=${commonName} Root CA, O=${commonName}`,
      notBefore: new Date(now - day),
      notAfter: new Date(now + 10 * 365 * day),
      keys: root as never,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(root.publicKey as never, false, x509Crypto),
      ],
    },
    x509Crypto,
  );
  const interCert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${commonName} Intermediate CA, O=${commonName}`,
      issuer: rootCert.subject,
      notBefore: new Date(now - day),
      notAfter: new Date(now + 5 * 365 * day),
      publicKey: inter.publicKey as never,
      signingKey: root.privateKey as never,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.ExtendedKeyUsageExtension([OID_CODE_SIGNING], false),
        await x509.SubjectKeyIdentifierExtension.create(inter.publicKey as never, false, x509Crypto),
        await x509.AuthorityKeyIdentifierExtension.create(root.publicKey as never, false, x509Crypto),
      ],
    },
    x509Crypto,
  );
  const enc = async (k: webcrypto.CryptoKey): Promise<string> =>
    createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k)), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: pass }) as string;
  await writeSecret(cfg.passphraseFile!, `${pass}\n`);
  await writeSecret(join(dir, 'ca-root-key.pem'), await enc(root.privateKey));
  await writeFile(cfg.chain, `${interCert.toString('pem')}\n${rootCert.toString('pem')}\n`, { mode: 0o644 });
  await writeSecret(cfg.key, await enc(inter.privateKey));
  return cfg;
}
