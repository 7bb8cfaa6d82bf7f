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
import { createHash, createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { openFileSigner, readSecretFile, writeFileDurably, writeSecretFile } from '../keys/file.js';
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

/** Secrets go through writeSecretFile: a fresh temp name, created 0600 (never a wider mode, never a symlink's target). */
const writeSecret = writeSecretFile;

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

const DAY = 86_400_000;
const serialHex = (): string => randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');
type EcPair = webcrypto.CryptoKeyPair;

/**
 * An intermediate (5 years, path length 0, EKU codeSigning like Fulcio's intermediates) under `root`,
 * ending no later than the root (as subordinate.ts caps a subordinate at its parent): a rotation
 * late in the root's life must not make a certificate claiming years the root cannot vouch for.
 */
async function issueIntermediate(root: { cert: x509.X509Certificate; privateKey: webcrypto.CryptoKey }, commonName: string, now: number): Promise<{ cert: x509.X509Certificate; keys: EcPair }> {
  const rootEnd = root.cert.notAfter.getTime();
  if (now >= rootEnd) throw new CaError('CA_BAD_CONFIG', `the root CA certificate expired at ${root.cert.notAfter.toISOString()}; a new root is needed`);
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as EcPair;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialHex(),
      subject: `CN=${commonName} Intermediate CA, O=${commonName}`,
      issuer: root.cert.subject,
      notBefore: new Date(now - DAY),
      notAfter: new Date(Math.min(now + 5 * 365 * DAY, rootEnd)),
      publicKey: keys.publicKey as never,
      signingKey: root.privateKey as never,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.ExtendedKeyUsageExtension([OID_CODE_SIGNING], false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never, false, x509Crypto),
        await x509.AuthorityKeyIdentifierExtension.create(root.cert.publicKey, false, x509Crypto),
      ],
    },
    x509Crypto,
  );
  return { cert, keys };
}

/** PKCS#8 PEM of `k`, encrypted under `pass` (AES-256-CBC, as every CA key file here). */
async function encryptedPem(k: webcrypto.CryptoKey, pass: string): Promise<string> {
  return createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k)), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: pass }) as string;
}

/** Generates root + intermediate under `dir` (first start of a self-contained CA) and returns the file config. */
export async function ensureGeneratedCa(dir: string, commonName = 'Cairn'): Promise<FileKeyConfig> {
  const cfg: FileKeyConfig = { key: join(dir, 'ca-key.pem'), chain: join(dir, 'ca-chain.pem'), passphraseFile: join(dir, 'ca-passphrase') };
  if (await exists(cfg.key)) return cfg;
  const pass = randomBytes(32).toString('base64url');
  const now = Date.now();
  const root = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as EcPair;
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialHex(),
      name: `CN=${commonName} Root CA, O=${commonName}`,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 10 * 365 * DAY),
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
  const inter = await issueIntermediate({ cert: rootCert, privateKey: root.privateKey }, commonName, now);
  await writeSecret(cfg.passphraseFile!, `${pass}\n`);
  await writeSecret(join(dir, 'ca-root-key.pem'), await encryptedPem(root.privateKey, pass));
  await writeFileDurably(cfg.chain, `${inter.cert.toString('pem')}\n${rootCert.toString('pem')}\n`, 0o644);
  await writeSecret(cfg.key, await encryptedPem(inter.keys.privateKey, pass));
  return cfg;
}

/**
 * Replaces the issuing key of a CA made by ensureGeneratedCa: a new intermediate key and
 * certificate under the same root, written over ca-key.pem and ca-chain.pem, so the old issuing
 * key is gone from the disk. The root, and with it every chain already issued, stays. The CA
 * uses the new key from its next start; `cairn up` then lists the new chain in trusted_root.json
 * and closes the old one's window (at the time `cairn trust-root distrust` gave, if earlier).
 * Returns the SHA-256 (hex) of the retired and of the new intermediate certificate.
 */
export async function rotateGeneratedCa(dir: string): Promise<{ retired: string; current: string }> {
  const cfg: FileKeyConfig = { key: join(dir, 'ca-key.pem'), chain: join(dir, 'ca-chain.pem'), passphraseFile: join(dir, 'ca-passphrase') };
  const rootKeyPath = join(dir, 'ca-root-key.pem');
  if (!(await exists(cfg.key)) || !(await exists(rootKeyPath))) throw new CaError('CA_BAD_CONFIG', `${dir} holds no generated CA (ca-key.pem and ca-root-key.pem); only a CA that Cairn generated can be rotated here`);
  // The root key and its passphrase are read as every other secret is (readSecretFile): refused,
  // with a chmod hint, when group or others can read them, since they may already be out. A
  // rotation under such a root would encrypt the new issuing key with a passphrase that is not
  // secret, and put a fresh intermediate under a root key anyone on the host may hold.
  const pass = (await readSecretFile(cfg.passphraseFile!)).trim();
  const pems = splitPem(await readFile(cfg.chain, 'utf8'));
  const rootPem = pems.find((p) => {
    const c = new X509Certificate(p);
    return c.issuer === c.subject && c.verify(c.publicKey);
  });
  if (!rootPem || pems.length !== 2) throw new CaError('CA_BAD_CONFIG', `${cfg.chain} is not the intermediate and root that Cairn generates`);
  const rootKey = createPrivateKey({ key: await readSecretFile(rootKeyPath), passphrase: pass });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', rootKey.export({ format: 'der', type: 'pkcs8' }), EC, false, ['sign']);
  const rootCert = new x509.X509Certificate(rootPem);
  const old = new x509.X509Certificate(pems.find((p) => p !== rootPem)!);
  const commonName = /CN=(.+?) Root CA/.exec(rootCert.subject)?.[1] ?? 'Cairn';
  const inter = await issueIntermediate({ cert: rootCert, privateKey }, commonName, Date.now());
  // Chain before key: a crash in between leaves the old key with a chain it does not match, which
  // the CA refuses at start (orderChain) rather than issuing under the wrong certificate.
  await writeFileDurably(cfg.chain, `${inter.cert.toString('pem')}\n${rootPem.trim()}\n`, 0o644);
  await writeSecret(cfg.key, await encryptedPem(inter.keys.privateKey, pass));
  const fp = (c: x509.X509Certificate): string => createHash('sha256').update(Buffer.from(c.rawData)).digest('hex');
  return { retired: fp(old), current: fp(inter.cert) };
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
    // Through a temp file: this file is written once and trusted as it is by every later start
    // (exists above), so a crash mid-write must not leave a torn one in its place.
    await writeFileDurably(cfg.chain, `${root.trim()}\n`, 0o644);
  }
  return cfg;
}
