/**
 * SLSA Provenance v1 (https://slsa.dev/provenance/v1) in in-toto Statement v1, from
 *  - Tekton TaskRuns and PipelineRuns (tekton.dev/v1), the way Tekton Chains' slsa/v2alpha3
 *    formatter does: buildType https://tekton.dev/chains/v2/slsa, externalParameters.runSpec,
 *    internalParameters (feature flags when recorded), resolvedDependencies from step imageIDs,
 *    provenance.refSource and CHAINS-GIT_URL/CHAINS-GIT_COMMIT, subjects from Chains' type hints;
 *  - local builds (`cairn build`), with Cairn's own buildType.
 * Pure: no I/O.
 */
import { SignerError } from './errors.js';

export const TEKTON_BUILD_TYPE = 'https://tekton.dev/chains/v2/slsa';
export const CAIRN_BUILD_TYPE = 'https://cairn.dev/build/local/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';

export interface Subject {
  name: string;
  digest: Record<string, string>;
}

export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  content?: string;
}

type J = Record<string, any>;

/** "sha256:abc..." → { sha256: "abc..." }; refuses anything else. */
export function parseDigest(s: unknown, what: string): Record<string, string> {
  if (typeof s !== 'string') throw new SignerError('SIGNER_BAD_INPUT', `${what} must be a digest string`);
  const m = /^(sha256|sha384|sha512|sha1):([0-9a-f]+)$/.exec(s.trim());
  // Each algorithm's own length: a sha256 "digest" of 40 hex digits names nothing.
  const len = { sha1: 40, sha256: 64, sha384: 96, sha512: 128 } as const;
  if (!m || m[2]!.length !== len[m[1] as keyof typeof len]) throw new SignerError('SIGNER_BAD_INPUT', `${what} is not <alg>:<hex of that algorithm's length>: ${s.slice(0, 80)}`);
  return { [m[1]!]: m[2]! };
}

/** Image reference "repo@sha256:..." → subject. */
function imageSubject(ref: string, what: string): Subject {
  const at = ref.lastIndexOf('@');
  if (at < 0) throw new SignerError('SIGNER_BAD_INPUT', `${what} has no @digest: ${ref.slice(0, 80)}`);
  return { name: ref.slice(0, at), digest: parseDigest(ref.slice(at + 1), what) };
}

function resultValue(r: J): unknown {
  // tekton.dev/v1 results: { name, type: string|array|object, value }.
  return r.value;
}

/** Chains type hints (docs/config.md "Chains type hinting") over a run's results → subjects + materials. */
export function typeHints(results: J[]): { subjects: Subject[]; materials: ResourceDescriptor[] } {
  const byName = new Map<string, unknown>();
  for (const r of results) if (r && typeof r.name === 'string') byName.set(r.name, resultValue(r));
  const subjects: Subject[] = [];
  const materials: ResourceDescriptor[] = [];
  const url = byName.get('IMAGE_URL');
  const digest = byName.get('IMAGE_DIGEST');
  if (typeof url === 'string' && typeof digest === 'string') subjects.push({ name: url.split('@')[0]!, digest: parseDigest(digest, 'IMAGE_DIGEST') });
  const images = byName.get('IMAGES');
  if (typeof images === 'string') {
    for (const ref of images.split(/[\n,]/).map((x) => x.trim()).filter(Boolean)) subjects.push(imageSubject(ref, 'IMAGES'));
  }
  for (const [name, v] of byName) {
    const m = /^(.*)ARTIFACT_URI$/.exec(name);
    if (m && typeof v === 'string') {
      const d = byName.get(`${m[1]}ARTIFACT_DIGEST`);
      if (typeof d === 'string') subjects.push({ name: v, digest: parseDigest(d, `${m[1]}ARTIFACT_DIGEST`) });
    }
    if (/ARTIFACT_OUTPUTS$/.test(name) && v && typeof v === 'object') {
      const o = v as { uri?: unknown; digest?: unknown };
      if (typeof o.uri === 'string') subjects.push({ name: o.uri, digest: parseDigest(o.digest, name) });
    }
    if (/ARTIFACT_INPUTS$/.test(name) && v && typeof v === 'object') {
      const o = v as { uri?: unknown; digest?: unknown };
      if (typeof o.uri === 'string') materials.push({ uri: o.uri, digest: parseDigest(o.digest, name) });
    }
  }
  const gitUrl = byName.get('CHAINS-GIT_URL');
  const gitCommit = byName.get('CHAINS-GIT_COMMIT');
  if (typeof gitUrl === 'string' && typeof gitCommit === 'string') materials.push({ uri: `git+${gitUrl}`, digest: { sha1: gitCommit } });
  // De-duplicate subjects (same name and digest), keeping the first.
  const seen = new Set<string>();
  return { subjects: subjects.filter((s) => !seen.has(JSON.stringify(s)) && !!seen.add(JSON.stringify(s))), materials };
}

