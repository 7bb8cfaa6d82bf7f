/**
 * Image references `<name>@sha256:<hex>` read the way Tekton Chains reads them: Chains passes
 * IMAGES entries, `<*IMAGE_URL>@<*IMAGE_DIGEST>` and OCI build artifacts to go-containerregistry's
 * `name.NewDigest` (default, weak validation) and writes `Repository.Name()` as the subject name
 * (tektoncd/chains pkg/artifacts/signable.go ExtractOCIImagesFromResults,
 * pkg/chains/formats/slsa/extract/extract.go). So a tag is not part of the name, Docker Hub's
 * registry and `library/` namespace are filled in, and only sha256 digests name an image.
 *
 * The grammar is go-containerregistry pkg/name at v0.21.9, the version Chains vendors
 * (digest.go, tag.go, repository.go, registry.go, check.go); it is weaker than the OCI
 * distribution reference grammar (it does not check path components) and that is the point:
 * the same strings must give the same subject names. Pure.
 */
import { SignerError } from './errors.js';

/** name.DefaultRegistry; "docker.io" is rewritten to it (registry.go NewRegistry). */
export const DEFAULT_REGISTRY = 'index.docker.io';

export interface DigestReference {
  /** `Repository.Name()`: registry + "/" + repository path, with Docker Hub's defaults. */
  repository: string;
  /** The 64 lowercase hex digits of the sha256 digest. */
  sha256: string;
}

// tag.go tagChars, 1 to 128 characters.
const TAG = /^[A-Za-z0-9_.-]{1,128}$/;
// repository.go repositoryChars; v0.21.9 wants 2 to 255 characters (later versions allow 1).
const REPOSITORY = /^[a-z0-9_\-./]{2,255}$/;
// ASCII that Go's net/url accepts unescaped in a host (url.go shouldEscape, encodeHost mode):
// unreserved, sub-delims, ':' and '[' ']' for ports and IPv6, and '<' '>' '"'.
const HOST_ASCII = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"]$/;

/**
 * registry.go checkRegistry: `url.Parse("//" + host)` must succeed and give back `host` as the
 * URL's Host. '#', '?', '@' and '/' would end the host early; '%' escapes are decoded (so the
 * Host differs) or refused; control bytes are refused; the text after the last ':' must be
 * digits (url.go validOptionalPort), or after ']' for a bracketed IPv6 literal.
 */
function validRegistryHost(host: string): boolean {
  if (host === '') return true;
  for (const ch of host) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x80) continue; // url.go unescape lets non-ASCII bytes through in a host
    if (!HOST_ASCII.test(ch)) return false;
  }
  let port: string;
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0) return false;
    port = host.slice(close + 1);
  } else {
    const colon = host.lastIndexOf(':');
    port = colon < 0 ? '' : host.slice(colon);
  }
  return port === '' || /^:[0-9]*$/.test(port);
}

/**
 * repository.go NewRepository + Repository.Name(): the first path component is a registry when
 * it is "localhost" or holds a '.' or ':'; otherwise the registry is Docker Hub, where a
 * one-component path gets the implicit "library/" namespace. undefined when invalid.
 */
function repositoryName(name: string): string | undefined {
  if (name === '') return undefined;
  let registry = '';
  let repo = name;
  const slash = name.indexOf('/');
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (first === 'localhost' || /[.:]/.test(first)) {
      registry = first;
      repo = name.slice(slash + 1);
    }
  }
  if (!REPOSITORY.test(repo) || !validRegistryHost(registry)) return undefined;
  if (registry === '' || registry === 'docker.io') registry = DEFAULT_REGISTRY;
  const path = registry === DEFAULT_REGISTRY && !repo.includes('/') ? `library/${repo}` : repo;
  // digest.go parses `Repository.Name()` again (after the tag is split off, as it always is when
  // the name parses), so the repository with its implicit "library/" must still be 2 to 255
  // characters: a one-component Docker Hub name of 248 or more is refused there.
  if (!REPOSITORY.test(path)) return undefined;
  return `${registry}/${path}`;
}

/**
 * `name.NewDigest(ref).Repository.Name()` and the digest, or a SignerError where
 * go-containerregistry refuses the reference (Chains then logs the image and leaves it out of
 * the subjects; Cairn refuses the run instead of signing provenance that silently omits an
 * output the run declared).
 */
export function parseDigestReference(ref: string, what: string): DigestReference {
  const r = tryDigestReference(ref);
  if (typeof r === 'string') throw new SignerError('SIGNER_BAD_INPUT', `${what}: ${r}: ${JSON.stringify(ref.slice(0, 200))}`);
  return r;
}

/** As parseDigestReference, but says why instead of throwing (for optional interpretations). */
export function tryDigestReference(ref: string): DigestReference | string {
  // digest.go: exactly one '@'; only the canonical algorithm (sha256), 64 lowercase hex digits
  // (go-digest Algorithm.Validate).
  const parts = ref.split('@');
  if (parts.length !== 2) return 'an image reference needs exactly one "@" before its digest';
  const [base, dig] = parts as [string, string];
  if (!dig.startsWith('sha256:')) return 'an image digest must be sha256';
  const hex = dig.slice('sha256:'.length);
  if (!/^[a-f0-9]{64}$/.test(hex)) return 'an image digest must be sha256 with 64 lowercase hex digits';
  // digest.go then tries name.NewTag on the part before '@': a tag is what follows the last ':'
  // when no '/' follows it (a ':' before a '/' is a registry port). If that parses, the tag is
  // dropped; if not, the whole part must parse as a repository.
  const colon = base.lastIndexOf(':');
  if (colon >= 0 && !base.includes('/', colon)) {
    const tag = base.slice(colon + 1);
    const tagged = tag !== '' && TAG.test(tag) ? repositoryName(base.slice(0, colon)) : undefined;
    if (tagged !== undefined) return { repository: tagged, sha256: hex };
  }
  const repository = repositoryName(base);
  if (repository === undefined) return 'not an image repository name (go-containerregistry pkg/name)';
  return { repository, sha256: hex };
}
