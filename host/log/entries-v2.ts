/**
 * Rekor v2 entries (rekor-tiles API, protobuf-specs rekor/v2): hashedRekordRequestV002 and
 * dsseRequestV002, canonicalized to the HashedRekordLogEntryV002 / DSSELogEntryV002 bodies, and
 * the TransparencyLogEntry (protobuf JSON mapping) the v2 API answers with. Rekor v2 has no SET
 * and no integrated time: the checkpoint and an RFC 3161 timestamp carry the time evidence.
 */
import { createHash } from 'node:crypto';
import { LogError } from './errors.js';
import type { Admission } from './admission.js';
import { assertKeyParses, b64, done, identityKeys, obj, pae, parseEnvelope, str, subjectDigests, verifierFromDer, verifyDigestAdmitted, verifyMessageSignature, type HashAlg, type PreparedEntry, type Verifier } from './entries.js';
import type { TransparencyLog } from './log.js';

/**
 * What each accepted PublicKeyDetails (protobuf-specs sigstore_common.proto) names: the key type,
 * and the hash its signatures are made over. rekor-tiles takes a hashedrekord's digest algorithm
 * from key_details (pkg/types/hashedrekord ToLogEntry, via sigstore's GetAlgorithmDetails), refuses
 * a digest of another length, and refuses a key of another type than key_details names (its
 * algorithm registry). PKIX_ED25519 signs messages, not digests: no hashedrekord with it.
 */
const KEY_DETAILS = new Map<string, { key: string; digest?: HashAlg }>([
  ['PKIX_ECDSA_P256_SHA_256', { key: 'ec prime256v1', digest: 'sha256' }],
  ['PKIX_ECDSA_P384_SHA_384', { key: 'ec secp384r1', digest: 'sha384' }],
  ['PKIX_ED25519', { key: 'ed25519' }],
  ['PKIX_RSA_PKCS1V15_2048_SHA256', { key: 'rsa 2048', digest: 'sha256' }],
  ['PKIX_RSA_PKCS1V15_3072_SHA256', { key: 'rsa 3072', digest: 'sha256' }],
  ['PKIX_RSA_PKCS1V15_4096_SHA256', { key: 'rsa 4096', digest: 'sha256' }],
]);

/** protobuf-specs HashAlgorithm names (sigstore_common.proto), as HashOutput.algorithm carries them. */
const PROTO_HASH: Record<HashAlg, string> = { sha256: 'SHA2_256', sha384: 'SHA2_384', sha512: 'SHA2_512' };
const DIGEST_BYTES: Record<HashAlg, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** The verifier's key type in KEY_DETAILS' terms ("ec <curve>", "rsa <bits>", "ed25519"). */
function keyTypeOf(v: Verifier, what: string): string {
  if (v.core === 'ecdsa-p256-sha256') return 'ec prime256v1';
  if (v.core === 'ed25519') return 'ed25519';
  try {
    const k = v.key;
    if (k.asymmetricKeyType === 'ec') return `ec ${k.asymmetricKeyDetails?.namedCurve}`;
    if (k.asymmetricKeyType === 'rsa') return `rsa ${k.asymmetricKeyDetails?.modulusLength}`;
    return String(k.asymmetricKeyType);
  } catch (cause) {
    throw new LogError('LOG_BAD_KEY', `${what} is not a valid public key`, { cause });
  }
}

function verifierV2(v: unknown, what: string): { canon: Record<string, unknown>; v: Verifier; digest?: HashAlg } {
  const o = obj(v, what);
  const keyDetails = str(o.keyDetails, `${what}.keyDetails`, 64);
  const details = KEY_DETAILS.get(keyDetails);
  if (!details) throw new LogError('LOG_BAD_KEY', `${what}.keyDetails ${keyDetails.slice(0, 40)} is not supported`);
  let out: { canon: Record<string, unknown>; v: Verifier };
  if (o.publicKey !== undefined) {
    const raw = b64(obj(o.publicKey, `${what}.publicKey`).rawBytes, `${what}.publicKey.rawBytes`, 16384);
    out = { canon: { keyDetails, publicKey: { rawBytes: raw.toString('base64') } }, v: verifierFromDer(raw, false, `${what}.publicKey`) };
  } else if (o.x509Certificate !== undefined) {
    const raw = b64(obj(o.x509Certificate, `${what}.x509Certificate`).rawBytes, `${what}.x509Certificate.rawBytes`, 65536);
    out = { canon: { keyDetails, x509Certificate: { rawBytes: raw.toString('base64') } }, v: verifierFromDer(raw, true, `${what}.x509Certificate`) };
  } else {
    throw new LogError('LOG_MALFORMED_ENTRY', `${what} needs publicKey or x509Certificate`);
  }
  const type = keyTypeOf(out.v, what);
  if (type !== details.key) throw new LogError('LOG_BAD_KEY', `${what} holds a ${type} key, not the ${details.key} key its keyDetails ${keyDetails} names`);
  return { ...out, ...(details.digest ? { digest: details.digest } : {}) };
}

/**
 * The request with every proto field name turned into its JSON name. Proto3 JSON mapping:
 * "Parsers accept both the lowerCamelCase name (or the one specified by the json_name option) and
 * the original proto field name"; rekor-tiles (protojson) does, and its CLIENTS.md posts
 * `key_details`, `public_key` and `raw_bytes`. A field given under both names is refused, as
 * protojson refuses it. No message here has a map field, so every object key is a field name.
 */
