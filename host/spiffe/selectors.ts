/**
 * Selectors: `type:value` facts about a workload or node, produced by attestation and required by
 * registration entries. An entry matches when ALL of its selectors are among the caller's
 * (SPIRE's "subset" semantics), so adding a selector to an entry only ever narrows who gets it.
 *
 * Known selectors:
 *   unix:uid:<n>  unix:gid:<n>  unix:path:<absolute exe path>   (workload, from peer credentials)
 *   tpm:pcr:sha256:<i>:<64 hex>  tpm:ak:<64 hex>  tpm:ek:<64 hex> (node, from a TPM quote; ek with credential activation)
 *   tpm:ek-ca:<64 hex>  tpm:manufacturer:<v>  tpm:model:<v>  tpm:version:<v> (node, from an EK certificate that chains to a tpmEkCas CA)
 *   join_token:<token id>                                        (node, from a join token)
 */
import { SpiffeError } from './errors.js';

const RULES: { re: RegExp; what: string }[] = [
  { re: /^unix:uid:(0|[1-9][0-9]{0,9})$/, what: 'unix:uid:<decimal>' },
  { re: /^unix:gid:(0|[1-9][0-9]{0,9})$/, what: 'unix:gid:<decimal>' },
  { re: /^unix:path:\/[^\0\n]{0,4095}$/, what: 'unix:path:<absolute path>' },
  { re: /^tpm:pcr:sha256:([0-9]|1[0-9]|2[0-3]):[0-9a-f]{64}$/, what: 'tpm:pcr:sha256:<0-23>:<64 lower-case hex>' },
  { re: /^tpm:ak:[0-9a-f]{64}$/, what: 'tpm:ak:<64 lower-case hex>' },
  { re: /^tpm:ek:[0-9a-f]{64}$/, what: 'tpm:ek:<64 lower-case hex>' },
  { re: /^tpm:ek-ca:[0-9a-f]{64}$/, what: 'tpm:ek-ca:<64 lower-case hex: SHA-256 of the TPM vendor CA\'s SPKI>' },
  { re: /^tpm:(manufacturer|model|version):[\x21-\x7e]{1,64}$/, what: 'tpm:manufacturer|model|version:<value from the EK certificate, e.g. id:00001014>' },
  { re: /^join_token:[A-Za-z0-9_-]{1,128}$/, what: 'join_token:<id>' },
];

export function parseSelector(s: unknown): string {
  if (typeof s !== 'string' || s.length > 4200) throw new SpiffeError('SPIFFE_BAD_SELECTOR', 'selector must be a string of at most 4200 characters');
  if (RULES.some((r) => r.re.test(s))) return s;
  throw new SpiffeError('SPIFFE_BAD_SELECTOR', `unknown or malformed selector "${s.slice(0, 80)}"; expected one of ${RULES.map((r) => r.what).join(', ')}`);
}

/** True when every required selector is present in `have` (an empty requirement never matches). */
export function selectorsMatch(required: readonly string[], have: ReadonlySet<string>): boolean {
  return required.length > 0 && required.every((s) => have.has(s));
}
