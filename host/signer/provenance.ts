/**
 * SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance) in in-toto Statement v1, from
 *  - Tekton TaskRuns and PipelineRuns (tekton.dev/v1), as Tekton Chains' slsa/v2alpha3 formatter
 *    writes them (tektoncd/chains pkg/chains/formats/slsa/v2alpha3 and the slsa/internal and
 *    extract packages it uses; docs/slsa-provenance.md "Type Hinting"; docs/config.md for
 *    `artifacts.pipelinerun.enable-deep-inspection`);
 *  - local builds (`cairn build`), with Cairn's own buildType.
 * Where Chains logs a malformed type hint and leaves it out, Cairn refuses the run
 * (SIGNER_BAD_INPUT): provenance that silently omits a declared output verifies for nothing.
 * Pure: no I/O.
 */
import { SignerError } from './errors.js';
import { parseDigestReference, tryDigestReference } from './oci-reference.js';

export const TEKTON_BUILD_TYPE = 'https://tekton.dev/chains/v2/slsa';
/**
 * Chains' other buildType (`builddefinition.buildtype`, docs/config.md; internal/build_types):
 * internalParameters also carry the run's labels and annotations, and a PipelineRun lists every
 * executed pipeline task with the whole child TaskRun as content (resolved_dependencies.go
 * AddTektonTaskDescriptor), which policy engines such as Enterprise Contract read.
 */
export const TEKTON_VERBOSE_BUILD_TYPE = 'https://tekton.dev/chains/v2/slsa-tekton';
export const CAIRN_BUILD_TYPE = 'https://cairn.dev/build/local/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';

export interface Subject {
  name: string;
  digest: Record<string, string>;
}

/** in-toto ResourceDescriptor (https://github.com/in-toto/attestation/blob/main/spec/v1/resource_descriptor.md). */
export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  /** base64, as protobuf JSON writes `bytes`. */
  content?: string;
  mediaType?: string;
}

type J = Record<string, any>;

const bad = (message: string): SignerError => new SignerError('SIGNER_BAD_INPUT', message);

/** "sha256:abc..." → { sha256: "abc..." }; refuses anything else. */
export function parseDigest(s: unknown, what: string): Record<string, string> {
  if (typeof s !== 'string') throw bad(`${what} must be a digest string`);
  const m = /^(sha256|sha384|sha512|sha1):([0-9a-f]+)$/.exec(s.trim());
  // Each algorithm's own length: a sha256 "digest" of 40 hex digits names nothing.
  const len = { sha1: 40, sha256: 64, sha384: 96, sha512: 128 } as const;
  if (!m || m[2]!.length !== len[m[1] as keyof typeof len]) throw bad(`${what} is not <alg>:<hex of that algorithm's length>: ${s.slice(0, 80)}`);
  return { [m[1]!]: m[2]! };
}

// ---------------------------------------------------------------------------------------------
// Result values, as Tekton reads them.

/**
 * A result (or param) value as tekton.dev/v1 ParamValue.UnmarshalJSON reads it
 * (tektoncd/pipeline pkg/apis/pipeline/v1/param_types.go): a JSON array of strings is an
 * array, an object of strings an object, anything else a string (a string as such, other JSON
 * as its text, null as "").
 */
export type TektonValue = { type: 'string'; string: string } | { type: 'array'; array: string[] } | { type: 'object'; object: Record<string, string> };

export interface TektonResult {
  name: string;
  value: TektonValue;
}

function tektonValue(v: unknown): TektonValue {
  if (typeof v === 'string') return { type: 'string', string: v };
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return { type: 'array', array: v as string[] };
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return { type: 'object', object: { ...(v as Record<string, string>) } };
  return { type: 'string', string: v === null || v === undefined ? '' : JSON.stringify(v) };
}

