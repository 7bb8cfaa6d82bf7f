/**
 * Image subject names as Tekton Chains derives them: go-containerregistry pkg/name (v0.21.9,
 * vendored by Chains) `NewDigest(ref).Repository.Name()`. The expected names follow that
 * package's rules; `registry/myimage` and `abc` are the cases Chains' own tests pin
 * (slsa/v1/taskrun/provenance_test.go TestGetSubjectDigests, v2alpha4 pipelinerun_test.go).
 */
import { describe, expect, it } from 'vitest';
import { parseDigestReference, tryDigestReference } from '../../host/signer/oci-reference.js';

const H = '9b1c0f2e3d4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e';

describe('image references (go-containerregistry name.NewDigest)', () => {
  it.each([
    // A tag is not part of the repository name.
    ['registry.example.org/app/server:1.4.2', 'registry.example.org/app/server'],
    ['gcr.io/a/b/c', 'gcr.io/a/b/c'],
    // Docker Hub: the default registry, "docker.io" rewritten, "library/" for one-component paths.
    ['busybox', 'index.docker.io/library/busybox'],
    ['busybox:1.36', 'index.docker.io/library/busybox'],
    ['docker.io/busybox', 'index.docker.io/library/busybox'],
    ['index.docker.io/busybox', 'index.docker.io/library/busybox'],
    ['docker.io/tektoncd/pipeline:v1', 'index.docker.io/tektoncd/pipeline'],
    ['registry/myimage', 'index.docker.io/registry/myimage'],
    ['abc', 'index.docker.io/library/abc'],
    // A ':' before a '/' is a registry port, not a tag; "localhost" is a registry without one.
    ['localhost:5000/app', 'localhost:5000/app'],
    ['localhost:5000/app:dev', 'localhost:5000/app'],
    ['localhost/app', 'localhost/app'],
    ['myhost:5000/team/app:latest', 'myhost:5000/team/app'],
    ['[::1]:5000/app', '[::1]:5000/app'],
    // With no '/', the text after ':' is a tag: this is Docker Hub's library/localhost, tag 5000.
    ['localhost:5000', 'index.docker.io/library/localhost'],
    // The longest single-component Docker Hub name: "library/" and 247 characters make 255.
    ['a'.repeat(247), `index.docker.io/library/${'a'.repeat(247)}`],
    [`gcr.io/${'a'.repeat(255)}`, `gcr.io/${'a'.repeat(255)}`],
  ])('%s → %s', (name, repository) => {
    expect(parseDigestReference(`${name}@sha256:${H}`, 'IMAGES')).toEqual({ repository, sha256: H });
  });

  it.each([
    ['no digest', 'gcr.io/app'],
    ['two digests', `gcr.io/app@sha256:${H}@sha256:${H}`],
    ['not sha256', `gcr.io/app@sha512:${'a'.repeat(128)}`],
    ['uppercase hex', `gcr.io/app@sha256:${H.toUpperCase()}`],
    ['short hex', 'gcr.io/app@sha256:abc'],
    ['uppercase repository', `gcr.io/App@sha256:${H}`],
    ['one-character repository', `a@sha256:${H}`],
    ['port that is not a number', `gcr.io:https/app@sha256:${H}`],
    ['space in the registry', `reg istry.io/app@sha256:${H}`],
    ['empty tag', `gcr.io/app:@sha256:${H}`],
    ['tag with a bad character', `gcr.io/app:v1!@sha256:${H}`],
    ['empty name', `@sha256:${H}`],
    // NewDigest parses the name again as Repository.Name(), "library/" included: 2 to 255 characters still.
    ['a Docker Hub repository over 255 characters with "library/"', `${'a'.repeat(248)}@sha256:${H}`],
    ['the same, tagged', `docker.io/${'a'.repeat(248)}:v1@sha256:${H}`],
  ])('refuses %s', (_why, ref) => {
    expect(() => parseDigestReference(ref, 'IMAGES')).toThrow(expect.objectContaining({ code: 'SIGNER_BAD_INPUT' }));
    expect(typeof tryDigestReference(ref)).toBe('string');
  });
});
