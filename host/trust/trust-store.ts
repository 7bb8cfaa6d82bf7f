/**
 * Keeps trusted_root.json and signing_config.json on disk for a running stack: reads what was
 * written last time, merges in the current keys and URLs (host/trust/trust-files.ts), writes the
 * result atomically, and (optionally) publishes both as targets of the TUF repository.
 * This is the function `cairn up` calls on every start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TrustError } from './errors.js';
import {
  buildSigningConfig,
  mergeTrustedRoot,
  serializeTrustFile,
  type SigningConfigInput,
  type SigningConfigJSON,
  type TrustedRootInput,
  type TrustedRootJSON,
} from './trust-files.js';
import { addTargets, initRepo, type InitOptions, type RepoStatus } from './tuf-repo.js';
import { writeAtomic } from './tuf-repo.js';

export interface WriteTrustFilesOptions {
  /** Directory for trusted_root.json and signing_config.json (e.g. `.cairn/`). */
  dir: string;
  trustedRoot: TrustedRootInput;
  signingConfig: SigningConfigInput;
  now?: Date;
  /** When set, both files are published as TUF targets there (the repo is created if absent). */
  tufRepoDir?: string;
  tufInit?: InitOptions;
}

export interface WrittenTrustFiles {
  trustedRootPath: string;
  signingConfigPath: string;
  trustedRoot: TrustedRootJSON;
  signingConfig: SigningConfigJSON;
  tuf?: RepoStatus & { changed: boolean };
}

export function writeTrustFiles(opts: WriteTrustFilesOptions): WrittenTrustFiles {
  const now = opts.now ?? new Date();
  const trustedRootPath = join(opts.dir, 'trusted_root.json');
  const signingConfigPath = join(opts.dir, 'signing_config.json');
  const trustedRoot = mergeTrustedRoot(readPrevious(trustedRootPath), opts.trustedRoot, now);
  const signingConfig = buildSigningConfig(opts.signingConfig, readPrevious(signingConfigPath));
  const rootBytes = serializeTrustFile(trustedRoot);
  const configBytes = serializeTrustFile(signingConfig);
  writeIfChanged(trustedRootPath, rootBytes);
  writeIfChanged(signingConfigPath, configBytes);
  const out: WrittenTrustFiles = { trustedRootPath, signingConfigPath, trustedRoot, signingConfig };
  if (opts.tufRepoDir !== undefined) {
    if (!existsSync(join(opts.tufRepoDir, 'repo.json'))) {
      try {
        initRepo(opts.tufRepoDir, { now, ...opts.tufInit });
      } catch (e) {
        // Another process initialised it first (initRepo runs under the repository's lock).
        if (!(e instanceof TrustError && e.code === 'TUF_REPO_STATE' && existsSync(join(opts.tufRepoDir, 'repo.json')))) throw e;
      }
    }
    out.tuf = addTargets(
      opts.tufRepoDir,
      [
        { name: 'trusted_root.json', data: rootBytes },
        { name: 'signing_config.v0.2.json', data: configBytes },
      ],
      { now },
    );
  }
  return out;
}

function readPrevious(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new TrustError('TRUST_PREVIOUS_MALFORMED', `${path} is not valid JSON`, { cause });
  }
}

function writeIfChanged(path: string, data: Uint8Array): void {
  if (existsSync(path) && Buffer.compare(readFileSync(path), data) === 0) return;
  writeAtomic(path, data);
}