/** ParamValue.StringVal: the value of a string, "" for an array or object. */
function stringVal(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

const STRUCTURED = /(ARTIFACT_OUTPUTS|ARTIFACT_INPUTS)$/;

/** A run's status.results, each checked: a name, and a value Chains can encode. */
function runResults(status: J, what: string): TektonResult[] {
  const rs = status.results;
  if (rs === undefined || rs === null) return [];
  if (!Array.isArray(rs)) throw bad(`${what}: status.results is not a list`);
  return rs.map((r: unknown, i: number) => {
    if (!r || typeof r !== 'object' || typeof (r as J).name !== 'string') throw bad(`${what}: status.results[${i}] has no name`);
    const { name, value } = r as J;
    // A result without a value has no ParamValue type, and Chains fails to encode it
    // ("impossible ParamValues.Type").
    if (value === undefined) throw bad(`${what}: result ${name} has no value`);
    // Tekton reads an object with a non-string member as a string, and Chains would then skip
    // the type hint without a word: an output or input the run meant to declare.
    if (STRUCTURED.test(name) && value !== null && typeof value === 'object' && !Array.isArray(value) && tektonValue(value).type !== 'object') {
      throw bad(`${what}: result ${name} must be an object of strings (uri, digest${name.endsWith('OUTPUTS') ? ', isBuildArtifact' : ''})`);
    }
    return { name, value: tektonValue(value) };
  });
}

// ---------------------------------------------------------------------------------------------
// Go's encoding/json, for byproduct content.

/** A lone surrogate cannot reach Go: its JSON decoder turns one into U+FFFD. */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/**
 * A string as Go's json.Marshal writes it (encoding/json encode.go appendString, escapeHTML on):
 * `"` and `\` escaped; \b \f \n \r \t short; other control characters and < > & as \u00XX
 * (lowercase hex); U+2028 and U+2029 as \u2028 \u2029; everything else as is.
 */
function goJsonString(s: string): string {
  let out = '"';
  for (const ch of wellFormed(s)) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&') out += `\\u00${c.toString(16).padStart(2, '0')}`;
    else if (c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16)}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * `json.Marshal` of a Kubernetes object as read from JSON: strings as Go writes them, keys in
 * the order given. Objects from the API server (kubectl get -o json) were written by the same Go
 * types, so that order is the struct field order and, for maps, Go's sorted order. (A JavaScript
 * object lists integer-like keys first; label and annotation keys are never integers.)
 */
