/**
 * The real `conformance/entrypoint verify-bundle` process (the sigstore-conformance CLI protocol)
 * on a subset of cases, both modes; conformance.test.ts covers all 70 in-process.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const ENTRY = join(import.meta.dirname, 'entrypoint');
const ASSETS = join(import.meta.dirname, 'vectors/sigstore-conformance/test/assets/bundle-verify');
const ID = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISS = 'https://token.actions.githubusercontent.com';
const built = existsSync(join(import.meta.dirname, '../dist/host/verify/index.js'));
if (!built) console.warn('entrypoint test skipped: dist/ not built (npm install or npm run build:ts builds it)');

for (const name of ['happy-path-v0.3', 'rekor2-happy-path', 'managed-key-happy-path', 'signature-mismatch_fail', 'checkpoint-bad-keyhint_fail']) {
  for (const mode of ['PATH', 'DIGEST']) {
    it.skipIf(!built)(`entrypoint verify-bundle ${mode}-${name}`, async () => {
      const c = join(ASSETS, name);
      const art = join(ASSETS, 'a.txt');
      const input = mode === 'PATH' ? art : `sha256:${createHash('sha256').update(readFileSync(art)).digest('hex')}`;
      const args = ['verify-bundle', '--bundle', join(c, 'bundle.sigstore.json')];
      if (existsSync(join(c, 'key.pub'))) args.push('--key', join(c, 'key.pub'));
      else args.push('--certificate-identity', ID, '--certificate-oidc-issuer', ISS);
      if (existsSync(join(c, 'trusted_root.json'))) args.push('--trusted-root', join(c, 'trusted_root.json'));
      args.push(input);
      let code = 0;
      try {
        await run(ENTRY, args);
      } catch (e) {
        code = (e as { code: number }).code;
      }
      expect(code === 0 ? 'pass' : 'fail').toBe(name.endsWith('fail') ? 'fail' : 'pass');
    });
  }
}
