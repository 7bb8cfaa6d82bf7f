/**
 * verifyBundles (bulk: signature checks deferred, de-duplicated and batched across bundles, on a
 * worker pool or not) must give exactly verifyBundle's verdict AND error code for every bundle.
 * Every sigstore-conformance bundle-verify case, in both artifact modes, grouped by trusted root
 * and policy so one batch mixes passing and failing bundles; plus tampered copies of the happy
 * paths, which share checkpoints and CA chains with their originals.
 */
import { createECDH, createHash, createPublicKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initCore, installRuntimeScalarMul, isKeyRegistered, setP256ScalarMul } from '../../host/core/index.js';
import { signatureRS } from '../../host/core/signature-formats.js';
import { VerifyPool } from '../../host/core/pool.js';
import { clearVerificationCache, parseBundle, parseTrustedRoot, verifyBundle, verifyBundles, type Artifact, type BulkItem, type Policy } from '../../host/verify/index.js';

const ASSETS = join(import.meta.dirname, '../../conformance/vectors/sigstore-conformance/test/assets/bundle-verify');
const PROD_ROOT = join(import.meta.dirname, '../../conformance/vectors/root-signing/targets/trusted_root.json');
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

interface Case { name: string; group: string; root: string; policy: Policy; key?: string; bundleJson: unknown; artifact: Artifact }

