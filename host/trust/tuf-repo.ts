/**
 * A TUF repository on disk (TUF specification v1.0.x), made for distributing trusted_root.json
 * and signing_config.json to Sigstore clients (the way sigstore/root-signing does).
 *
 * Layout of DIR:
 *   repo.json                     expiry periods per role (no secrets)
 *   keys/<keyid>.pem              Ed25519 PKCS#8 private keys, mode 0600, directory 0700
 *   metadata/<N>.root.json        every root version (clients walk N -> N+1, §5.3)
 *   metadata/<N>.targets.json     consistent snapshots (§4.4 consistent_snapshot = true, §5.6/§5.5)
 *   metadata/<N>.snapshot.json
 *   metadata/timestamp.json       the only unversioned file clients fetch (§5.4)
 *   metadata/{root,targets,snapshot}.json  convenience copies of the newest version
 *   targets/<sha256>.<name>       hash-prefixed target files (§5.7.3)
 *
 * Files are written to a temporary name and renamed, and in dependency order (targets, then
 * targets metadata, then snapshot, then timestamp) so a client reading concurrently never sees a
 * timestamp that points at something not yet published.
 */
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TrustError } from './errors.js';
import { writeFileDurablySync } from '../keys/file.js';
import {
  TOP_LEVEL_ROLES,
  TUF_SPEC_VERSION,
  checkTargetName,
  checkThreshold,
  expiryAfter,
  generateSigner,
  serializeMetadata,
  sha256Hex,
  signMetadata,
  signerFromPem,
  type AnyMeta,
  type RoleName,
  type RootMeta,
  type Signed,
  type SnapshotMeta,
  type TargetsMeta,
  type TimestampMeta,
  type TufSigner,
} from './tuf.js';

/** Default lifetimes in seconds: long for the offline root, short for the online timestamp. */
export const DEFAULT_EXPIRES: Record<RoleName, number> = {
  root: 365 * 86400,
  targets: 90 * 86400,
  snapshot: 7 * 86400,
  timestamp: 86400,
};

export interface InitOptions {
  now?: Date;
  /** Lifetime in seconds per role (defaults DEFAULT_EXPIRES). */
  expires?: Partial<Record<RoleName, number>>;
  /** Signature threshold per role; that many keys are generated (default 1 each). */
  thresholds?: Partial<Record<RoleName, number>>;
}

export interface RepoStatus {
  dir: string;
  versions: Record<RoleName, number>;
  expires: Record<RoleName, string>;
  targets: Record<string, { length: number; sha256: string }>;
}

interface RepoConfig { expires: Record<RoleName, number> }

interface RepoState {
  dir: string;
  config: RepoConfig;
  root: Signed<RootMeta>;
  targets: Signed<TargetsMeta>;
  snapshot: Signed<SnapshotMeta>;
  timestamp: Signed<TimestampMeta>;
  signers: Map<string, TufSigner>;
}

export function initRepo(dir: string, opts: InitOptions = {}): RepoStatus {
  // Under the writer's lock: two first starts at once (`cairn up` and `cairn tuf init`) must not
  // both create keys and a root.
  mkdirSync(dir, { recursive: true });
  return holdingLock(dir, () => initRepoLocked(dir, opts));
}

function initRepoLocked(dir: string, opts: InitOptions): RepoStatus {
  if (existsSync(join(dir, 'repo.json'))) throw new TrustError('TUF_REPO_STATE', `${dir} already holds a TUF repository`);
  const now = opts.now ?? new Date();
  const config: RepoConfig = { expires: { ...DEFAULT_EXPIRES, ...opts.expires } };
  for (const r of TOP_LEVEL_ROLES) checkPositive(config.expires[r], `expires.${r}`);
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  chmodSync(join(dir, 'keys'), 0o700);
  mkdirSync(join(dir, 'metadata'), { recursive: true });
  mkdirSync(join(dir, 'targets'), { recursive: true });
  const signers = new Map<string, TufSigner>();
  const roles = {} as RootMeta['roles'];
  const keys: RootMeta['keys'] = {};
  for (const r of TOP_LEVEL_ROLES) {
    const threshold = opts.thresholds?.[r] ?? 1;
    checkPositive(threshold, `thresholds.${r}`);
    const ids: string[] = [];
    for (let i = 0; i < threshold; i++) {
      const s = generateSigner();
      saveKey(dir, s);
      signers.set(s.keyid, s);
      keys[s.keyid] = s.publicKey;
      ids.push(s.keyid);
    }
    roles[r] = { keyids: ids, threshold };
  }
  const rootMeta: RootMeta = {
    _type: 'root',
    spec_version: TUF_SPEC_VERSION,
    version: 1,
    expires: expiryAfter(now, config.expires.root),
    consistent_snapshot: true,
    keys,
    roles,
  };
  const root = signRole(rootMeta, 'root', rootMeta, signers);
  writeAtomic(join(dir, 'repo.json'), `${JSON.stringify(config, null, 2)}\n`);
  publishRoot(dir, root);
  // targets, snapshot and timestamp do not exist yet; publishTargets creates all three.
  const state = { dir, config, root, signers } as RepoState;
  publishTargets(state, {}, now, 1);
  return status(state);
}

