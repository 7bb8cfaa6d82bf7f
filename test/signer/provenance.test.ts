/**
 * Tekton provenance as Tekton Chains' slsa/v2alpha3 formatter writes it. The cases are written
 * for Cairn; the expected values follow the behaviour of tektoncd/chains (pkg/artifacts,
 * pkg/chains/formats/slsa/{extract,internal,v2alpha3}) and the shapes its tests pin:
 * v2alpha3/internal/taskrun/taskrun_test.go TestTaskRunGenerateAttestation and
 * v2alpha3/internal/pipelinerun/pipelinerun_test.go TestGenerateAttestation (resolvedDependencies
 * names and order, byproducts), extract/extract_test.go (deep inspection).
 */
import { describe, expect, it } from 'vitest';
import { SignerError } from '../../host/signer/errors.js';
import { goJson, localProvenance, tektonProvenance, typeHints } from '../../host/signer/provenance.js';

const d1 = '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f801';
const d2 = '2a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f802';
const d3 = '3a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f803';
const d4 = '4a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f804';
const sha1a = 'a3c9f0d1e2b4c5a6978877665544332211009988';
const sha1b = '0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6';

type Result = { name: string; value?: unknown };
// Tekton objects as parsed JSON: the tests reach into them freely.
type J = Record<string, any>;
const taskRun = (results: Result[], status: J = {}, spec: J = {}): J => ({
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'build', uid: 'uid-tr' },
  spec,
  status: { results, ...status },
});
const subjects = (run: unknown, opts = {}) => tektonProvenance(run, 'https://cairn.dev/builders/test@v1', opts).subjects;
const predicate = (run: unknown, opts = {}) => tektonProvenance(run, 'https://cairn.dev/builders/test@v1', opts).statement.predicate;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('subjects from type hints', () => {
  it('pairs *IMAGE_URL with *IMAGE_DIGEST by prefix, trims values, and ignores incomplete pairs', () => {
    const s = subjects(taskRun([
      { name: 'MY_IMAGE_URL', value: 'registry.example.org/team/api' },
      { name: 'MY_IMAGE_DIGEST', value: `sha256:${d1}` },
      { name: 'second-image-IMAGE_DIGEST', value: `sha256:${d2}\n` },
      { name: 'second-image-IMAGE_URL', value: 'ghcr.io/o/worker:2\n' },
      { name: 'LONELY_IMAGE_URL', value: 'ghcr.io/o/lonely' },
      { name: 'EMPTY_IMAGE_URL', value: '  ' },
      { name: 'EMPTY_IMAGE_DIGEST', value: `sha256:${d3}` },
    ]));
    expect(s).toEqual([
      { name: 'registry.example.org/team/api', digest: { sha256: d1 } },
      { name: 'ghcr.io/o/worker', digest: { sha256: d2 } },
    ]);
  });

  it('names image subjects by repository: no tag, Docker Hub defaults; one image named twice is one subject', () => {
    const s = subjects(taskRun([
      { name: 'IMAGE_URL', value: 'busybox:1.36' },
      { name: 'IMAGE_DIGEST', value: `sha256:${d1}` },
      { name: 'IMAGES', value: `gcr.io/p/app:v1@sha256:${d2},\n docker.io/library/busybox@sha256:${d1}\ngcr.io/p/app@sha256:${d3}\n` },
    ]));
    expect(s).toEqual([
      { name: 'index.docker.io/library/busybox', digest: { sha256: d1 } },
      { name: 'gcr.io/p/app', digest: { sha256: d2 } },
      { name: 'gcr.io/p/app', digest: { sha256: d3 } },
    ]);
  });

  it('*ARTIFACT_OUTPUTS objects are subjects by uri; isBuildArtifact ones that read as images are also image subjects', () => {
    const s = subjects(taskRun([
      { name: 'img-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/p/app:v2', digest: `sha256:${d1}`, isBuildArtifact: 'true' } },
      { name: 'pkg-ARTIFACT_OUTPUTS', value: { uri: 'pkg:npm/left-pad@1.3.0', digest: `sha512:${'e'.repeat(128)}`, isBuildArtifact: 'true' } },
      { name: 'lib-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/p/lib', digest: `sha256:${d3}` } },
      { name: 'nouri-ARTIFACT_OUTPUTS', value: { digest: `sha256:${d4}` } },
      { name: 'mvn_ARTIFACT_URI', value: 'maven-test-0.1.1.jar' },
      { name: 'mvn_ARTIFACT_DIGEST', value: `sha256:${d2}` },
    ]));
    expect(s).toEqual([
      { name: 'gcr.io/p/app', digest: { sha256: d1 } },
      { name: 'maven-test-0.1.1.jar', digest: { sha256: d2 } },
      { name: 'gcr.io/p/app:v2', digest: { sha256: d1 } },
      { name: 'pkg:npm/left-pad@1.3.0', digest: { sha512: 'e'.repeat(128) } },
      { name: 'gcr.io/p/lib', digest: { sha256: d3 } },
    ]);
  });

  it('refuses what Chains would drop from the subjects: a non-sha256 or doubled image digest, a malformed IMAGES entry', () => {
    const refuse = (results: Result[]) => expect(() => subjects(taskRun(results))).toThrow(expect.objectContaining({ code: 'SIGNER_BAD_INPUT' }));
    refuse([{ name: 'IMAGE_URL', value: 'gcr.io/p/app' }, { name: 'IMAGE_DIGEST', value: `sha512:${'e'.repeat(128)}` }]);
    refuse([{ name: 'IMAGE_URL', value: `gcr.io/p/app@sha256:${d1}` }, { name: 'IMAGE_DIGEST', value: `sha256:${d1}` }]);
    refuse([{ name: 'IMAGES', value: `gcr.io/p/app@sha256:${d1},gcr.io/p/worker:v1` }]);
    refuse([{ name: 'X_ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/p/app', digest: 'sha256:' } }]);
  });

  it('typeHints reads the hints of one list of results', () => {
    const h = typeHints([
      { name: 'IMAGE_URL', value: 'gcr.io/p/app:v1' },
      { name: 'IMAGE_DIGEST', value: `sha256:${d1}` },
      { name: 'CHAINS-GIT_URL', value: 'https://github.com/example/app' },
      { name: 'CHAINS-GIT_COMMIT', value: sha1b },
    ]);
    expect(h.subjects).toEqual([{ name: 'gcr.io/p/app', digest: { sha256: d1 } }]);
    expect(h.materials).toEqual([{ uri: 'git+https://github.com/example/app.git', digest: { sha1: sha1b } }]);
  });
});

