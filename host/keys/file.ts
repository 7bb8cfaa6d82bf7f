/**
 * File key backend: an encrypted PKCS#8 private key (PEM "ENCRYPTED PRIVATE KEY", PBES2 with
 * AES-256-CBC, RFC 8018 §6.2) written with mode 0600. The passphrase comes from an environment
 * variable or a 0600 passphrase file; it is never logged. The decrypted key lives only inside a
 * node:crypto KeyObject, so callers get a KeySigner and never see private key bytes.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { signAsync } from './async-crypto.js';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyError } from './errors.js';
import type { KeySigner, SigningAlgorithm } from './types.js';

export interface PassphraseSource {
  /** Environment variable holding the passphrase. */
  passphraseEnv?: string;
  /** File holding the passphrase (first line); should be mode 0600. */
  passphraseFile?: string;
}

export async function readPassphrase(src: PassphraseSource): Promise<string> {
  if (src.passphraseEnv) {
    const v = process.env[src.passphraseEnv];
    if (v) return v;
  }
  if (src.passphraseFile) {
    try {
      return (await readSecretFile(src.passphraseFile)).split('\n')[0]!.trim();
    } catch (cause) {
      if (cause instanceof KeyError) throw cause;
      throw new KeyError('KEY_NO_PASSPHRASE', `cannot read passphrase file ${src.passphraseFile}`, { cause });
    }
  }
  throw new KeyError('KEY_NO_PASSPHRASE', `no key passphrase: set ${src.passphraseEnv ?? 'an env var'} or a passphrase file`);
}

/**
 * Reads a secret (a key, a passphrase, a token) that must be private to its owner, as SSH reads
 * its keys: a file readable by group or others is refused, since its secret may already be out.
 */
export async function readSecretFile(path: string): Promise<string> {
  const st = await stat(path);
  if ((st.mode & 0o077) !== 0) throw new KeyError('KEY_FILE_INVALID', `${path} holds a secret and must be mode 0600 (is ${(st.mode & 0o777).toString(8)}): chmod 600 ${path}`);
  return readFile(path, 'utf8');
}

/** Writes `data` atomically and durably with mode 0600 (the file never exists with wider permissions). */
export async function writeSecretFile(path: string, data: string | Uint8Array): Promise<void> {
  await writeFileDurably(path, data, 0o600, true);
}

/**
 * Replaces `path` with `data` so that a crash, power cut included, leaves the old file or the new
 * one, never a torn or empty one: a fresh temp file ('wx': never an existing file or a symlink's
 * target) created with `mode`, fsynced, renamed over `path`, then the directory fsynced. rename(2)
 * is atomic but not durable: without the first fsync ext4 and XFS may keep the new name over data
 * that never reached the disk (an empty key file), without the second the old name may come back.
 * `exact` sets the mode whatever the umask (secrets: 0600, never narrower than the owner's rw).
 */
export async function writeFileDurably(path: string, data: string | Uint8Array, mode = 0o644, exact = false): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    if (exact) await fh.chmod(mode);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/**
 * fsync(2) of a directory, so a rename in it survives a power cut. Where that cannot be done (a
 * platform or file system without it, a directory we may write but not read) the file is in place
 * all the same, so the write is not reported as failed.
 */
async function syncDir(dir: string): Promise<void> {
  let d;
  try {
    d = await open(dir, 'r');
    await d.sync();
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await d?.close();
  }
}

/** Where a directory cannot be fsynced: the file is in place all the same (see syncDir). */
const DIR_SYNC_UNSUPPORTED = ['EISDIR', 'EINVAL', 'EPERM', 'EBADF', 'EACCES'];

/**
 * writeFileDurably for synchronous callers (the TUF repository, which publishes under a lock
 * file): the same steps, temp file 'wx' with its mode, fsync, rename, fsync of the directory, and
 * no partial temp file left when a write fails (a full disk must not leave half a key behind).
 */
export function writeFileDurablySync(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeFileSync(fd, data);
    fchmodSync(fd, mode); // the umask may have narrowed it, and for keys it must not widen it
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  let d: number | undefined;
  try {
    d = openSync(dirname(path), 'r');
    fsyncSync(d);
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    if (d !== undefined) closeSync(d);
  }
}