/**
 * Adds or replaces targets (e.g. trusted_root.json, signing_config.json). A call that changes
 * nothing writes nothing, so a restart with unchanged trust files leaves the repository as it was.
 */
export function addTargets(dir: string, files: { name: string; data: Uint8Array }[], opts: { now?: Date } = {}): RepoStatus & { changed: boolean } {
  return withLock(dir, () => addTargetsLocked(dir, files, opts));
}

function addTargetsLocked(dir: string, files: { name: string; data: Uint8Array }[], opts: { now?: Date }): RepoStatus & { changed: boolean } {
  const state = loadRepo(dir);
  const now = opts.now ?? new Date();
  const targets = { ...state.targets.signed.targets };
  let changed = false;
  for (const f of files) {
    const name = checkTargetName(f.name);
    const sha256 = sha256Hex(f.data);
    const old = targets[name];
    if (old && old.hashes.sha256 === sha256 && old.length === f.data.length) continue;
    writeAtomic(targetPath(dir, name, sha256), f.data);
    targets[name] = { length: f.data.length, hashes: { sha256 } };
    changed = true;
  }
  if (changed) publishTargets(state, targets, now, state.targets.signed.version + 1);
  // The files may already be in targets.json from a publish that stopped before its snapshot or
  // timestamp (a missing key, a full disk): "unchanged" then still means unpublished.
  else changed = finishPublish(state, now);
  return { ...status(state), changed };
}

/**
 * Clients reach targets.json only through timestamp -> snapshot -> N.targets.json (§5.4-§5.6),
 * so a publish cut short after targets.json or snapshot.json was written (signRole refusing for a
 * missing snapshot or timestamp key, a failed write, a crash) leaves new metadata no client ever
 * sees. Completes such a publish; returns whether it wrote.
 */
function finishPublish(state: RepoState, now: Date): boolean {
  if (state.snapshot.signed.meta['targets.json']?.version !== state.targets.signed.version) {
    publishSnapshotAndTimestamp(state, now);
    return true;
  }
  if (state.timestamp.signed.meta['snapshot.json']?.version !== state.snapshot.signed.version) {
    publishTimestamp(state, now);
    return true;
  }
  return false;
}

/**
 * Re-signs the online roles with fresh expirations (§4.4/§4.6 — the timestamp in particular must
 * be refreshed before it expires, or clients stop updating). `snapshot: false` refreshes only
 * the timestamp.
 */
export function refresh(dir: string, opts: { now?: Date; snapshot?: boolean } = {}): RepoStatus {
  return withLock(dir, () => {
    const state = loadRepo(dir);
    const now = opts.now ?? new Date();
    if (opts.snapshot === false) publishTimestamp(state, now);
    // targets.json expires too (90 days by default): re-signed here once half its life is gone,
    // or clients refuse every update after it ("targets.json is expired").
    else if (isDue(state, 'targets', now, 0.5)) {
      const offline = resignTargets(state, now);
      if (offline) {
        // Snapshot and timestamp are still re-signed, and the cron job fails, so the operator
        // brings the targets key before targets.json itself expires.
        publishSnapshotAndTimestamp(state, now);
        throw offline;
      }
    } else publishSnapshotAndTimestamp(state, now);
    return status(state);
  });
}

/** Less than `fraction` of the role's configured lifetime is left. */
function isDue(state: RepoState, role: RoleName, now: Date, fraction: number): boolean {
  return Date.parse(state[role].signed.expires) - now.getTime() < state.config.expires[role] * 1000 * fraction;
}

/**
 * For a timer in a long-running stack: re-signs each role only when less than `fraction`
 * (default half) of its configured lifetime remains. Returns whether it wrote; throws
 * TUF_KEY_MISSING for a due root or targets whose keys are not here, after the other roles.
 */
