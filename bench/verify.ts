/**
 * Bundle verification suite (issue 8): Cairn's verifier vs sigstore-js (@sigstore/verify) on the
 * same bundles and trusted root, in the same run, one core. Bundles: the sigstore-conformance
 * happy paths that sigstore-js can take without extra configuration (message signatures v0.1,
 * v0.2, v0.3 in both media types, and an in-toto DSSE v0.3), against the production trusted root.
 * Both parse the bundle on every verification; the trusted root is parsed once (as in bulk mode).
 * Verdicts are compared bundle by bundle before anything is timed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { initCore } from '../host/core/index.js';
import { parseBundle, parseTrustedRoot, verifyBundle } from '../host/verify/index.js';
import { fmt, medianMs, table, type BenchOptions, type SuiteResult } from './harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ASSETS = join(ROOT, 'conformance/vectors/sigstore-conformance/test/assets/bundle-verify');
const CASES = ['happy-path-v0.1', 'happy-path-v0.2', 'happy-path-v0.3', 'happy-path-v0.3-new-mediaType', 'happy-path-intoto-in-dsse-v3'];
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

export const verifySuite = async (opts: BenchOptions): Promise<SuiteResult> => {
  await initCore();
  const rootJson = JSON.parse(readFileSync(join(ROOT, 'conformance/vectors/root-signing/targets/trusted_root.json'), 'utf8'));
  const trust = parseTrustedRoot(rootJson);
  const sjs = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(rootJson)), { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
  const artifact = readFileSync(join(ASSETS, 'a.txt'));
  const bundles = CASES.map((c) => readFileSync(join(ASSETS, c, 'bundle.sigstore.json'), 'utf8'));
  const cairn = (text: string): boolean => {
    try {
      verifyBundle(parseBundle(JSON.parse(text)), { bytes: artifact }, trust, { identity: IDENTITY, issuer: ISSUER });
      return true;
    } catch {
      return false;
    }
  };
  const sigstoreJs = (text: string): boolean => {
    try {
      const b = bundleFromJSON(JSON.parse(text));
      sjs.verify(toSignedEntity(b, b.content.$case === 'dsseEnvelope' ? undefined : artifact), { subjectAlternativeName: IDENTITY, extensions: { issuer: ISSUER } });
      return true;
    } catch {
      return false;
    }
  };
  // Tampered copies: the verdicts must agree on failures too.
  const tampered = bundles.map((t) => t.replace(/"signature": ?"M/, '"signature":"N').replace(/"sig": ?"M/, '"sig":"N'));
  const all = [...bundles, ...tampered];
  const verdicts = all.map((t, i) => ({ i, cairn: cairn(t), sjs: sigstoreJs(t) }));
  const disagree = verdicts.filter((v) => v.cairn !== v.sjs);
  const rounds = opts.quick ? 20 : 100;
  const runs = opts.quick ? 3 : 7;
  const tc = await medianMs(() => { for (let r = 0; r < rounds; r++) for (const b of bundles) cairn(b); }, runs);
  const ts = await medianMs(() => { for (let r = 0; r < Math.max(2, rounds / 10); r++) for (const b of bundles) sigstoreJs(b); }, runs);
  const cairnRate = (rounds * bundles.length * 1000) / tc.median;
  const sjsRate = (Math.max(2, rounds / 10) * bundles.length * 1000) / ts.median;
  const md = [
    `${bundles.length} conformance happy-path bundles (+ ${tampered.length} tampered copies for the verdict check), production trusted root, one core:`,
    '',
    table(['verifier', 'bundles/s (median)', 'vs sigstore-js'], [
      ['sigstore-js (@sigstore/verify 3)', fmt.ops(sjsRate), '1.00×'],
      ['Cairn host/verify', fmt.ops(cairnRate), fmt.x(cairnRate / sjsRate)],
    ]),
    '',
    `Verdicts: ${verdicts.length - disagree.length}/${verdicts.length} identical (${verdicts.filter((v) => v.cairn).length} pass, ${verdicts.filter((v) => !v.cairn).length} fail)${disagree.length ? `; DISAGREEMENTS at ${disagree.map((d) => d.i).join(', ')}` : ''}.`,
    'Target: ≥ 4,000 bundles/s on 2 cores (≥ 50× sigstore-js). These bundles repeat (5 distinct); Cairn re-parses each one every time, with no cross-bundle cache.',
  ].join('\n');
  return { title: 'Bundle verification: Cairn vs sigstore-js', markdown: md };
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  verifySuite({ quick: process.argv.includes('--quick') }).then((r) => console.log(`## ${r.title}\n\n${r.markdown}`));
}