describe('runDetails.byproducts', () => {
  it('a TaskRun records every result as taskRunResults/<name>, its Go JSON encoding in base64', () => {
    const p = predicate(taskRun([
      { name: 'IMAGE_URL', value: 'gcr.io/p/app' },
      { name: 'IMAGE_DIGEST', value: `sha256:${d1}` },
      { name: 'notes', value: 'a<b> & "c"\n\u2028\ud800' },
      { name: 'list', value: ['x', 'y'] },
      { name: 'obj', value: { z: '1', a: '2' } },
      { name: 'num', value: 3 },
    ]));
    const json = ['"gcr.io/p/app"', `"sha256:${d1}"`, '"a\\u003cb\\u003e \\u0026 \\"c\\"\\n\\u2028\ufffd"', '["x","y"]', '{"a":"2","z":"1"}', '"3"'];
    expect(p.runDetails.byproducts).toEqual(['IMAGE_URL', 'IMAGE_DIGEST', 'notes', 'list', 'obj', 'num'].map((n, i) => ({ name: `taskRunResults/${n}`, content: b64(json[i]!), mediaType: 'application/json' })));
  });

  it('no results, no byproducts field (protobuf JSON leaves an empty list out)', () => {
    const p = predicate({ ...taskRun([]), status: { steps: [] } });
    expect(p.runDetails).not.toHaveProperty('byproducts');
    expect(p.buildDefinition).not.toHaveProperty('resolvedDependencies');
  });

  it('goJson sorts object keys by their UTF-8 bytes, as Go sorts map keys', () => {
    expect(goJson({ type: 'object', object: { '\u{1f600}': 'x', '\uffff': 'y', b: '' } })).toBe('{"b":"","\uffff":"y","\u{1f600}":"x"}');
  });
});

