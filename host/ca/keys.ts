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
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { openFileSigner } from '../keys/file.js';
import { openPkcs11Signer, type Pkcs11Options } from '../keys/pkcs11.js';
import type { KeySigner } from '../keys/types.js';
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

/** CA key backend selection (standalone config `key:`). */
export type CaKeyConfig =
  | ({ type?: 'file' } & FileKeyConfig)
  | ({ type: 'pkcs11'; chain: string } & Pkcs11Options);

export type LoadedCa = IssuingCa & { chainDer: Uint8Array[] };

/**
 * Orders a chain file's certificates issuing-CA-first whatever order the file uses (the issue
 * asks for "root, then intermediates"; Fulcio's own files list the leaf CA first): start at the
 * certificate whose key is the signer's, then follow issuer links (each verified) to the root.
 */
export function orderChain(pems: string[], keySpki: Uint8Array): string[] {
  const certs = pems.map((p) => ({ pem: p, c: new X509Certificate(p) }));
  const spkiOf = (c: X509Certificate): Buffer => c.publicKey.export({ format: 'der', type: 'spki' });
  let cur = certs.find((x) => spkiOf(x.c).equals(keySpki));
  if (!cur) throw new CaError('CA_BAD_CONFIG', 'no certificate in the chain matches the CA key');
  const out = [cur];
  while (!(cur.c.issuer === cur.c.subject && cur.c.verify(cur.c.publicKey))) {
    const at: { pem: string; c: X509Certificate } = cur;
    const parent = certs.find((x) => !out.includes(x) && at.c.checkIssued(x.c) && at.c.verify(x.c.publicKey));
    if (!parent) break; // chain ends below a root held elsewhere (e.g. a subordinate CA's parent)
    out.push(parent);
    cur = parent;
  }
  if (out.length !== certs.length) throw new CaError('CA_BAD_CONFIG', 'the chain file holds certificates that are not on the CA key\'s path to its root');
  const ca = out[0]!.c;
  if (!ca.ca) throw new CaError('CA_BAD_CONFIG', 'the certificate of the CA key is not a CA certificate (basicConstraints cA)');
  return out.map((x) => x.pem.trim() + '\n');
}

async function fromSigner(signer: KeySigner, chainFile: string): Promise<LoadedCa> {
  const pems = splitPem(await readFile(chainFile, 'utf8'));
  if (pems.length === 0) throw new CaError('CA_BAD_CONFIG', `${chainFile} holds no certificates`);
  if (signer.algorithm === 'rsa-pss-sha256') throw new CaError('CA_BAD_CONFIG', 'RSA-PSS CA keys are not supported; use ECDSA, Ed25519 or RSA PKCS#1 v1.5');
  const chainPem = orderChain(pems, signer.publicKeySpki);
  const certs = chainPem.map((p) => new x509.X509Certificate(p));
  return { cert: certs[0]!, chainPem, signer, chainDer: certs.map((c) => new Uint8Array(c.rawData)) };
}

/** Loads an issuing CA from the file backend (encrypted PKCS#8, mode 0600; host/keys/file.ts). */
export async function loadFileCa(cfg: FileKeyConfig): Promise<LoadedCa> {
  let signer: KeySigner;
  try {
    signer = await openFileSigner({ path: cfg.key, passphraseEnv: cfg.passphraseEnv ?? 'CAIRN_CA_PASSPHRASE', ...(cfg.passphraseFile ? { passphraseFile: cfg.passphraseFile } : {}) });
  } catch (cause) {
    throw new CaError('CA_BAD_CONFIG', `CA key: ${(cause as Error).message}`, { cause });
  }
  return fromSigner(signer, cfg.chain);
}

/** Loads an issuing CA whose key lives in a PKCS#11 token (host/keys/pkcs11.ts). */
export async function loadPkcs11Ca(cfg: Pkcs11Options & { chain: string }): Promise<LoadedCa> {
  let signer: KeySigner;
  try {
    signer = await openPkcs11Signer(cfg);
  } catch (cause) {
    throw new CaError('CA_BAD_CONFIG', `CA key (PKCS#11): ${(cause as Error).message}`, { cause });
  }
  try {
    return await fromSigner(signer, cfg.chain);
  } catch (e) {
    await signer.close();
    throw e;
  }
}

export async function loadCa(cfg: CaKeyConfig): Promise<LoadedCa> {
  if (typeof cfg !== 'object' || cfg === null || typeof cfg.chain !== 'string') throw new CaError('CA_BAD_CONFIG', 'key: needs chain (PEM file)');
  if (cfg.type === 'pkcs11') {
    if (typeof cfg.module !== 'string' || typeof cfg.keyLabel !== 'string') throw new CaError('CA_BAD_CONFIG', 'key (pkcs11): needs module and keyLabel');
    return loadPkcs11Ca(cfg);
  }
  if (cfg.type !== undefined && cfg.type !== 'file') throw new CaError('CA_BAD_CONFIG', `key.type ${String(cfg.type)} is not file or pkcs11`);
  if (typeof cfg.key !== 'string') throw new CaError('CA_BAD_CONFIG', 'key (file): needs key (encrypted PKCS#8 PEM)');
  return loadFileCa(cfg);
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

/**
 * The generated root of `ensureGeneratedCa` as a CA of its own (it signs subordinate CA
 * certificates: its pathLen is 1). Its chain file, the root alone, is written on first use.
 */
export async function ensureGeneratedRoot(dir: string): Promise<FileKeyConfig> {
  const ca = await ensureGeneratedCa(dir);
  const cfg: FileKeyConfig = { key: join(dir, 'ca-root-key.pem'), chain: join(dir, 'ca-root.pem'), passphraseFile: ca.passphraseFile! };
  if (!(await exists(cfg.chain))) {
    const pems = splitPem(await readFile(ca.chain, 'utf8'));
    const root = pems.find((p) => {
      const c = new X509Certificate(p);
      return c.issuer === c.subject && c.verify(c.publicKey);
    });
    if (!root) throw new CaError('CA_BAD_CONFIG', `${ca.chain} holds no root certificate`);
    await writeFile(cfg.chain, `${root.trim()}\n`, { mode: 0o644 });
  }
  return cfg;
}
