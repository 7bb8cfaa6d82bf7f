/**
 * `cairn verify <artifact | sha256:hex> --bundle B [--trusted-root F] [policy flags]`: exits 0 with
 * "OK: ..." or 1 with "FAIL <CODE>: message". `--bulk <dir | list file>` verifies many bundles
 * (each `X.sigstore.json` against the artifact `X` beside it, or `sha256:` digests from a list
 * file of "artifact bundle" lines), with a progress bar and a failure summary.
 */
import { createPublicKey } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { initCore } from '../core/index.js';
import { BundleVerifierPool, verifyJobs, type BulkJob, type BulkOutcome } from '../verify/bulk-pool.js';
import { loadArtifact, loadJson, trustWithPartners, verifyFiles, type PartnerRoot, type Policy } from '../verify/index.js';

/** A threshold: a whole number from 1. */
function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number from 1');
  return n;
}

interface VerifyCliOptions {
  bundle?: string;
  trustedRoot: string;
  partnerRoot?: { trustDomain: string; file: string }[];
  partnerTuf?: { trustDomain: string; file: string }[];
  partnerTufRoot?: { trustDomain: string; file: string }[];
  tufCache: string;
  tuf?: string;
  tufRoot?: string;
  witness?: string[];
  witnessThreshold?: number;
  tlogThreshold?: number;
  ctlogThreshold?: number;
  timestampThreshold?: number;
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  certificateOidcIssuerRegexp?: string;
  key?: string;
  spiffeTrustDomain?: string;
  spiffePathPrefix?: string;
  insecureIgnoreIdentity?: boolean;
  predicateType?: string;
  bulk?: string;
  workers?: number;
  quiet?: boolean;
}

/**
 * Up to this many bundles, `--bulk` verifies on the main thread unless --workers says otherwise:
 * each worker thread loads the verifier, compiles the core, builds its key tables and warms its
 * own JIT, which costs more than a second core saves on short runs. Measured with the compiled
 * CLI on distinct bundles from a Cairn stack (2-core machine), main thread / 2 workers: 100
 * bundles 0.18 / 0.39 s, 400 0.49-0.56 / 0.65-0.69 s, 800 0.90-0.95 / 1.06-1.13 s, 1,900
 * 1.87-1.89 / 1.66-1.74 s.
 */
const IN_PROCESS_MAX = 1000;

function policyOf(o: VerifyCliOptions): Policy {
  return {
    ...(o.certificateIdentity !== undefined ? { identity: o.certificateIdentity } : {}),
    ...(o.certificateIdentityRegexp !== undefined ? { identityRegexp: new RegExp(o.certificateIdentityRegexp) } : {}),
    ...(o.certificateOidcIssuer !== undefined ? { issuer: o.certificateOidcIssuer } : {}),
    ...(o.certificateOidcIssuerRegexp !== undefined ? { issuerRegexp: new RegExp(o.certificateOidcIssuerRegexp) } : {}),
    ...(o.spiffeTrustDomain !== undefined ? { spiffeTrustDomain: o.spiffeTrustDomain } : {}),
    ...(o.spiffePathPrefix !== undefined ? { spiffePathPrefix: o.spiffePathPrefix } : {}),
    ...(o.predicateType !== undefined ? { predicateType: o.predicateType } : {}),
  };
}

/**
 * Partner trust material, from files (--partner-root) or through TUF (--partner-tuf with its
 * pinned --partner-tuf-root), as {trustDomain, trustedRoot JSON}.
 */
/** The trusted root: fetched through TUF with --tuf (tuf-js, pinned by --tuf-root), else read from --trusted-root. */
async function trustedRootOf(o: VerifyCliOptions): Promise<unknown> {
  if (o.tuf === undefined) return loadJson(o.trustedRoot, 'TRUSTED_ROOT_MALFORMED');
  if (o.tufRoot === undefined) throw new InvalidArgumentError('--tuf: give the repository\'s initial root metadata with --tuf-root <1.root.json>');
  const { fetchTrustedRootViaTuf } = await import('../trust/tuf-client.js');
  return fetchTrustedRootViaTuf({ url: o.tuf, root: o.tufRoot, cacheDir: o.tufCache });
}

