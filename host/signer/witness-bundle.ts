/**
 * Witnessed bundles, for offline verification. A bundle's checkpoint is the one published with
 * its entry's batch, before any witness could cosign it. Once the log's checkpoint carries the
 * witnesses' cosignatures (host/log/witness-client.ts), this replaces each entry's inclusion proof
 * with one against that cosigned checkpoint: from the Rekor v1 entry API
 * (`GET /api/v1/log/entries?logIndex=N`) for v1 entries, and for Rekor v2 entries from the log's
 * `/checkpoint` and tiles (host/log/tile-client.ts), as a tiles client would. The SET and everything else stay as signed. A verifier can
 * then require the cosignatures from the bundle alone (`cairn verify --witness`), and sigstore-js
 * still verifies it: it ignores signature lines whose key hint is not its log's.
 */
import { initCore, leafHash, verifyInclusion } from '../core/index.js';
import { parseCheckpoint, parseNote, type WitnessKey } from '../log/note.js';
import { inclusionProofFromTiles } from '../log/tile-client.js';
import { cosignersOf, distinctWitnesses } from '../verify/witnessed.js';
import { SignerError } from './errors.js';

export interface WitnessBundleOptions {
  /** The Rekor v1 log the entries are in. */
  logUrl: string;
  witnesses: WitnessKey[];
  /** Distinct witnesses required (default: all given). */
  threshold?: number;
  /** How long to wait for the cosignatures (default 30 s), polling every `pollMs` (default 500 ms). */
  waitMs?: number;
  pollMs?: number;
}

type Json = Record<string, unknown>;

export async function witnessBundle(bundle: Json, given: WitnessBundleOptions): Promise<Json> {
  await initCore();
  // Each key once, as the verifier counts them: a key given twice would count twice otherwise.
  const o = { ...given, witnesses: distinctWitnesses(given.witnesses) };
  const threshold = o.threshold ?? o.witnesses.length;
  if (threshold < 1 || threshold > o.witnesses.length) throw new SignerError('SIGNER_BAD_INPUT', `the witness threshold must be 1..${o.witnesses.length} (distinct witness keys)`);
  const vm = bundle.verificationMaterial as Json | undefined;
  const entries = (vm?.tlogEntries ?? []) as Json[];
  if (entries.length === 0) throw new SignerError('SIGNER_BAD_INPUT', 'the bundle has no tlog entries');
  const deadline = Date.now() + (o.waitMs ?? 30_000);
  const base = o.logUrl.replace(/\/$/, '');
  const refreshed: Json[] = [];
  for (const e of entries) {
    const index = Number(e.logIndex);
    if (!Number.isSafeInteger(index) || index < 0) throw new SignerError('SIGNER_BAD_INPUT', 'a tlog entry has no logIndex');
    if ((e.kindVersion as { version?: string } | undefined)?.version === '0.0.2') {
      refreshed.push(await fromTiles(e, index, base, o.witnesses, threshold, deadline, o.pollMs ?? 500));
      continue;
    }
    for (;;) {
      const res = await fetch(`${base}/api/v1/log/entries?logIndex=${index}`, { signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) throw new SignerError('SIGNER_LOG_FAILED', `${base} answered ${res.status} for entry ${index} (witnessing needs the Rekor v1 API)`);
      const got = Object.values((await res.json()) as Record<string, Json>)[0] as Json | undefined;
      const p = (got?.verification as Json | undefined)?.inclusionProof as { checkpoint: string; hashes: string[]; logIndex: number; rootHash: string; treeSize: number } | undefined;
      // The same entry: its body is what the bundle's tlog entry canonicalised.
      if (!got || got.body !== e.canonicalizedBody || !p) throw new SignerError('SIGNER_LOG_FAILED', `entry ${index} on ${base} is not this bundle's entry`);
      if (cosignersOf(p.checkpoint, o.witnesses).length >= threshold) {
        const root = Buffer.from(p.rootHash, 'hex');
        const hashes = p.hashes.map((h) => Buffer.from(h, 'hex'));
        const leaf = leafHash(Buffer.from(String(got.body), 'base64'));
        if (!verifyInclusion(leaf, index, p.treeSize, hashes, root)) throw new SignerError('SIGNER_LOG_FAILED', `the log's inclusion proof for entry ${index} does not verify`);
        refreshed.push({
          ...e,
          inclusionProof: {
            logIndex: String(p.logIndex),
            rootHash: root.toString('base64'),
            treeSize: String(p.treeSize),
            hashes: hashes.map((h) => h.toString('base64')),
            checkpoint: { envelope: p.checkpoint },
          },
        });
        break;
      }
      if (Date.now() >= deadline) throw new SignerError('SIGNER_LOG_FAILED', `entry ${index}: the log's checkpoint did not gain ${threshold} witness cosignature(s) in time`);
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
    }
  }
  return { ...bundle, verificationMaterial: { ...vm, tlogEntries: refreshed } };
}

/** A Rekor v2 entry's inclusion proof against the log's cosigned /checkpoint, from its tiles. */
async function fromTiles(e: Json, index: number, base: string, witnesses: WitnessKey[], threshold: number, deadline: number, pollMs: number): Promise<Json> {
  for (;;) {
    const res = await fetch(`${base}/checkpoint`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new SignerError('SIGNER_LOG_FAILED', `${base}/checkpoint answered ${res.status}`);
    const text = await res.text();
    if (cosignersOf(text, witnesses).length >= threshold) {
      const cp = parseCheckpoint(parseNote(text).body);
      if (index >= cp.size) throw new SignerError('SIGNER_LOG_FAILED', `entry ${index} is beyond the log's checkpoint (size ${cp.size})`);
      let hashes: Uint8Array[];
      try {
        hashes = await inclusionProofFromTiles(base, index, cp.size);
      } catch (cause) {
        throw new SignerError('SIGNER_LOG_FAILED', `tiles of ${base}: ${(cause as Error).message}`, { cause });
      }
      const leaf = leafHash(Buffer.from(String(e.canonicalizedBody), 'base64'));
      if (!verifyInclusion(leaf, index, cp.size, hashes, cp.root)) throw new SignerError('SIGNER_LOG_FAILED', `entry ${index} is not in the log's tree of size ${cp.size} (or its tiles are wrong)`);
      return {
        ...e,
        inclusionProof: {
          logIndex: String(index),
          rootHash: Buffer.from(cp.root).toString('base64'),
          treeSize: String(cp.size),
          hashes: hashes.map((h) => Buffer.from(h).toString('base64')),
          checkpoint: { envelope: text },
        },
      };
    }
    if (Date.now() >= deadline) throw new SignerError('SIGNER_LOG_FAILED', `the log's checkpoint did not gain ${threshold} witness cosignature(s) in time`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
