/**
 * Tekton-Chains-like signing and local builds:
 *   cairn chains sign <taskrun-or-pipelinerun.json ...> --out DIR
 *   cairn chains watch DIR --out OUT [--once] [--interval-ms N]   signs each new object exactly once
 *   cairn build --out DIR [--materials GLOB]... [--products GLOB]... [--env NAME]... -- <command...>
 * Each run: SLSA v1 provenance → DSSE bundle (<name>.provenance.sigstore.json), plus a
 * message-signature bundle for every subject that is a file present on disk.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { readSigningConfig, type Endpoints } from '../signer/clients.js';
import { writeFileDurably } from '../keys/file.js';
import { SignerError } from '../signer/errors.js';
import { identityToken, type IdentitySource } from '../signer/identity.js';
import { localProvenance, TEKTON_BUILD_TYPE, TEKTON_FORMATS, TEKTON_VERBOSE_BUILD_TYPE, tektonProvenance, type Subject, type TektonFormat } from '../signer/provenance.js';
import { IN_TOTO, signArtifact, signDsse } from '../signer/sign.js';
import { verifySpireResults, type TaskRunRef } from '../signer/tep0089.js';
import { identity, run, withSignerOptions, type SignerOptions } from './sign.js';
import { BoundedCache } from '../bounded-cache.js';

interface SignerCli extends SignerOptions {
  builderId: string;
  trustBundle?: string;
  deepInspection?: boolean;
  buildType?: string;
  format?: TektonFormat;
}

function withSigner(cmd: Command): Command {
  return withSignerOptions(cmd)
    .option('--builder-id <uri>', 'SLSA builder.id', 'https://cairn.dev/builders/chains@v1')
    .option('--trust-bundle <pem>', 'TEP-0089: PEM trust bundle for SPIRE-signed TaskRun results')
    // Chains' artifacts.pipelinerun.enable-deep-inspection (docs/config.md): off by default there too.
    .option('--deep-inspection', "a PipelineRun's subjects also come from its child TaskRuns' type-hinted results")
    // Chains' builddefinition.buildtype (docs/config.md).
    .addOption(new Option('--build-type <uri>', 'SLSA buildType: slsa-tekton adds labels, annotations and each child TaskRun').choices([TEKTON_BUILD_TYPE, TEKTON_VERBOSE_BUILD_TYPE]).default(TEKTON_BUILD_TYPE))
    // Chains' artifacts.taskrun.format / artifacts.pipelinerun.format (docs/config.md).
    .addOption(new Option('--format <format>', 'provenance format: v2alpha4 adds StepActions\' step results and takes only artifacts marked as built as subjects').choices([...TEKTON_FORMATS]).default('slsa/v2alpha3'));
}

/**
 * Minimal glob for --materials/--products (Node 20 has no fs.glob): `**` spans directories, `*`
 * and `?` stay within one path segment; matched against paths relative to the working directory.
 */
