/**
 * Keyless signing, the seed's Phase 1–2 flow: a fresh ECDSA P-256 key per run → identity token
 * (JWT-SVID or OIDC) → 10-minute certificate bound to that key → signature → log entry →
 * RFC 3161 timestamp → Sigstore bundle v0.3. The private key lives only in this process's memory
 * (a non-exported KeyObject), is never written anywhere, and every reference is dropped before
 * the function returns. (JS cannot zero a KeyObject's memory; dropping it is the best available.)
 */
import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { pae } from '../log/entries.js';
import { splitCertificate } from '../verify/x509-lite.js';
import { createLogEntry, createLogEntryV2, requestCertificate, requestTimestamp, type Endpoints, type RekorV1Entry } from './clients.js';
import { SignerError } from './errors.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Bundle v0.2: the last version whose verification material can carry an intermediate (x509CertificateChain). */
export const BUNDLE_MEDIA_TYPE_V02 = 'application/vnd.dev.sigstore.bundle+json;version=0.2';
export const IN_TOTO = 'application/vnd.in-toto+json';

export interface SignOptions {
  endpoints: Endpoints;
  /** Returns the identity token (called once per signature). */
  token: () => Promise<string>;
}

function pem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

function claim(token: string, name: string): string {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const v = payload[name];
    if (typeof v === 'string') return v;
  } catch {
    /* fall through */
  }
  throw new SignerError('SIGNER_NO_IDENTITY', `the identity token has no ${name} claim`);
}

/** protobuf-specs TransparencyLogEntry (JSON mapping) from a Rekor v1 response. */
function tlogEntry(e: RekorV1Entry): Record<string, unknown> {
  const body = JSON.parse(Buffer.from(e.body, 'base64').toString('utf8')) as { kind: string; apiVersion: string };
  const p = e.verification.inclusionProof;
  return {
    logIndex: String(e.logIndex),
    logId: { keyId: Buffer.from(e.logID, 'hex').toString('base64') },
    kindVersion: { kind: body.kind, version: body.apiVersion },
    integratedTime: String(e.integratedTime),
    inclusionPromise: { signedEntryTimestamp: e.verification.signedEntryTimestamp },
    ...(p
      ? { inclusionProof: { logIndex: String(p.logIndex), rootHash: Buffer.from(p.rootHash, 'hex').toString('base64'), treeSize: String(p.treeSize), hashes: p.hashes.map((h) => Buffer.from(h, 'hex').toString('base64')), checkpoint: { envelope: p.checkpoint } } }
      : {}),
    canonicalizedBody: e.body,
  };
}

interface Keyed {
  key: KeyObject;
  certDer: Buffer;
  /** The issuing subordinate CA's certificate, when the leaf came from one (see subordinateOf). */
  subordinate?: Buffer;
}

/**
 * The issuing CA's certificate when it is a subordinate CA (host/ca/subordinate.ts): a CA
 * certificate with name constraints, issued under the parent's root. Verifiers that hold only the
 * parent's trusted root cannot know it, so the bundle must carry it; other chains are left out,
 * as bundle v0.3 does (verifiers take intermediates from their trusted root).
 */
function subordinateOf(chain: Buffer[]): Buffer | undefined {
  const issuer = chain[1];
  if (!issuer) return undefined;
  try {
    return splitCertificate(issuer).extensions.has('2.5.29.30') ? issuer : undefined;
  } catch {
    return undefined; // not DER: the CA's problem, and the verifier's to report
  }
}

/** verificationMaterial's certificate: the leaf alone (v0.3), or leaf + subordinate CA (v0.2). */
function certificateMaterial(k: { certDer: Buffer; subordinate?: Buffer }): { mediaType: string; material: Record<string, unknown> } {
  if (!k.subordinate) return { mediaType: BUNDLE_MEDIA_TYPE, material: { certificate: { rawBytes: k.certDer.toString('base64') } } };
  return { mediaType: BUNDLE_MEDIA_TYPE_V02, material: { x509CertificateChain: { certificates: [{ rawBytes: k.certDer.toString('base64') }, { rawBytes: k.subordinate.toString('base64') }] } } };
}

