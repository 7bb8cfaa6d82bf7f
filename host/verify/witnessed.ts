/**
 * An online check after a bundle verified: that the log has not shown this bundle's checkpoint to
 * us alone. For each tlog entry, the log's current checkpoint (C2SP tlog-tiles `/checkpoint`) must
 * be signed by the log, cosigned by at least `threshold` of the given witnesses (C2SP
 * tlog-cosignature; host/witness is one), and consistent with the checkpoint in the bundle
 * (RFC 6962 §2.1.2, proof from the log's `/api/v1/log/proof`). Witnesses only cosign trees that
 * extend what they saw, so a checkpoint they cosigned that extends ours means the log did not
 * fork between them and us (the seed: "consistency proofs + witness cosignatures prove the log
 * never forked").
 *
 * A bundle whose checkpoint already carries the cosignatures (refreshed after the witnesses saw
 * it: host/signer/witness-bundle.ts, `cairn witness-bundle`) passes without the network: the
 * pipeline has checked that checkpoint's log signature and the inclusion proof against it.
 * Otherwise the log is asked, as above.
 */
import { verifyConsistency } from '../core/index.js';
import { parseNote, verifyCosignature, type WitnessKey } from '../log/note.js';
import type { Bundle } from './bundle.js';
import { fail } from './errors.js';
import { verifyCheckpointNote } from './pipeline.js';
import type { TrustMaterial } from './trusted-root.js';

export interface WitnessPolicy {
  witnesses: WitnessKey[];
  /** How many distinct witnesses must have cosigned (default: all of them). */
  threshold?: number;
  timeoutMs?: number;
}

export interface Witnessed {
  log: string;
  bundleSize: number;
  witnessedSize: number;
  witnesses: string[];
  /** The cosignatures were in the bundle's own checkpoint (no network). */
  offline: boolean;
}

async function get(url: string, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  } catch (cause) {
    return fail('TLOG_NOT_WITNESSED', `${url} is unreachable`, cause);
  }
  if (res.status !== 200) fail('TLOG_NOT_WITNESSED', `${url} answered ${res.status}`);
  return res.text();
}

/** Distinct witnesses with a valid cosignature on a checkpoint note. */
export function cosignersOf(checkpoint: string, witnesses: WitnessKey[]): string[] {
  const note = parseNote(checkpoint);
  return witnesses.filter((w) => note.signatures.some((s) => verifyCosignature(note.body, s, w) !== undefined)).map((w) => w.name);
}

/**
 * The witnesses, each key once: a key given twice (under one name or two) is one witness, so it
 * cannot count twice toward the threshold (the threshold is of distinct witnesses, as sigstore's
 * de-duplication of evidence before counting it, STYLE.md point 4).
 */
export function distinctWitnesses(ws: WitnessKey[]): WitnessKey[] {
  const seen = new Set<string>();
  return ws.filter((w) => {
    const k = w.publicKey.export({ format: 'der', type: 'spki' }).toString('hex');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export async function checkWitnessed(bundle: Bundle, trust: TrustMaterial, given: WitnessPolicy): Promise<Witnessed[]> {
  const policy = { ...given, witnesses: distinctWitnesses(given.witnesses) };
  const threshold = policy.threshold ?? policy.witnesses.length;
  if (threshold < 1 || threshold > policy.witnesses.length) fail('TLOG_NOT_WITNESSED', `the witness threshold must be 1..${policy.witnesses.length} (distinct witness keys)`);
  const timeoutMs = policy.timeoutMs ?? 10_000;
  const out: Witnessed[] = [];
  for (const e of bundle.tlogEntries) {
    const ours = e.inclusionProof?.checkpoint;
    if (!ours) fail('TLOG_NOT_WITNESSED', 'a tlog entry has no checkpoint to compare');
    const logs = trust.tlogs.filter((l) => l.logId.equals(e.logId) || (l.checkpointKeyId?.equals(e.logId) ?? false));
    if (logs.length === 0) fail('TLOG_UNKNOWN_LOG', 'the tlog entry names no trusted log');
    const mine = verifyCheckpointNote(ours, logs);
    const inBundle = cosignersOf(ours, policy.witnesses);
    if (inBundle.length >= threshold) {
      out.push({ log: logs[0]!.baseUrl, bundleSize: mine.size, witnessedSize: mine.size, witnesses: inBundle, offline: true });
      continue;
    }
    // A log whose URL changed has one trusted-root entry per URL: the current one (no end to its
    // validity, latest start) first, then the others, until one answers.
    const candidates = [...logs].sort((a, b) => Number(a.validFor.end !== undefined) - Number(b.validFor.end !== undefined) || b.validFor.start.getTime() - a.validFor.start.getTime());
    let base = '';
    let currentText: string | undefined;
    let lastError: unknown;
    for (const l of candidates) {
      base = l.baseUrl.replace(/\/$/, '');
      try {
        currentText = await get(`${base}/checkpoint`, timeoutMs);
        break;
      } catch (e) {
        lastError = e;
      }
    }
    if (currentText === undefined) throw lastError;
    const current = verifyCheckpointNote(currentText, logs);
    if (current.origin !== mine.origin) fail('TLOG_NOT_WITNESSED', `${base}/checkpoint is for origin ${current.origin}, not ${mine.origin}`);
    // Distinct witnesses with a valid cosignature over the log's current checkpoint body.
    const cosigned = cosignersOf(currentText, policy.witnesses);
    if (cosigned.length < threshold) fail('TLOG_NOT_WITNESSED', `the log's checkpoint carries ${cosigned.length} of the ${threshold} required witness cosignatures`);
    if (current.size < mine.size) fail('TLOG_NOT_WITNESSED', `the witnessed tree (${current.size}) is smaller than the bundle's (${mine.size}): the log is not append-only, or the witnesses are behind`);
    if (current.size === mine.size) {
      if (!current.root.equals(mine.root)) fail('TLOG_NOT_WITNESSED', 'the witnessed tree has the bundle\'s size and another root: the log forked');
    } else {
      const proofText = await get(`${base}/api/v1/log/proof?firstSize=${mine.size}&lastSize=${current.size}`, timeoutMs);
      let hashes: Buffer[];
      try {
        hashes = ((JSON.parse(proofText) as { hashes: string[] }).hashes ?? []).map((h) => Buffer.from(h, 'hex'));
      } catch (cause) {
        return fail('TLOG_NOT_WITNESSED', 'the consistency proof is not JSON', cause);
      }
      if (hashes.some((h) => h.length !== 32) || !verifyConsistency(mine.size, current.size, hashes, mine.root, current.root)) {
        fail('TLOG_NOT_WITNESSED', `the witnessed tree (${current.size}) is not consistent with the bundle's (${mine.size}): the log forked`);
      }
    }
    out.push({ log: base, bundleSize: mine.size, witnessedSize: current.size, witnesses: cosigned, offline: false });
  }
  return out;
}
