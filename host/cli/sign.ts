/**
 * `cairn sign FILE...` and `cairn attest FILE --predicate P --type T`: keyless signatures against
 * a Cairn stack (or any Sigstore-compatible one). Endpoints come from --signing-config (default:
 * the one `cairn up` writes); the identity is a JWT-SVID from the Workload API socket, or a token.
 * Each FILE gets FILE.sigstore.json (bundle v0.3).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { isCairnError } from '../errors.js';
import { readSigningConfig } from '../signer/clients.js';
import { identityToken, type IdentitySource } from '../signer/identity.js';
import { IN_TOTO, signArtifact, signDsse, statement } from '../signer/sign.js';
import { createHash } from 'node:crypto';

/** The identity and endpoint options every signing command takes (sign, attest, build, chains). */
export interface SignerOptions {
  signingConfig: string;
  identityToken?: string;
  identityTokenFile?: string;
  identityTokenEnv?: string;
  socket?: string;
  audience: string;
}

interface Common extends SignerOptions {
  out?: string;
}

export function identity(o: SignerOptions): IdentitySource {
  const defaultSocket = join('.cairn', 'spiffe', 'agent.sock');
  return {
    ...(o.identityToken ? { token: o.identityToken } : {}),
    ...(o.identityTokenFile ? { tokenFile: o.identityTokenFile } : {}),
    ...(o.identityTokenEnv ? { tokenEnv: o.identityTokenEnv } : {}),
    ...(o.socket ? { socket: o.socket } : !process.env.SPIFFE_ENDPOINT_SOCKET && existsSync(defaultSocket) ? { socket: defaultSocket } : {}),
    audience: o.audience,
  };
}

export function withSignerOptions(cmd: Command): Command {
  return cmd
    .option('--signing-config <file>', 'signing_config.json naming the CA, log and TSA', '.cairn/signing_config.json')
    .option('--identity-token <jwt>', 'an OIDC identity token (instead of a JWT-SVID)')
    .option('--identity-token-file <file>', 'read the identity token from a file')
    .option('--identity-token-env <var>', 'read the identity token from an environment variable')
    .option('--socket <path>', 'Workload API socket (default $SPIFFE_ENDPOINT_SOCKET, then .cairn/spiffe/agent.sock)')
    .option('--audience <aud>', 'JWT-SVID audience', 'sigstore');
}

function withCommon(cmd: Command): Command {
  return withSignerOptions(cmd).option('--out <file>', 'bundle path (default FILE.sigstore.json)');
}

/** Runs a command body; a coded error becomes one line on stderr and exit status 1. */
export async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    process.stderr.write(`cairn: ${isCairnError(e) ? `${e.code}: ` : ''}${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

export function registerSign(program: Command): void {
  withCommon(program.command('sign').description('sign files keylessly (message-signature bundles)').argument('<files...>')).action((files: string[], o: Common) =>
    run(async () => {
      const endpoints = await readSigningConfig(o.signingConfig);
      const src = identity(o);
      for (const f of files) {
        const bundle = await signArtifact(await readFile(f), { endpoints, token: () => identityToken(src) });
        const out = files.length === 1 && o.out ? o.out : `${f}.sigstore.json`;
        await writeFile(out, JSON.stringify(bundle));
        process.stdout.write(`signed ${f} -> ${out}\n`);
      }
    }),
  );
  withCommon(
    program
      .command('attest')
      .description('attest to a file keylessly: an in-toto statement (subject = FILE) in a DSSE bundle')
      .argument('<file>')
      .requiredOption('--predicate <file>', 'predicate JSON')
      .requiredOption('--type <uri>', 'predicate type, e.g. https://slsa.dev/provenance/v1'),
  ).action((file: string, o: Common & { predicate: string; type: string }) =>
    run(async () => {
      const endpoints = await readSigningConfig(o.signingConfig);
      const predicate = JSON.parse(await readFile(o.predicate, 'utf8')) as unknown;
      const digest = createHash('sha256').update(await readFile(file)).digest('hex');
      const st = statement([{ name: file.split('/').pop()!, digest: { sha256: digest } }], o.type, predicate);
      const bundle = await signDsse(st, IN_TOTO, { endpoints, token: () => identityToken(identity(o)) });
      const out = o.out ?? `${file}.sigstore.json`;
      await writeFile(out, JSON.stringify(bundle));
      process.stdout.write(`attested ${file} (${o.type}) -> ${out}\n`);
    }),
  );
}
