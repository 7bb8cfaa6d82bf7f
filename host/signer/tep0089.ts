/**
 * TEP-0089 (SPIRE-signed TaskRun results): when a TaskRun's results carry an `SVID` (PEM X.509
 * SVID of the step's workload), a `RESULT_MANIFEST` (comma-separated result names) and a
 * `<name>.sig` for every listed result and for the manifest itself, every signature must verify
 * with the SVID's key over the result value, and the SVID must chain to the trust bundle and name
 * this TaskRun.
 * Anything missing or not verifying is SIGNER_RESULTS_UNVERIFIED: Chains must not sign results a
 * compromised step could have rewritten.
 */
import { verify, X509Certificate } from 'node:crypto';
import { parseSpiffeId } from '../spiffe/id.js';
import { SignerError } from './errors.js';

type Result = { name?: unknown; value?: unknown };

function valueString(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The TaskRun the results belong to (metadata.namespace and metadata.name, as read from its JSON). */
export interface TaskRunRef {
  namespace: unknown;
  name: unknown;
}

/** A Kubernetes object name (RFC 1123 subdomain): no "/", so namespace and name cannot run together in a path. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * 'absent' when the run has no SPIRE-signed results, 'verified' when all verify; throws otherwise.
 * The SVID must be the one SPIRE issues for this TaskRun's pod: one URI SAN, the SPIFFE ID
 * spiffe://<td>/ns/<namespace>/taskrun/<name> (Tekton pkg/spire: the entry the controller registers,
 * and verifyCertURI, which compares the SVID's path with exactly that).
 */
export function verifySpireResults(results: Result[], trustBundle: X509Certificate[], run: TaskRunRef): 'absent' | 'verified' {
  const byName = new Map<string, unknown>();
  for (const r of results) if (r && typeof r === 'object' && typeof r.name === 'string') byName.set(r.name, r.value);
  const svidPem = byName.get('SVID');
  if (svidPem === undefined) return 'absent';
  const bad = (m: string): never => {
    throw new SignerError('SIGNER_RESULTS_UNVERIFIED', `TEP-0089: ${m}`);
  };
  let svid: X509Certificate;
  try {
    svid = new X509Certificate(String(svidPem));
  } catch {
    return bad('the SVID result is not a PEM certificate');
  }
  const now = new Date();
  if (now < new Date(svid.validFrom) || now > new Date(svid.validTo)) bad('the SVID is not valid now');
  if (!trustBundle.some((ca) => svid.checkIssued(ca) && svid.verify(ca.publicKey))) bad('the SVID does not chain to the trust bundle');
  // Any SVID of the trust domain chains to the bundle: without this, another TaskRun's (or any
  // workload's) SVID and key could sign results written into this run's status.
  const uris = (svid.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('URI:'));
  if (uris.length !== 1) bad('the SVID must name exactly one SPIFFE ID (X509-SVID §2)');
  let path: string;
  try {
    path = parseSpiffeId(uris[0]!.slice(4)).path;
  } catch {
    return bad(`the SVID's URI ${uris[0]!.slice(4, 200)} is not a SPIFFE ID`);
  }
  const ns = run.namespace;
  const runName = run.name;
  if (typeof ns !== 'string' || typeof runName !== 'string' || !K8S_NAME.test(ns) || !K8S_NAME.test(runName)) bad('the TaskRun has no Kubernetes namespace and name to match its SVID against');
  if (path !== `/ns/${ns}/taskrun/${runName}`) bad(`the SVID is for ${uris[0]!.slice(4, 200)}, not for TaskRun ${ns}/${runName} (…/ns/${ns}/taskrun/${runName})`);
  const manifest = byName.get('RESULT_MANIFEST');
  if (typeof manifest !== 'string') bad('RESULT_MANIFEST is missing');
  const check = (name: string, value: string): void => {
    const sig = byName.get(`${name}.sig`);
    if (typeof sig !== 'string') bad(`${name}.sig is missing`);
    let ok = false;
    try {
      ok = verify('sha256', Buffer.from(value, 'utf8'), svid.publicKey, Buffer.from(sig as string, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) bad(`the signature of result ${name} does not verify`);
  };
  check('RESULT_MANIFEST', manifest as string);
  const names = (manifest as string).split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!byName.has(n)) bad(`result ${n} is in the manifest but missing`);
    check(n, valueString(byName.get(n)));
  }
  // A result not in the manifest (other than the signing material) was added after signing.
  for (const n of byName.keys()) {
    if (n === 'SVID' || n === 'RESULT_MANIFEST' || n.endsWith('.sig')) continue;
    if (!names.includes(n)) bad(`result ${n} is not covered by the signed manifest`);
  }
  return 'verified';
}