/** A PipelineRun whose child TaskRuns are given inline, as `cairn chains` reads them. */
function pipelineRun(childResults: Result[] = []): J {
  const child = (task: string, image: string, extra: J = {}): J => ({
    status: { completionTime: '2026-11-20T11:05:00Z', steps: [{ name: 'run', imageID: `docker-pullable://${image}` }], ...extra },
    ...(task ? { metadata: { name: `release-${task}`, labels: { 'tekton.dev/pipelineTask': task } } } : {}),
  });
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name: 'release', uid: 'uid-pr' },
    spec: { pipelineRef: { name: 'release' }, params: [{ name: 'CHAINS-GIT_URL', value: 'https://github.com/example/app' }] },
    status: {
      startTime: '2026-11-20T11:00:00Z',
      completionTime: '2026-11-20T11:09:30Z',
      provenance: { refSource: { uri: 'git+https://github.com/example/pipelines.git', digest: { sha1: sha1a }, entryPoint: 'release.yaml' } },
      results: [
        { name: 'IMAGE_URL', value: 'registry.example.org/app/server:1.4.2' },
        { name: 'IMAGE_DIGEST', value: `sha256:${d1}` },
        { name: 'CHAINS-GIT_COMMIT', value: sha1b },
        { name: 'src-ARTIFACT_INPUTS', value: { uri: 'https://example.org/vendor.tgz', digest: `sha256:${d4}` } },
      ],
      childReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: 'release-fetch', pipelineTaskName: 'fetch' }],
      pipelineSpec: { tasks: [{ name: 'fetch' }, { name: 'build' }], finally: [{ name: 'notify' }] },
      // Listed out of order: Chains walks the pipeline's tasks, then its finally tasks.
      taskRuns: {
        'release-build': {
          ...child('build', `gcr.io/k/executor@sha256:${d2}`, {
            provenance: { refSource: { uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1b } } },
            sidecars: [{ name: 'docker', imageID: `docker.io/library/docker@sha256:${d3}` }],
            results: childResults,
          }),
        },
        'release-fetch': {
          status: {
            completionTime: '2026-11-20T11:01:00Z',
            provenance: { refSource: { uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1a } } },
            steps: [{ name: 'clone', imageID: `gcr.io/tekton-releases/git-init@sha256:${d3}` }, { name: 'again', imageID: `docker-pullable://gcr.io/k/executor@sha256:${d2}` }],
            results: [{ name: 'CHAINS-GIT_URL', value: 'https://github.com/example/other' }, { name: 'CHAINS-GIT_COMMIT', value: sha1a }],
          },
        },
        // A finally task that has not completed: Chains does not look at it.
        'release-notify': { pipelineTaskName: 'notify', status: { steps: [{ name: 'x', imageID: 'not-an-image-id' }], results: [{ name: 'IMAGE_URL' }] } },
      },
    },
  };
}

