/**
 * `cairn tuf ...`: maintain the TUF repository that distributes trusted_root.json and
 * signing_config.json (host/trust/tuf-repo.ts). Every command prints one JSON status line.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { isCairnError } from '../errors.js';
import { addTargets, bumpRoot, initRepo, refresh, repoStatus, rotateKey } from '../trust/tuf-repo.js';
import { TOP_LEVEL_ROLES, type RoleName } from '../trust/tuf.js';

/** Runs an operation, prints its JSON status line; coded errors become a one-line CLI error. */
function run(cmd: Command, op: () => unknown): void {
  try {
    process.stdout.write(`${JSON.stringify(op())}\n`);
  } catch (err) {
    if (isCairnError(err)) cmd.error(`cairn tuf: ${err.code}: ${err.message}`, { exitCode: 1, code: err.code });
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EACCES') cmd.error(`cairn tuf: ${e.message}`, { exitCode: 1, code: e.code });
    throw err;
  }
}

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}

export function registerTuf(program: Command): void {
  const tuf = program.command('tuf').description('TUF repository for trusted_root.json and signing_config.json');

  tuf
    .command('init')
    .description('create a repository: keys (0600) and version 1 of root, targets, snapshot, timestamp')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--threshold <n>', 'signature threshold (and number of keys) for every role', positive, 1)
    .option('--root-threshold <n>', 'threshold for the root role (overrides --threshold)', positive)
    .option('--root-expires <days>', 'root lifetime in days', positive, 365)
    .option('--targets-expires <days>', 'targets lifetime in days', positive, 90)
    .option('--snapshot-expires <days>', 'snapshot lifetime in days', positive, 7)
    .option('--timestamp-expires <days>', 'timestamp lifetime in days', positive, 1)
    .action(function (this: Command, o: { repo: string; threshold: number; rootThreshold?: number; rootExpires: number; targetsExpires: number; snapshotExpires: number; timestampExpires: number }) {
      const day = 86400;
      run(this, () =>
        initRepo(o.repo, {
          thresholds: { root: o.rootThreshold ?? o.threshold, targets: o.threshold, snapshot: o.threshold, timestamp: o.threshold },
          expires: { root: o.rootExpires * day, targets: o.targetsExpires * day, snapshot: o.snapshotExpires * day, timestamp: o.timestampExpires * day },
        }),
      );
    });

  tuf
    .command('add-target')
    .description('add or replace target files (new targets, snapshot and timestamp versions)')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--name <name>', 'target name (default: the file name; only with one file)')
    .argument('<files...>', 'files to publish, e.g. trusted_root.json signing_config.v0.2.json')
    .action(function (this: Command, files: string[], o: { repo: string; name?: string }) {
      if (o.name !== undefined && files.length !== 1) this.error('cairn tuf: --name needs exactly one file');
      run(this, () => addTargets(o.repo, files.map((f) => ({ name: o.name ?? basename(f), data: readFileSync(f) }))));
    });

  tuf
    .command('refresh')
    .description('re-sign snapshot and timestamp, and targets once half its lifetime is gone, with fresh expirations (run from cron before the timestamp expires)')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--timestamp-only', 'refresh only the timestamp')
    .action(function (this: Command, o: { repo: string; timestampOnly?: boolean }) {
      run(this, () => refresh(o.repo, { snapshot: !o.timestampOnly }));
    });

  tuf
    .command('rotate-key')
    .description('replace the keys of a role and publish root version N+1 signed by old and new root keys')
    .requiredOption('--repo <dir>', 'repository directory')
    .addOption(new Option('--role <role>', 'the role whose keys to replace').choices(TOP_LEVEL_ROLES).makeOptionMandatory())
    .option('--threshold <n>', 'new threshold (and number of new keys) for the role', positive)
    .action(function (this: Command, o: { repo: string; role: RoleName; threshold?: number }) {
      run(this, () => rotateKey(o.repo, o.role, o.threshold === undefined ? {} : { threshold: o.threshold }));
    });

  tuf
    .command('bump-root')
    .description('publish root version N+1 with the same keys and a fresh expiration')
    .requiredOption('--repo <dir>', 'repository directory')
    .action(function (this: Command, o: { repo: string }) {
      run(this, () => bumpRoot(o.repo));
    });

  tuf
    .command('status')
    .description('versions, expirations and targets')
    .requiredOption('--repo <dir>', 'repository directory')
    .action(function (this: Command, o: { repo: string }) {
      run(this, () => repoStatus(o.repo));
    });
}