export function refreshIfDue(dir: string, opts: { now?: Date; fraction?: number } = {}): boolean {
  return withLock(dir, () => {
    const state = loadRepo(dir);
    const now = opts.now ?? new Date();
    const f = opts.fraction ?? 0.5;
    const due = (role: RoleName) => isDue(state, role, now, f);
    let wrote = false;
    // The root and targets expire as well (365 and 90 days by default) and are re-signed like the
    // others while their keys are here, so a stack left running keeps updating. Their keys may be
    // kept offline (TUF §6.1 advises it for root and targets): then they cannot be re-signed, but
    // that must not stop snapshot and timestamp, or every client fails within a day (§5.4.4,
    // §5.5.6) instead of when root or targets expires. So the online roles come first and the
    // missing key is reported (thrown) after them.
    const targetsDue = due('targets'); // before re-signing, which makes it false
    const offline = targetsDue ? resignTargets(state, now) : undefined;
    if (targetsDue && !offline) {
      wrote = true;
    } else if (due('snapshot')) {
      publishSnapshotAndTimestamp(state, now);
      wrote = true;
    } else if (due('timestamp')) {
      publishTimestamp(state, now);
      wrote = true;
    } else {
      wrote = finishPublish(state, now);
    }
    if (due('root')) {
      const old = state.root.signed;
      publishNextRoot(state, { ...old, version: old.version + 1, expires: expiryAfter(now, state.config.expires.root) });
      wrote = true;
    }
    if (offline) throw offline;
    return wrote;
  });
}

/**
 * A new targets version (and snapshot and timestamp); returns the TUF_KEY_MISSING error instead
 * of throwing it when the targets keys are not here, having written nothing, so the caller can
 * still re-sign the online roles.
 */
function resignTargets(state: RepoState, now: Date): TrustError | undefined {
  const r = state.root.signed.roles.targets;
  const here = r.keyids.filter((id) => state.signers.has(id)).length;
  if (here < r.threshold) {
    return new TrustError('TUF_KEY_MISSING', `only ${here} of the ${r.threshold} targets key(s) needed are in keys/; targets.json expires ${state.targets.signed.expires}`);
  }
  publishTargets(state, state.targets.signed.targets, now, state.targets.signed.version + 1);
  return undefined;
}

/**
 * Replaces all keys of `role` with `threshold` (default: the current threshold) new keys and
 * publishes root version N+1, signed by a threshold of the OLD root keys and of the NEW root keys
 * (§5.3.4: a client accepts root N+1 only if both hold). The rotated role's metadata is then
 * re-signed with its new keys; private keys that no role uses any more are deleted.
 */
export function rotateKey(dir: string, role: RoleName, opts: { now?: Date; threshold?: number } = {}): RepoStatus & { retired: string[]; added: string[] } {
  if (!(TOP_LEVEL_ROLES as readonly string[]).includes(role)) throw new TrustError('TUF_REPO_STATE', `unknown role ${JSON.stringify(role)}`);
  return withLock(dir, () => rotateKeyLocked(dir, role, opts));
}

function rotateKeyLocked(dir: string, role: RoleName, opts: { now?: Date; threshold?: number }): RepoStatus & { retired: string[]; added: string[] } {
  const state = loadRepo(dir);
  const now = opts.now ?? new Date();
  const old = state.root.signed;
  const threshold = opts.threshold ?? old.roles[role].threshold;
  checkPositive(threshold, 'threshold');
  const retiredFromRole = old.roles[role].keyids;
  const added: TufSigner[] = [];
  for (let i = 0; i < threshold; i++) {
    const s = generateSigner();
    saveKey(dir, s);
    state.signers.set(s.keyid, s);
    added.push(s);
  }
  const roles = structuredClone(old.roles);
  roles[role] = { keyids: added.map((s) => s.keyid), threshold };
  const inUse = new Set(TOP_LEVEL_ROLES.flatMap((r) => roles[r].keyids));
  const keys: RootMeta['keys'] = {};
  for (const [id, k] of Object.entries(old.keys)) if (inUse.has(id)) keys[id] = k;
  for (const s of added) keys[s.keyid] = s.publicKey;
  try {
    // First the rotated role, signed by its old AND its new keys: valid under root N and root
    // N+1 alike. A crash before root N+1 is written, or a client fetching between the writes,
    // then still finds a repository whose every role meets its threshold.
    if (role !== 'root') {
      const bridging: RootMeta = { ...old, keys: { ...old.keys, ...Object.fromEntries(added.map((a) => [a.keyid, a.publicKey])) }, roles: { ...old.roles, [role]: { keyids: [...old.roles[role].keyids, ...added.map((a) => a.keyid)], threshold: old.roles[role].threshold } } };
      const current = state.root;
      state.root = { ...current, signed: bridging };
      try {
        republish(state, role, now);
      } finally {
        state.root = current;
      }
    }
    publishNextRoot(state, { ...old, version: old.version + 1, expires: expiryAfter(now, state.config.expires.root), keys, roles });
  } catch (err) {
    // Nothing was published: do not leave unused private keys behind.
    for (const s of added) rmSync(join(dir, 'keys', `${s.keyid}.pem`), { force: true });
    throw err;
  }
  if (role !== 'root') republish(state, role, now);
  const retired = retiredFromRole.filter((id) => !inUse.has(id));
  for (const id of retired) rmSync(join(dir, 'keys', `${id}.pem`), { force: true });
  return { ...status(state), retired, added: added.map((s) => s.keyid) };
}