describe('PipelineRuns', () => {
  const childImage = [
    { name: 'IMAGES', value: `gcr.io/p/worker@sha256:${d2}` },
    { name: 'CHAINS-GIT_URL', value: 'git+https://github.com/example/worker.git' },
    { name: 'CHAINS-GIT_COMMIT', value: sha1a },
  ];

  it('subjects and byproducts come from the PipelineRun\'s own results unless deep inspection is on', () => {
    const pr = pipelineRun(childImage);
    expect(subjects(pr)).toEqual([{ name: 'registry.example.org/app/server', digest: { sha256: d1 } }]);
    // Deep inspection: each completed child's subjects first, then the PipelineRun's.
    expect(subjects(pr, { deepInspection: true })).toEqual([
      { name: 'gcr.io/p/worker', digest: { sha256: d2 } },
      { name: 'registry.example.org/app/server', digest: { sha256: d1 } },
    ]);
    const p = predicate(pr, { deepInspection: true });
    expect(p.runDetails.byproducts.map((b: { name: string }) => b.name)).toEqual(['pipelineRunResults/IMAGE_URL', 'pipelineRunResults/IMAGE_DIGEST', 'pipelineRunResults/CHAINS-GIT_COMMIT', 'pipelineRunResults/src-ARTIFACT_INPUTS']);
    expect(Buffer.from(p.runDetails.byproducts[3].content, 'base64').toString()).toBe(`{"digest":"sha256:${d4}","uri":"https://example.org/vendor.tgz"}`);
  });

  it('resolvedDependencies: the pipeline, each completed pipeline task (in pipeline order) and its images, then the input hints', () => {
    const deps = [
      { name: 'pipeline', uri: 'git+https://github.com/example/pipelines.git', digest: { sha1: sha1a } },
      { name: 'pipelineTask', uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1a } },
      { uri: 'oci://gcr.io/tekton-releases/git-init', digest: { sha256: d3 } },
      { uri: 'oci://gcr.io/k/executor', digest: { sha256: d2 } },
      { name: 'pipelineTask', uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1b } },
      // build's executor image is fetch's, so it is not listed twice; its sidecar is listed.
      { uri: 'oci://docker.io/library/docker', digest: { sha256: d3 } },
      { name: 'inputs/result', uri: 'https://example.org/vendor.tgz', digest: { sha256: d4 } },
      { name: 'inputs/result', uri: 'git+https://github.com/example/app.git', digest: { sha1: sha1b } },
    ];
    expect(predicate(pipelineRun(childImage)).buildDefinition.resolvedDependencies).toEqual(deps);
    // With deep inspection the children's input hints come after the PipelineRun's *ARTIFACT_INPUTS.
    const deep = [...deps.slice(0, 7), { name: 'inputs/result', uri: 'git+https://github.com/example/other.git', digest: { sha1: sha1a } }, { name: 'inputs/result', uri: 'git+https://github.com/example/worker.git', digest: { sha1: sha1a } }, deps[7]];
    expect(predicate(pipelineRun(childImage), { deepInspection: true }).buildDefinition.resolvedDependencies).toEqual(deep);
  });

  it('a duplicate pipelineTask source is dropped; the pipeline source is kept even when it repeats', () => {
    const pr = pipelineRun();
    pr.status.taskRuns['release-build'].status.provenance.refSource.digest.sha1 = sha1a;
    pr.status.results.push({ name: 'p-ARTIFACT_INPUTS', value: { uri: 'git+https://github.com/example/pipelines.git', digest: `sha1:${sha1a}` } });
    const names = predicate(pr).buildDefinition.resolvedDependencies.map((d: { name?: string; uri: string }) => `${d.name ?? ''} ${d.uri}`);
    expect(names.filter((n: string) => n.startsWith('pipelineTask '))).toHaveLength(1);
    expect(names.filter((n: string) => n.endsWith('pipelines.git'))).toEqual(['pipeline git+https://github.com/example/pipelines.git']);
  });
});

