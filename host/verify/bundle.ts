/**
 * Normalisation of Sigstore bundles (protobuf-specs sigstore_bundle.proto, JSON mapping) v0.1,
 * v0.2 and v0.3 — both media-type spellings — into plain tagged data (STYLE.md point 4). Every
 * field from outside is checked here; nothing later parses raw JSON. Hostile numbers (logIndex)
 * are parsed defensively so a bad bundle gives a coded error, not a SyntaxError (point 5).
 */
import { fail } from './errors.js';

export type BundleVersion = '0.1' | '0.2' | '0.3';

export interface TlogEntry {
  logIndex: number;
  logId: Buffer;
  kind: string;
  kindVersion: string;
  integratedTime?: number;
  signedEntryTimestamp?: Buffer;
  inclusionProof?: { logIndex: number; rootHash: Buffer; treeSize: number; hashes: Buffer[]; checkpoint?: string };
  canonicalizedBody: Buffer;
}

export type Content =
  | { type: 'messageSignature'; digest?: { algorithm: string; value: Buffer }; signature: Buffer }
  | { type: 'dsse'; payloadType: string; payload: Buffer; signatures: { sig: Buffer; keyid?: string }[] };

export interface Bundle {
  version: BundleVersion;
  mediaType: string;
  /** Leaf first (v0.1/v0.2 chains may carry more). */
  certificates: Buffer[];
  publicKeyHint?: string;
  tlogEntries: TlogEntry[];
  rfc3161Timestamps: Buffer[];
  content: Content;
}

const MEDIA: Record<string, BundleVersion> = {
  'application/vnd.dev.sigstore.bundle+json;version=0.1': '0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2': '0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3': '0.3',
  'application/vnd.dev.sigstore.bundle.v0.3+json': '0.3',
};

type J = Record<string, unknown>;

const obj = (v: unknown, what: string): J => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('BUNDLE_MALFORMED', `${what} must be an object`);
  return v as J;
};

const B64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** `code` names the document the field is in: trusted-root.ts reads its bytes fields here too. */
export function b64(v: unknown, what: string, allowEmpty = false, code: 'BUNDLE_MALFORMED' | 'TRUSTED_ROOT_MALFORMED' = 'BUNDLE_MALFORMED'): Buffer {
  if (typeof v !== 'string' || (!allowEmpty && v.length === 0) || v.length > 4 * 1024 * 1024) fail(code, `${what} must be a base64 string`);
  // Standard or URL-safe alphabet (protobuf JSON accepts both); Node's base64 decoder reads both.
  if (!B64.test(v as string)) fail(code, `${what} is not valid base64`);
  return Buffer.from(v as string, 'base64');
}

/** int64 fields arrive as JSON strings (or numbers); only non-negative safe integers are accepted. */
export function int(v: unknown, what: string): number {
  // proto3 JSON omits fields equal to their default: an absent int64 is 0 (logIndex 0 is real).
  if (v === undefined) return 0;
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(s) || !Number.isSafeInteger(Number(s))) fail('BUNDLE_MALFORMED', `${what} must be a non-negative integer`);
  return Number(s);
}

function tlogEntry(v: unknown, i: number): TlogEntry {
  const e = obj(v, `tlogEntries[${i}]`);
  const kv = obj(e.kindVersion, `tlogEntries[${i}].kindVersion`);
  if (typeof kv.kind !== 'string' || typeof kv.version !== 'string') fail('BUNDLE_MALFORMED', `tlogEntries[${i}].kindVersion needs kind and version`);
  const out: TlogEntry = {
    logIndex: int(e.logIndex, `tlogEntries[${i}].logIndex`),
    logId: b64(obj(e.logId, `tlogEntries[${i}].logId`).keyId, `tlogEntries[${i}].logId.keyId`),
    kind: kv.kind as string,
    kindVersion: kv.version as string,
    canonicalizedBody: b64(e.canonicalizedBody, `tlogEntries[${i}].canonicalizedBody`),
  };
  if (e.integratedTime !== undefined) out.integratedTime = int(e.integratedTime, `tlogEntries[${i}].integratedTime`);
  if (e.inclusionPromise !== undefined) out.signedEntryTimestamp = b64(obj(e.inclusionPromise, 'inclusionPromise').signedEntryTimestamp, 'inclusionPromise.signedEntryTimestamp');
  if (e.inclusionProof !== undefined) {
    const p = obj(e.inclusionProof, 'inclusionProof');
    const hashes = p.hashes === undefined ? [] : p.hashes; // proto3 JSON omits an empty repeated field (tree of size 1)
    if (!Array.isArray(hashes) || hashes.length > 64) fail('BUNDLE_MALFORMED', 'inclusionProof.hashes must be a list');
    const cp = p.checkpoint === undefined ? undefined : obj(p.checkpoint, 'inclusionProof.checkpoint').envelope;
    if (cp !== undefined && typeof cp !== 'string') fail('BUNDLE_MALFORMED', 'inclusionProof.checkpoint.envelope must be a string');
    out.inclusionProof = {
      logIndex: int(p.logIndex, 'inclusionProof.logIndex'),
      rootHash: b64(p.rootHash, 'inclusionProof.rootHash'),
      treeSize: int(p.treeSize, 'inclusionProof.treeSize'),
      hashes: (hashes as unknown[]).map((h, j) => b64(h, `inclusionProof.hashes[${j}]`)),
      ...(cp !== undefined ? { checkpoint: cp as string } : {}),
    };
  }
  return out;
}

/**
 * Whether `v` holds a null anywhere, or nests deeper than dropNulls allows (the walk that
 * decides whether the copy is needed at all: bundles rarely carry nulls).
 */