/** A new version of `role`'s metadata, same content, signed as state.root says (and what depends on it). */
function republish(state: RepoState, role: Exclude<RoleName, 'root'>, now: Date): void {
  if (role === 'targets') publishTargets(state, state.targets.signed.targets, now, state.targets.signed.version + 1);
  else if (role === 'snapshot') publishSnapshotAndTimestamp(state, now);
  else publishTimestamp(state, now);
}

/**
 * Publishes root version N+1 with the same keys and a fresh expiration — what an operator does
 * before the root expires (§5.3.10: clients refuse an expired root).
 */
export function bumpRoot(dir: string, opts: { now?: Date } = {}): RepoStatus {
  return withLock(dir, () => {
    const state = loadRepo(dir);
    const old = state.root.signed;
    publishNextRoot(state, { ...old, version: old.version + 1, expires: expiryAfter(opts.now ?? new Date(), state.config.expires.root) });
    return status(state);
  });
}

/** Versions, expirations and targets of the repository, for `cairn tuf status` and callers. */
export function repoStatus(dir: string): RepoStatus {
  return status(loadRepo(dir));
}

// ---------------------------------------------------------------------------------------------

function publishTargets(state: RepoState, targets: TargetsMeta['targets'], now: Date, version: number): void {
  const meta: TargetsMeta = { _type: 'targets', spec_version: TUF_SPEC_VERSION, version, expires: expiryAfter(now, state.config.expires.targets), targets };
  state.targets = signRole(meta, 'targets', state.root.signed, state.signers);
  const bytes = serializeMetadata(state.targets);
  writeAtomic(join(state.dir, 'metadata', `${version}.targets.json`), bytes);
  writeAtomic(join(state.dir, 'metadata', 'targets.json'), bytes);
  publishSnapshotAndTimestamp(state, now);
}

function publishSnapshotAndTimestamp(state: RepoState, now: Date): void {
  const version = (state.snapshot?.signed.version ?? 0) + 1;
  const meta: SnapshotMeta = {
    _type: 'snapshot',
    spec_version: TUF_SPEC_VERSION,
    version,
    expires: expiryAfter(now, state.config.expires.snapshot),
    meta: { 'targets.json': { version: state.targets.signed.version } },
  };
  state.snapshot = signRole(meta, 'snapshot', state.root.signed, state.signers);
  const bytes = serializeMetadata(state.snapshot);
  writeAtomic(join(state.dir, 'metadata', `${version}.snapshot.json`), bytes);
  writeAtomic(join(state.dir, 'metadata', 'snapshot.json'), bytes);
  publishTimestamp(state, now);
}

function publishTimestamp(state: RepoState, now: Date): void {
  const snap = serializeMetadata(state.snapshot);
  const meta: TimestampMeta = {
    _type: 'timestamp',
    spec_version: TUF_SPEC_VERSION,
    version: (state.timestamp?.signed.version ?? 0) + 1,
    expires: expiryAfter(now, state.config.expires.timestamp),
    // Length and hash let clients bound and check the snapshot download (§4.6, §5.5.2).
    meta: { 'snapshot.json': { version: state.snapshot.signed.version, length: snap.length, hashes: { sha256: sha256Hex(snap) } } },
  };
  state.timestamp = signRole(meta, 'timestamp', state.root.signed, state.signers);
  writeAtomic(join(state.dir, 'metadata', 'timestamp.json'), serializeMetadata(state.timestamp));
}