describe('the slsa-tekton buildType (Chains builddefinition.buildtype)', () => {
  const VERBOSE = 'https://tekton.dev/chains/v2/slsa-tekton';

  it('internalParameters add the run\'s labels and annotations (null when it has none)', () => {
    const tr = taskRun([{ name: 'IMAGE_URL', value: 'registry.example.org/team/api' }, { name: 'IMAGE_DIGEST', value: `sha256:${d1}` }], { provenance: { featureFlags: { enableAPIFields: 'beta' } } });
    tr.metadata.labels = { 'app.kubernetes.io/name': 'api', 'tekton.dev/task': 'build' };
    tr.metadata.annotations = { 'chains.tekton.dev/signed': 'false' };
    const p = predicate(tr, { buildType: VERBOSE });
    expect(p.buildDefinition.buildType).toBe(VERBOSE);
    expect(p.buildDefinition.internalParameters).toEqual({ 'tekton-pipelines-feature-flags': { enableAPIFields: 'beta' }, labels: tr.metadata.labels, annotations: tr.metadata.annotations });
    delete tr.metadata.labels;
    delete tr.metadata.annotations;
    expect(predicate(tr, { buildType: VERBOSE }).buildDefinition.internalParameters).toEqual({ 'tekton-pipelines-feature-flags': { enableAPIFields: 'beta' }, labels: null, annotations: null });
    // The default buildType carries the feature flags only.
    expect(predicate(tr).buildDefinition).toMatchObject({ buildType: 'https://tekton.dev/chains/v2/slsa', internalParameters: { 'tekton-pipelines-feature-flags': { enableAPIFields: 'beta' } } });
  });

  it('a PipelineRun lists every executed pipeline task with the child TaskRun as JSON content, remote or not', () => {
    const pr = pipelineRun();
    // A child without a refSource, and a value Go escapes in JSON.
    delete pr.status.taskRuns['release-build'].status.provenance;
    pr.status.taskRuns['release-build'].metadata.annotations = { note: 'a<b & c>d' };
    const deps = predicate(pr, { buildType: VERBOSE }).buildDefinition.resolvedDependencies as J[];
    const tasks = deps.filter((d) => d.name === 'pipelineTask');
    expect(tasks.map((t) => [t.uri, t.digest])).toEqual([
      ['git+https://github.com/example/catalog.git', { sha1: sha1a }],
      [undefined, undefined],
    ]);
    expect(JSON.parse(Buffer.from(tasks[0]!.content, 'base64').toString())).toEqual(pr.status.taskRuns['release-fetch']);
    const build = Buffer.from(tasks[1]!.content, 'base64').toString();
    expect(JSON.parse(build)).toEqual(pr.status.taskRuns['release-build']);
    // Go's json.Marshal escapes < > & (encoding/json HTMLEscape).
    expect(build).toContain('"note":"a\\u003cb \\u0026 c\\u003ed"');
    // The order stays Chains': pipeline, then per task its descriptor and its images.
    expect(deps.map((d) => d.name ?? d.uri)).toEqual(['pipeline', 'pipelineTask', 'oci://gcr.io/tekton-releases/git-init', 'oci://gcr.io/k/executor', 'pipelineTask', 'oci://docker.io/library/docker', 'inputs/result', 'inputs/result']);
    // The slsa buildType names only the task resolved from a refSource.
    expect((predicate(pr).buildDefinition.resolvedDependencies as J[]).filter((d) => d.name === 'pipelineTask')).toEqual([{ name: 'pipelineTask', uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1a } }]);
  });

  it('a child TaskRun nested too deeply to encode is SIGNER_BAD_INPUT, not a RangeError', () => {
    const pr = pipelineRun();
    let deep: J = {};
    for (let i = 0; i < 20_000; i++) deep = { d: deep };
    pr.status.taskRuns['release-build'].metadata.annotations = { deep } as never;
    expect(() => predicate(pr, { buildType: VERBOSE })).toThrow(expect.objectContaining({ code: 'SIGNER_BAD_INPUT' }));
  });

  it('any other buildType is refused', () => {
    expect(() => predicate(taskRun([]), { buildType: 'https://example.org/other' })).toThrow(expect.objectContaining({ code: 'SIGNER_BAD_INPUT' }));
  });
});

