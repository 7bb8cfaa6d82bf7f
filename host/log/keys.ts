/**
 * Log signing keys on disk: PKCS#8 PEM, mode 0600, created on first start and reused afterwards.
 * The Rekor personality may use Ed25519 or ECDSA P-256; the CT personality must use ECDSA
 * (RFC 6962 §2.1.4 allows ECDSA P-256 or RSA; SCTs are verified by every TLS/X.509 stack).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readSecretFile, writeSecretFile } from '../keys/file.js';
import { LogError } from './errors.js';

export type LogKeyType = 'ecdsa-p256' | 'ed25519';

export async function loadOrCreateLogKey(path: string, type: LogKeyType): Promise<KeyObject> {
  try {
    const key = createPrivateKey(await readSecretFile(path));
    const actual = key.asymmetricKeyType === 'ed25519' ? 'ed25519' : key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ecdsa-p256' : undefined;
    if (actual !== type) throw new LogError('LOG_BAD_CONFIG', `${path} holds a ${actual ?? key.asymmetricKeyType} key, but the config asks for ${type}`);
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const { privateKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  await writeSecretFile(path, pem);
  return privateKey;
}

export function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
}
