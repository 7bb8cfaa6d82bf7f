/**
 * `cairn ca rotate --data-dir .cairn/ca`: a new issuing key and intermediate certificate for a CA
 * that Cairn generated (host/ca/keys.ts rotateGeneratedCa), under the same root. Run it with the
 * CA stopped; the next start issues with the new key and lists the new chain in trusted_root.json.
 * After a key compromise, `cairn trust-root distrust` first closes the old chain's window at the
 * time the key was lost.
 */
import type { Command } from 'commander';
import { isCairnError } from '../errors.js';
import { rotateGeneratedCa } from '../ca/keys.js';

export function registerCa(program: Command): void {
  const ca = program.command('ca').description('maintain a CA that Cairn generated');
  ca.command('rotate')
    .description('replace the issuing key and intermediate certificate (same root); restart the CA to use them')
    .requiredOption('--data-dir <dir>', 'the CA\'s data directory (for `cairn up`: <data dir>/ca)')
    .action(async function (this: Command, o: { dataDir: string }) {
      try {
        const r = await rotateGeneratedCa(o.dataDir);
        process.stdout.write(`${JSON.stringify({ rotated: true, ...r })}\n`);
      } catch (err) {
        if (isCairnError(err)) this.error(`cairn ca: ${err.code}: ${err.message}`, { exitCode: 1, code: err.code });
        throw err;
      }
    });
}
