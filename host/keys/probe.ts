/**
 * Readiness probe for a signing key (/readyz of the CA and the TSA, host/http/ops.ts: "its key
 * signs"). A key can become unusable while the service runs (an HSM's PKCS#11 session lost: every
 * C_Sign then fails, and nothing reopens it); the service still answers /healthz, but it can no
 * longer do its job, so its readiness must say so.
 *
 * /readyz is unauthenticated, so a probe signs at most once per PROBE_REUSE_MS per key whatever the
 * probe rate: concurrent and recent probes share one result, and an HSM never signs for a flood.
 */
import { KeyError } from './errors.js';
import type { KeySigner } from './types.js';

const PROBE_REUSE_MS = 1000;
/** A probe waits this long for the key: an HSM that stopped answering is unready, not a hung /readyz. */
const PROBE_DEADLINE_MS = 2000;
const PROBE = new TextEncoder().encode('cairn readiness probe');

interface Probe {
  at: number;
  pending: boolean;
  result: Promise<string | undefined>;
}
const recent = new WeakMap<KeySigner, Probe>();

/** Undefined when `signer` signs; otherwise why not (KeyError messages only: nothing from a backend's own error text). */
export function signerUnready(signer: KeySigner): Promise<string | undefined> {
  let p = recent.get(signer);
  const t = Date.now();
  // One probe signature in flight per key, however long a hung backend holds it; a settled one is
  // reused briefly. A clock stepped back (NTP) probes afresh rather than wait for it to catch up.
  if (!p || (!p.pending && !(t >= p.at && t - p.at < PROBE_REUSE_MS))) {
    const probe: Probe = { at: t, pending: true, result: Promise.resolve(undefined) };
    probe.result = signer.sign(PROBE).then(
      () => undefined,
      (e: unknown) => `the signing key cannot sign: ${e instanceof KeyError ? e.message : 'the key backend failed'}`,
    ).finally(() => {
      probe.pending = false;
      probe.at = Date.now();
    });
    recent.set(signer, probe);
    p = probe;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the signing key did not sign within ${PROBE_DEADLINE_MS} ms`), PROBE_DEADLINE_MS);
    timer.unref();
  });
  return Promise.race([p.result, late]).finally(() => clearTimeout(timer));
}
