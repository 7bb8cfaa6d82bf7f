/**
 * Sigstore conformance, offline (conformance/vectors/sigstore-conformance/INDEX.txt): every
 * bundle-verify case, run twice — with the artifact path and with `sha256:<hex>` — through the
 * in-process verifier. A case whose directory ends in `_fail` must fail; every other case must
 * pass. Cases without their own trusted_root.json use the production root (root-signing).
 * A pass table is printed at the end.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyFiles } from '../host/verify/index.js';

const ASSETS = join(import.meta.dirname, 'vectors/sigstore-conformance/test/assets/bundle-verify');
const PROD_ROOT = join(import.meta.dirname, 'vectors/root-signing/targets/trusted_root.json');
const DEFAULT_IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

const cases = readdirSync(ASSETS, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const table: { name: string; mode: string; expected: string; got: string; detail: string }[] = [];

export async function runCase(dir: string, mode: 'PATH' | 'DIGEST'): Promise<{ ok: boolean; detail: string }> {
  const c = join(ASSETS, dir);
  const artifactPath = existsSync(join(c, 'artifact')) ? join(c, 'artifact') : join(ASSETS, 'a.txt');
  const artifact = mode === 'PATH' ? artifactPath : `sha256:${createHash('sha256').update(readFileSync(artifactPath)).digest('hex')}`;
  const read = (f: string, d: string): string => (existsSync(join(c, f)) ? readFileSync(join(c, f), 'utf8').trim() : d);
  const key = existsSync(join(c, 'key.pub')) ? join(c, 'key.pub') : undefined;
  try {
    const r = await verifyFiles({
      artifact,
      bundle: join(c, 'bundle.sigstore.json'),
      trustedRoot: existsSync(join(c, 'trusted_root.json')) ? join(c, 'trusted_root.json') : PROD_ROOT,
      ...(key ? { key } : {}),
      policy: key ? {} : { identity: read('identity', DEFAULT_IDENTITY), issuer: read('issuer', DEFAULT_ISSUER) },
    });
    return { ok: true, detail: r.identity ?? 'key' };
  } catch (e) {
    return { ok: false, detail: `${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}` };
  }
}

describe('sigstore-conformance bundle-verify (offline)', () => {
  for (const name of cases) {
    for (const mode of ['PATH', 'DIGEST'] as const) {
      it(`${mode}-${name}`, async () => {
        const expected = name.endsWith('fail') ? 'fail' : 'pass';
        const r = await runCase(name, mode);
        table.push({ name, mode, expected, got: r.ok ? 'pass' : 'fail', detail: r.detail });
        expect(r.ok ? 'pass' : 'fail', r.detail).toBe(expected);
      });
    }
  }
  afterAll(() => {
    const ok = table.filter((r) => r.expected === r.got).length;
    const lines = table.map((r) => `${r.expected === r.got ? 'ok  ' : 'FAIL'} ${r.mode.padEnd(6)} ${r.name.padEnd(58)} expect ${r.expected}  ${r.expected === r.got ? '' : r.detail}`);
    console.log(`\nsigstore-conformance: ${ok}/${table.length} (${cases.length} cases x 2 modes)\n${lines.join('\n')}`);
  });
});
