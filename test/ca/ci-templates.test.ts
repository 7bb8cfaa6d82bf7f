/**
 * Fulcio's CI-provider templates, evaluated as Fulcio evaluates them (host/ca/ci-template.ts),
 * with the templates of Fulcio's production configuration (config/identity/config.yaml) for
 * GitHub Actions, GitLab and CircleCI: a bare name is a claim, "{{ }}" is a Go text/template
 * (fields, index, if eq/else/end). Before, bare names were copied as text and CircleCI's index
 * actions were left in the SAN, so every CircleCI project got the same identity.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIssuersConfig, issuerFor } from '../../host/ca/config.js';
import { CaError } from '../../host/ca/errors.js';
import { principalFor } from '../../host/ca/identity.js';
import { clientKey, chainOf, post, startCa, TestIssuer, v2Body, type RunningCa } from './fixtures.js';

const GITHUB = {
  'default-template-values': { url: 'https://github.com', environment: '' },
  'extension-templates': {
    'github-workflow-trigger': 'event_name',
    'github-workflow-sha': 'sha',
    'github-workflow-name': 'workflow',
    'github-workflow-repository': 'repository',
    'github-workflow-ref': 'ref',
    'build-signer-uri': '{{ .url }}/{{ .job_workflow_ref }}',
    'build-signer-digest': 'job_workflow_sha',
    'runner-environment': 'runner_environment',
    'source-repository-uri': '{{ .url }}/{{ .repository }}',
    'source-repository-digest': 'sha',
    'source-repository-ref': 'ref',
    'source-repository-identifier': 'repository_id',
    'build-trigger': 'event_name',
    'run-invocation-uri': '{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}',
    'deployment-environment': 'environment',
  },
  'subject-alternative-name-template': '{{ .url }}/{{ .job_workflow_ref }}',
};
const GITLAB = {
  'default-template-values': { url: 'https://gitlab.com', environment: '' },
  'extension-templates': {
    'source-repository-ref': 'refs/{{if eq .ref_type "branch"}}heads/{{ else }}tags/{{end}}{{ .ref }}',
    'build-signer-uri': 'https://{{ .ci_config_ref_uri }}',
  },
  'subject-alternative-name-template': 'https://{{ .ci_config_ref_uri }}',
};
const CIRCLECI = {
  'default-template-values': { api_url: 'https://circleci.com/api/v2', platform_url: 'https://app.circleci.com/' },
  'extension-templates': {
    'build-signer-uri': '{{.api_url}}/projects/{{(index . "oidc.circleci.com/project-id")}}/pipeline-definitions/{{(index . "oidc.circleci.com/pipeline-definition-id")}}',
    'runner-environment': '{{if eq (index . "oidc.circleci.com/ssh-rerun") "true"}}ssh-rerun{{ else }}""{{end}}',
    'source-repository-ref': '{{index . "oidc.circleci.com/vcs-ref"}}',
  },
  'subject-alternative-name-template': '{{.api_url}}/projects/{{(index . "oidc.circleci.com/project-id")}}/pipeline-definitions/{{(index . "oidc.circleci.com/pipeline-definition-id")}}',
};

const doc = (extra: Record<string, unknown> = {}) => ({
  'oidc-issuers': {
    'https://gh.example': { 'issuer-url': 'https://gh.example', 'client-id': 'sigstore', type: 'ci-provider', 'ci-provider': 'github-workflow' },
    'https://gl.example': { 'issuer-url': 'https://gl.example', 'client-id': 'sigstore', type: 'ci-provider', 'ci-provider': 'gitlab-pipeline' },
    'https://cc.example': { 'issuer-url': 'https://cc.example', 'client-id': 'sigstore', type: 'ci-provider', 'ci-provider': 'circleci-job' },
  },
  'ci-issuer-metadata': { 'github-workflow': GITHUB, 'gitlab-pipeline': GITLAB, 'circleci-job': CIRCLECI, ...extra },
});

const principal = (iss: string, claims: Record<string, unknown>) => {
  const cfg = parseIssuersConfig(doc());
  return principalFor({ issuer: issuerFor(cfg, iss)!, claims: { iss, sub: 'x', ...claims } }, cfg);
};

const gh = {
  job_workflow_ref: 'acme/app/.github/workflows/release.yml@refs/tags/v1', job_workflow_sha: 'a'.repeat(40), runner_environment: 'github-hosted',
  repository: 'acme/app', repository_id: 42, sha: 'b'.repeat(40), ref: 'refs/tags/v1', event_name: 'push', workflow: 'release', run_id: '7', run_attempt: '1',
};

describe('Fulcio CI templates', () => {
  it('GitHub: bare names are claims, templates are filled, numbers print, an empty optional value adds no extension', () => {
    const p = principal('https://gh.example', gh);
    expect(p.san).toEqual({ type: 'uri', value: 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1' });
    expect(p.extensions['build-signer-digest']).toBe('a'.repeat(40));
    expect(p.extensions['source-repository-digest']).toBe('b'.repeat(40));
    expect(p.extensions['source-repository-identifier']).toBe('42');
    expect(p.extensions['github-workflow-name']).toBe('release');
    expect(p.extensions['run-invocation-uri']).toBe('https://github.com/acme/app/actions/runs/7/attempts/1');
    expect(p.extensions['deployment-environment']).toBeUndefined(); // environment defaults to ""
    expect(principal('https://gh.example', { ...gh, environment: 'production' }).extensions['deployment-environment']).toBe('production');
  });

  it('GitLab: if eq / else / end', () => {
    expect(principal('https://gl.example', { ci_config_ref_uri: 'gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main', ref_type: 'branch', ref: 'main' }).extensions['source-repository-ref']).toBe('refs/heads/main');
    expect(principal('https://gl.example', { ci_config_ref_uri: 'gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v2', ref_type: 'tag', ref: 'v2' }).extensions['source-repository-ref']).toBe('refs/tags/v2');
  });

  it('CircleCI: index for claim names with dots and slashes, so two projects get two identities', () => {
    const cc = (project: string) => principal('https://cc.example', { 'oidc.circleci.com/project-id': project, 'oidc.circleci.com/pipeline-definition-id': 'def-1', 'oidc.circleci.com/vcs-ref': 'refs/heads/main' });
    const a = cc('victim-project-1111');
    const b = cc('attacker-project-9999');
    expect(a.san.value).toBe('https://circleci.com/api/v2/projects/victim-project-1111/pipeline-definitions/def-1');
    expect(b.san.value).not.toBe(a.san.value);
    expect(a.extensions['runner-environment']).toBe('""'); // Fulcio's template writes two quote marks when not an ssh re-run
    expect(a.extensions['source-repository-ref']).toBe('refs/heads/main');
  });

  it('a missing claim that a field names is refused; anything outside the language, or an unknown extension, fails at config load', () => {
    const { job_workflow_sha: _, ...noSha } = gh;
    expect(() => principal('https://gh.example', noSha)).toThrow(CaError);
    for (const tpl of ['{{ printf "%s" .x }}', '{{ .a }', '{{if eq .a "b"}}x', '{{- .a }}', '{{ .a.b }}']) {
      const d = doc({ 'bad-provider': { 'extension-templates': { 'build-trigger': tpl } } });
      expect(() => parseIssuersConfig(d), tpl).toThrow(/ci-issuer-metadata template/);
    }
    expect(() => parseIssuersConfig(doc({ 'bad-provider': { 'extension-templates': { 'no-such-extension': 'sha' } } }))).toThrow(/unknown extension/);
  });

  it('SAN values are printable ASCII: a NUL, a space or non-ASCII in an email, a backslash in a URI are refused', () => {
    const cfg = parseIssuersConfig({ 'oidc-issuers': { 'https://em.example': { 'issuer-url': 'https://em.example', 'client-id': 'sigstore', type: 'email' }, 'https://u.example': { 'issuer-url': 'https://u.example', 'client-id': 'sigstore', type: 'uri', 'subject-domain': 'https://example.com' } } });
    const email = (e: string) => () => principalFor({ issuer: issuerFor(cfg, 'https://em.example')!, claims: { iss: 'https://em.example', sub: 'x', email: e, email_verified: true } }, cfg);
    expect(email('alice@example.com')().san.value).toBe('alice@example.com');
    for (const e of ['alice@example.com\0.evil.org', 'bob@exämple.com', 'a b@example.com']) expect(email(e), e).toThrow(CaError);
    const uri = (u: string) => () => principalFor({ issuer: issuerFor(cfg, 'https://u.example')!, claims: { iss: 'https://u.example', sub: u } }, cfg);
    expect(uri('https://example.com/team/x')().san.value).toBe('https://example.com/team/x');
    expect(uri('https://example.com\\@evil.org/x')).toThrow(CaError);
  });
});

describe('the deprecated GitHub extensions on a real certificate', () => {
  let iss: TestIssuer;
  let ca: RunningCa;
  beforeAll(async () => {
    iss = await TestIssuer.start();
    ca = await startCa({
      'oidc-issuers': { [iss.url('github')]: { 'issuer-url': iss.url('github'), 'client-id': 'sigstore', type: 'ci-provider', 'ci-provider': 'github-workflow', 'insecure-loopback-http': true } },
      'ci-issuer-metadata': { 'github-workflow': GITHUB },
    });
  });
  afterAll(async () => {
    await ca?.close();
    await iss?.close();
  });

  it('57264.1.2-6 carry the raw value (as 1.1 does), 1.10 and 1.13 the claims', async () => {
    const token = await iss.mint('github', { sub: 'repo:acme/app:ref:refs/tags/v1', ...gh });
    const key = clientKey();
    const r = await post(`${ca.url}/api/v2/signingCert`, v2Body(token, key, 'repo:acme/app:ref:refs/tags/v1'));
    expect(r.status, r.text).toBe(200);
    const leaf = new x509.X509Certificate(chainOf(r.json)[0]!);
    const raw = (id: string) => Buffer.from(leaf.extensions.find((e) => e.type === id)!.value).toString('utf8');
    const utf8 = (id: string) => Buffer.from(leaf.extensions.find((e) => e.type === id)!.value).subarray(2).toString('utf8');
    expect(raw('1.3.6.1.4.1.57264.1.3')).toBe('b'.repeat(40));
    expect(raw('1.3.6.1.4.1.57264.1.2')).toBe('push');
    expect(utf8('1.3.6.1.4.1.57264.1.10')).toBe('a'.repeat(40));
    expect(utf8('1.3.6.1.4.1.57264.1.13')).toBe('b'.repeat(40));
    expect(leaf.extensions.some((e) => e.type === '1.3.6.1.4.1.57264.1.23')).toBe(false);
  });
});
