import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Updater } from 'tuf-js';
import { generateKeyPairSync } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import { buildTrustedRoot, serializeTrustFile } from '../../host/trust/trust-files.js';
import { canonicalJson } from '../../host/trust/canonical-json.js';
import { build } from '../../host/trust/tuf-plugin.js';
import { addTargets, bumpRoot, initRepo, refresh, refreshIfDue, repoStatus, rotateKey, setTufLockWait } from '../../host/trust/tuf-repo.js';
import { keyIdOf, type RootMeta, type Signed } from '../../host/trust/tuf.js';
import { TrustError } from '../../host/trust/errors.js';

const require = createRequire(import.meta.url);
// tuf-js verifies with this encoder; ours must produce the same bytes.
const olpc = require('@tufjs/canonical-json') as { canonicalize: (v: unknown) => string };

const tmp = mkdtempSync(join(tmpdir(), 'cairn-tuf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const fresh = (name: string) => join(tmp, `${name}-${n++}`);

describe('canonical JSON', () => {
  it('matches @tufjs/canonical-json byte for byte', () => {
    const samples: unknown[] = [
      { b: 1, a: [true, false, null, 'x"y\\z'], 'é': { z: -5, A: 'ü\n\t\u0001' } },
      { _type: 'root', keys: { k: { keyval: { public: 'ab' } } }, version: 9007199254740991 },
      [],
      {},
      '',
    ];
    for (const s of samples) expect(canonicalJson(s)).toBe(olpc.canonicalize(s));
    expect(() => canonicalJson({ x: 1.5 })).toThrow(TypeError);
  });
});

describe('TUF repository with tuf-js', () => {
  let app: FastifyInstance;
  let base: string;
  const repo = fresh('repo');
  const trustedRoot = Buffer.from(
    serializeTrustFile(
      buildTrustedRoot({
        tlogs: [{ baseUrl: 'http://127.0.0.1:3001', publicKeySpki: generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }), validFor: { start: new Date('2026-01-01T00:00:00Z') } }],
      }),
    ),
  );

  beforeAll(async () => {
    initRepo(repo, { thresholds: { root: 2 } });
    addTargets(repo, [
      { name: 'trusted_root.json', data: trustedRoot },
      { name: 'signing_config.v0.2.json', data: Buffer.from('{}') },
    ]);
    app = await build({ repoDir: repo });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address() as { port: number };
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(() => app.close());

  function client(seedRoot: string = join(repo, 'metadata', '1.root.json'), metadataDir = fresh('client')) {
    mkdirSync(metadataDir, { recursive: true });
    const targetDir = fresh('targets');
    mkdirSync(targetDir, { recursive: true });
    copyFileSync(seedRoot, join(metadataDir, 'root.json'));
    const updater = new Updater({ metadataBaseUrl: `${base}/metadata`, targetBaseUrl: `${base}/targets`, metadataDir, targetDir, config: { fetchRetry: 0 } });
    const fetchTarget = async (name: string) => {
      const info = await updater.getTargetInfo(name);
      if (!info) throw new Error(`no target ${name}`);
      return readFileSync(await updater.downloadTarget(info));
    };
    return { updater, metadataDir, fetchTarget };
  }

  it('lays out consistent snapshots, key IDs over canonical JSON, 0600 keys', () => {
    const files = readdirSync(join(repo, 'metadata')).sort();
    expect(files).toEqual(expect.arrayContaining(['1.root.json', '2.targets.json', '2.snapshot.json', 'timestamp.json']));
    const root = JSON.parse(readFileSync(join(repo, 'metadata', '1.root.json'), 'utf8')) as Signed<RootMeta>;
    expect(root.signed.consistent_snapshot).toBe(true);
    expect(root.signed.roles.root.threshold).toBe(2);
    expect(root.signatures).toHaveLength(2);
    for (const [id, k] of Object.entries(root.signed.keys)) expect(keyIdOf(k)).toBe(id);
    const st = repoStatus(repo);
    expect(readdirSync(join(repo, 'targets'))).toContain(`${st.targets['trusted_root.json']!.sha256}.trusted_root.json`);
    expect(statSync(join(repo, 'keys')).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(join(repo, 'keys'))) expect(statSync(join(repo, 'keys', f)).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(repo, 'keys'))).toHaveLength(5); // 2 root + 1 each for the others
  });

  it('tuf-js fetches trusted_root.json through the repository', async () => {
    const c = client();
    const got = await c.fetchTarget('trusted_root.json');
    expect(got).toEqual(trustedRoot);
    // What came through TUF is a trusted root sigstore-js accepts.
    expect(toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(got.toString('utf8')))).tlogs).toHaveLength(1);
  });

  it('after key rotation and root v2, a client holding root v1 updates and still fetches', async () => {
    const old = client();
    await old.updater.refresh(); // trusts v1 and has seen the current timestamp/snapshot
    const r1 = rotateKey(repo, 'root');
    expect(r1.versions.root).toBe(2);
    expect(r1.retired).toHaveLength(2);
    const r2 = rotateKey(repo, 'targets');
    const r3 = rotateKey(repo, 'timestamp');
    expect(r3.versions.root).toBe(4);
    expect(r2.versions.targets).toBeGreaterThan(2);
    const v2 = JSON.parse(readFileSync(join(repo, 'metadata', '2.root.json'), 'utf8')) as Signed<RootMeta>;
    expect(v2.signatures).toHaveLength(4); // two old root keys + two new ones
    // Retired private keys are gone; only the 5 current ones remain.
    expect(readdirSync(join(repo, 'keys'))).toHaveLength(5);
    // The same client (persistent metadata dir) and a brand-new one seeded with v1 both walk to v4.
    for (const c of [client(undefined, old.metadataDir), client()]) {
      expect(await c.fetchTarget('trusted_root.json')).toEqual(trustedRoot);
      const trusted = JSON.parse(readFileSync(join(c.metadataDir, 'root.json'), 'utf8')) as Signed<RootMeta>;
      expect(trusted.signed.version).toBe(4);
    }
    const updated = Buffer.from('{"mediaType":"application/vnd.dev.sigstore.trustedroot.v0.2+json","tlogs":[],"v":2}\n');
    addTargets(repo, [{ name: 'trusted_root.json', data: updated }]);
    expect(await client().fetchTarget('trusted_root.json')).toEqual(updated);
    addTargets(repo, [{ name: 'trusted_root.json', data: trustedRoot }]);
  });

  it('bump-root publishes N+1 with the same keys, and clients follow', async () => {
    const before = repoStatus(repo);
    const after = bumpRoot(repo);
    expect(after.versions.root).toBe(before.versions.root + 1);
    const a = JSON.parse(readFileSync(join(repo, 'metadata', `${before.versions.root}.root.json`), 'utf8')) as Signed<RootMeta>;
    const b = JSON.parse(readFileSync(join(repo, 'metadata', `${after.versions.root}.root.json`), 'utf8')) as Signed<RootMeta>;
    expect(b.signed.keys).toEqual(a.signed.keys);
    expect(b.signatures).toHaveLength(2); // the same two root keys, signing once each
    const c = client();
    expect(await c.fetchTarget('trusted_root.json')).toEqual(trustedRoot);
    expect((JSON.parse(readFileSync(join(c.metadataDir, 'root.json'), 'utf8')) as Signed<RootMeta>).signed.version).toBe(after.versions.root);
  });

  it('a tampered target is refused', async () => {
    const st = repoStatus(repo);
    const file = join(repo, 'targets', `${st.targets['trusted_root.json']!.sha256}.trusted_root.json`);
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[5] ^= 1;
    writeFileSync(file, bad);
    try {
      await expect(client().fetchTarget('trusted_root.json')).rejects.toThrow(/hash|length|mismatch/i);
    } finally {
      writeFileSync(file, good);
    }
  });

  it('an expired timestamp is refused, and a refresh repairs it', async () => {
    refresh(repo, { now: new Date(Date.now() - 10 * 86400_000), snapshot: false });
    await expect(client().updater.refresh()).rejects.toThrow(/expired/i);
    refresh(repo);
    expect(await client().fetchTarget('trusted_root.json')).toEqual(trustedRoot);
  });

  it('a timestamp changed after signing is refused', async () => {
    const ts = join(repo, 'metadata', 'timestamp.json');
    const good = readFileSync(ts);
    const doc = JSON.parse(good.toString('utf8'));
    doc.signed.expires = '2099-01-01T00:00:00Z'; // content change without a valid re-signature
    writeFileSync(ts, JSON.stringify(doc));
    try {
      await expect(client().updater.refresh()).rejects.toThrow(/signed by 0\/1 keys|signature|threshold/i);
    } finally {
      writeFileSync(ts, good);
    }
  });
});

