/**
 * RFC 8785 (JSON Canonicalization Scheme) through the `canonicalize` package. The package is
 * CommonJS with a `module.exports = fn` body but an ESM-style `export default` declaration, so
 * under NodeNext the default import is typed as the module; this file pins the real shape once.
 */
import canonicalizeModule from 'canonicalize';

const impl = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export function jcs(input: unknown): string {
  const s = impl(input);
  if (s === undefined) throw new TypeError('value cannot be canonicalized');
  return s;
}