export async function globFiles(pattern: string): Promise<string[]> {
  const rx = new RegExp(`^${pattern.split('/').map((seg) => (seg === '**' ? '(?:.*/)?' : `${seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}/`)).join('').replace(/\/$/, '').replace(/\(\?:\.\*\/\)\?$/, '.*')}$`);
  const all = (await readdir('.', { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && !(e.parentPath ?? '').split('/').includes('node_modules'));
  return all.map((e) => join(e.parentPath ?? '.', e.name).replace(/^\.\//, '')).filter((f) => rx.test(f)).sort();
}

function sha256File(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Durably (fsync before the rename): a state file a power cut left empty would stop every later start. */
async function writeJson(path: string, doc: unknown): Promise<void> {
  await writeFileDurably(path, JSON.stringify(doc));
}

/**
 * `<file>.sigstore.json` (the name cosign and sigstore-js users look for), unless it already holds
 * the bundle of another artifact of that name (another run's product): then the digest goes in
 * the name too, so no run's bundle is overwritten by another's. A bundle for the same digest is
 * replaced; both would verify the same artifact.
 */
async function artifactBundlePath(outDir: string, name: string, sha256: string): Promise<string> {
  const plain = join(outDir, `${name}.sigstore.json`);
  let existing: string | undefined;
  try {
    existing = (JSON.parse(await readFile(plain, 'utf8')) as { messageSignature?: { messageDigest?: { digest?: string } } }).messageSignature?.messageDigest?.digest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return plain;
  }
  return existing !== undefined && Buffer.from(existing, 'base64').toString('hex') === sha256 ? plain : join(outDir, `${name}.sha256-${sha256.slice(0, 16)}.sigstore.json`);
}

interface LocalFile {
  path: string;
  data: Buffer;
  sha256: string;
}

/**
 * The subjects that are local files, read and checked against their recorded digests. Called
 * before anything is signed: a file that does not match fails the object before its provenance
 * goes to the log, not after (`chains watch` retries a failed object every pass, and would
 * otherwise log a new provenance entry each time, for ever).
 */
async function localFiles(subjects: Subject[], base = '.'): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  for (const s of subjects) {
    const path = s.name.startsWith('file://') ? new URL(s.name).pathname : resolve(base, s.name);
    if (!s.digest.sha256 || !existsSync(path) || !(await stat(path)).isFile()) continue;
    const data = await readFile(path);
    if (sha256File(data) !== s.digest.sha256) throw new SignerError('SIGNER_BAD_INPUT', `${s.name} on disk does not match its recorded digest`);
    out.push({ path, data, sha256: s.digest.sha256 });
  }
  return out;
}

/** Message-signature bundles for local files (checked by localFiles). */
async function signFiles(files: LocalFile[], outDir: string, endpoints: Endpoints, src: IdentitySource): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    const bundlePath = await artifactBundlePath(outDir, basename(f.path), f.sha256);
    await writeJson(bundlePath, await signArtifact(f.data, { endpoints, token: () => identityToken(src) }));
    out.push(bundlePath);
  }
  return out;
}

async function trustBundle(o: SignerCli): Promise<X509Certificate[]> {
  if (!o.trustBundle) return [];
  const pem = await readFile(o.trustBundle, 'utf8');
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c));
}

/** Signs one Tekton object file; returns the written bundle paths. */
export async function signTektonFile(file: string, outDir: string, o: SignerCli): Promise<{ uid: string; bundles: string[] }> {
  let run: unknown;
  try {
    run = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new SignerError('SIGNER_BAD_INPUT', `${file} is not JSON`, { cause });
  }
  type Meta = { metadata?: { namespace?: unknown; name?: unknown } };
  const r = run as Meta & { kind?: string; status?: { results?: unknown; childReferences?: unknown; taskRuns?: Record<string, Meta & { status?: { results?: unknown } }> } };
  // TEP-0089: SPIRE-signed results must verify against the trust bundle before anything is signed
  // (with no --trust-bundle, signed results cannot chain and are refused). With a trust bundle,
  // results must be signed: a run without an SVID could be one whose signatures were stripped.
  // A PipelineRun's results (its own subjects) are made from its child TaskRuns' results, and with
  // --deep-inspection the children's results are subjects themselves, so each child is checked.
  const bundle = await trustBundle(o);
  // Each TaskRun's SVID must name that TaskRun (tep0089.ts): a child's namespace is its
  // PipelineRun's unless it says otherwise, its name the key it is embedded under.
  const checkResults = (results: unknown, what: string, taskRun: TaskRunRef): void => {
    if (results !== undefined && !Array.isArray(results)) throw new SignerError('SIGNER_BAD_INPUT', `${what}: status.results is not a list`);
    const list = ((results as unknown[] | undefined) ?? []).filter((x): x is { name?: unknown; value?: unknown } => typeof x === 'object' && x !== null);
    const verdict = verifySpireResults(list, bundle, taskRun);
    if (verdict === 'absent' && bundle.length > 0) throw new SignerError('SIGNER_RESULTS_UNVERIFIED', `${what}: --trust-bundle requires SPIRE-signed results (TEP-0089), and this run has no SVID result`);
  };
  if (r.kind === 'TaskRun') checkResults(r.status?.results, file, { namespace: r.metadata?.namespace, name: r.metadata?.name });
  else if (r.kind === 'PipelineRun' && bundle.length > 0) {
    const embedded = r.status?.taskRuns ?? {};
    const names = new Set<string>();
    for (const [key, child] of Object.entries(embedded)) {
      const name = child?.metadata?.name ?? (Array.isArray(embedded) ? undefined : key);
      if (typeof name === 'string') names.add(name);
      checkResults(child?.status?.results, `${file} (TaskRun ${typeof name === 'string' ? name : key})`, { namespace: child?.metadata?.namespace ?? r.metadata?.namespace, name });
    }
    // A child that is only referenced (Tekton's minimal embedded status) has results that fed the
    // PipelineRun's but could not be checked here: refused, as a TaskRun without an SVID is.
    const refs = Array.isArray(r.status?.childReferences) ? (r.status!.childReferences as { kind?: unknown; name?: unknown }[]) : [];
    const unchecked = refs.filter((c) => c && c.kind === 'TaskRun' && !(typeof c.name === 'string' && names.has(c.name)));
    if (unchecked.length > 0) throw new SignerError('SIGNER_RESULTS_UNVERIFIED', `${file}: --trust-bundle requires the SPIRE-signed results of every child TaskRun (TEP-0089), and ${unchecked.map((c) => String(c.name)).join(', ')} is not embedded under status.taskRuns`);
  }
  const p = tektonProvenance(run, o.builderId, { deepInspection: o.deepInspection === true, buildType: o.buildType, format: o.format });
  if (p.subjects.length === 0) throw new SignerError('SIGNER_BAD_INPUT', `${file}: no subjects (no Chains type-hinted results)`);
  // The name is the run's, from its JSON: only a plain file-name component may become part of a path.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(p.name) || p.name.includes('..')) throw new SignerError('SIGNER_BAD_INPUT', `${file}: metadata.name ${JSON.stringify(p.name.slice(0, 80))} is not a Kubernetes object name`);
  const local = await localFiles(p.subjects);
  const endpoints = await readSigningConfig(o.signingConfig);
  const src = identity(o);
  await mkdir(outDir, { recursive: true });
  // The uid is in the name: runs of one name in two namespaces, or a run deleted and created
  // again, are different objects with their own provenance, and one must not overwrite the other.
  const uid = /^[A-Za-z0-9-]{1,64}$/.test(p.uid) ? `-${p.uid}` : `-${createHash('sha256').update(p.uid).digest('hex').slice(0, 32)}`;
  const att = join(outDir, `${p.kind.toLowerCase()}-${p.name}${uid}.provenance.sigstore.json`);
  await writeJson(att, await signDsse(Buffer.from(JSON.stringify(p.statement)), IN_TOTO, { endpoints, token: () => identityToken(src) }));
  const files = await signFiles(local, outDir, endpoints, src);
  return { uid: p.uid, bundles: [att, ...files] };
}

