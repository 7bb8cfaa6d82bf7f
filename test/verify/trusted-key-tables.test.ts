/**
 * One-at-a-time verification (verifyBundle) gives a trusted P-256 key a core table once it has
 * checked REGISTER_AFTER (512) signatures in the process (host/verify/pipeline.ts, verifyTrusted),
 * and its checks then run in the core: the verdicts and error codes must not change.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { initCore, isKeyRegistered } from '../../host/core/index.js';
import { clearVerificationCache, parseBundle, parseTrustedRoot, verifyBundle } from '../../host/verify/index.js';

const ASSETS = join(import.meta.dirname, '../../conformance/vectors/sigstore-conformance/test/assets/bundle-verify');
const ROOT = parseTrustedRoot(JSON.parse(readFileSync(join(import.meta.dirname, '../../conformance/vectors/root-signing/targets/trusted_root.json'), 'utf8')));
const POLICY = {
  identity: 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main',
  issuer: 'https://token.actions.githubusercontent.com',
};
const artifact = { bytes: readFileSync(join(ASSETS, 'a.txt')) };
const bundleJson = JSON.parse(readFileSync(join(ASSETS, 'happy-path-v0.3', 'bundle.sigstore.json'), 'utf8'));

/** The happy path with one bit of its SET flipped: refused with TLOG_SET_INVALID. */
function tamperedSet(): unknown {
  const j = structuredClone(bundleJson) as { verificationMaterial: { tlogEntries: { inclusionPromise: { signedEntryTimestamp: string } }[] } };
  const p = j.verificationMaterial.tlogEntries[0]!.inclusionPromise;
  const set = Buffer.from(p.signedEntryTimestamp, 'base64');
  set[set.length - 1]! ^= 1;
  p.signedEntryTimestamp = set.toString('base64');
  return j;
}

function outcome(json: unknown): string {
  clearVerificationCache();
  try {
    verifyBundle(parseBundle(json), artifact, ROOT, POLICY);
    return 'OK';
  } catch (e) {
    return (e as { code: string }).code;
  }
}

beforeAll(() => initCore());

it('a trusted log key gets a core table after 512 checks, and the verdicts stay the same', () => {
  const log = ROOT.tlogs.find((l) => bundleJson.verificationMaterial.tlogEntries[0].logId.keyId === Buffer.from(l.logId).toString('base64'))!;
  expect(log).toBeDefined();
  expect(isKeyRegistered(log.spki)).toBe(false);
  const before = { ok: outcome(bundleJson), bad: outcome(tamperedSet()) };
  expect(before).toEqual({ ok: 'OK', bad: 'TLOG_SET_INVALID' });
  for (let i = 0; i < 512 && !isKeyRegistered(log.spki); i++) expect(outcome(bundleJson)).toBe('OK');
  expect(isKeyRegistered(log.spki)).toBe(true);
  expect({ ok: outcome(bundleJson), bad: outcome(tamperedSet()) }).toEqual(before);
  // A digest-only artifact takes the same trusted-key path.
  const digest = { digest: { algorithm: 'sha256' as const, value: createHash('sha256').update(artifact.bytes).digest() } };
  clearVerificationCache();
  expect(() => verifyBundle(parseBundle(bundleJson), digest, ROOT, POLICY)).not.toThrow();
});
