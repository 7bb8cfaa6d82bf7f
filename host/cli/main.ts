/**
 * The `cairn` command. Each command group lives in its own file and registers itself here; only
 * the CLI ever calls `listen` (services expose `build(opts)` / `startStandalone(opts)`).
 */
import { Command } from 'commander';
import { registerServe } from './serve.js';
import { registerTuf } from './tuf.js';
import { registerSpiffe } from './spiffe.js';
import { registerUp } from './up.js';
import { registerVerify } from './verify.js';
import { registerSign } from './sign.js';
import { registerChains } from './chains.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('cairn')
    .description('Zero-trust software supply chain: SPIFFE identity, keyless CA, transparency log, TSA, verifier')
    .showHelpAfterError();
  registerServe(program);
  registerTuf(program);
  registerSpiffe(program);
  registerUp(program);
  registerVerify(program);
  registerSign(program);
  registerChains(program);
  // Further command groups register here (one line each): up, verify, sign, attest, chains, build, tuf, spiffe.
  await program.parseAsync(argv);
}
