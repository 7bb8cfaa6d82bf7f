/** Object identifiers the TSA and its verifier use, with where each is defined. */

export type HashName = 'sha256' | 'sha384' | 'sha512';

/** NIST hash OIDs (RFC 5754 §2). */
export const HASH_OIDS: Record<HashName, string> = {
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};
export const HASH_BY_OID: Record<string, HashName> = Object.fromEntries(
  Object.entries(HASH_OIDS).map(([k, v]) => [v, k as HashName]),
);
export const HASH_LENGTH: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };
/** Hashes we refuse by name: collisions are practical (RFC 6151 for MD5, SHAttered for SHA-1). */
export const WEAK_HASH_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '1.2.840.113549.2.5': 'md5',
  '1.2.840.113549.2.2': 'md2',
};

/** RFC 5652 §3 / §11. */
export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
export const OID_ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
export const OID_ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
export const OID_ATTR_SIGNING_TIME = '1.2.840.113549.1.9.5';
/** RFC 3161 §2.4.2: id-ct-TSTInfo. */
export const OID_TST_INFO = '1.2.840.113549.1.9.16.1.4';
/** RFC 2634 §5.4 signingCertificate (ESSCertID, SHA-1) and RFC 5035 §3 signingCertificateV2. */
export const OID_ATTR_SIGNING_CERT = '1.2.840.113549.1.9.16.2.12';
export const OID_ATTR_SIGNING_CERT_V2 = '1.2.840.113549.1.9.16.2.47';
/** RFC 5280 §4.2.1.12. */
export const OID_EKU = '2.5.29.37';
export const OID_KP_TIMESTAMPING = '1.3.6.1.5.5.7.3.8';
export const OID_SKI = '2.5.29.14';
/** Sigstore's TSA policy (sigstore/timestamp-authority default). */
export const SIGSTORE_TSA_POLICY = '1.3.6.1.4.1.57264.2';

/** Signature algorithms (RFC 5758 §3.2 ECDSA, RFC 8017 / RFC 4055 RSA). */
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
export const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
export const OID_ECDSA_SHA512 = '1.2.840.10045.4.3.4';
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';
export const OID_RSA_SHA384 = '1.2.840.113549.1.1.12';
export const OID_RSA_SHA512 = '1.2.840.113549.1.1.13';
export const OID_RSA_PSS = '1.2.840.113549.1.1.10';
export const OID_MGF1 = '1.2.840.113549.1.1.8';