async function partnersOf(o: VerifyCliOptions): Promise<PartnerRoot[]> {
  const out: PartnerRoot[] = [];
  for (const p of o.partnerRoot ?? []) out.push({ trustDomain: p.trustDomain, trustedRoot: await loadJson(p.file, 'TRUSTED_ROOT_MALFORMED') });
  for (const p of o.partnerTuf ?? []) {
    const root = (o.partnerTufRoot ?? []).find((r) => r.trustDomain === p.trustDomain);
    if (!root) throw new InvalidArgumentError(`--partner-tuf ${p.trustDomain}: give its initial root with --partner-tuf-root ${p.trustDomain}=<root.json>`);
    const { fetchTrustedRootViaTuf } = await import('../trust/tuf-client.js');
    out.push({ trustDomain: p.trustDomain, trustedRoot: await fetchTrustedRootViaTuf({ url: p.file, root: root.file, cacheDir: o.tufCache }) });
  }
  return out;
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}`;
}

/** X.intoto.sigstore.json is an attestation about X (`cairn attest`), X.sigstore.json its signature. */
const SIGNATURE = '.sigstore.json';
const ATTESTATION = '.intoto.sigstore.json';

/**
 * The bundle an artifact is checked with when none is named: its attestation with
 * --predicate-type (only an attestation has a predicate type), else its signature.
 */
function defaultBundle(artifact: string, predicateType: string | undefined): string {
  return `${artifact}${predicateType !== undefined && !artifact.startsWith('sha256:') ? ATTESTATION : SIGNATURE}`;
}

async function bulkPairs(target: string, predicateType: string | undefined): Promise<{ artifact: string; bundle: string }[]> {
  if ((await stat(target)).isDirectory()) {
    // With --predicate-type the attestations only: a signature bundle beside one cannot pass it.
    const names = (await readdir(target)).filter((n) => n.endsWith(predicateType !== undefined ? ATTESTATION : SIGNATURE)).sort();
    return names.map((n) => ({ artifact: join(target, n.slice(0, -(n.endsWith(ATTESTATION) ? ATTESTATION : SIGNATURE).length)), bundle: join(target, n) }));
  }
  return (await readFile(target, 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [artifact, bundle] = l.split(/\s+/);
      return { artifact: artifact!, bundle: bundle ?? defaultBundle(artifact!, predicateType) };
    });
}

async function runBulk(o: VerifyCliOptions): Promise<number> {
  await initCore();
  const pairs = await bulkPairs(o.bulk!, o.predicateType);
  // Nothing to verify is a failure: a CI step pointed at the wrong directory (the bundles written
  // elsewhere) must not pass as "verified 0/0".
  if (pairs.length === 0) {
    process.stderr.write(`FAIL BULK_EMPTY: ${o.bulk} holds no bundles (a directory: no X${o.predicateType !== undefined ? ATTESTATION : SIGNATURE} in it; a list: no lines)\n`);
    return 1;
  }
  // Parsed here once so a bad root fails before any worker starts; each worker parses its own copy.
  const trustJson = await trustedRootOf(o);
  const partners = await partnersOf(o);
  trustWithPartners(trustJson, partners);
  const keyPem = o.key ? await readFile(o.key, 'utf8') : undefined;
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  const bar = o.quiet || !process.stderr.isTTY ? undefined : new SingleBar({ format: 'verifying [{bar}] {value}/{total} {failed} failed', stream: process.stderr }, Presets.shades_classic);
  bar?.start(pairs.length, 0, { failed: 0 });
  const failures: { bundle: string; reason: string }[] = [];
  const started = Date.now();
  // Whole bundles are verified on worker threads (host/verify/bulk-pool.ts), each batching its
  // core signature checks across bundles, or here for small inputs; at most two chunks are in
  // memory at once.
  const workers = o.workers ?? (pairs.length <= IN_PROCESS_MAX ? 0 : Math.max(1, availableParallelism()));
  const here = workers === 0 ? { trust: trustWithPartners(trustJson, partners), policy: policyOf(o), key: keyPem ? createPublicKey(keyPem) : undefined } : undefined;
  const pool = here ? undefined : new BundleVerifierPool({
    trustedRoot: trustJson,
    partners,
    policy: {
      ...(o.certificateIdentity !== undefined ? { identity: o.certificateIdentity } : {}),
      ...(o.certificateIdentityRegexp !== undefined ? { identityRegexp: o.certificateIdentityRegexp } : {}),
      ...(o.certificateOidcIssuer !== undefined ? { issuer: o.certificateOidcIssuer } : {}),
      ...(o.certificateOidcIssuerRegexp !== undefined ? { issuerRegexp: o.certificateOidcIssuerRegexp } : {}),
      ...(o.spiffeTrustDomain !== undefined ? { spiffeTrustDomain: o.spiffeTrustDomain } : {}),
      ...(o.spiffePathPrefix !== undefined ? { spiffePathPrefix: o.spiffePathPrefix } : {}),
      ...(o.predicateType !== undefined ? { predicateType: o.predicateType } : {}),
    },
    ...(keyPem ? { keyPem } : {}),
    size: workers,
  });
  const verify = (jobs: BulkJob[]): Promise<BulkOutcome[]> => (here ? verifyJobs(jobs, here.trust, here.policy, here.key) : pool!.verify(jobs));
  const CHUNK = 1024;
  // Reads chunk k + 1 while the workers verify chunk k: the event loop is otherwise idle then.
  const read = async (part: typeof pairs): Promise<{ jobs: BulkJob[]; early: (string | undefined)[] }> => {
    const jobs: BulkJob[] = [];
    const early: (string | undefined)[] = [];
    for (const p of part) {
      try {
        jobs.push({ bundle: await readFile(p.bundle, 'utf8'), artifact: await loadArtifact(p.artifact) });
        early.push(undefined);
      } catch (e) {
        early.push(`BUNDLE_MALFORMED: cannot read ${p.bundle} or its artifact: ${(e as Error).message}`);
      }
    }
    return { jobs, early };
  };
  try {
    let pending = read(pairs.slice(0, CHUNK));
    for (let at = 0; at < pairs.length; at += CHUNK) {
      const part = pairs.slice(at, at + CHUNK);
      const { jobs, early } = await pending;
      const verifying = verify(jobs);
      if (at + CHUNK < pairs.length) pending = read(pairs.slice(at + CHUNK, at + 2 * CHUNK));
      const verdicts = await verifying;
      let k = 0;
      part.forEach((p, i) => {
        let reason = early[i];
        if (reason === undefined) {
          const v = verdicts[k++]!;
          if (!v.ok) reason = `${v.code}: ${v.message}`;
        }
        if (reason) failures.push({ bundle: p.bundle, reason });
      });
      bar?.increment(part.length, { failed: failures.length });
    }
  } finally {
    await pool?.close();
  }
  bar?.stop();
  const secs = (Date.now() - started) / 1000;
  process.stdout.write(`verified ${pairs.length - failures.length}/${pairs.length} bundles in ${secs.toFixed(2)} s${failures.length ? `; ${failures.length} failed:` : ''}\n`);
  for (const f of failures) process.stdout.write(`  FAIL ${f.bundle}: ${f.reason}\n`);
  return failures.length ? 1 : 0;
}

function tdPair(usage: string): (v: string, prev?: { trustDomain: string; file: string }[]) => { trustDomain: string; file: string }[] {
  return (v, prev = []) => {
    const m = /^([a-z0-9._-]{1,255})=(.+)$/.exec(v);
    if (!m) throw new InvalidArgumentError(usage);
    return [...prev, { trustDomain: m[1]!, file: m[2]! }];
  };
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify a Sigstore bundle (v0.1-v0.3) for an artifact against a trusted root and an identity policy')
    .argument('[artifact]', 'artifact path, or sha256:<hex> to verify by digest')
    .option('--bundle <file>', 'the Sigstore bundle (default: <artifact>.sigstore.json, or <artifact>.intoto.sigstore.json with --predicate-type)')
    .addOption(new Option('--trusted-root <file>', 'trusted_root.json').default('.cairn/trusted_root.json'))
    .option('--tuf <url>', 'fetch trusted_root.json through this TUF repository instead (e.g. a `cairn up` /tuf): key rotations and distrusts arrive this way')
    .option('--tuf-root <file>', 'with --tuf: the repository\'s initial root metadata (1.root.json), obtained out of band')
    .option('--partner-root <td=file>', 'also trust a partner organisation\'s trusted_root.json, its CAs only for SPIFFE IDs in trust domain td (repeatable)', tdPair('trust-domain=path/to/trusted_root.json'))
    .option('--partner-tuf <td=url>', 'the same, fetched through the partner\'s TUF repository (e.g. its `cairn up` /tuf) (repeatable)', tdPair('trust-domain=https://.../tuf'))
    .option('--partner-tuf-root <td=file>', 'the pinned initial root.json of that TUF repository', tdPair('trust-domain=path/to/1.root.json'))
    .option('--tuf-cache <dir>', 'where trusted TUF metadata is kept between runs', '.cairn/partners')
    .option('--witness <vkey>', 'online check: the log\'s current checkpoint must be cosigned by this C2SP witness and consistent with the bundle\'s (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--witness-threshold <n>', 'how many of the --witness keys must have cosigned (default: all)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number from 1');
      return n;
    })
    .option('--tlog-threshold <n>', 'entries from this many distinct trusted logs (default 1)', count)
    .option('--timestamp-threshold <n>', 'verified times from this many distinct sources, RFC 3161 TSAs and logs together (default 1): two independent sources keep one stolen timestamp key from backdating', count)
    .option('--ctlog-threshold <n>', 'embedded SCTs from this many distinct trusted CT logs (default 1)', count)
    .option('--certificate-identity <san>', 'expected certificate SAN (URI, SPIFFE ID or email), exact')
    .option('--certificate-identity-regexp <re>', 'expected certificate SAN, as a regular expression')
    .option('--certificate-oidc-issuer <url>', 'expected OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8)')
    .option('--certificate-oidc-issuer-regexp <re>', 'expected OIDC issuer, as a regular expression')
    .option('--key <pem>', 'verify a managed-key bundle with this public key')
    .option('--spiffe-trust-domain <td>', 'require a SPIFFE ID in this trust domain')
    .option('--spiffe-path-prefix <path>', 'require a SPIFFE ID path under this prefix')
    .option('--insecure-ignore-identity', 'accept a signature by any identity the trusted CAs certified (otherwise an identity policy or --key is required)')
    .option('--predicate-type <uri>', 'require this in-toto predicate type (DSSE bundles)')
    .option('--bulk <dir|list>', 'verify every X.sigstore.json and X.intoto.sigstore.json in a directory (artifact X beside it; with --predicate-type only the latter), or each "artifact [bundle]" line of a list file')
    .option('--workers <n>', `with --bulk: worker threads (0 = verify on the main thread; default 0 up to ${IN_PROCESS_MAX} bundles, else one per core)`, (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 64) throw new InvalidArgumentError('a whole number from 0 to 64');
      return n;
    })
    .option('--quiet', 'no progress bar')
    .action(async (artifact: string | undefined, o: VerifyCliOptions) => {
      // Whose signature counts must be said. Without a policy, any identity that any trusted CA
      // certified (anyone with an account at a public OIDC provider, on the public-good root)
      // would pass: cosign 2 and sigstore-go make that an explicit opt-out, and so does Cairn.
      // An identity means something only with its issuer: the same email or URI can be vouched for
      // by any OIDC provider a trusted CA accepts (cosign requires both for the same reason).
      if ((o.certificateIdentity !== undefined || o.certificateIdentityRegexp !== undefined) && o.certificateOidcIssuer === undefined && o.certificateOidcIssuerRegexp === undefined && !o.insecureIgnoreIdentity) {
        process.stderr.write('FAIL POLICY_MISSING: --certificate-identity(-regexp) needs --certificate-oidc-issuer(-regexp): an identity is only as good as the issuer that vouched for it\n');
        process.exitCode = 1;
        return;
      }
      // A SPIFFE path alone names no one: every trust domain a trusted CA certifies has /ci/...
      if (o.spiffePathPrefix !== undefined && o.spiffeTrustDomain === undefined && !o.insecureIgnoreIdentity) {
        process.stderr.write('FAIL POLICY_MISSING: --spiffe-path-prefix needs --spiffe-trust-domain (a path is the same in every trust domain)\n');
        process.exitCode = 1;
        return;
      }
      if (!o.key && !o.certificateIdentity && !o.certificateIdentityRegexp && !o.spiffeTrustDomain && !o.insecureIgnoreIdentity) {
        process.stderr.write('FAIL POLICY_MISSING: say whose signature to accept: --certificate-identity or --certificate-identity-regexp (with --certificate-oidc-issuer), --spiffe-trust-domain, or --key; --insecure-ignore-identity accepts any identity the trusted CAs certified\n');
        process.exitCode = 1;
        return;
      }
      if (o.bulk) {
        if (o.witness || o.tlogThreshold || o.timestampThreshold || o.ctlogThreshold) {
          process.stderr.write(`cairn verify: ${o.witness ? '--witness checks' : 'thresholds apply to'} one bundle at a time; not available with --bulk\n`);
          process.exitCode = 1;
          return;
        }
        try {
          process.exitCode = await runBulk(o);
        } catch (e) {
          process.stderr.write(`FAIL ${describe(e)}\n`);
          process.exitCode = 1;
        }
        return;
      }
      if (!artifact) {
        process.stderr.write('cairn verify: give an artifact path or sha256:<hex> (or --bulk)\n');
        process.exitCode = 1;
        return;
      }
      try {
        const partners = await partnersOf(o);
        const options = {
          ...(o.tlogThreshold ? { tlogThreshold: o.tlogThreshold } : {}),
          ...(o.timestampThreshold ? { timestampThreshold: o.timestampThreshold } : {}),
          ...(o.ctlogThreshold ? { ctlogThreshold: o.ctlogThreshold } : {}),
        };
        const trustedRootJson = await trustedRootOf(o);
        const bundlePath = o.bundle ?? defaultBundle(artifact, o.predicateType);
        const r = await verifyFiles({ artifact, bundle: bundlePath, trustedRoot: o.trustedRoot, trustedRootJson, ...(partners.length ? { partnerRoots: partners } : {}), ...(o.key ? { key: o.key } : {}), policy: policyOf(o), options });
        const when = r.timestamps.map((t) => `${t.time.toISOString()} (${t.source.split(':')[0]})`).join(', ');
        let witnessed = '';
        if (o.witness) {
          // Online, after the offline verification passed (host/verify/witnessed.ts).
          const { checkWitnessed } = await import('../verify/witnessed.js');
          const { parseWitnessVkey } = await import('../log/note.js');
          const { parseBundle } = await import('../verify/bundle.js');
          let keys;
          try {
            keys = o.witness.map(parseWitnessVkey);
          } catch (e) {
            throw Object.assign(new Error(`--witness: ${(e as Error).message}`), { code: 'TLOG_NOT_WITNESSED' });
          }
          const bundle = parseBundle(await loadJson(bundlePath, 'BUNDLE_MALFORMED'));
          const trust = trustWithPartners(trustedRootJson, partners);
          const w = await checkWitnessed(bundle, trust, { witnesses: keys, ...(o.witnessThreshold ? { threshold: o.witnessThreshold } : {}) });
          witnessed = w.map((x) => (x.offline ? `; witnessed by ${x.witnesses.join(', ')} (cosigned checkpoint in the bundle, size ${x.bundleSize})` : `; witnessed by ${x.witnesses.join(', ')} at tree size ${x.witnessedSize} (the bundle's: ${x.bundleSize})`)).join('');
        }
        process.stdout.write(`OK: ${artifact} signed by ${r.identity ?? 'the given key'}${r.issuer ? ` (issuer ${r.issuer})` : ''}${when ? `, at ${when}` : ''}${witnessed}\n`);
      } catch (e) {
        process.stderr.write(`FAIL ${describe(e)}\n`);
        process.exitCode = 1;
      }
    });
}