/**
 * Root N+1 must carry a threshold of signatures from the keys of root N AND of its own root role
 * (§5.3.4 and §5.3.5); both are checked here before anything is written.
 */
function publishNextRoot(state: RepoState, next: RootMeta): void {
  const old = state.root.signed;
  for (const r of [old, next]) {
    const here = r.roles.root.keyids.filter((id) => state.signers.has(id)).length;
    if (here < r.roles.root.threshold) throw new TrustError('TUF_KEY_MISSING', `only ${here} of the ${r.roles.root.threshold} root key(s) of root version ${r.version} are in keys/`);
  }
  const ids = [...new Set([...old.roles.root.keyids, ...next.roles.root.keyids])];
  const signers = ids.map((id) => state.signers.get(id)).filter((s): s is TufSigner => s !== undefined);
  const root = signMetadata(next, signers);
  checkThreshold(root, old, 'root');
  checkThreshold(root, next, 'root');
  publishRoot(state.dir, root);
  state.root = root;
}

function publishRoot(dir: string, root: Signed<RootMeta>): void {
  const bytes = serializeMetadata(root);
  writeAtomic(join(dir, 'metadata', `${root.signed.version}.root.json`), bytes);
  writeAtomic(join(dir, 'metadata', 'root.json'), bytes);
}

function signRole<T extends AnyMeta>(meta: T, role: RoleName, root: RootMeta, signers: Map<string, TufSigner>): Signed<T> {
  const mine = root.roles[role].keyids.map((id) => signers.get(id)).filter((s): s is TufSigner => s !== undefined);
  if (mine.length < root.roles[role].threshold) {
    throw new TrustError('TUF_KEY_MISSING', `only ${mine.length} of the ${root.roles[role].threshold} ${role} key(s) needed are in keys/`);
  }
  const out = signMetadata(meta, mine);
  checkThreshold(out, root, role);
  return out;
}

function loadRepo(dir: string): RepoState {
  if (!existsSync(join(dir, 'repo.json'))) throw new TrustError('TUF_REPO_STATE', `${dir} is not a TUF repository (run \`cairn tuf init\`)`);
  const config = readJson(join(dir, 'repo.json')) as RepoConfig;
  const root = readJson(join(dir, 'metadata', 'root.json')) as Signed<RootMeta>;
  const targets = readJson(join(dir, 'metadata', 'targets.json')) as Signed<TargetsMeta>;
  const snapshot = readJson(join(dir, 'metadata', 'snapshot.json')) as Signed<SnapshotMeta>;
  const timestamp = readJson(join(dir, 'metadata', 'timestamp.json')) as Signed<TimestampMeta>;
  if (root?.signed?._type !== 'root' || targets?.signed?._type !== 'targets' || snapshot?.signed?._type !== 'snapshot' || timestamp?.signed?._type !== 'timestamp') {
    throw new TrustError('TUF_METADATA_INVALID', `${dir}/metadata does not hold the four top-level roles`);
  }
  // Our own files must still satisfy their thresholds; refuse to build on a tampered repository.
  checkThreshold(root, root.signed, 'root');
  checkThreshold(targets, root.signed, 'targets');
  checkThreshold(snapshot, root.signed, 'snapshot');
  checkThreshold(timestamp, root.signed, 'timestamp');
  const signers = new Map<string, TufSigner>();
  for (const f of readdirSync(join(dir, 'keys'))) {
    if (!f.endsWith('.pem')) continue;
    const path = join(dir, 'keys', f);
    // A role key readable by group or others may already be out: refused, as SSH refuses such keys.
    if ((statSync(path).mode & 0o077) !== 0) throw new TrustError('TUF_KEY_MISSING', `${path} must be mode 0600 (is ${(statSync(path).mode & 0o777).toString(8)}): chmod 600 ${path}`);
    let s: TufSigner;
    try {
      s = signerFromPem(readFileSync(path, 'utf8'));
    } catch (cause) {
      // OpenSSL's "DECODER routines::unsupported" names no file: say which key is unusable.
      if (cause instanceof TrustError) throw cause;
      throw new TrustError('TUF_KEY_MISSING', `${path} is not an Ed25519 PKCS#8 private key`, { cause });
    }
    signers.set(s.keyid, s);
  }
  return { dir, config, root, targets, snapshot, timestamp, signers };
}