function jsonNames(v: unknown, depth = 0): unknown {
  if (depth > 16) throw new LogError('LOG_MALFORMED_ENTRY', 'request nested too deeply');
  if (Array.isArray(v)) return v.map((x) => jsonNames(x, depth + 1));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    // protoc's ToJsonName: drop each underscore and upper-case the character after it.
    const name = k.replace(/_(.?)/g, (_m, c: string) => c.toUpperCase());
    if (Object.hasOwn(out, name)) throw new LogError('LOG_MALFORMED_ENTRY', `field ${name.slice(0, 64)} is given twice`);
    // Defined, not assigned: a "__proto__" key stays an own field instead of becoming the prototype.
    Object.defineProperty(out, name, { value: jsonNames(x, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** `admission` (host/log/admission.ts) takes the hashedRekord P-256 check off the event loop when given. */
export async function prepareEntryV2(input: unknown, admission?: Admission): Promise<PreparedEntry> {
  const req = obj(jsonNames(input), 'request');
  if (req.hashedRekordRequestV002 !== undefined) {
    const r = obj(req.hashedRekordRequestV002, 'hashedRekordRequestV002');
    const digest = b64(r.digest, 'hashedRekordRequestV002.digest', 128);
    const sig = obj(r.signature, 'hashedRekordRequestV002.signature');
    const content = b64(sig.content, 'signature.content', 8192);
    const ver = verifierV2(sig.verifier, 'signature.verifier');
    // The digest is over the hash keyDetails names (SHA-384 for P-384), as rekor-tiles requires.
    const hash = ver.digest;
    if (!hash) throw new LogError('LOG_BAD_KEY', 'PKIX_ED25519 signs messages, not digests: a hashedrekord needs a key type with a hash (DSSE takes Ed25519)');
    if (digest.length !== DIGEST_BYTES[hash]) throw new LogError('LOG_MALFORMED_ENTRY', `digest must be a ${DIGEST_BYTES[hash]}-byte ${hash} digest, the hash of keyDetails ${String((sig.verifier as Record<string, unknown>).keyDetails)}`);
    if (!(await verifyDigestAdmitted(ver.v, hash, digest, content, admission))) {
      assertKeyParses(ver.v, 'signature.verifier');
      throw new LogError('LOG_BAD_SIGNATURE', 'the signature does not verify over the digest with the given key');
    }
    return done(
      'hashedrekord',
      '0.0.2',
      { apiVersion: '0.0.2', kind: 'hashedrekord', spec: { hashedRekordV002: { data: { algorithm: PROTO_HASH[hash], digest: digest.toString('base64') }, signature: { content: content.toString('base64'), verifier: ver.canon } } } },
      [`${hash}:${digest.toString('hex')}`, ...identityKeys(ver.v)],
    );
  }
  if (req.dsseRequestV002 !== undefined) {
    const r = obj(req.dsseRequestV002, 'dsseRequestV002');
    const env = parseEnvelope(r.envelope, 'dsseRequestV002.envelope');
    if (!Array.isArray(r.verifiers) || r.verifiers.length === 0 || r.verifiers.length > 16) throw new LogError('LOG_MALFORMED_ENTRY', 'dsseRequestV002.verifiers must list 1..16 verifiers');
    const vers = (r.verifiers as unknown[]).map((v, i) => verifierV2(v, `verifiers[${i}]`));
    const message = pae(env.payloadType, env.payload);
    const signatures = env.signatures.map((s, i) => {
      const hit = vers.find((v) => verifyMessageSignature(v.v, message, s.sig));
      if (!hit) {
        vers.forEach((v, j) => assertKeyParses(v.v, `verifiers[${j}]`));
        throw new LogError('LOG_BAD_SIGNATURE', `envelope signature ${i} verifies with none of the verifiers`);
      }
      return { content: s.sig.toString('base64'), verifier: hit.canon };
    });
    const payloadHash = createHash('sha256').update(env.payload).digest();
    return done(
      'dsse',
      '0.0.2',
      { apiVersion: '0.0.2', kind: 'dsse', spec: { dsseV002: { payloadHash: { algorithm: 'SHA2_256', digest: payloadHash.toString('base64') }, signatures } } },
      [`sha256:${payloadHash.toString('hex')}`, ...subjectDigests(env), ...vers.flatMap((v) => identityKeys(v.v))],
    );
  }
  throw new LogError('LOG_UNSUPPORTED_KIND', 'expected hashedRekordRequestV002 or dsseRequestV002');
}

/** protobuf-specs dev.sigstore.rekor.v1.TransparencyLogEntry, JSON mapping (int64 as strings). */
export async function transparencyLogEntryV2(log: TransparencyLog, index: number, prepared: PreparedEntry, spki: Uint8Array): Promise<Record<string, unknown>> {
  const size = log.size();
  const root = log.root();
  const checkpoint = log.checkpoint();
  const hashes = await log.inclusionProof(index, size);
  return {
    logIndex: String(index),
    logId: { keyId: createHash('sha256').update(spki).digest('base64') },
    kindVersion: { kind: prepared.kind, version: prepared.apiVersion },
    integratedTime: '0',
    inclusionProof: {
      logIndex: String(index),
      rootHash: Buffer.from(root).toString('base64'),
      treeSize: String(size),
      hashes: hashes.map((h) => Buffer.from(h).toString('base64')),
      checkpoint: { envelope: checkpoint },
    },
    canonicalizedBody: Buffer.from(prepared.body).toString('base64'),
  };
}
