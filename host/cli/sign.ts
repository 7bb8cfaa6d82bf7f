/**
 * `cairn sign FILE...` and `cairn attest FILE --predicate P --type T`: keyless signatures against
 * a Cairn stack (or any Sigstore-compatible one). Endpoints come from --signing-config (default:
 * the one `cairn up` writes); the identity is a JWT-SVID from the Workload API socket, or a token.
 * Each FILE gets FILE.sigstore.json (bundle v0.3); an attestation goes to FILE.intoto.sigstore.json
 * (the SLSA `.intoto` naming), so attesting a file never overwrites its signature bundle.
 *
 * With --witness <vkey> (repeatable) the bundle is written only once the log's checkpoint carries
 * those witnesses' cosignatures, with the inclusion proof against that checkpoint, so it verifies
 * witnessed offline. `cairn witness-bundle B...` does the same to bundles already made.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
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

interface Witnessing {
  witness?: string[];
  witnessThreshold?: number;
  witnessWait: number;
}

interface Common extends SignerOptions, Witnessing {
  out?: string;
}

function withWitnessOptions(cmd: Command): Command {
  return cmd
    .option('--witness <vkey>', 'wait for this C2SP witness\'s cosignature and put the cosigned checkpoint in the bundle (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--witness-threshold <n>', 'how many of the --witness keys (default: all)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number from 1');
      return n;
    })
    .option('--witness-wait <seconds>', 'how long to wait for the cosignatures', (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('0..3600 seconds');
      return n;
    }, 30);
}

/** The bundle, witnessed when --witness was given (host/signer/witness-bundle.ts). */
async function witnessed(bundle: Record<string, unknown>, o: Witnessing, logUrl: string): Promise<Record<string, unknown>> {
  if (!o.witness?.length) return bundle;
  const { parseWitnessVkey } = await import('../log/note.js');
  const { witnessBundle } = await import('../signer/witness-bundle.js');
  return witnessBundle(bundle, { logUrl, witnesses: o.witness.map(parseWitnessVkey), ...(o.witnessThreshold ? { threshold: o.witnessThreshold } : {}), waitMs: o.witnessWait * 1000 });
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

function withCommon(cmd: Command, suffix = '.sigstore.json'): Command {
  return withWitnessOptions(withSignerOptions(cmd).option('--out <file>', `bundle path (default FILE${suffix})`));
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
        const bundle = await witnessed(await signArtifact(await readFile(f), { endpoints, token: () => identityToken(src) }), o, endpoints.log);
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
    '.intoto.sigstore.json',
  ).action((file: string, o: Common & { predicate: string; type: string }) =>
    run(async () => {
      const endpoints = await readSigningConfig(o.signingConfig);
      const predicate = JSON.parse(await readFile(o.predicate, 'utf8')) as unknown;
      const digest = createHash('sha256').update(await readFile(file)).digest('hex');
      const st = statement([{ name: file.split('/').pop()!, digest: { sha256: digest } }], o.type, predicate);
      const bundle = await witnessed(await signDsse(st, IN_TOTO, { endpoints, token: () => identityToken(identity(o)) }), o, endpoints.log);
      const out = o.out ?? `${file}.intoto.sigstore.json`;
      await writeFile(out, JSON.stringify(bundle));
      process.stdout.write(`attested ${file} (${o.type}) -> ${out}\n`);
    }),
  );
  withWitnessOptions(
    program
      .command('witness-bundle')
      .description('put a witness-cosigned checkpoint into existing bundles (inclusion proofs refreshed from the log), so they verify witnessed offline')
      .argument('<bundles...>')
      .option('--log <url>', 'the Rekor v1 log (default: the one in --signing-config)')
      .option('--signing-config <file>', 'signing_config.json naming the log', '.cairn/signing_config.json'),
  ).action((bundles: string[], o: Witnessing & { log?: string; signingConfig: string }) =>
    run(async () => {
      if (!o.witness?.length) throw new InvalidArgumentError('give at least one --witness <vkey>');
      const logUrl = o.log ?? (await readSigningConfig(o.signingConfig)).log;
      for (const b of bundles) {
        await writeFile(b, JSON.stringify(await witnessed(JSON.parse(await readFile(b, 'utf8')) as Record<string, unknown>, o, logUrl)));
        process.stdout.write(`witnessed ${b}\n`);
      }
    }),
  );
}