/** The signing algorithm a key implies (ECDSA hash follows the curve, RFC 5758 §3.2). */
export function algorithmOf(key: KeyObject, rsa: 'pkcs1' | 'pss' = 'pkcs1'): SigningAlgorithm {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const c = key.asymmetricKeyDetails?.namedCurve;
    if (c === 'prime256v1') return 'ecdsa-p256-sha256';
    if (c === 'secp384r1') return 'ecdsa-p384-sha384';
    throw new KeyError('KEY_UNSUPPORTED', `EC curve ${c} is not supported (P-256, P-384)`);
  }
  if (t === 'ed25519') return 'ed25519';
  if (t === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) throw new KeyError('KEY_UNSUPPORTED', `RSA key of ${bits} bits (2048..4096)`);
    return rsa === 'pss' ? 'rsa-pss-sha256' : 'rsa-pkcs1v15-sha256';
  }
  throw new KeyError('KEY_UNSUPPORTED', `${t} keys are not supported`);
}

/** A KeySigner over an in-memory node:crypto private key (file backend, ephemeral keys). */
export function keyObjectSigner(privateKey: KeyObject, rsa: 'pkcs1' | 'pss' = 'pkcs1'): KeySigner {
  const algorithm = algorithmOf(privateKey, rsa);
  const publicKeySpki = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
  const hash = algorithm === 'ed25519' ? null : algorithm === 'ecdsa-p384-sha384' ? 'sha384' : 'sha256';
  let key: KeyObject | undefined = privateKey;
  return {
    algorithm,
    publicKeySpki,
    async sign(data) {
      if (!key) throw new KeyError('KEY_FILE_INVALID', 'signer is closed');
      // node:crypto returns ECDSA signatures DER-encoded (dsaEncoding 'der' is the default);
      // the thread pool computes them (host/keys/async-crypto.ts).
      if (algorithm === 'rsa-pss-sha256') return new Uint8Array(await signAsync(hash, data, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }));
      return new Uint8Array(await signAsync(hash, data, key));
    },
    async close() {
      key = undefined;
    },
  };
}

export type GeneratedKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'rsa-3072';

export function generateKey(type: GeneratedKeyType): KeyObject {
  if (type === 'ed25519') return generateKeyPairSync('ed25519').privateKey;
  if (type === 'rsa-3072') return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  return generateKeyPairSync('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384' }).privateKey;
}

/** Encrypted PKCS#8 PEM (PBES2, AES-256-CBC) written at mode 0600. */
export async function writeEncryptedKey(path: string, key: KeyObject, passphrase: string): Promise<void> {
  if (passphrase.length < 8) throw new KeyError('KEY_NO_PASSPHRASE', 'refusing a passphrase shorter than 8 characters');
  const pem = key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }) as string;
  await writeSecretFile(path, pem);
}

export interface FileKeyOptions extends PassphraseSource {
  /** Path of the encrypted PKCS#8 PEM. */
  path: string;
  /** RSA keys: PKCS#1 v1.5 (default) or PSS. */
  rsa?: 'pkcs1' | 'pss';
}

/**
 * Opens an encrypted PKCS#8 key file. Refuses a file readable by group/others (it must be 0600 or
 * stricter) and unencrypted PEM (the backend's promise is "encrypted at rest").
 */
export async function openFileSigner(o: FileKeyOptions): Promise<KeySigner> {
  let pem: string;
  try {
    const st = await stat(o.path);
    if ((st.mode & 0o077) !== 0) throw new KeyError('KEY_FILE_INVALID', `${o.path} must be mode 0600 (is ${(st.mode & 0o777).toString(8)})`);
    pem = await readFile(o.path, 'utf8');
  } catch (cause) {
    if (cause instanceof KeyError) throw cause;
    throw new KeyError('KEY_FILE_INVALID', `cannot read key file ${o.path}`, { cause });
  }
  if (!pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) throw new KeyError('KEY_FILE_INVALID', `${o.path} is not an encrypted PKCS#8 key`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase: await readPassphrase(o) });
  } catch (cause) {
    if (cause instanceof KeyError) throw cause;
    throw new KeyError('KEY_FILE_INVALID', `cannot decrypt ${o.path} (wrong passphrase?)`, { cause });
  }
  return keyObjectSigner(key, o.rsa);
}