describe('slsa/v2alpha4 (Chains artifacts.*.format)', () => {
  const V4 = { format: 'slsa/v2alpha4' as const };
  // A TaskRun whose steps ran StepActions with results of their own.
  const stepRun = (): J => taskRun(
    [
      { name: 'IMAGE_URL', value: 'registry.example.org/app/server:1' },
      { name: 'IMAGE_DIGEST', value: `sha256:${d1}` },
      { name: 'pkg-ARTIFACT_OUTPUTS', value: { uri: 'pkg:npm/app@1.0.0', digest: `sha256:${d2}`, isBuildArtifact: 'true' } },
      { name: 'log-ARTIFACT_OUTPUTS', value: { uri: 'https://example.org/build.log', digest: `sha256:${d3}` } },
      { name: 'tool-ARTIFACT_URI', value: 'https://example.org/tool' },
      { name: 'tool-ARTIFACT_DIGEST', value: `sha256:${d4}` },
      { name: 'note', value: 'done' },
    ],
    {
      steps: [
        {
          name: 'fetch', imageID: `gcr.io/tekton-releases/git-init@sha256:${d3}`,
          provenance: { refSource: { uri: 'git+https://github.com/example/steps.git', digest: { sha1: sha1b }, entryPoint: 'git-clone.yaml' } },
          results: [{ name: 'CHAINS-GIT_URL', value: 'https://github.com/example/app' }, { name: 'CHAINS-GIT_COMMIT', value: sha1a }, { name: 'dep-ARTIFACT_INPUTS', value: { uri: 'https://example.org/vendor.tgz', digest: `sha256:${d4}` } }],
        },
        {
          name: 'package', imageID: `gcr.io/k/executor@sha256:${d2}`,
          results: [{ name: 'lib-ARTIFACT_OUTPUTS', value: { uri: 'pkg:npm/lib@2.0.0', digest: `sha256:${d4}`, isBuildArtifact: 'true' } }, { name: 'size', value: '42' }],
        },
      ],
    },
  );

  it('subjects: each step\'s artifacts marked as built, then the TaskRun\'s; unmarked outputs and *ARTIFACT_URI pairs are not subjects', () => {
    expect(subjects(stepRun(), V4)).toEqual([
      { name: 'pkg:npm/lib@2.0.0', digest: { sha256: d4 } },
      { name: 'pkg:npm/app@1.0.0', digest: { sha256: d2 } },
      { name: 'registry.example.org/app/server', digest: { sha256: d1 } },
    ]);
    // v2alpha3 reads the TaskRun's results only, and every output hint is a subject there.
    expect(subjects(stepRun()).map((x) => x.name)).toEqual(['registry.example.org/app/server', 'https://example.org/tool', 'pkg:npm/app@1.0.0', 'https://example.org/build.log']);
  });

  it('byproducts: results that are not subjects, named by run, then the steps\' results', () => {
    const bp = predicate(stepRun(), V4).runDetails.byproducts as J[];
    expect(bp.map((b) => b.name)).toEqual([
      'taskRunResults/build/log-ARTIFACT_OUTPUTS',
      'taskRunResults/build/tool-ARTIFACT_URI',
      'taskRunResults/build/tool-ARTIFACT_DIGEST',
      'taskRunResults/build/note',
      'stepResults/build/CHAINS-GIT_URL',
      'stepResults/build/CHAINS-GIT_COMMIT',
      'stepResults/build/dep-ARTIFACT_INPUTS',
      'stepResults/build/size',
    ]);
    expect(bp.every((b) => b.mediaType === 'application/json')).toBe(true);
    expect(Buffer.from(bp[3]!.content, 'base64').toString()).toBe('"done"');
  });

  it('resolvedDependencies: images, the steps\' input hints, the StepActions resolved remotely, then the TaskRun\'s hints', () => {
    expect(predicate(stepRun(), V4).buildDefinition.resolvedDependencies).toEqual([
      { uri: 'oci://gcr.io/tekton-releases/git-init', digest: { sha256: d3 } },
      { uri: 'oci://gcr.io/k/executor', digest: { sha256: d2 } },
      { name: 'inputs/result', uri: 'git+https://github.com/example/app.git', digest: { sha1: sha1a } },
      { name: 'inputs/result', uri: 'https://example.org/vendor.tgz', digest: { sha256: d4 } },
      { name: 'stepAction/fetch', uri: 'git+https://github.com/example/steps.git', digest: { sha1: sha1b } },
    ]);
    // v2alpha3 does not read step results or StepAction sources.
    expect(predicate(stepRun()).buildDefinition.resolvedDependencies).toEqual([
      { uri: 'oci://gcr.io/tekton-releases/git-init', digest: { sha256: d3 } },
      { uri: 'oci://gcr.io/k/executor', digest: { sha256: d2 } },
    ]);
  });

  it('a PipelineRun: its own subjects first, then with deep inspection each child\'s; byproducts and StepActions per child', () => {
    const pr = pipelineRun([{ name: 'BUILDER_IMAGE_URL', value: 'gcr.io/p/worker' }, { name: 'BUILDER_IMAGE_DIGEST', value: `sha256:${d2}` }, { name: 'cache', value: 'warm' }]);
    const build = pr.status.taskRuns['release-build'];
    build.status.steps[0].provenance = { refSource: { uri: 'git+https://github.com/example/steps.git', digest: { sha1: sha1b } } };
    build.status.steps[0].results = [{ name: 'bin-ARTIFACT_OUTPUTS', value: { uri: 'https://example.org/bin', digest: `sha256:${d3}`, isBuildArtifact: 'true' } }];
    expect(subjects(pr, V4)).toEqual([{ name: 'registry.example.org/app/server', digest: { sha256: d1 } }]);
    expect(subjects(pr, { ...V4, deepInspection: true })).toEqual([
      { name: 'registry.example.org/app/server', digest: { sha256: d1 } },
      { name: 'https://example.org/bin', digest: { sha256: d3 } },
      { name: 'gcr.io/p/worker', digest: { sha256: d2 } },
    ]);
    const shallow = predicate(pr, V4);
    expect(shallow.runDetails.byproducts.map((b: J) => b.name)).toEqual(['pipelineRunResults/release/CHAINS-GIT_COMMIT', 'pipelineRunResults/release/src-ARTIFACT_INPUTS']);
    expect(predicate(pr, { ...V4, deepInspection: true }).runDetails.byproducts.map((b: J) => b.name)).toEqual(['pipelineRunResults/release/CHAINS-GIT_COMMIT', 'pipelineRunResults/release/src-ARTIFACT_INPUTS', 'taskRunResults/release-fetch/CHAINS-GIT_URL', 'taskRunResults/release-fetch/CHAINS-GIT_COMMIT', 'taskRunResults/release-build/cache']);
    // The StepAction comes right after its task's descriptor, before the task's images.
    const names = (shallow.buildDefinition.resolvedDependencies as J[]).map((d) => d.name ?? d.uri);
    expect(names.slice(names.lastIndexOf('pipelineTask'), names.lastIndexOf('pipelineTask') + 3)).toEqual(['pipelineTask', 'stepAction/run', 'oci://docker.io/library/docker']);
  });

  it('any other format is refused', () => {
    expect(() => predicate(taskRun([]), { format: 'slsa/v1' })).toThrow(expect.objectContaining({ code: 'SIGNER_BAD_INPUT' }));
  });
});

