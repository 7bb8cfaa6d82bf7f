/**
 * Cairn's Sigstore bundle verifier: parse (bundle.ts, trusted-root.ts), then the fixed pipeline
 * (pipeline.ts). `verifyFiles` is what `cairn verify` and the conformance entrypoint call.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { initCore } from '../core/index.js';
import { parseBundle } from './bundle.js';
import { fail } from './errors.js';
import { verifyBundle, type Artifact, type Policy, type VerificationResult, type VerifyOptions } from './pipeline.js';
import { trustWithPartners, type PartnerRoot, type TrustMaterial } from './trusted-root.js';

export { parseBundle, type Bundle } from './bundle.js';
export { VerificationError, type VerificationErrorCode } from './errors.js';
export { clearVerificationCache, verifyBundle, verifyBundles, type Artifact, type BatchVerifier, type BulkItem, type BulkVerdict, type Policy, type VerificationResult, type VerifyOptions } from './pipeline.js';
export { parseTrustedRoot, trustWithPartners, withPartner, type PartnerRoot, type TrustMaterial } from './trusted-root.js';

/** `sha256:<64 hex>` (or `sha512:<128 hex>`) that is not an existing path is a digest; anything else is a file path. */
export async function loadArtifact(arg: string): Promise<Artifact> {
  const m = /^(sha256:[0-9a-fA-F]{64}|sha512:[0-9a-fA-F]{128})$/.exec(arg);
  if (m) {
    try {
      return { bytes: await readFile(arg) };
    } catch {
      return { digest: { algorithm: arg.startsWith('sha512') ? 'sha512' : 'sha256', value: Buffer.from(arg.slice(7), 'hex') } };
    }
  }
  return { bytes: await readFile(arg) };
}

export async function loadJson(path: string, code: 'BUNDLE_MALFORMED' | 'TRUSTED_ROOT_MALFORMED'): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    return fail(code, `cannot read ${path}`, cause);
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    return fail(code, `${path} is not JSON`, cause);
  }
}

export interface VerifyFilesOptions {
  artifact: string;
  bundle: string;
  trustedRoot: string;
  /** The trusted root already loaded (fetched through TUF, say): used instead of reading `trustedRoot`. */
  trustedRootJson?: unknown;
  /** Partner organisations: their trusted_root.json, their CAs trusted only for their trust domain (withPartner). */
  partners?: { trustDomain: string; trustedRoot: string }[];
  /** The same, already loaded (fetched through TUF, say). */
  partnerRoots?: PartnerRoot[];
  key?: string;
  policy: Policy;
  options?: Omit<VerifyOptions, 'key'>;
}

export async function verifyFiles(o: VerifyFilesOptions): Promise<VerificationResult> {
  await initCore();
  const partners = [...(o.partnerRoots ?? []), ...(await Promise.all((o.partners ?? []).map(async (p) => ({ trustDomain: p.trustDomain, trustedRoot: await loadJson(p.trustedRoot, 'TRUSTED_ROOT_MALFORMED') }))))];
  const trust: TrustMaterial = trustWithPartners(o.trustedRootJson ?? (await loadJson(o.trustedRoot, 'TRUSTED_ROOT_MALFORMED')), partners);
  const bundle = parseBundle(await loadJson(o.bundle, 'BUNDLE_MALFORMED'));
  const artifact = await loadArtifact(o.artifact);
  let key;
  if (o.key) {
    try {
      key = createPublicKey(await readFile(o.key, 'utf8'));
    } catch (cause) {
      return fail('PUBLIC_KEY_MISSING', `cannot read a PEM public key from ${o.key}`, cause);
    }
  }
  return verifyBundle(bundle, artifact, trust, o.policy, { ...o.options, ...(key ? { key } : {}) });
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
