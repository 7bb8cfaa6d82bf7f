/**
 * The `cairn` command. Each command group lives in its own file and registers itself here; only
 * the CLI ever calls `listen` (services expose `build(opts)` / `startStandalone(opts)`).
 *
 * The groups are imported on demand: `cairn verify` loads the verifier and not the services
 * behind `serve` and `up` (fastify, SQLite, the CA), which took most of a one-bundle check's
 * 0.42 s here (importing every group: 310 ms; the verify group alone: 106 ms). Help, an unknown
 * command or no command at all registers every group, as before.
 */
import { Command } from 'commander';

type Register = (program: Command) => void;

/** Top-level command name → the module that registers it. */
const GROUPS: Record<string, () => Promise<Register>> = {
  serve: async () => (await import('./serve.js')).registerServe,
  tuf: async () => (await import('./tuf.js')).registerTuf,
  spiffe: async () => (await import('./spiffe.js')).registerSpiffe,
  up: async () => (await import('./up.js')).registerUp,
  verify: async () => (await import('./verify.js')).registerVerify,
  sign: async () => (await import('./sign.js')).registerSign,
  attest: async () => (await import('./sign.js')).registerSign,
  'witness-bundle': async () => (await import('./sign.js')).registerSign,
  chains: async () => (await import('./chains.js')).registerChains,
  build: async () => (await import('./chains.js')).registerChains,
  'trust-domain': async () => (await import('./trust-domain.js')).registerTrustDomain,
  monitor: async () => (await import('./monitor.js')).registerMonitor,
  'trust-root': async () => (await import('./trust-root.js')).registerTrustRoot,
  ca: async () => (await import('./ca.js')).registerCa,
};

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('cairn')
    .description('Zero-trust software supply chain: SPIFFE identity, keyless CA, transparency log, TSA, verifier')
    .showHelpAfterError();
  const wanted = argv[2] !== undefined ? GROUPS[argv[2]] : undefined;
  const registers = wanted ? [await wanted()] : [...new Set(await Promise.all(Object.values(GROUPS).map((load) => load())))];
  for (const register of registers) register(program);
  await program.parseAsync(argv);
}