describe('TaskRun buildDefinition', () => {
  const run = () => taskRun(
    [{ name: 'src-ARTIFACT_INPUTS', value: { uri: 'git+https://github.com/example/catalog.git', digest: `sha1:${sha1a}` } }],
    {
      startTime: '2026-11-20T12:00:03+02:00',
      completionTime: '2026-11-20T10:02:11.5Z',
      provenance: { refSource: { uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1a }, entryPoint: 'task/build.yaml' } },
      taskSpec: { params: [{ name: 'CHAINS-GIT_COMMIT', default: 'dead' }, { name: 'CHAINS-GIT_URL', default: 'https://default.example.org/app' }] },
      steps: [
        { name: 'build', imageID: `docker-pullable://gcr.io/k/executor@sha256:${d1}` },
        { name: 'push', imageID: `docker-pullable://gcr.io/k/executor@sha256:${d1}` },
        { name: 'digest', imageID: `cgr.dev/chainguard/busybox@sha256:${d2}` },
      ],
      sidecars: [{ name: 'registry', imageID: `docker-pullable://registry@sha256:${d3}` }],
    },
    { params: [{ name: 'CHAINS-GIT_COMMIT', value: sha1b }, { name: 'CHAINS-GIT_URL', value: 'https://git.example.org/app' }], taskRef: { name: 'build' } },
  );

  it('resolvedDependencies: the task, step and sidecar images, then the input hints (git from params over defaults)', () => {
    expect(predicate(run()).buildDefinition.resolvedDependencies).toEqual([
      { name: 'task', uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1a } },
      { uri: 'oci://gcr.io/k/executor', digest: { sha256: d1 } },
      { uri: 'oci://cgr.dev/chainguard/busybox', digest: { sha256: d2 } },
      { uri: 'oci://registry', digest: { sha256: d3 } },
      { name: 'inputs/result', uri: 'git+https://git.example.org/app.git', digest: { sha1: sha1b } },
      // The same source as the task's: Chains de-duplicates the task's dependencies among themselves only.
      { name: 'inputs/result', uri: 'git+https://github.com/example/catalog.git', digest: { sha1: sha1a } },
    ]);
  });

  it('externalParameters.buildConfigSource only for a remotely resolved Task', () => {
    const local = run();
    expect(predicate(local).buildDefinition.externalParameters).toEqual({ runSpec: local.spec });
    const remote = run();
    remote.spec.taskRef = { resolver: 'git', params: [{ name: 'url', value: 'https://github.com/example/catalog.git' }] } as never;
    expect(predicate(remote).buildDefinition.externalParameters).toEqual({
      buildConfigSource: { path: 'task/build.yaml', ref: `sha1:${sha1a}`, repository: 'git+https://github.com/example/catalog.git' },
      runSpec: remote.spec,
    });
    (remote.spec.taskRef as { resolver: string }).resolver = 'Cluster';
    expect(predicate(remote).buildDefinition.externalParameters).not.toHaveProperty('buildConfigSource');
  });

  it('runDetails.metadata: invocationId, times in UTC at the second', () => {
    expect(predicate(run()).runDetails.metadata).toEqual({ invocationId: 'uid-tr', startedOn: '2026-11-20T10:00:03Z', finishedOn: '2026-11-20T10:02:11Z' });
    const r = run();
    r.status.startTime = 'yesterday';
    expect(() => predicate(r)).toThrow(expect.objectContaining({ code: 'SIGNER_BAD_INPUT' }));
  });

  it('local builds spell invocationId the same way', () => {
    const st = localProvenance({ command: ['make'], env: {}, startedOn: new Date(0), finishedOn: new Date(1000), exitCode: 0, materials: [], products: [], builderId: 'b', invocationId: 'i' });
    expect(st.predicate.runDetails.metadata).toEqual({ invocationId: 'i', startedOn: '1970-01-01T00:00:00.000Z', finishedOn: '1970-01-01T00:00:01.000Z' });
  });
});