interface WatchState {
  signed: Record<string, { file: string; bundles: string[]; at: string }>;
}

/** One pass over DIR: sign every object whose uid is not in the persisted state. */
/**
 * Failures already reported, per output directory, object and message: an object that cannot be
 * signed is tried again every pass (a service may come back, a file may appear), but the same
 * failure is written to stderr once, not every 2 s for as long as the object stays.
 */
const reported = new BoundedCache<true>(4096);

export async function watchOnce(dir: string, outDir: string, o: SignerCli, stopping: () => boolean = () => false): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const statePath = join(outDir, '.chains-state.json');
  const state: WatchState = existsSync(statePath) ? (JSON.parse(await readFile(statePath, 'utf8')) as WatchState) : { signed: {} };
  const done: string[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()) {
    // A stop request takes effect between objects: the one being signed finishes, with its
    // bundles and state written, so a restart neither loses nor logs it twice.
    if (stopping()) break;
    const file = join(dir, name);
    let uid: string | undefined;
    try {
      uid = (JSON.parse(await readFile(file, 'utf8')) as { metadata?: { uid?: string } }).metadata?.uid;
    } catch {
      continue; // being written, or not an object: try again next pass
    }
    if (!uid || state.signed[uid]) continue;
    let r;
    try {
      r = await signTektonFile(file, outDir, o);
    } catch (e) {
      // One object that cannot be signed (no type-hinted results, unverified results, a service
      // down) must not stop the others: report it and go on; it is tried again next pass.
      const line = `cairn chains watch: ${name}: ${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}\n`;
      const key = `${outDir}\0${uid}\0${line}`;
      if (!reported.has(key)) {
        reported.set(key, true);
        process.stderr.write(line);
      }
      continue;
    }
    state.signed[uid] = { file: name, bundles: r.bundles, at: new Date().toISOString() };
    // Persist after every object: a crash never re-signs what was already signed.
    await writeJson(statePath, state);
    done.push(file);
  }
  return done;
}

