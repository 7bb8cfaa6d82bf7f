/**
 * TPM2_MakeCredential done by the server in software (TPM 2.0 Part 1 §24 "Credential Protection",
 * Part 3 §12.6), so that an agent can prove its attestation key (AK) lives in the same TPM as an
 * endorsement key (EK): only that TPM can run TPM2_ActivateCredential on the blob, and it does so
 * only for an object whose Name is the one bound into the blob (the AK's).
 *
 * Supported EK: RSA 2048 with nameAlg SHA-256 and AES-128-CFB symmetric protection, the TCG EK
 * Credential Profile's default "RSA 2048 (Storage)" template that `tpm2_createek -G rsa` makes.
 *
 *   seed          random, nameAlg-digest-sized; sent RSA-OAEP(SHA-256, label "IDENTITY\0") to the EK
 *                 (Part 1 §B.10.3 / Annex B.10.4, secret sharing with an RSA key)
 *   symKey        KDFa(SHA-256, seed, "STORAGE", Name(AK), ∅, 128)           (Part 1 §24.4)
 *   encIdentity   AES-128-CFB(symKey, IV = 0, TPM2B_DIGEST(credential))
 *   HMACkey       KDFa(SHA-256, seed, "INTEGRITY", ∅, ∅, 256)                 (Part 1 §24.5)
 *   outerHMAC     HMAC-SHA-256(HMACkey, encIdentity ‖ Name(AK))
 *   credentialBlob = TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) ‖ encIdentity), secret = TPM2B(OAEP(seed))
 *
 * The output file layout is tpm2-tools' (`tpm2_makecredential -o`, read by
 * `tpm2_activatecredential -i`): magic 0xBADCC0DE, version 1, then both TPM2B structures.
 */
import { constants, createCipheriv, createHash, createHmac, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { SpiffeError } from './errors.js';
import { objectName, TPM_ALG_NULL, TPM_ALG_RSA, TPM_ALG_SHA256 } from './tpm-attestor.js';

const TPM_ALG_AES = 0x0006;
const TPM_ALG_CFB = 0x0043;
// TPMA_OBJECT (Part 2 §8.3.2): an EK is a restricted decryption (storage) key that never left the TPM.
const FIXED_TPM = 1 << 1;
const FIXED_PARENT = 1 << 4;
const SENSITIVE_DATA_ORIGIN = 1 << 5;
const RESTRICTED = 1 << 16;
const DECRYPT = 1 << 17;
const SIGN = 1 << 18;

const bad = (why: string, cause?: unknown): never => {
  throw new SpiffeError('SPIFFE_TPM_REJECTED', why, cause === undefined ? {} : { cause });
};

export interface EkPublic {
  key: KeyObject;
  /** TPM2B_NAME contents of the EK. */
  name: Buffer;
  /** Hex SHA-256 of the EK's SubjectPublicKeyInfo DER: the `tpm:ek:` selector value. */
  spkiSha256: string;
}

/** Parses a TPM2B_PUBLIC / TPMT_PUBLIC of an RSA-2048 storage EK (Part 2 §12.2.4, §12.2.3.5). */
export function parseEkPublic(input: Uint8Array): EkPublic {
  let buf = Buffer.from(input);
  if (buf.length < 10 || buf.length > 2048) bad('EK public area has an implausible size');
  if (buf.readUInt16BE(0) === buf.length - 2) buf = buf.subarray(2);
  let p = 0;
  const need = (n: number): void => {
    if (p + n > buf.length) bad('EK public area truncated');
  };
  const u16 = (): number => (need(2), (p += 2), buf.readUInt16BE(p - 2));
  const u32 = (): number => (need(4), (p += 4), buf.readUInt32BE(p - 4));
  const tpm2b = (): Buffer => {
    const n = u16();
    need(n);
    p += n;
    return buf.subarray(p - n, p);
  };
  if (u16() !== TPM_ALG_RSA) bad('only RSA endorsement keys are supported for credential activation');
  if (u16() !== TPM_ALG_SHA256) bad('EK nameAlg must be SHA-256');
  const attrs = u32();
  const want = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | RESTRICTED | DECRYPT;
  if ((attrs & want) !== want || (attrs & SIGN) !== 0) bad('EK must be a restricted decryption key with fixedTPM, fixedParent and sensitiveDataOrigin');
  tpm2b(); // authPolicy
  if (u16() !== TPM_ALG_AES || u16() !== 128 || u16() !== TPM_ALG_CFB) bad('EK symmetric protection must be AES-128-CFB');
  if (u16() !== TPM_ALG_NULL) bad('EK scheme must be NULL');
  if (u16() !== 2048) bad('EK must be RSA 2048');
  const exponent = u32();
  const n = tpm2b();
  // A 2048-bit RSA modulus is 256 bytes with its top bit set, and odd (a product of two odd
  // primes). Anything else is no RSA-2048 key, and OAEP to it fails in OpenSSL (zero, a short or
  // an even modulus) instead of making a credential blob.
  if (n.length !== 256 || (n[0]! & 0x80) === 0 || (n[255]! & 1) === 0) bad('EK modulus must be a 2048-bit odd number');
  if (p !== buf.length) bad('EK public area has trailing bytes');
  const e = Buffer.alloc(4);
  e.writeUInt32BE(exponent === 0 ? 65537 : exponent);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.subarray(e.findIndex((x) => x !== 0)).toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    return bad('EK public key is invalid', cause);
  }
  const spki = key.export({ type: 'spki', format: 'der' });
  return { key, name: objectName(buf), spkiSha256: createHash('sha256').update(spki).digest('hex') };
}

/** KDFa (Part 1 §11.4.10.2): SP 800-108 counter-mode HMAC-SHA-256; the label gets its terminating 0. */
export function kdfa(key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Buffer {
  const out: Buffer[] = [];
  const l = Buffer.from(`${label}\0`, 'latin1');
  const b = Buffer.alloc(4);
  b.writeUInt32BE(bits);
  for (let i = 1, have = 0; have < bits / 8; i++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(i);
    const block = createHmac('sha256', key).update(c).update(l).update(contextU).update(contextV).update(b).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, bits / 8);
}

const tpm2b = (b: Uint8Array): Buffer => {
  const h = Buffer.alloc(2);
  h.writeUInt16BE(b.length);
  return Buffer.concat([h, b]);
};

/**
 * MakeCredential for `credential` (≤ 32 bytes) to the TPM holding `ek`, bound to the object named
 * `akName`. Returns tpm2-tools' credential file (for `tpm2_activatecredential -i`).
 */
export function makeCredential(ek: EkPublic, akName: Uint8Array, credential: Uint8Array, seed: Uint8Array = randomBytes(32)): Buffer {
  if (credential.length === 0 || credential.length > 32) bad('credential must be 1..32 bytes');
  const secret = publicEncrypt({ key: ek.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('IDENTITY\0', 'latin1') }, seed);
  const symKey = kdfa(seed, 'STORAGE', akName, new Uint8Array(), 128);
  const cipher = createCipheriv('aes-128-cfb', symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(tpm2b(credential)), cipher.final()]);
  const hmacKey = kdfa(seed, 'INTEGRITY', new Uint8Array(), new Uint8Array(), 256);
  const outerHmac = createHmac('sha256', hmacKey).update(encIdentity).update(akName).digest();
  const idObject = Buffer.concat([tpm2b(outerHmac), encIdentity]);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(0xbadcc0de, 0);
  header.writeUInt32BE(1, 4);
  return Buffer.concat([header, tpm2b(idObject), tpm2b(secret)]);
}