describe('TUF repository operations', () => {
  it('refuses double init, missing repo, bad target names and missing keys with codes', () => {
    const repo = fresh('ops');
    initRepo(repo);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(TrustError);
        return (e as TrustError).code;
      }
      return 'no error';
    };
    expect(code(() => initRepo(repo))).toBe('TUF_REPO_STATE');
    expect(code(() => refresh(fresh('none')))).toBe('TUF_REPO_STATE');
    for (const name of ['../x', 'a/../../b', '.hidden', '', 'a//b', 'a\\b', 'x\u0000']) {
      expect(code(() => addTargets(repo, [{ name, data: Buffer.from('x') }]))).toBe('TUF_BAD_TARGET_NAME');
    }
    expect(addTargets(repo, [{ name: 'sub/dir.json', data: Buffer.from('{}') }]).changed).toBe(true);
    expect(addTargets(repo, [{ name: 'sub/dir.json', data: Buffer.from('{}') }]).changed).toBe(false);
    // A live writer's lock is waited for (here 200 ms), then refused; a stale one (dead pid) is taken over.
    setTufLockWait(200);
    writeFileSync(join(repo, '.lock'), String(process.ppid)); // another process, alive
    const t0 = Date.now();
    expect(code(() => refresh(repo))).toBe('TUF_REPO_STATE');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    setTufLockWait(15_000);
    writeFileSync(join(repo, '.lock'), '2147483646');
    expect(refresh(repo).versions.timestamp).toBeGreaterThan(1);
    // A lock with this process's own pid was left by an earlier process with that pid (a
    // container's PID 1, killed inside the lock, then restarted): taken over, not waited for.
    setTufLockWait(200);
    writeFileSync(join(repo, '.lock'), String(process.pid));
    expect(code(() => refresh(repo))).toBe('no error');
    setTufLockWait(15_000);
    const root = JSON.parse(readFileSync(join(repo, 'metadata', 'root.json'), 'utf8')) as Signed<RootMeta>;
    rmSync(join(repo, 'keys', `${root.signed.roles.snapshot.keyids[0]}.pem`));
    expect(code(() => refresh(repo))).toBe('TUF_KEY_MISSING');
  });

  it('refreshIfDue re-signs only when the timestamp or snapshot nears expiry', () => {
    const repo = fresh('due');
    const t = new Date('2026-03-01T00:00:00Z');
    initRepo(repo, { now: t, expires: { timestamp: 3600, snapshot: 86400 } });
    expect(refreshIfDue(repo, { now: new Date(t.getTime() + 600_000) })).toBe(false);
    expect(refreshIfDue(repo, { now: new Date(t.getTime() + 2000_000) })).toBe(true); // > half of 1 h gone
    expect(repoStatus(repo).versions).toMatchObject({ snapshot: 1, timestamp: 2 });
    expect(refreshIfDue(repo, { now: new Date(t.getTime() + 50_000_000) })).toBe(true); // snapshot past half of 1 day
    expect(repoStatus(repo).versions).toMatchObject({ snapshot: 2, timestamp: 3 });
  });

  it('a key rotation first publishes the role signed by old and new keys, so a crash before root N+1 leaves a valid repository', () => {
    const repo = fresh('rotate-bridge');
    initRepo(repo);
    const root1 = JSON.parse(readFileSync(join(repo, 'metadata', '1.root.json'), 'utf8')) as Signed<RootMeta>;
    const before = repoStatus(repo).versions.targets;
    rotateKey(repo, 'targets');
    const root2 = JSON.parse(readFileSync(join(repo, 'metadata', '2.root.json'), 'utf8')) as Signed<RootMeta>;
    // The version right after the old one is the bridge: signed by the old targets key (valid
    // under root 1) and the new one (valid under root 2); it was written before root 2.
    const bridge = JSON.parse(readFileSync(join(repo, 'metadata', `${before + 1}.targets.json`), 'utf8')) as Signed<{ version: number }>;
    const signers = bridge.signatures.map((x) => x.keyid).sort();
    expect(signers).toEqual([...root1.signed.roles.targets.keyids, ...root2.signed.roles.targets.keyids].sort());
    expect(root1.signed.roles.targets.keyids).not.toEqual(root2.signed.roles.targets.keyids);
    // Afterwards the role is signed by its new key alone.
    const current = JSON.parse(readFileSync(join(repo, 'metadata', 'targets.json'), 'utf8')) as Signed<{ version: number }>;
    expect(current.signatures.map((x) => x.keyid)).toEqual(root2.signed.roles.targets.keyids);
    expect(repoStatus(repo).versions.root).toBe(2); // every role still meets its threshold
  });

  it('targets and root are re-signed too before they expire (90 and 365 days), by refreshIfDue and by refresh', () => {
    const repo = fresh('due-long');
    const t = new Date('2026-03-01T00:00:00Z');
    const day = 86_400_000;
    initRepo(repo, { now: t });
    const expires = (role: string) => Date.parse((JSON.parse(readFileSync(join(repo, 'metadata', `${role}.json`), 'utf8')) as { signed: { expires: string } }).signed.expires);
    expect(refreshIfDue(repo, { now: new Date(t.getTime() + 40 * day) })).toBe(true); // the 7-day snapshot, not targets
    expect(repoStatus(repo).versions.targets).toBe(1);
    expect(refreshIfDue(repo, { now: new Date(t.getTime() + 46 * day) })).toBe(true); // past half of 90 days
    expect(repoStatus(repo).versions.targets).toBe(2);
    expect(expires('targets')).toBeGreaterThan(t.getTime() + 120 * day); // a client at day 91 still updates
    expect(repoStatus(repo).versions.root).toBe(1);
    expect(refreshIfDue(repo, { now: new Date(t.getTime() + 183 * day) })).toBe(true); // past half of 365 days
    expect(repoStatus(repo).versions.root).toBe(2);
    expect(expires('root')).toBeGreaterThan(t.getTime() + 500 * day);
    // The cron command does the same for targets.
    const repo2 = fresh('due-cron');
    initRepo(repo2, { now: t });
    refresh(repo2, { now: new Date(t.getTime() + 50 * day) });
    expect(repoStatus(repo2).versions.targets).toBe(2);
  });
});

