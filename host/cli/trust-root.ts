/**
 * `cairn trust-root ...`: read and amend a trusted_root.json (host/trust/trust-files.ts).
 *
 *   cairn trust-root show .cairn/trusted_root.json
 *   cairn trust-root distrust .cairn/trusted_root.json --ca <sha256> --since 2026-11-20T00:00:00Z \
 *     --tuf-repo .cairn/tuf
 *
 * `distrust` is the seed's answer to a lost key ("Background": a compromise "can usually be tied to
 * a rough point in time ... Why revoke anything before then?"): the instance's validity window is
 * closed at that time, so signatures, timestamps and log entries whose verified time is later no
 * longer count, and everything signed before stays valid. With --tuf-repo the new file is
 * published as the repository's trusted_root.json target, which is how clients (sigstore-js,
 * `cairn verify --tuf`) receive it. The key itself must then be replaced: `cairn ca rotate` for
 * the stack's issuing CA; `cairn up` never reopens a closed window when it merges its keys in.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { isCairnError } from '../errors.js';
import { distrustInstance, listInstances, serializeTrustFile, type InstanceKind } from '../trust/trust-files.js';
import { addTargets, writeAtomic } from '../trust/tuf-repo.js';

function readJson(cmd: Command, path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return cmd.error(`cairn trust-root: ${path}: ${(e as Error).message}`, { exitCode: 1, code: 'TRUST_PREVIOUS_MALFORMED' });
  }
}

function run(cmd: Command, op: () => void): void {
  try {
    op();
  } catch (err) {
    if (isCairnError(err)) cmd.error(`cairn trust-root: ${err.code}: ${err.message}`, { exitCode: 1, code: err.code });
    throw err;
  }
}

export function registerTrustRoot(program: Command): void {
  const tr = program.command('trust-root').description('read a trusted_root.json, or close an instance\'s validity window from the time its key was lost');

  tr.command('show')
    .description('list every CA, TSA, log and CT log with its id and validity window (one JSON line each)')
    .argument('<file>', 'trusted_root.json')
    .action(function (this: Command, file: string) {
      run(this, () => {
        for (const i of listInstances(readJson(this, file))) process.stdout.write(`${JSON.stringify(i)}\n`);
      });
    });

  tr.command('distrust')
    .description('end the trust in one instance at --since: what it signed or logged later no longer verifies, what came before still does')
    .argument('<file>', 'trusted_root.json, rewritten in place')
    .addOption(new Option('--ca <sha256>', 'certificate authority, by the SHA-256 of its first certificate (see show)').conflicts(['tsa', 'tlog', 'ctlog']))
    .addOption(new Option('--tsa <sha256>', 'timestamp authority, likewise').conflicts(['tlog', 'ctlog']))
    .addOption(new Option('--tlog <logid>', 'transparency log, by log ID (hex, or base64 as in the file)').conflicts(['ctlog']))
    .option('--ctlog <logid>', 'CT log, by log ID')
    .requiredOption('--since <time>', 'RFC 3339 time from which the key is no longer trusted, e.g. 2026-11-20T00:00:00Z')
    .option('--tuf-repo <dir>', 'also publish the new file as the trusted_root.json target of this TUF repository')
    .action(function (this: Command, file: string, o: { ca?: string; tsa?: string; tlog?: string; ctlog?: string; since: string; tufRepo?: string }) {
      const picked = (['ca', 'tsa', 'tlog', 'ctlog'] as InstanceKind[]).filter((k) => o[k] !== undefined);
      if (picked.length !== 1) this.error('cairn trust-root: give one of --ca, --tsa, --tlog, --ctlog', { exitCode: 2 });
      const kind = picked[0]!;
      // RFC 3339 with an explicit offset: a bare date or local time would shift by the machine's zone.
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(o.since) || Number.isNaN(Date.parse(o.since))) {
        this.error(`cairn trust-root: --since must be an RFC 3339 time with a zone, e.g. 2026-11-20T00:00:00Z (got ${o.since})`, { exitCode: 2 });
      }
      run(this, () => {
        const { root, instance } = distrustInstance(readJson(this, file), kind, o[kind]!, new Date(o.since));
        const bytes = serializeTrustFile(root);
        writeAtomic(file, bytes);
        const tuf = o.tufRepo === undefined ? undefined : addTargets(o.tufRepo, [{ name: 'trusted_root.json', data: bytes }]);
        process.stdout.write(`${JSON.stringify({ distrusted: instance, file, ...(tuf ? { tuf } : {}) })}\n`);
      });
    });
}