async function keyAndCertificate(o: SignOptions): Promise<Keyed & { token: string }> {
  const token = await o.token();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // Proof of possession: a signature over the token's `sub` (Fulcio's challenge for non-email issuers).
  const challenge = (() => {
    try {
      return claim(token, 'email');
    } catch {
      return claim(token, 'sub');
    }
  })();
  const sub = claim(token, 'sub');
  let proof: Buffer;
  try {
    proof = cryptoSign('sha256', Buffer.from(sub, 'utf8'), privateKey);
  } catch (cause) {
    throw new SignerError('SIGNER_BAD_INPUT', 'cannot sign the challenge', { cause });
  }
  let chain: Buffer[];
  try {
    chain = await requestCertificate(o.endpoints.ca, token, publicKey.export({ format: 'pem', type: 'spki' }) as string, proof);
  } catch (e) {
    // Email issuers challenge the email claim instead; retry once with it.
    if (challenge === sub) throw e;
    chain = await requestCertificate(o.endpoints.ca, token, publicKey.export({ format: 'pem', type: 'spki' }) as string, cryptoSign('sha256', Buffer.from(challenge, 'utf8'), privateKey));
  }
  const subordinate = subordinateOf(chain);
  return { key: privateKey, certDer: chain[0]!, token, ...(subordinate ? { subordinate } : {}) };
}

async function timestamps(o: SignOptions, signature: Buffer): Promise<Record<string, unknown>> {
  if (!o.endpoints.tsa) return {};
  const token = await requestTimestamp(o.endpoints.tsa, signature);
  return { timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: token.toString('base64') }] } };
}

/** A message-signature bundle for `artifact` (hashedrekord entry). */
export async function signArtifact(artifact: Uint8Array, o: SignOptions): Promise<Record<string, unknown>> {
  let k: Keyed | undefined = await keyAndCertificate(o);
  const digest = createHash('sha256').update(artifact).digest();
  const signature = cryptoSign('sha256', artifact, k.key);
  const certDer = k.certDer;
  const cm = certificateMaterial(k);
  k = undefined; // drop the only reference to the private key
  const verifier = { keyDetails: 'PKIX_ECDSA_P256_SHA_256', x509Certificate: { rawBytes: certDer.toString('base64') } };
  const entry = o.endpoints.logVersion === 2
    ? await createLogEntryV2(o.endpoints.log, { hashedRekordRequestV002: { digest: digest.toString('base64'), signature: { content: signature.toString('base64'), verifier } } })
    : tlogEntry(await createLogEntry(o.endpoints.log, {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: digest.toString('hex') } },
        signature: { content: signature.toString('base64'), publicKey: { content: Buffer.from(pem(certDer, 'CERTIFICATE')).toString('base64') } },
      },
    }));
  return {
    mediaType: cm.mediaType,
    verificationMaterial: { ...cm.material, tlogEntries: [entry], ...(await timestamps(o, signature)) },
    messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: signature.toString('base64') },
  };
}

/** A DSSE bundle over `payload` (an in-toto statement for attestations), logged as a dsse entry. */
export async function signDsse(payload: Uint8Array, payloadType: string, o: SignOptions): Promise<Record<string, unknown>> {
  let k: Keyed | undefined = await keyAndCertificate(o);
  const signature = cryptoSign('sha256', pae(payloadType, payload), k.key);
  const certDer = k.certDer;
  const cm = certificateMaterial(k);
  k = undefined;
  const envelope = { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [{ sig: signature.toString('base64'), keyid: '' }] };
  // Rekor v2 logs DSSE as a hashedrekord over SHA-256(PAE) (rekor-v2 spec §6.1.4); v1 as a dsse entry.
  const entry = o.endpoints.logVersion === 2
    ? await createLogEntryV2(o.endpoints.log, {
      hashedRekordRequestV002: {
        digest: createHash('sha256').update(pae(payloadType, payload)).digest('base64'),
        signature: { content: signature.toString('base64'), verifier: { keyDetails: 'PKIX_ECDSA_P256_SHA_256', x509Certificate: { rawBytes: certDer.toString('base64') } } },
      },
    })
    : tlogEntry(await createLogEntry(o.endpoints.log, {
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: { proposedContent: { envelope: JSON.stringify(envelope), verifiers: [Buffer.from(pem(certDer, 'CERTIFICATE')).toString('base64')] } },
    }));
  return {
    mediaType: cm.mediaType,
    verificationMaterial: { ...cm.material, tlogEntries: [entry], ...(await timestamps(o, signature)) },
    dsseEnvelope: envelope,
  };
}

/** in-toto Statement v1 for one subject. */
export function statement(subjects: { name: string; digest: Record<string, string> }[], predicateType: string, predicate: unknown): Buffer {
  return Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: subjects, predicateType, predicate }));
}