describe('hostile Tekton objects are refused with SIGNER_BAD_INPUT', () => {
  it.each([
    ['a result that is not an object', taskRun(['IMAGE_URL'] as never)],
    ['a result without a name', taskRun([{ value: 'x' } as never])],
    ['a result without a value', taskRun([{ name: 'IMAGE_URL' }])],
    ['status.results that is not a list', { ...taskRun([]), status: { results: { IMAGE_URL: 'x' } } }],
    ['an *ARTIFACT_OUTPUTS object with a non-string member', taskRun([{ name: 'a-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/p/app', digest: `sha256:${d1}`, isBuildArtifact: true } }])],
    ['a step imageID without a digest', taskRun([], { steps: [{ name: 'build', imageID: 'gcr.io/k/executor:v1' }] })],
    ['a step without an imageID', taskRun([], { steps: [{ name: 'build' }] })],
    ['status.taskRuns that is not an object', { ...pipelineRun(), status: { ...pipelineRun().status, taskRuns: 'x' } }],
    ['a completed child step imageID without a digest', (() => { const pr = pipelineRun(); pr.status.taskRuns['release-fetch'].status.steps[0]!.imageID = 'git-init'; return pr; })()],
  ])('%s', (_what, run) => {
    let err: unknown;
    try {
      tektonProvenance(run, 'b');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SignerError);
    expect((err as SignerError).code).toBe('SIGNER_BAD_INPUT');
  });
});
