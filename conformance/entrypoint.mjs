/**
 * The sigstore-conformance CLI protocol, exactly (args always in this order):
 *   entrypoint sign-bundle [--staging] [--in-toto] --identity-token T --bundle F [--trusted-root F] [--signing-config F] FILE
 *   entrypoint verify-bundle [--staging] --bundle F (--certificate-identity ID --certificate-oidc-issuer URL | --key K) [--trusted-root F] FILE_OR_DIGEST
 * Exit status is the verdict. Verification runs Cairn's verifier (dist/, built by `npm install`);
 * signing uses the sigstore-js client against the endpoints of --signing-config (a Cairn stack's
 * signing_config.json), because Cairn's own signer is not built yet.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [cmd, ...rest] = process.argv.slice(2);
const flags = {};
const positional = [];
for (let i = 0; i < rest.length; i++) {
  const a = rest[i];
  if (a === '--staging' || a === '--in-toto') flags[a.slice(2)] = true;
  else if (a.startsWith('--')) flags[a.slice(2)] = rest[++i];
  else positional.push(a);
}
const target = positional[0];

try {
  if (cmd === 'verify-bundle') {
    if (flags.staging) throw new Error('--staging needs network access to the Sigstore staging TUF repository; pass --trusted-root');
    const { verifyFiles } = await import(`${root}dist/host/verify/index.js`);
    const trustedRoot = flags['trusted-root'] ?? `${root}conformance/vectors/root-signing/targets/trusted_root.json`;
    const policy = flags.key ? {} : { identity: flags['certificate-identity'], issuer: flags['certificate-oidc-issuer'] };
    const r = await verifyFiles({ artifact: target, bundle: flags.bundle, trustedRoot, ...(flags.key ? { key: flags.key } : {}), policy });
    process.stdout.write(`OK: ${r.identity ?? 'key'}\n`);
  } else if (cmd === 'sign-bundle') {
    if (!flags['signing-config']) throw new Error('sign-bundle needs --signing-config (a Cairn stack writes one)');
    const cfg = JSON.parse(await readFile(flags['signing-config'], 'utf8'));
    const newest = (l) => (l ?? []).slice().sort((a, b) => (b.validFor?.start ?? '').localeCompare(a.validFor?.start ?? ''))[0]?.url;
    const { sign, attest } = await import('sigstore');
    const opts = { fulcioURL: newest(cfg.caUrls), rekorURL: newest(cfg.rekorTlogUrls), tsaServerURL: newest(cfg.tsaUrls), identityToken: flags['identity-token'] };
    const data = await readFile(target);
    const bundle = flags['in-toto'] ? await attest(data, 'application/vnd.in-toto+json', opts) : await sign(data, opts);
    await writeFile(flags.bundle, JSON.stringify(bundle));
  } else {
    throw new Error(`unknown command ${cmd}; expected sign-bundle or verify-bundle`);
  }
} catch (e) {
  process.stderr.write(`${e.code ?? 'ERROR'}: ${e.message}\n`);
  process.exit(1);
}