describe('TUF repository: interrupted publishes and offline keys', () => {
  const keyOf = (repo: string, role: 'root' | 'targets' | 'snapshot' | 'timestamp') => {
    const root = JSON.parse(readFileSync(join(repo, 'metadata', 'root.json'), 'utf8')) as Signed<RootMeta>;
    return join(repo, 'keys', `${root.signed.roles[role].keyids[0]}.pem`);
  };
  const codeOf = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as TrustError).code;
    }
    return 'no error';
  };

  it('a publish stopped by a missing snapshot key is finished by the retry, and clients get the new target', async () => {
    const repo = fresh('interrupted');
    initRepo(repo);
    addTargets(repo, [{ name: 'trusted_root.json', data: Buffer.from('{"v":1}') }]);
    const key = keyOf(repo, 'snapshot');
    const pem = readFileSync(key);
    rmSync(key);
    // targets.json is written, then the snapshot cannot be signed.
    expect(codeOf(() => addTargets(repo, [{ name: 'trusted_root.json', data: Buffer.from('{"v":2}') }]))).toBe('TUF_KEY_MISSING');
    writeFileSync(key, pem, { mode: 0o600 });
    // The retry (e.g. `cairn trust-root distrust --tuf-repo` again) must publish, not say "unchanged".
    const retry = addTargets(repo, [{ name: 'trusted_root.json', data: Buffer.from('{"v":2}') }]);
    expect(retry.changed).toBe(true);
    const snapshot = JSON.parse(readFileSync(join(repo, 'metadata', 'snapshot.json'), 'utf8')) as Signed<{ meta: Record<string, { version: number }> }>;
    expect(snapshot.signed.meta['targets.json']!.version).toBe(retry.versions.targets);
    const app = await build({ repoDir: repo });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const metadataDir = fresh('client');
      const targetDir = fresh('targets');
      mkdirSync(metadataDir, { recursive: true });
      mkdirSync(targetDir, { recursive: true });
      copyFileSync(join(repo, 'metadata', '1.root.json'), join(metadataDir, 'root.json'));
      const updater = new Updater({ metadataBaseUrl: `${base}/metadata`, targetBaseUrl: `${base}/targets`, metadataDir, targetDir, config: { fetchRetry: 0 } });
      const info = await updater.getTargetInfo('trusted_root.json');
      expect(readFileSync(await updater.downloadTarget(info!)).toString()).toBe('{"v":2}');
    } finally {
      await app.close();
    }
  });

  it('a corrupt key file is refused with a code and its path', () => {
    const repo = fresh('corrupt-key');
    initRepo(repo);
    const key = keyOf(repo, 'timestamp');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\ntorn\n', { mode: 0o600 });
    let err: unknown;
    try {
      refresh(repo);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrustError);
    expect((err as TrustError).code).toBe('TUF_KEY_MISSING');
    expect((err as TrustError).message).toContain(key);
  });

  it('offline root or targets keys do not stop the snapshot and timestamp from being re-signed', () => {
    const day = 86_400_000;
    const t = new Date('2026-03-01T00:00:00Z');
    const expires = (repo: string, role: string) => Date.parse((JSON.parse(readFileSync(join(repo, 'metadata', `${role}.json`), 'utf8')) as { signed: { expires: string } }).signed.expires);
    // Root keys kept offline (TUF §6.1): at day 183 the root is due but cannot be bumped.
    const a = fresh('offline-root');
    initRepo(a, { now: t });
    rmSync(keyOf(a, 'root'));
    const at183 = new Date(t.getTime() + 183 * day);
    expect(codeOf(() => refreshIfDue(a, { now: at183 }))).toBe('TUF_KEY_MISSING');
    expect(expires(a, 'timestamp')).toBeGreaterThan(at183.getTime());
    expect(expires(a, 'snapshot')).toBeGreaterThan(at183.getTime());
    expect(repoStatus(a).versions.root).toBe(1);
    // Targets key offline: at day 46 targets is due; the stack's timer and the cron command both
    // still re-sign snapshot and timestamp, and report the missing key.
    const b = fresh('offline-targets');
    initRepo(b, { now: t });
    rmSync(keyOf(b, 'targets'));
    const at46 = new Date(t.getTime() + 46 * day);
    expect(codeOf(() => refreshIfDue(b, { now: at46 }))).toBe('TUF_KEY_MISSING');
    expect(expires(b, 'timestamp')).toBeGreaterThan(at46.getTime());
    expect(expires(b, 'snapshot')).toBeGreaterThan(at46.getTime());
    const at50 = new Date(t.getTime() + 50 * day);
    expect(codeOf(() => refresh(b, { now: at50 }))).toBe('TUF_KEY_MISSING');
    expect(expires(b, 'timestamp')).toBeGreaterThan(at50.getTime());
    expect(expires(b, 'snapshot')).toBeGreaterThan(at50.getTime());
    expect(repoStatus(b).versions.targets).toBe(1);
  });
});