function stepDependencies(steps: J[] | undefined): ResourceDescriptor[] {
  const out: ResourceDescriptor[] = [];
  for (const s of steps ?? []) {
    const id = s?.imageID;
    if (typeof id !== 'string' || !id.includes('@')) continue;
    const ref = id.replace(/^docker-pullable:\/\//, '');
    const at = ref.lastIndexOf('@');
    out.push({ uri: `oci://${ref.slice(0, at)}`, digest: parseDigest(ref.slice(at + 1), 'step imageID') });
  }
  return out;
}

function refSource(status: J): ResourceDescriptor[] {
  const rs = status?.provenance?.refSource;
  if (!rs || typeof rs.uri !== 'string' || typeof rs.digest !== 'object') return [];
  return [{ uri: rs.uri, digest: rs.digest as Record<string, string> }];
}

export interface RunProvenance {
  kind: 'TaskRun' | 'PipelineRun';
  name: string;
  uid: string;
  subjects: Subject[];
  statement: J;
}

/** A Tekton TaskRun or PipelineRun (as Chains sees it) → SLSA v1 provenance statement. */
export function tektonProvenance(run: unknown, builderId: string): RunProvenance {
  const r = run as J;
  if (!r || typeof r !== 'object' || typeof r.apiVersion !== 'string' || !r.apiVersion.startsWith('tekton.dev/')) throw new SignerError('SIGNER_BAD_INPUT', 'not a Tekton object (apiVersion tekton.dev/*)');
  if (r.kind !== 'TaskRun' && r.kind !== 'PipelineRun') throw new SignerError('SIGNER_BAD_INPUT', `unsupported kind ${String(r.kind)}`);
  const status = (r.status ?? {}) as J;
  const meta = (r.metadata ?? {}) as J;
  if (typeof meta.uid !== 'string' || !meta.uid) throw new SignerError('SIGNER_BAD_INPUT', 'metadata.uid is required (Chains signs each object once, by uid)');
  let results: J[] = Array.isArray(status.results) ? status.results : [];
  let deps: ResourceDescriptor[] = [...refSource(status)];
  const byproducts: ResourceDescriptor[] = [];
  if (r.kind === 'TaskRun') {
    deps.push(...stepDependencies(status.steps), ...stepDependencies(status.sidecars));
  } else {
    // PipelineRun: its own results, plus every child TaskRun's (status.childReferences point at them;
    // Chains embeds the child TaskRuns it fetched; we accept them inline under status.taskRuns).
    for (const child of Object.values((status.taskRuns ?? {}) as Record<string, J>)) {
      const cs = (child?.status ?? {}) as J;
      deps.push(...stepDependencies(cs.steps), ...refSource(cs));
      if (Array.isArray(cs.results)) results = [...results, ...cs.results];
    }
  }
  const hints = typeHints(results);
  deps.push(...hints.materials);
  const seen = new Set<string>();
  deps = deps.filter((d) => !seen.has(JSON.stringify(d)) && !!seen.add(JSON.stringify(d)));
  const spec = r.spec ?? {};
  const predicate = {
    buildDefinition: {
      buildType: TEKTON_BUILD_TYPE,
      externalParameters: { runSpec: spec },
      internalParameters: status.provenance?.featureFlags ? { 'tekton-pipelines-feature-flags': status.provenance.featureFlags } : {},
      resolvedDependencies: deps,
    },
    runDetails: {
      builder: { id: builderId },
      metadata: {
        invocationID: meta.uid,
        ...(status.startTime ? { startedOn: status.startTime } : {}),
        ...(status.completionTime ? { finishedOn: status.completionTime } : {}),
      },
      byproducts,
    },
  };
  return {
    kind: r.kind,
    name: String(meta.name ?? meta.uid),
    uid: meta.uid,
    subjects: hints.subjects,
    statement: { _type: 'https://in-toto.io/Statement/v1', subject: hints.subjects, predicateType: SLSA_PROVENANCE_V1, predicate },
  };
}

export interface LocalBuild {
  command: string[];
  env: Record<string, string>;
  startedOn: Date;
  finishedOn: Date;
  exitCode: number;
  materials: Subject[];
  products: Subject[];
  builderId: string;
  invocationId: string;
}

export function localProvenance(b: LocalBuild): J {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: b.products,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: CAIRN_BUILD_TYPE,
        externalParameters: { command: b.command, env: b.env },
        internalParameters: { exitCode: b.exitCode },
        resolvedDependencies: b.materials.map((m) => ({ uri: `file:${m.name}`, digest: m.digest })),
      },
      runDetails: {
        builder: { id: b.builderId },
        metadata: { invocationID: b.invocationId, startedOn: b.startedOn.toISOString(), finishedOn: b.finishedOn.toISOString() },
      },
    },
  };
}