function status(s: RepoState): RepoStatus {
  const targets: RepoStatus['targets'] = {};
  for (const [n, t] of Object.entries(s.targets.signed.targets)) targets[n] = { length: t.length, sha256: t.hashes.sha256 };
  return {
    dir: s.dir,
    versions: { root: s.root.signed.version, targets: s.targets.signed.version, snapshot: s.snapshot.signed.version, timestamp: s.timestamp.signed.version },
    expires: { root: s.root.signed.expires, targets: s.targets.signed.expires, snapshot: s.snapshot.signed.expires, timestamp: s.timestamp.signed.expires },
    targets,
  };
}

/** targets/<dir>/<sha256>.<base>, as tuf-js and python-tuf build consistent target URLs. */
function targetPath(dir: string, name: string, sha256: string): string {
  const i = name.lastIndexOf('/');
  return join(dir, 'targets', i < 0 ? `${sha256}.${name}` : `${name.slice(0, i)}/${sha256}.${name.slice(i + 1)}`);
}

function saveKey(dir: string, s: TufSigner): void {
  const pem = s.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  writeAtomic(join(dir, 'keys', `${s.keyid}.pem`), pem, 0o600);
}

/**
 * Write-then-rename so readers see the old or the new file, never a torn one; fsynced before the
 * rename and the directory after it, so a power cut cannot leave the new name over data that never
 * reached the disk (an empty signing key cannot be replaced: clients take only a root it signed).
 */
export function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileDurablySync(path, data, mode);
}

/**
 * fsync(2) of a directory, as writeFileDurably's syncDir (host/keys/file.ts), synchronously: where
 * it cannot be done (a file system or platform without it, a directory we may write but not read)
 * the file is in place all the same, and failing here would leave a publish half done.
 */

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new TrustError('TUF_METADATA_INVALID', `cannot read ${path}`, { cause });
  }
}

/**
 * One writer at a time (`cairn up` and a cron `cairn tuf refresh` may overlap): a lock file
 * holding the owner's pid (holdingLock).
 */
function withLock<T>(dir: string, fn: () => T): T {
  if (!existsSync(join(dir, 'repo.json'))) throw new TrustError('TUF_REPO_STATE', `${dir} is not a TUF repository (run \`cairn tuf init\`)`);
  return holdingLock(dir, fn);
}

let lockWaitMs = 15_000;
/** How long a writer waits for another to release the repository (tests shorten it). */
export function setTufLockWait(ms: number): void {
  lockWaitMs = ms;
}
const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/**
 * The lock is made by link(2) from a file that already holds the pid, so it never exists empty
 * (a reader would take an empty one for stale). A writer that finds it held waits, up to
 * lockWaitMs (15 s). A lock whose process is gone is moved aside by rename(2), which only one
 * contender can do to a given file, and the one that moved it checks that it moved the stale lock
 * it saw and not a fresh one another contender had just made (which it puts back).
 */
function holdingLock<T>(dir: string, fn: () => T): T {
  const lock = join(dir, '.lock');
  const mine = join(dir, `.lock.${process.pid}.${Math.random().toString(36).slice(2)}`);
  writeFileSync(mine, String(process.pid), { mode: 0o600 });
  const deadline = Date.now() + lockWaitMs;
  try {
    for (;;) {
      try {
        linkSync(mine, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new TrustError('TUF_REPO_STATE', `cannot lock ${dir}`, { cause: err });
      }
      let holder: string;
      try {
        holder = readFileSync(lock, 'utf8');
      } catch {
        continue; // released meanwhile
      }
      const pid = Number(holder);
      // Our own pid is stale too: every holder in this process releases before it returns, so
      // it was left by an earlier process that had the same pid, as a container's PID 1 has after
      // a restart (killed inside the lock, it would otherwise block every start for good).
      if (Number.isSafeInteger(pid) && pid > 0 && (pid === process.pid || !pidAlive(pid))) {
        const aside = `${mine}.stale`;
        try {
          renameSync(lock, aside);
          if (readFileSync(aside, 'utf8') !== holder) {
            // Not the stale lock any more: someone's fresh one. Put it back if nothing replaced it.
            try {
              linkSync(aside, lock);
            } catch {
              /* another lock exists now; the moved one's owner finishes under its own */
            }
          }
          rmSync(aside, { force: true });
        } catch {
          /* another contender moved it first */
        }
        continue;
      }
      if (Date.now() > deadline) throw new TrustError('TUF_REPO_STATE', `${dir} is locked by process ${holder || '?'}`);
      sleepSync(50);
    }
  } finally {
    rmSync(mine, { force: true });
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function checkPositive(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new TrustError('TUF_REPO_STATE', `${what} must be a positive integer`);
}