describe('cairn tuf CLI', () => {
  it('init, add-target, refresh, rotate-key, status print JSON status lines', async () => {
    const { main } = await import('../../host/cli/main.js');
    const repo = fresh('cli');
    const file = join(tmp, 'trusted_root.json');
    writeFileSync(file, '{"mediaType":"x"}');
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      await main(['node', 'cairn', 'tuf', 'init', '--repo', repo, '--timestamp-expires', '2']);
      await main(['node', 'cairn', 'tuf', 'add-target', '--repo', repo, file]);
      await main(['node', 'cairn', 'tuf', 'refresh', '--repo', repo, '--timestamp-only']);
      await main(['node', 'cairn', 'tuf', 'rotate-key', '--repo', repo, '--role', 'snapshot']);
      await main(['node', 'cairn', 'tuf', 'status', '--repo', repo]);
    } finally {
      process.stdout.write = write;
    }
    const last = JSON.parse(out.at(-1)!);
    expect(out).toHaveLength(5);
    // rotate-key snapshot: a bridging snapshot (old + new keys) before root 2, then one with the new key.
    expect(last.versions).toEqual({ root: 2, targets: 2, snapshot: 4, timestamp: 5 });
    expect(Object.keys(last.targets)).toEqual(['trusted_root.json']);
    const day = Date.parse(JSON.parse(out[0]!).expires.timestamp) - Date.now();
    expect(day).toBeGreaterThan(86400_000);
  });
});