function cases(): Case[] {
  const out: Case[] = [];
  for (const name of readdirSync(ASSETS, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    const c = join(ASSETS, name);
    const read = (f: string, d: string): string => (existsSync(join(c, f)) ? readFileSync(join(c, f), 'utf8').trim() : d);
    const root = existsSync(join(c, 'trusted_root.json')) ? join(c, 'trusted_root.json') : PROD_ROOT;
    const key = existsSync(join(c, 'key.pub')) ? join(c, 'key.pub') : undefined;
    const policy: Policy = key ? {} : { identity: read('identity', IDENTITY), issuer: read('issuer', ISSUER) };
    let bundleJson: unknown;
    try {
      bundleJson = JSON.parse(readFileSync(join(c, 'bundle.sigstore.json'), 'utf8'));
    } catch {
      continue; // unparseable JSON never reaches the verifier
    }
    const bytes = readFileSync(existsSync(join(c, 'artifact')) ? join(c, 'artifact') : join(ASSETS, 'a.txt'));
    for (const artifact of [{ bytes }, { digest: { algorithm: 'sha256' as const, value: createHash('sha256').update(bytes).digest() } }]) {
      out.push({ name, group: `${root}|${JSON.stringify(policy)}|${key ?? ''}`, root, policy, ...(key ? { key } : {}), bundleJson, artifact });
      // The last byte of an RFC 3161 token is the end of its SignerInfo signature: flipped, the TSA
      // check fails (it is deferred into the P-256 batch when bulk, so both paths must say so alike).
      const withTsa = JSON.parse(JSON.stringify(bundleJson)) as { verificationMaterial?: { timestampVerificationData?: { rfc3161Timestamps?: { signedTimestamp: string }[] } } };
      const ts = withTsa.verificationMaterial?.timestampVerificationData?.rfc3161Timestamps?.[0];
      if (ts) {
        const tok = Buffer.from(ts.signedTimestamp, 'base64');
        tok[tok.length - 1]! ^= 1;
        ts.signedTimestamp = tok.toString('base64');
        out.push({ name: `${name} (TSA signature flipped)`, group: `${root}|${JSON.stringify(policy)}|${key ?? ''}`, root, policy, ...(key ? { key } : {}), bundleJson: withTsa, artifact });
      }
      if (name.startsWith('happy-path') && !key) {
        // A tampered copy: same checkpoint and chain as the original, one flipped signature byte.
        const t = JSON.parse(JSON.stringify(bundleJson)) as { messageSignature?: { signature: string } };
        if (t.messageSignature) {
          const sig = Buffer.from(t.messageSignature.signature, 'base64');
          sig[sig.length - 1]! ^= 1;
          t.messageSignature.signature = sig.toString('base64');
          out.push({ name: `${name} (tampered)`, group: `${root}|${JSON.stringify(policy)}|`, root, policy, bundleJson: t, artifact });
        }
        // The same SET re-encoded as IEEE P1363 r‖s: the WASM core reads both forms, OpenSSL (the
        // one-at-a-time path) only DER, so a bulk run must not take it either.
        const p = JSON.parse(JSON.stringify(bundleJson)) as { verificationMaterial: { tlogEntries: { inclusionPromise?: { signedEntryTimestamp: string } }[] } };
        const promise = p.verificationMaterial.tlogEntries[0]?.inclusionPromise;
        const rs = promise && signatureRS(Buffer.from(promise.signedEntryTimestamp, 'base64'));
        if (promise && rs) {
          promise.signedEntryTimestamp = Buffer.concat([rs.r, rs.s]).toString('base64');
          out.push({ name: `${name} (SET as P1363)`, group: `${root}|${JSON.stringify(policy)}|`, root, policy, bundleJson: p, artifact });
        }
      }
    }
  }
  return out;
}

function outcome(f: () => unknown): string {
  try {
    f();
    return 'pass';
  } catch (e) {
    return (e as { code?: string }).code ?? `ERROR ${(e as Error).message}`;
  }
}

let pool: VerifyPool;
beforeAll(async () => {
  await initCore();
  pool = new VerifyPool(2);
});
afterAll(async () => pool?.close());

it('bulk verdicts and error codes equal one-at-a-time ones for every conformance bundle, with and without a worker pool', async () => {
  const all = cases();
  const groups = new Map<string, Case[]>();
  for (const c of all) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  let compared = 0;
  let passes = 0;
  let customTsaRegistered = false;
  for (const list of groups.values()) {
    // A trusted root or key file that does not parse fails before any bundle is looked at.
    let trust;
    let key;
    try {
      trust = parseTrustedRoot(JSON.parse(readFileSync(list[0]!.root, 'utf8')));
      key = list[0]!.key ? createPublicKey(readFileSync(list[0]!.key!, 'utf8')) : undefined;
    } catch {
      continue;
    }
    const opts = key ? { key } : {};
    const items: { c: Case; item?: BulkItem; parseError?: string }[] = list.map((c) => {
      try {
        return { c, item: { bundle: parseBundle(c.bundleJson), artifact: c.artifact } };
      } catch (e) {
        return { c, parseError: (e as { code?: string }).code ?? 'ERROR' };
      }
    });
    const ok = items.filter((x) => x.item).map((x) => x.item!);
    const single = ok.map((it) => outcome(() => verifyBundle(it.bundle, it.artifact, trust, list[0]!.policy, opts)));
    for (const bulkOpts of [{}, { pool }]) {
      // Cold caches: every check really runs in the bulk path (single runs left their verdicts).
      clearVerificationCache();
      const bulk = (await verifyBundles(ok, trust, list[0]!.policy, { ...opts, ...bulkOpts })).map((v) => (v.ok ? 'pass' : (v.error as { code?: string }).code ?? 'ERROR'));
      expect(bulk).toEqual(single);
      compared += bulk.length;
      if (!('pool' in bulkOpts) && list[0]!.root.includes('intoto-with-custom-trust-root')) {
        customTsaRegistered = trust.timestampAuthorities.some((t) => isKeyRegistered(t.chain[0]!.publicKey.export({ format: 'der', type: 'spki' })));
      }
    }
    passes += single.filter((s) => s === 'pass').length;
  }
  // Both outcomes are present: the comparison covers passing and failing bundles.
  expect(passes).toBeGreaterThan(20);
  // The production root's P-256 log and CA keys got core tables: their checks ran in the WASM batch.
  const prod = parseTrustedRoot(JSON.parse(readFileSync(PROD_ROOT, 'utf8')));
  expect(prod.tlogs.some((l) => isKeyRegistered(l.spki))).toBe(true);
  expect(prod.ctlogs.some((l) => isKeyRegistered(l.spki))).toBe(true);
  // And TSA keys: the flipped-TSA copies of intoto-with-custom-trust-root went through that batch.
  expect(customTsaRegistered).toBe(true);
  expect(compared / 2 - passes).toBeGreaterThan(40);
});

it('in bulk, P-256 leaf signatures over artifact bytes go into the core batch (finished by the runtime multiplication), not through an OpenSSL key import', async () => {
  // Artifact bytes only: over a digest the leaf check uses the core even one at a time, so only
  // the bytes path tells a deferred check from OpenSSL's.
  const happy = cases().filter((c) => c.root === PROD_ROOT && c.name.startsWith('happy-path') && !c.name.includes('(') && 'bytes' in c.artifact);
  expect(happy.length).toBeGreaterThan(2);
  const trust = parseTrustedRoot(JSON.parse(readFileSync(PROD_ROOT, 'utf8')));
  const items = happy.map((c) => ({ bundle: parseBundle(c.bundleJson), artifact: c.artifact }));
  let calls = 0;
  const ecdh = createECDH('prime256v1');
  setP256ScalarMul((k, point) => {
    calls++;
    ecdh.setPrivateKey(k);
    return ecdh.computeSecret(point);
  });
  try {
    clearVerificationCache();
    const verdicts = await verifyBundles(items, trust, happy[0]!.policy);
    expect(verdicts.every((v) => v.ok)).toBe(true);
    expect(calls).toBeGreaterThan(0);
  } finally {
    expect(await installRuntimeScalarMul()).toBe(true);
  }
});