export function registerChains(program: Command): void {
  const chains = program.command('chains').description('Tekton Chains-style signing: SLSA v1 provenance, DSSE, keyless');
  withSigner(chains.command('sign').description('sign TaskRun / PipelineRun JSON objects').argument('<files...>').requiredOption('--out <dir>', 'output directory')).action(
    (files: string[], o: SignerCli & { out: string }) =>
      run(async () => {
        for (const f of files) {
          const r = await signTektonFile(f, o.out, o);
          process.stdout.write(`signed ${f} (uid ${r.uid}) -> ${r.bundles.join(', ')}\n`);
        }
      }),
  );
  withSigner(
    chains
      .command('watch')
      .description('sign each new object in DIR exactly once (state persisted in OUT/.chains-state.json)')
      .argument('<dir>')
      .requiredOption('--out <dir>', 'output directory')
      .option('--once', 'one pass, then exit')
      .option('--interval-ms <n>', 'poll interval', (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 10 || n > 86_400_000) throw new InvalidArgumentError('milliseconds, 10..86400000');
        return n;
      }, 2000),
  ).action((dir: string, o: SignerCli & { out: string; once?: boolean; intervalMs: number }) =>
    run(async () => {
      // SIGINT/SIGTERM (Ctrl-C, a service manager) end the watch after the object in hand, and
      // end a wait between passes at once.
      const stop = new AbortController();
      const halt = (): void => stop.abort();
      const stopping = (): boolean => stop.signal.aborted;
      process.once('SIGINT', halt);
      process.once('SIGTERM', halt);
      try {
        while (!stopping()) {
          for (const f of await watchOnce(dir, o.out, o, stopping)) process.stdout.write(`signed ${f}\n`);
          if (o.once || stopping()) return;
          await sleep(o.intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      } finally {
        process.off('SIGINT', halt);
        process.off('SIGTERM', halt);
      }
    }),
  );

  withSigner(
    program
      .command('build')
      .description('run a local build and sign its products and SLSA provenance')
      .requiredOption('--out <dir>', 'output directory')
      .option('--materials <glob...>', 'input files to record (globs)', [])
      .option('--products <glob...>', 'output files to sign (globs)', [])
      .option('--env <name...>', 'environment variables to record', [])
      .argument('<command...>'),
  ).action((command: string[], o: SignerCli & { out: string; materials: string[]; products: string[]; env: string[] }) =>
    run(async () => {
      const digestAll = async (globs: string[]): Promise<Subject[]> => {
        const out: Subject[] = [];
        for (const g of globs) for (const f of await globFiles(g)) out.push({ name: f, digest: { sha256: sha256File(await readFile(f)) } });
        return out.sort((a, b) => a.name.localeCompare(b.name));
      };
      const materials = await digestAll(o.materials);
      const startedOn = new Date();
      const exitCode = await new Promise<number>((res, rej) => {
        const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
        // A signal to cairn stops the build too (which then counts as failed: nothing is signed).
        // Otherwise a SIGTERM sent to cairn alone (a cancelled CI step, a supervisor) ended
        // cairn and left the build running, orphaned.
        const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
        const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
        for (const s of signals) process.on(s, forward);
        const done = (): void => {
          for (const s of signals) process.off(s, forward);
        };
        child.once('error', (e) => {
          done();
          rej(e);
        });
        child.once('exit', (c) => {
          done();
          res(c ?? 1);
        });
      });
      const finishedOn = new Date();
      if (exitCode !== 0) throw new SignerError('SIGNER_BAD_INPUT', `the build exited ${exitCode}; nothing signed`);
      const products = await digestAll(o.products);
      if (products.length === 0) throw new SignerError('SIGNER_BAD_INPUT', 'no products matched --products');
      const env = Object.fromEntries(o.env.filter((n) => process.env[n] !== undefined).map((n) => [n, process.env[n]!]));
      const st = localProvenance({ command, env, startedOn, finishedOn, exitCode, materials, products, builderId: o.builderId, invocationId: randomUUID() });
      const endpoints = await readSigningConfig(o.signingConfig);
      const src = identity(o);
      await mkdir(o.out, { recursive: true });
      const att = join(o.out, 'build.provenance.sigstore.json');
      const local = await localFiles(products);
      await writeJson(att, await signDsse(Buffer.from(JSON.stringify(st)), IN_TOTO, { endpoints, token: () => identityToken(src) }));
      const files = await signFiles(local, o.out, endpoints, src);
      process.stdout.write(`built and signed ${products.length} product(s) -> ${[att, ...files].join(', ')}\n`);
    }),
  );
}