function needsCopy(v: unknown, depth = 0): boolean {
  if (depth > 32) return true;
  if (Array.isArray(v)) return v.some((x) => x === null || needsCopy(x, depth + 1));
  if (v && typeof v === 'object') {
    for (const k in v) {
      const x = (v as J)[k];
      if (x === null || (typeof x === 'object' && needsCopy(x, depth + 1))) return true;
    }
  }
  return false;
}

/** proto3 JSON mapping: `null` means "the field's default" (absent). Depth-bounded. */
function dropNulls(v: unknown, depth = 0): unknown {
  if (depth > 32) fail('BUNDLE_MALFORMED', 'bundle nesting too deep');
  if (Array.isArray(v)) return v.map((x) => dropNulls(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x, depth + 1);
    return out;
  }
  return v;
}

export function parseBundle(input: unknown): Bundle {
  // The input is only read from here on, so it is used as it is unless a null must be dropped.
  const b = obj(needsCopy(input) ? dropNulls(input) : input, 'bundle');
  const mediaType = b.mediaType;
  if (typeof mediaType !== 'string') fail('BUNDLE_MALFORMED', 'bundle has no mediaType');
  const version = MEDIA[mediaType as string];
  if (!version) fail('BUNDLE_UNSUPPORTED_VERSION', `unsupported bundle media type ${String(mediaType).slice(0, 80)}`);
  const vm = obj(b.verificationMaterial, 'verificationMaterial');
  let certificates: Buffer[] = [];
  let publicKeyHint: string | undefined;
  if (vm.certificate !== undefined) {
    if (version !== '0.3') fail('BUNDLE_MALFORMED', 'verificationMaterial.certificate needs bundle v0.3');
    certificates = [b64(obj(vm.certificate, 'certificate').rawBytes, 'certificate.rawBytes')];
  } else if (vm.x509CertificateChain !== undefined) {
    const certs = obj(vm.x509CertificateChain, 'x509CertificateChain').certificates;
    if (!Array.isArray(certs) || certs.length === 0 || certs.length > 10) fail('BUNDLE_MALFORMED', 'x509CertificateChain.certificates must list 1..10 certificates');
    certificates = (certs as unknown[]).map((c, i) => b64(obj(c, `certificates[${i}]`).rawBytes, `certificates[${i}].rawBytes`));
  } else if (vm.publicKey !== undefined) {
    const h = obj(vm.publicKey, 'publicKey').hint;
    publicKeyHint = typeof h === 'string' ? h : '';
  } else {
    fail('BUNDLE_MALFORMED', 'verificationMaterial needs certificate, x509CertificateChain or publicKey');
  }
  const tl = vm.tlogEntries ?? [];
  if (!Array.isArray(tl) || tl.length > 32) fail('BUNDLE_MALFORMED', 'tlogEntries must be a list');
  const tlogEntries = (tl as unknown[]).map(tlogEntry);
  const tvd = vm.timestampVerificationData === undefined ? {} : obj(vm.timestampVerificationData, 'timestampVerificationData');
  const ts = tvd.rfc3161Timestamps ?? [];
  if (!Array.isArray(ts) || ts.length > 32) fail('BUNDLE_MALFORMED', 'rfc3161Timestamps must be a list');
  const rfc3161Timestamps = (ts as unknown[]).map((t, i) => b64(obj(t, `rfc3161Timestamps[${i}]`).signedTimestamp, `rfc3161Timestamps[${i}].signedTimestamp`));
  // v0.1 requires an inclusion promise; v0.2+ require inclusion proofs (bundle.proto comments).
  if (version === '0.1' && tlogEntries.some((e) => !e.signedEntryTimestamp)) fail('BUNDLE_MALFORMED', 'v0.1 bundles need an inclusion promise');
  if (version !== '0.1' && tlogEntries.some((e) => !e.inclusionProof)) fail('BUNDLE_MALFORMED', `v${version} bundles need an inclusion proof in every tlog entry`);

  let content: Content;
  if (b.messageSignature !== undefined) {
    const ms = obj(b.messageSignature, 'messageSignature');
    const md = ms.messageDigest === undefined ? undefined : obj(ms.messageDigest, 'messageDigest');
    content = {
      type: 'messageSignature',
      signature: b64(ms.signature, 'messageSignature.signature'),
      ...(md ? { digest: { algorithm: String(md.algorithm), value: b64(md.digest, 'messageDigest.digest') } } : {}),
    };
  } else if (b.dsseEnvelope !== undefined) {
    const d = obj(b.dsseEnvelope, 'dsseEnvelope');
    if (typeof d.payloadType !== 'string') fail('BUNDLE_MALFORMED', 'dsseEnvelope.payloadType must be a string');
    if (!Array.isArray(d.signatures) || d.signatures.length === 0 || d.signatures.length > 16) fail('BUNDLE_MALFORMED', 'dsseEnvelope.signatures must list 1..16 signatures');
    content = {
      type: 'dsse',
      payloadType: d.payloadType as string,
      payload: b64(d.payload, 'dsseEnvelope.payload', true),
      signatures: (d.signatures as unknown[]).map((s, i) => {
        const so = obj(s, `signatures[${i}]`);
        return { sig: b64(so.sig, `signatures[${i}].sig`), ...(typeof so.keyid === 'string' ? { keyid: so.keyid } : {}) };
      }),
    };
  } else {
    return fail('BUNDLE_MALFORMED', 'bundle has neither messageSignature nor dsseEnvelope');
  }
  return { version, mediaType: mediaType as string, certificates, ...(publicKeyHint !== undefined ? { publicKeyHint } : {}), tlogEntries, rfc3161Timestamps, content };
}