describe('tufPlugin HTTP', () => {
  const repo = fresh('http');
  let app: FastifyInstance;
  beforeAll(async () => {
    initRepo(repo);
    addTargets(repo, [{ name: 'trusted_root.json', data: Buffer.from('{"a":1}') }, { name: 'blob.bin', data: Buffer.from([1, 2, 3]) }]);
    writeFileSync(join(repo, 'secret.txt'), 'SECRET');
    app = await build({ repoDir: repo, prefix: '/tuf' });
  });
  afterAll(() => app.close());

  it('serves metadata and targets with content types and cache headers', async () => {
    const ts = await app.inject({ url: '/tuf/metadata/timestamp.json' });
    expect(ts.statusCode).toBe(200);
    expect(ts.headers['content-type']).toMatch(/^application\/json/);
    expect(ts.headers['cache-control']).toBe('no-cache');
    expect(JSON.parse(ts.body).signed._type).toBe('timestamp');
    const r1 = await app.inject({ url: '/tuf/metadata/1.root.json' });
    expect(r1.headers['cache-control']).toMatch(/immutable/);
    const st = repoStatus(repo);
    const blob = await app.inject({ url: `/tuf/targets/${st.targets['blob.bin']!.sha256}.blob.bin` });
    expect(blob.statusCode).toBe(200);
    expect(blob.headers['content-type']).toBe('application/octet-stream');
    expect(blob.rawPayload).toEqual(Buffer.from([1, 2, 3]));
  });

  it('never serves anything outside metadata/ and targets/', async () => {
    const attempts = [
      '/tuf/metadata/..%2Fsecret.txt',
      '/tuf/metadata/%2e%2e%2frepo.json',
      '/tuf/targets/../secret.txt',
      '/tuf/targets/%2e%2e/secret.txt',
      '/tuf/targets/..%2f..%2fsecret.txt',
      '/tuf/targets/%2e%2e%2fkeys%2f',
      '/tuf/metadata/.hidden',
      '/tuf/targets/',
      '/tuf/metadata/nope.json',
    ];
    for (const url of attempts) {
      const res = await app.inject({ url });
      expect([400, 404], url).toContain(res.statusCode);
      expect(res.body).not.toContain('SECRET');
      expect(res.json().error).toMatch(/^(TUF_BAD_TARGET_NAME|TUF_NOT_FOUND|NOT_FOUND)$/);
    }
    // The segment check itself refuses an encoded `..` before touching the file system.
    const keys = await app.inject({ url: '/tuf/targets/..%2fkeys' });
    expect(keys.statusCode).toBe(400);
    // A symlink planted under targets/ that points outside the repository is not followed out.
    symlinkSync(join(repo, 'secret.txt'), join(repo, 'targets', 'link.json'));
    const link = await app.inject({ url: '/tuf/targets/link.json' });
    expect(link.statusCode).toBe(404);
    expect(link.body).not.toContain('SECRET');
  });
});
