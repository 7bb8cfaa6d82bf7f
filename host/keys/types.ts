/**
 * The narrow interface every CA/TSA/log key backend implements (file: encrypted PKCS#8 at mode
 * 0600; PKCS#11: SoftHSM or an HSM). Callers never see private key bytes.
 */
export type SigningAlgorithm =
  | 'ecdsa-p256-sha256'
  | 'ecdsa-p384-sha384'
  | 'ed25519'
  | 'rsa-pkcs1v15-sha256'
  | 'rsa-pss-sha256';

export interface KeySigner {
  readonly algorithm: SigningAlgorithm;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKeySpki: Uint8Array;
  /**
   * Sign `data` (the message; the backend hashes it as the algorithm says). ECDSA signatures are
   * returned DER-encoded (X9.62 Ecdsa-Sig-Value), as X.509, CMS and Sigstore expect.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** Release handles (PKCS#11 sessions). Idempotent. */
  close(): Promise<void>;
}