function goJsonValue(v: unknown, depth = 0): string {
  // Kubernetes objects nest a few dozen levels; a run nested deeper is refused with a code rather
  // than overflowing the stack (a RangeError).
  if (depth > 512) throw bad('the TaskRun is nested more than 512 levels deep');
  if (typeof v === 'string') return goJsonString(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => goJsonValue(x, depth + 1)).join(',')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as J).filter(([, x]) => x !== undefined).map(([k, x]) => `${goJsonString(k)}:${goJsonValue(x, depth + 1)}`).join(',')}}`;
  throw bad(`cannot encode a ${typeof v} as JSON`);
}

/**
 * `json.Marshal(ParamValue)` (param_types.go MarshalJSON): the string, the array, or the object
 * with its keys in Go's map order (sorted by their UTF-8 bytes).
 */
export function goJson(v: TektonValue): string {
  if (v.type === 'string') return goJsonString(v.string);
  if (v.type === 'array') return `[${v.array.map(goJsonString).join(',')}]`;
  const keys = Object.keys(v.object).sort((a, b) => Buffer.compare(Buffer.from(wellFormed(a)), Buffer.from(wellFormed(b))));
  return `{${keys.map((k) => `${goJsonString(k)}:${goJsonString(v.object[k]!)}`).join(',')}}`;
}

/**
 * v2alpha3 runDetails.byproducts: every result of the run itself, named
 * `taskRunResults/<name>` or `pipelineRunResults/<name>`, content the result's JSON
 * (v2alpha3/internal/taskrun byproducts, v2alpha3/internal/pipelinerun byproducts). A
 * PipelineRun's child TaskRun results are not among them.
 */
function byproducts(prefix: 'taskRunResults' | 'pipelineRunResults', results: TektonResult[]): ResourceDescriptor[] {
  return results.map((r) => ({ name: `${prefix}/${r.name}`, content: Buffer.from(goJson(r.value), 'utf8').toString('base64'), mediaType: 'application/json' }));
}

/**
 * v2alpha4 byproducts (slsa/internal/results GetResultsWithoutBuildArtifacts): the results that
 * are not subjects, named `<prefix>/<run name>/<result>`. Left out: image hints (a name ending
 * in IMAGE_URL or IMAGE_DIGEST, or IMAGES), and `*ARTIFACT_OUTPUTS` that are marked as built or
 * are not objects (IsBuildArtifact true or failing).
 */
function byproductsV4(prefix: 'taskRunResults' | 'stepResults' | 'pipelineRunResults', owner: string, results: TektonResult[]): ResourceDescriptor[] {
  const image = (n: string): boolean => n.endsWith('IMAGE_URL') || n.endsWith('IMAGE_DIGEST') || n === 'IMAGES';
  const built = (r: TektonResult): boolean => r.name.endsWith('ARTIFACT_OUTPUTS') && (r.value.type !== 'object' || r.value.object.isBuildArtifact === 'true');
  return results.filter((r) => !image(r.name) && !built(r)).map((r) => ({ name: `${prefix}/${owner}/${r.name}`, content: Buffer.from(goJson(r.value), 'utf8').toString('base64'), mediaType: 'application/json' }));
}

/** v2alpha4/internal/taskrun ByProducts: its results, then all its steps' results. */
function taskRunByproductsV4(name: string, status: J, results: TektonResult[], what: string): ResourceDescriptor[] {
  return [...byproductsV4('taskRunResults', name, results), ...byproductsV4('stepResults', name, stepResults(status, what).flat())];
}

// ---------------------------------------------------------------------------------------------
// Type hints (docs/slsa-provenance.md "Type Hinting"; pkg/artifacts/signable.go).

/** Go's strings.TrimSpace (unicode.IsSpace: not JS's \s, which has U+FEFF and lacks U+0085). */
function goTrim(s: string): string {
  return s.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, '');
}

/**
 * Results paired by prefix: `<p>URI_SUFFIX` and `<p>DIGEST_SUFFIX` with the same (possibly empty)
 * `<p>` (pkg/artifacts/structured.go structuredSignableExtractor). Values are trimmed strings;
 * an empty or non-string half is no half. Chains keeps the pairs in a Go map, so their order
 * is random there; here it is the order in which each prefix first appears.
 */
function hintPairs(results: TektonResult[], uriSuffix: string, digestSuffix: string): { prefix: string; uri: string; digest: string }[] {
  const partial = new Map<string, { uri?: string; digest?: string }>();
  for (const r of results) {
    for (const [suffix, half] of [[uriSuffix, 'uri'], [digestSuffix, 'digest']] as const) {
      if (!r.name.endsWith(suffix)) continue;
      const v = r.value.type === 'string' ? goTrim(r.value.string) : '';
      if (v === '') continue;
      const prefix = r.name.slice(0, r.name.length - suffix.length);
      partial.set(prefix, { ...partial.get(prefix), [half]: v });
    }
  }
  return [...partial].filter(([, p]) => p.uri !== undefined && p.digest !== undefined).map(([prefix, p]) => ({ prefix, uri: p.uri!, digest: p.digest! }));
}

interface StructuredHint {
  uri: string;
  digest: Record<string, string>;
  /** The digest as written: Chains builds the OCI reference from it. */
  digestText: string;
  isBuildArtifact: boolean;
}

/**
 * `*ARTIFACT_OUTPUTS` / `*ARTIFACT_INPUTS` object results with `uri` and `digest`
 * (signable.go ExtractStructuredTargetFromResults). One that is not an object, or has no uri,
 * is not a hint; one with a uri and a bad digest is refused.
 */
function structuredHints(results: TektonResult[], suffix: 'ARTIFACT_OUTPUTS' | 'ARTIFACT_INPUTS'): StructuredHint[] {
  const out: StructuredHint[] = [];
  for (const r of results) {
    if (!r.name.endsWith(suffix) || r.value.type !== 'object') continue;
    const o = r.value.object;
    if (!o.uri) continue;
    out.push({ uri: o.uri, digest: parseDigest(o.digest, `${r.name}.digest`), digestText: o.digest!, isBuildArtifact: o.isBuildArtifact === 'true' });
  }
  return out;
}

/**
 * Chains' AppendSubjects / AppendMaterials (slsa/internal/artifact/append.go): an entry with the
 * same name and at least one equal algorithm:hex is the same artifact, and its digests merge.
 */
function appendArtifact<T extends { digest: Record<string, string> }>(list: T[], item: T, key: (x: T) => string | undefined): void {
  const same = list.find((x) => key(x) === key(item) && Object.entries(x.digest).some(([alg, hex]) => item.digest[alg] === hex));
  if (same) Object.assign(same.digest, item.digest);
  else list.push({ ...item, digest: { ...item.digest } });
}
const appendSubject = (list: Subject[], s: Subject): void => appendArtifact(list, s, (x) => x.name);
const appendMaterial = (list: (ResourceDescriptor & { digest: Record<string, string> })[], m: ResourceDescriptor & { digest: Record<string, string> }): void => appendArtifact(list, m, (x) => x.uri);

function imageSubject(ref: string, what: string): Subject {
  const r = parseDigestReference(ref, what);
  return { name: r.repository, digest: { sha256: r.sha256 } };
}

/**
 * The OCI image subjects of one list of results (signable.go ExtractOCIImagesFromResults), in
 * Chains' order: `*IMAGE_URL`/`*IMAGE_DIGEST` pairs, then each `IMAGES` entry, then
 * `*ARTIFACT_OUTPUTS` with isBuildArtifact "true" that read as an image reference; named by
 * repository.
 */
function appendImageSubjects(out: Subject[], results: TektonResult[], outputs: StructuredHint[]): void {
  for (const p of hintPairs(results, 'IMAGE_URL', 'IMAGE_DIGEST')) appendSubject(out, imageSubject(`${p.uri}@${p.digest}`, `${p.prefix}IMAGE_URL@${p.prefix}IMAGE_DIGEST`));
  for (const r of results) {
    // IMAGES: exactly that name; entries separated by newlines or commas.
    if (r.name !== 'IMAGES' || r.value.type !== 'string') continue;
    for (const ref of r.value.string.split(/[\n,]/).map(goTrim).filter(Boolean)) appendSubject(out, imageSubject(ref, 'IMAGES'));
  }
  for (const o of outputs) {
    if (!o.isBuildArtifact) continue;
    // Not every build artifact is an image (a package URL, a file): one that does not read as an
    // image reference is simply not an image subject (signable.go skips it the same way).
    const img = tryDigestReference(`${o.uri}@${o.digestText}`);
    if (typeof img !== 'string') appendSubject(out, { name: img.repository, digest: { sha256: img.sha256 } });
  }
}

/**
 * The subjects one run's results declare for slsa/v2alpha3 (extract.go subjectsFromTektonObject):
 * the image subjects, then `*ARTIFACT_URI`/`*ARTIFACT_DIGEST` pairs and every `*ARTIFACT_OUTPUTS`
 * object, named by their uri as written.
 */
export function subjectsFromResults(results: TektonResult[]): Subject[] {
  const out: Subject[] = [];
  const outputs = structuredHints(results, 'ARTIFACT_OUTPUTS');
  appendImageSubjects(out, results, outputs);
  for (const p of hintPairs(results, 'ARTIFACT_URI', 'ARTIFACT_DIGEST')) appendSubject(out, { name: p.uri, digest: parseDigest(p.digest, `${p.prefix}ARTIFACT_DIGEST`) });
  for (const o of outputs) appendSubject(out, { name: o.uri, digest: o.digest });
  return out;
}

/**
 * The subjects for slsa/v2alpha4 (extract.go SubjectsFromBuildArtifact): only what is marked as
 * built. `*ARTIFACT_OUTPUTS` with isBuildArtifact "true", by uri, then the image subjects;
 * `*ARTIFACT_URI` pairs and unmarked outputs are not subjects there.
 */
export function buildArtifactSubjects(results: TektonResult[]): Subject[] {
  const out: Subject[] = [];
  const outputs = structuredHints(results, 'ARTIFACT_OUTPUTS');
  for (const o of outputs) if (o.isBuildArtifact) appendSubject(out, { name: o.uri, digest: o.digest });
  appendImageSubjects(out, results, outputs);
  return out;
}

/** Each step's results (status.steps[].results: StepActions' results), in step order. */
function stepResults(status: J, what: string): TektonResult[][] {
  return list(status.steps).map((st, i) => runResults({ results: st.results }, `${what} step ${String(st.name ?? i)}`));
}

/** v2alpha4/internal/taskrun SubjectDigests: each step's build artifacts, then the TaskRun's. */
function taskRunSubjectsV4(status: J, results: TektonResult[], what: string): Subject[] {
  const out: Subject[] = [];
  for (const rs of [...stepResults(status, what), results]) for (const x of buildArtifactSubjects(rs)) appendSubject(out, x);
  return out;
}

const GIT_COMMIT = 'CHAINS-GIT_COMMIT';
const GIT_URL = 'CHAINS-GIT_URL';

/** attest.go SPDXGit: "git+" in front and ".git" at the end, unless already there. */
function spdxGit(url: string): string {
  const u = url.startsWith('git+') ? url : `git+${url}`;
  return u.endsWith('.git') ? u : `${u}.git`;
}

const list = (v: unknown): J[] => (Array.isArray(v) ? v.filter((x): x is J => !!x && typeof x === 'object') : []);

/** CHAINS-GIT_COMMIT / CHAINS-GIT_URL from param defaults, then params, then results: the last one found wins. */
function gitHint(defaults: J[], params: J[], results: TektonResult[], into: { commit: string; url: string }): void {
  for (const p of defaults) {
    if (p.default === undefined || p.default === null) continue;
    if (p.name === GIT_COMMIT) into.commit = stringVal(p.default);
    else if (p.name === GIT_URL) into.url = stringVal(p.default);
  }
  for (const p of params) {
    if (p.name === GIT_COMMIT) into.commit = stringVal(p.value);
    else if (p.name === GIT_URL) into.url = stringVal(p.value);
  }
  for (const r of results) {
    if (r.name === GIT_COMMIT) into.commit = r.value.type === 'string' ? r.value.string : '';
    else if (r.name === GIT_URL) into.url = r.value.type === 'string' ? r.value.string : '';
  }
}

type Material = ResourceDescriptor & { uri: string; digest: Record<string, string> };

/**
 * A TaskRun's input hints (material.go FromTaskParamsAndResults): the git source from
 * CHAINS-GIT_* in status.taskSpec param defaults, spec.params and results, then
 * `*ARTIFACT_INPUTS` results.
 */
function taskInputs(tr: J, results: TektonResult[]): Material[] {
  const git = { commit: '', url: '' };
  gitHint(list(tr.status?.taskSpec?.params), list(tr.spec?.params), results, git);
  const out: Material[] = [];
  // Chains applies SPDXGit before testing the url, so a TaskRun with a commit and no url gets
  // the uri "git+.git"; a source without a url names nothing, and is left out here.
  if (git.commit && git.url) appendMaterial(out, { uri: spdxGit(git.url), digest: { sha1: git.commit } });
  for (const m of structuredHints(results, 'ARTIFACT_INPUTS')) appendMaterial(out, { uri: m.uri, digest: m.digest });
  return out;
}

/** Chains' type hints over one run's results: its subjects, and the inputs its results name. */
export function typeHints(results: J[]): { subjects: Subject[]; materials: ResourceDescriptor[] } {
  const rs = runResults({ results }, 'results');
  return { subjects: subjectsFromResults(rs), materials: taskInputs({}, rs) };
}

// ---------------------------------------------------------------------------------------------
// resolvedDependencies (slsa/internal/resolved_dependencies, slsa/internal/material).

const TASK_CONFIG = 'task';
const PIPELINE_CONFIG = 'pipeline';
const PIPELINE_TASK_CONFIG = 'pipelineTask';
const INPUT_RESULT = 'inputs/result';

/** status.provenance.refSource: where the Task or Pipeline definition was resolved from. */
function refSource(status: J | undefined): { uri: string; digest: Record<string, string>; entryPoint?: string } | undefined {
  const rs = status?.provenance?.refSource;
  if (!rs || typeof rs.uri !== 'string' || !rs.digest || typeof rs.digest !== 'object') return undefined;
  const digest = Object.fromEntries(Object.entries(rs.digest as J).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  return { uri: rs.uri, digest, ...(typeof rs.entryPoint === 'string' ? { entryPoint: rs.entryPoint } : {}) };
}

/**
 * Step and sidecar images (material.go fromImageID): the container's imageID, without
 * "docker-pullable://", as `oci://<name>` with its digest. Chains fails the whole provenance on
 * an imageID that is not `<name>@<alg>:<hex>`, and so does this.
 */
function imageDependencies(containers: unknown, what: string): Material[] {
  const out: Material[] = [];
  for (const c of list(containers)) {
    const id = c.imageID;
    const parts = typeof id === 'string' ? id.split('@') : [];
    if (parts.length !== 2) throw bad(`${what}: ${String(c.name ?? 'a container')} has no imageID of the form <name>@<digest>`);
    appendMaterial(out, { uri: `oci://${parts[0]!.replace(/^docker-pullable:\/\//, '')}`, digest: parseDigest(parts[1], `${what}: imageID of ${String(c.name)}`) });
  }
  return out;
}

/**
 * resolved_dependencies.go RemoveDuplicateResolvedDependencies: the first of each uri + digest
 * (+ content) stays, whatever its name; the run's own task or pipeline config always stays.
 */
function dedupDependencies(deps: ResourceDescriptor[]): ResourceDescriptor[] {
  const seen = new Set<string>();
  return deps.filter((d) => {
    const digest = Object.entries(d.digest ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([d.uri ?? '', digest, d.content ?? '']);
    const keep = !seen.has(key) || d.name === TASK_CONFIG || d.name === PIPELINE_CONFIG || (d.name ?? '').startsWith('stepAction/');
    seen.add(key);
    return keep;
  });
}

/**
 * v2alpha4 (ResolveOptions.WithStepActionsResults, material.go FromStepActionsResults): the git
 * source each step's results name with CHAINS-GIT_*, then `*ARTIFACT_INPUTS` of all step results.
 */
function stepInputs(status: J, what: string): Material[] {
  const out: Material[] = [];
  const steps = stepResults(status, what);
  for (const rs of steps) {
    const git = { commit: '', url: '' };
    gitHint([], [], rs, git);
    // As for a TaskRun's own hints (taskInputs): a commit without a url names nothing.
    if (git.commit && git.url) appendMaterial(out, { uri: spdxGit(git.url), digest: { sha1: git.commit } });
  }
  for (const m of structuredHints(steps.flat(), 'ARTIFACT_INPUTS')) appendMaterial(out, { uri: m.uri, digest: m.digest });
  return out;
}

/** resolved_dependencies.go fromRemoteStepActions: each step run from a resolved StepAction. */
function remoteStepActions(status: J): ResourceDescriptor[] {
  return list(status.steps).flatMap((st) => {
    const rs = refSource(st);
    return rs ? [{ name: `stepAction/${String(st.name ?? '')}`, uri: rs.uri, digest: rs.digest }] : [];
  });
}

function taskRunDependencies(tr: J, results: TektonResult[], what: string, v4: boolean): ResourceDescriptor[] {
  const status = (tr.status ?? {}) as J;
  const rs = refSource(status);
  const own: ResourceDescriptor[] = rs ? [{ name: TASK_CONFIG, uri: rs.uri, digest: rs.digest }] : [];
  // Chains also adds the same inputs again named "pipelineResource"; its de-duplication always
  // drops those copies, so they are not written here.
  const steps = v4 ? [...stepInputs(status, what).map((m) => ({ name: INPUT_RESULT, ...m })), ...remoteStepActions(status)] : [];
  const rest = [...imageDependencies(status.steps, `${what} step`), ...imageDependencies(status.sidecars, `${what} sidecar`), ...steps, ...taskInputs(tr, results).map((m) => ({ name: INPUT_RESULT, ...m }))];
  // Only the task's own dependencies are de-duplicated, not against the task config.
  return [...own, ...dedupDependencies(rest)];
}

interface ChildTaskRun {
  run: J;
  /** metadata.name (or its key under status.taskRuns): v2alpha4 names byproducts by it. */
  name: string;
  what: string;
}

/**
 * The child TaskRuns Chains looks at (objects.go GetExecutedTasks / GetTaskRunsFromTask): for each
 * pipeline task of status.pipelineSpec (tasks, then finally), its TaskRuns, those that have
 * completed. Chains fetches them from the cluster; here they are given inline under
 * status.taskRuns (an object keyed by TaskRun name, or a list), each TaskRun's pipeline task
 * read from its `tekton.dev/pipelineTask` label, its `pipelineTaskName`, or
 * status.childReferences.
 */
function executedTaskRuns(status: J): ChildTaskRun[] {
  const all = status.taskRuns;
  if (all === undefined || all === null) return [];
  if (typeof all !== 'object') throw bad('status.taskRuns must be an object or a list of TaskRuns');
  const refs = list(status.childReferences);
  const children = (Array.isArray(all) ? all.map((run, i) => [undefined, run, i] as const) : Object.entries(all as J).map(([k, run], i) => [k, run, i] as const))
    .filter(([, run]) => !!run && typeof run === 'object')
    .map(([key, run, i]) => {
      const r = run as J;
      const name: unknown = r.metadata?.name ?? key;
      const label: unknown = r.metadata?.labels?.['tekton.dev/pipelineTask'];
      const task: unknown = label ?? r.pipelineTaskName ?? refs.find((c) => c.name === name)?.pipelineTaskName;
      return { run: r, name: typeof name === 'string' ? name : '', task: typeof task === 'string' ? task : undefined, what: `TaskRun ${typeof name === 'string' ? name : `#${i}`}` };
    });
  const spec = status.pipelineSpec;
  if (!spec || typeof spec !== 'object') return [];
  const out: ChildTaskRun[] = [];
  for (const t of [...list(spec.tasks), ...list(spec.finally)]) {
    // A pipeline task that did not run (skipped, or the run stopped) has no completionTime.
    for (const c of children) if (typeof t.name === 'string' && c.task === t.name && c.run.status?.completionTime) out.push({ run: c.run, name: c.name, what: c.what });
  }
  return out;
}

function pipelineRunDependencies(pr: J, results: TektonResult[], children: { run: J; what: string; results?: TektonResult[] }[], deep: boolean, verbose: boolean, v4: boolean): ResourceDescriptor[] {
  const status = (pr.status ?? {}) as J;
  const out: ResourceDescriptor[] = [];
  const rs = refSource(status);
  if (rs) out.push({ name: PIPELINE_CONFIG, uri: rs.uri, digest: rs.digest });
  for (const c of children) {
    const crs = refSource(c.run.status);
    // slsa-tekton: every executed task, with the child TaskRun itself as content (AddTektonTaskDescriptor);
    // slsa: only a task resolved from a refSource, by uri and digest (AddSLSATaskDescriptor).
    if (verbose) out.push({ name: PIPELINE_TASK_CONFIG, ...(crs ? { uri: crs.uri, digest: crs.digest } : {}), content: Buffer.from(goJsonValue(c.run), 'utf8').toString('base64') });
    else if (crs) out.push({ name: PIPELINE_TASK_CONFIG, uri: crs.uri, digest: crs.digest });
    if (v4) out.push(...remoteStepActions(c.run.status ?? {}));
    out.push(...imageDependencies(c.run.status?.steps, `${c.what} step`), ...imageDependencies(c.run.status?.sidecars, `${c.what} sidecar`));
  }
  // material.go FromPipelineParamsAndResults: the PipelineRun's *ARTIFACT_INPUTS; with deep
  // inspection each child's input hints; then CHAINS-GIT_* from pipelineSpec param defaults,
  // spec.params and the PipelineRun's results.
  const mats: Material[] = [];
  for (const m of structuredHints(results, 'ARTIFACT_INPUTS')) appendMaterial(mats, { uri: m.uri, digest: m.digest });
  const git = { commit: '', url: '' };
  if (status.pipelineSpec && typeof status.pipelineSpec === 'object') {
    if (deep) for (const c of children) for (const m of taskInputs(c.run, c.results ?? [])) appendMaterial(mats, m);
    gitHint(list(status.pipelineSpec.params), [], [], git);
  }
  gitHint([], list(pr.spec?.params), results, git);
  if (git.commit && git.url) appendMaterial(mats, { uri: spdxGit(git.url), digest: { sha1: git.commit } });
  out.push(...mats.map((m) => ({ name: INPUT_RESULT, ...m })));
  return dedupDependencies(out);
}

// ---------------------------------------------------------------------------------------------
// The statement.

/**
 * externalParameters.buildConfigSource (external_parameters.go): only for a Task or Pipeline
 * resolved remotely (a resolver other than "Cluster") with a refSource.
 */
function buildConfigSource(ref: J | undefined, status: J): Record<string, string> | undefined {
  const resolver = ref?.resolver;
  const rs = refSource(status);
  if (typeof resolver !== 'string' || resolver === '' || resolver === 'Cluster' || !rs) return undefined;
  // Chains takes one entry of the digest map (Go's map order: any); here the first by name.
  const [alg, hex] = Object.entries(rs.digest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))[0] ?? [];
  return { path: rs.entryPoint ?? '', ref: alg === undefined ? '' : `${alg}:${hex}`, repository: rs.uri };
}

/**
 * A Kubernetes time (RFC 3339) as Chains writes it: UTC, at the second (metav1.Time is
 * serialised at second precision; timestamppb then adds no fraction).
 */
function utcTime(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  const m = typeof v === 'string' ? /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/.exec(v) : null;
  if (!m) throw bad(`${what} is not an RFC 3339 time`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const local = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(local);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) throw bad(`${what} is not an RFC 3339 time`);
  const offset = m[7] ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) * 60_000;
  return new Date(local - offset).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface TektonOptions {
  /**
   * Chains' `artifacts.pipelinerun.enable-deep-inspection` (docs/config.md; default false): also
   * take a PipelineRun's subjects and input hints from its completed child TaskRuns' results.
   */
  deepInspection?: boolean;
  /** Chains' `builddefinition.buildtype`: TEKTON_BUILD_TYPE (the default) or TEKTON_VERBOSE_BUILD_TYPE. */
  buildType?: string;
  /**
   * Chains' `artifacts.taskrun.format` / `artifacts.pipelinerun.format`: slsa/v2alpha3 (the
   * default) or slsa/v2alpha4, which reads StepActions' step results, takes as subjects only what
   * is marked as built, and names byproducts by run.
   */
  format?: TektonFormat;
}

export const TEKTON_FORMATS = ['slsa/v2alpha3', 'slsa/v2alpha4'] as const;
export type TektonFormat = (typeof TEKTON_FORMATS)[number];

export interface RunProvenance {
  kind: 'TaskRun' | 'PipelineRun';
  name: string;
  uid: string;
  subjects: Subject[];
  statement: J;
}

/** A Tekton TaskRun or PipelineRun (as Chains sees it) → SLSA v1 provenance statement. */
export function tektonProvenance(run: unknown, builderId: string, opts: TektonOptions = {}): RunProvenance {
  const r = run as J;
  const buildType = opts.buildType ?? TEKTON_BUILD_TYPE;
  if (buildType !== TEKTON_BUILD_TYPE && buildType !== TEKTON_VERBOSE_BUILD_TYPE) throw bad(`unsupported buildType ${buildType} (${TEKTON_BUILD_TYPE} or ${TEKTON_VERBOSE_BUILD_TYPE})`);
  const verbose = buildType === TEKTON_VERBOSE_BUILD_TYPE;
  const format = opts.format ?? 'slsa/v2alpha3';
  if (!TEKTON_FORMATS.includes(format)) throw bad(`unsupported format ${String(format)} (${TEKTON_FORMATS.join(' or ')})`);
  if (!r || typeof r !== 'object' || typeof r.apiVersion !== 'string' || !r.apiVersion.startsWith('tekton.dev/')) throw bad('not a Tekton object (apiVersion tekton.dev/*)');
  if (r.kind !== 'TaskRun' && r.kind !== 'PipelineRun') throw bad(`unsupported kind ${String(r.kind)}`);
  const status = (r.status ?? {}) as J;
  const meta = (r.metadata ?? {}) as J;
  if (typeof meta.uid !== 'string' || !meta.uid) throw bad('metadata.uid is required (Chains signs each object once, by uid)');
  const spec = (r.spec ?? {}) as J;
  const results = runResults(status, r.kind);
  const v4 = format === 'slsa/v2alpha4';
  const name = typeof meta.name === 'string' ? meta.name : '';
  let subjects: Subject[];
  let deps: ResourceDescriptor[];
  let config: Record<string, string> | undefined;
  let bp: ResourceDescriptor[];
  if (r.kind === 'TaskRun') {
    subjects = v4 ? taskRunSubjectsV4(status, results, 'TaskRun') : subjectsFromResults(results);
    deps = taskRunDependencies(r, results, 'TaskRun', v4);
    config = buildConfigSource(spec.taskRef, status);
    bp = v4 ? taskRunByproductsV4(name, status, results, 'TaskRun') : byproducts('taskRunResults', results);
  } else {
    const deep = opts.deepInspection === true;
    // Child results are read (and checked) only when deep inspection reads them.
    const children = executedTaskRuns(status).map((c) => ({ ...c, ...(deep ? { results: runResults((c.run.status ?? {}) as J, c.what) } : {}) }));
    subjects = [];
    if (v4) {
      // v2alpha4/internal/pipelinerun SubjectDigests: the PipelineRun's build artifacts first,
      // then with deep inspection each executed child's (its steps', then its own).
      for (const s of buildArtifactSubjects(results)) appendSubject(subjects, s);
      if (deep) for (const c of children) for (const s of taskRunSubjectsV4(c.run.status ?? {}, c.results ?? [], c.what)) appendSubject(subjects, s);
      // byproducts: the PipelineRun's, then with deep inspection each child's, under its name.
      bp = [...byproductsV4('pipelineRunResults', name, results), ...(deep ? children.flatMap((c) => taskRunByproductsV4(c.name, c.run.status ?? {}, c.results ?? [], c.what)) : [])];
    } else {
      // extract.go subjectsFromPipelineRun: without deep inspection only the PipelineRun's own
      // results; with it, each completed child's first, then the PipelineRun's.
      if (deep) for (const c of children) for (const s of subjectsFromResults(c.results ?? [])) appendSubject(subjects, s);
      for (const s of subjectsFromResults(results)) appendSubject(subjects, s);
      bp = byproducts('pipelineRunResults', results);
    }
    deps = pipelineRunDependencies(r, results, children, deep, verbose, v4);
    config = buildConfigSource(spec.pipelineRef, status);
  }
  const flags = status.provenance?.featureFlags;
  // internal_parameters.go: the feature flags; slsa-tekton adds the labels and annotations
  // (Go's nil map is JSON null).
  const internalParameters: J = flags && typeof flags === 'object' ? { 'tekton-pipelines-feature-flags': flags } : {};
  if (verbose) Object.assign(internalParameters, { labels: meta.labels ?? null, annotations: meta.annotations ?? null });
  const startedOn = utcTime(status.startTime, 'status.startTime');
  const finishedOn = utcTime(status.completionTime, 'status.completionTime');
  // Field names are the protobuf JSON names Chains writes (in-toto attestation
  // predicates/provenance/v1 and ResourceDescriptor); empty lists are left out, as protojson does.
  const predicate = {
    buildDefinition: {
      buildType,
      externalParameters: { ...(config ? { buildConfigSource: config } : {}), runSpec: spec },
      internalParameters,
      ...(deps.length > 0 ? { resolvedDependencies: deps } : {}),
    },
    runDetails: {
      builder: { id: builderId },
      metadata: { invocationId: meta.uid, ...(startedOn ? { startedOn } : {}), ...(finishedOn ? { finishedOn } : {}) },
      ...(bp.length > 0 ? { byproducts: bp } : {}),
    },
  };
  return {
    kind: r.kind,
    name: String(meta.name ?? meta.uid),
    uid: meta.uid,
    subjects,
    statement: { _type: 'https://in-toto.io/Statement/v1', subject: subjects, predicateType: SLSA_PROVENANCE_V1, predicate },
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
        // "invocationId", as SLSA v1 BuildMetadata spells it (and protobuf JSON readers of the
        // in-toto predicate, which refuse unknown fields, expect).
        metadata: { invocationId: b.invocationId, startedOn: b.startedOn.toISOString(), finishedOn: b.finishedOn.toISOString() },
      },
    },
  };
}
