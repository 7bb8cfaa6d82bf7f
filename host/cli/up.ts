/**
 * `cairn up` (and `npm start`): the whole private stack in one process — the seed's deployment 1
 * ("Internal: one org, private CA + TSA (+ log), no network beyond the org").
 *
 *   SPIFFE server + local agent socket   port N      (OIDC discovery for the trust domain's JWT-SVIDs)
 *   code-signing CA (Fulcio API)          port N+1    trusts the trust domain's JWT-SVIDs (type spiffe)
 *   transparency log (Rekor v1/v2, tiles, port N+2    with its CT personality under /ct/v1
 *     CT personality)
 *   timestamp authority (RFC 3161)        port N+3
 *   TUF repository + stack health         port N+4    /tuf/metadata/..., /tuf/targets/...
 *
 * Each service is the same `startStandalone` that `cairn serve <name>` runs, given a config file
 * generated under DATA/<name>/up.generated.yaml from this stack's config, so a stack can later be
 * split into processes without changing behaviour. `--port 0` gives every service a free port
 * (tests run several stacks side by side this way).
 *
 * Data lives under DATA (default `.cairn/`): SQLite files and keys (mode 0600) per service,
 * generated on the first start and reused afterwards, plus trusted_root.json and
 * signing_config.json, merged on every start so old keys keep their validity windows
 * (host/trust/trust-store.ts), and the TUF repository that publishes both.
 *
 * The stack config file (YAML or JSON, every key optional) is documented in
 * host/cli/up.example.yaml.
 */
import { createPublicKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { stringify as toYaml, parse as parseYaml } from 'yaml';
import { CairnError } from '../errors.js';
import { installErrorHandler, frameworkErrors } from '../http/errors.js';
import { SERVER_TIMEOUTS } from '../http/timeouts.js';
import { registerOps, LISTEN_BACKLOG, READY_DEADLINE_MS } from '../http/ops.js';
import type { AuthorityInput, LogInput, ServiceInput, TrustedRootInput } from '../trust/trust-files.js';
import { writeTrustFiles } from '../trust/trust-store.js';
import { refreshIfDue } from '../trust/tuf-repo.js';
import { tufRoutes } from '../trust/tuf-plugin.js';
import { parsePort, services, type Standalone } from './serve.js';
import { closeAll, closeOnce } from '../closers.js';

export interface StackConfig {
  dataDir?: string;
  host?: string;
  /** First port of the range (N..N+4); 0 = a free port for every service. */
  port?: number;
  trustDomain?: string;
  /** Scheme-less operator name written into trusted_root.json and signing_config.json. */
  operator?: string;
  /** Workloads that may sign: SPIFFE IDs with their selectors. Default: this user's uid. */
  /** Registration entries for the stack's workloads; federatesWith and dnsNames as in a SPIFFE entry. */
  workloads?: { spiffeId: string; selectors: string[]; federatesWith?: string[]; dnsNames?: string[] }[];
  /** Extra Fulcio `oidc-issuers` (Fulcio's format) the CA trusts besides the trust domain. */
  oidcIssuers?: Record<string, Record<string, unknown>>;
  /** Per-service settings, passed through to that service's config (see its standalone.ts). */
  spiffe?: Record<string, unknown>;
  ca?: Record<string, unknown>;
  log?: Record<string, unknown>;
  tsa?: Record<string, unknown>;
}

const STACK_KEYS = ['dataDir', 'host', 'port', 'trustDomain', 'operator', 'workloads', 'oidcIssuers', 'spiffe', 'ca', 'log', 'tsa'];

export class StackError extends CairnError<'STACK_BAD_CONFIG' | 'STACK_START_FAILED'> {}

export function parseStackConfig(text: string): StackConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new StackError('STACK_BAD_CONFIG', 'stack config is not valid YAML/JSON', { cause: e });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new StackError('STACK_BAD_CONFIG', 'stack config: expected a mapping');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!STACK_KEYS.includes(k)) throw new StackError('STACK_BAD_CONFIG', `stack config: unknown key ${k}`);
  for (const k of ['spiffe', 'ca', 'log', 'tsa', 'oidcIssuers']) {
    if (d[k] !== undefined && (typeof d[k] !== 'object' || d[k] === null || Array.isArray(d[k]))) throw new StackError('STACK_BAD_CONFIG', `stack config: ${k} must be a mapping`);
  }
  if (d.port !== undefined && (!Number.isInteger(d.port) || (d.port as number) < 0 || (d.port as number) > 65531)) throw new StackError('STACK_BAD_CONFIG', 'stack config: port must be 0..65531');
  if (d.workloads !== undefined && !Array.isArray(d.workloads)) throw new StackError('STACK_BAD_CONFIG', 'stack config: workloads must be a list');
  const sub = (svc: string, k: string): unknown => (d[svc] as Record<string, unknown> | undefined)?.[k];
  if (sub('spiffe', 'entries') !== undefined && !Array.isArray(sub('spiffe', 'entries'))) throw new StackError('STACK_BAD_CONFIG', 'stack config: spiffe.entries must be a list');
  const caIssuers = sub('ca', 'oidc-issuers');
  if (caIssuers !== undefined && (typeof caIssuers !== 'object' || caIssuers === null || Array.isArray(caIssuers))) throw new StackError('STACK_BAD_CONFIG', 'stack config: ca.oidc-issuers must be a mapping');
  return d as StackConfig;
}

export interface StackOptions {
  dataDir: string;
  host: string;
  port: number;
  trustDomain: string;
  operator: string;
  config: StackConfig;
  logLevel?: string;
}

export interface RunningStack {
  ready: {
    ready: true;
    ca: string;
    log: string;
    ct: string;
    tsa: string;
    oidc: string;
    socket: string;
    trustedRoot: string;
    signingConfig: string;
    tuf: string;
    identity: string;
  };
  close(): Promise<void>;
}

const portOf = (base: number, offset: number): number => (base === 0 ? 0 : base + offset);

async function writeServiceConfig(dir: string, doc: Record<string, unknown>): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'up.generated.yaml');
  await writeFile(path, `# Generated by \`cairn up\` on every start; edit the stack config instead.\n${toYaml(doc)}`, { mode: 0o600 });
  return path;
}

/** Starts every service in dependency order; on any failure, closes what already started. */
export async function startStack(o: StackOptions): Promise<RunningStack> {
  const dataDir = resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const started: Standalone[] = [];
  // Every service closes, in reverse order, even when one fails (the first failure is reported,
  // and `cairn up` exits 1); a second close is the first.
  const closeStack = closeOnce(() => closeAll(started.splice(0).reverse().map((s) => () => s.close())));
  const start = async (name: string, port: number, config: Record<string, unknown>, extra: { trustDomain?: string } = {}): Promise<Standalone> => {
    const loader = services[name];
    if (!loader) throw new StackError('STACK_START_FAILED', `service ${name} is not available in this build`);
    const dir = join(dataDir, name);
    const configPath = await writeServiceConfig(dir, config);
    const s = await (await loader())({ dataDir: dir, port, host: o.host, config: configPath, ...extra, ...(o.logLevel ? { logLevel: o.logLevel } : {}) });
    started.push(s);
    return s;
  };

  try {
    // 1. Identity: the trust domain's server and this machine's agent socket.
    const uid = userInfo().uid;
    const workloads = o.config.workloads ?? [{ spiffeId: `spiffe://${o.trustDomain}/local/uid/${uid}`, selectors: [`unix:uid:${uid}`] }];
    // A subordinate CA (ca.parent) proves itself to its parent with a JWT-SVID of its own ID from
    // this stack's Workload API: that ID is registered here for this process's uid, after the
    // user's (the first workload stays the signing identity).
    const parent = o.config.ca?.parent as Record<string, unknown> | undefined;
    const caId = typeof parent?.spiffeId === 'string' ? parent.spiffeId : `spiffe://${o.trustDomain}/cairn/ca`;
    const entries = parent && !workloads.some((w) => w.spiffeId === caId) ? [...workloads, { spiffeId: caId, selectors: [`unix:uid:${uid}`] }] : workloads;
    // Entries given under `spiffe:` are kept beside the stack's own (up.example.yaml: the wiring
    // is added on top of the per-service settings, not in place of them).
    const configEntries = (o.config.spiffe?.entries as unknown[] | undefined) ?? [];
    // The Workload API socket is the stack's own, under DATA (README: ".cairn/spiffe/agent.sock"),
    // unless spiffe.socket says otherwise. SPIFFE_ENDPOINT_SOCKET tells workloads where an agent
    // is (SPIFFE Workload Endpoint §4); on a host with a SPIRE agent it names that agent's socket,
    // which the stack must not take over (the Workload API server replaces a socket file it finds).
    const spiffe = await start('spiffe', portOf(o.port, 0), { socket: join(dataDir, 'spiffe', 'agent.sock'), ...o.config.spiffe, entries: [...configEntries, ...entries.map((w) => ({ ...w, hint: 'cairn-up' }))] }, { trustDomain: o.trustDomain });
    const oidc = spiffe.ready.oidc!;
    const socket = spiffe.ready.socket!;

    // 2. The log first: the CA submits precertificates to its CT personality.
    const log = await start('log', portOf(o.port, 2), { ...o.config.log });
    const logUrl = log.ready.log!;
    const ctUrl = log.ready.ct!;

    // 3. The CA, trusting the trust domain's JWT-SVIDs (Fulcio issuer type `spiffe`).
    const issuers: Record<string, Record<string, unknown>> = {
      [oidc]: {
        'issuer-url': oidc,
        'client-id': 'sigstore',
        type: 'spiffe',
        'spiffe-trust-domain': o.trustDomain,
        // The trust domain's discovery endpoint is this process on loopback, over http.
        ...(isLoopbackHttp(oidc) ? { 'insecure-loopback-http': true } : {}),
      },
      // Fulcio's `oidc-issuers` under `ca:` (README: a CA config also goes "under `ca:` in a
      // `cairn up` config"), then the stack-level `oidcIssuers`.
      ...(o.config.ca?.['oidc-issuers'] as Record<string, Record<string, unknown>> | undefined),
      ...o.config.oidcIssuers,
    };
    // The CA pins the CT log's key from the log itself (same process, same data directory).
    const ctSpki = log.trust?.ctlogs?.[0]?.publicKeySpki;
    if (!ctSpki) throw new StackError('STACK_START_FAILED', 'the log did not report its CT key');
    const ctPem = createPublicKey({ key: Buffer.from(ctSpki), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }) as string;
    // As a subordinate, the CA starts without a certificate if its parent does not issue one yet
    // (the trust domain's registration there may still be to come) and answers CA_PENDING.
    const caParent = parent ? { parent: { socket: `unix://${socket}`, wait: true, ...parent, spiffeId: caId } } : {};
    const ca = await start('ca', portOf(o.port, 1), { ...o.config.ca, ...caParent, 'oidc-issuers': issuers, ct: { url: ctUrl, publicKey: ctPem } });
    const caUrl = ca.ready.ca!;

    // 4. The TSA.
    const tsa = await start('tsa', portOf(o.port, 3), { ...o.config.tsa });
    const tsaUrl = tsa.ready.tsa!;

    // 5. Trust files and their TUF distribution, written again when a service's contribution
    //    changes (a subordinate CA's first certificate).
    const now = new Date();
    const svc = (url: string, majorApiVersion = 1): ServiceInput => ({ url, majorApiVersion, validFor: { start: now }, operator: o.operator });
    const tufDir = join(dataDir, 'tuf');
    const publish = () => writeTrustFiles({
      dir: dataDir,
      trustedRoot: withOperator(mergeTrust(started.map((s) => s.trust)), o.operator),
      signingConfig: {
        ca: [svc(caUrl)],
        oidc: [svc(oidc)],
        rekorTlog: [svc(logUrl)],
        tsa: [svc(`${tsaUrl}/api/v1/timestamp`)],
      },
      tufRepoDir: tufDir,
    });
    const written = publish();
    ca.onTrustChange?.((t) => {
      ca.trust = t;
      try {
        publish();
      } catch (e) {
        console.error('cairn up: could not rewrite the trust files', e);
      }
    });

    const stackApp = await buildStackApp(tufDir, started);
    await stackApp.listen({ port: portOf(o.port, 4), host: o.host, backlog: LISTEN_BACKLOG });
    started.push({ ready: {}, close: () => stackApp.close() });
    // Timestamp and snapshot metadata expire within days; re-sign them before they do. Once now,
    // before the ready line: after a stop longer than the timestamp's lifetime (1 day) the
    // repository would otherwise serve metadata every client refuses (TUF §5.4.4) until the first
    // tick. Failures go to stderr like the trust files' (stackApp's logger is off): an operator
    // must see a missing key long before the metadata expires.
    // A failure that persists (a root key kept offline, due for months) is reported once an hour,
    // in one line with its code, not with a stack trace every minute.
    let lastReport = { text: '', at: 0 };
    const tufRefresh = () => {
      try {
        refreshIfDue(tufDir);
        lastReport = { text: '', at: 0 };
      } catch (e) {
        const err = e as { code?: string; message?: string };
        const text = `cairn up: TUF refresh failed: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`;
        if (text !== lastReport.text || Date.now() - lastReport.at >= 3_600_000) {
          console.error(err.code ? text : e);
          lastReport = { text, at: Date.now() };
        }
      }
    };
    tufRefresh();
    const tufTick = setInterval(tufRefresh, 60_000);
    tufTick.unref();
    started.push({ ready: {}, close: async () => clearInterval(tufTick) });

    return {
      ready: {
        ready: true,
        ca: caUrl,
        log: logUrl,
        ct: ctUrl,
        tsa: tsaUrl,
        oidc,
        socket,
        trustedRoot: written.trustedRootPath,
        signingConfig: written.signingConfigPath,
        tuf: `${urlOf(stackApp, o.host)}/tuf`,
        identity: workloads[0]!.spiffeId,
      },
      close: closeStack,
    };
  } catch (e) {
    await closeStack().catch((err: unknown) => console.error('cairn up: error while closing a service', err));
    throw e;
  }
}

function isLoopbackHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]');
}

function urlOf(app: FastifyInstance, host: string): string {
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The services' contributions together. A kind no service reports (a subordinate CA still waiting
 * for its first certificate) stays undefined: the merge then keeps the previous file's entries of
 * that kind as they were, rather than retire them (mergeTrustedRoot).
 */
function mergeTrust(parts: (TrustedRootInput | undefined)[]): TrustedRootInput {
  const out: TrustedRootInput = {};
  for (const p of parts) {
    if (!p) continue;
    for (const k of ['tlogs', 'ctlogs', 'certificateAuthorities', 'timestampAuthorities'] as const) {
      if (p[k] !== undefined) (out[k] as unknown[]) = [...((out[k] as unknown[] | undefined) ?? []), ...p[k]!];
    }
  }
  return out;
}

function withOperator(t: TrustedRootInput, operator: string): TrustedRootInput {
  const log = (l: LogInput): LogInput => ({ operator, ...l });
  const auth = (a: AuthorityInput): AuthorityInput => ({ operator, ...a });
  return {
    ...(t.tlogs ? { tlogs: t.tlogs.map(log) } : {}),
    ...(t.ctlogs ? { ctlogs: t.ctlogs.map(log) } : {}),
    ...(t.certificateAuthorities ? { certificateAuthorities: t.certificateAuthorities.map(auth) } : {}),
    ...(t.timestampAuthorities ? { timestampAuthorities: t.timestampAuthorities.map(auth) } : {}),
  };
}

/**
 * How long the stack waits for a service's /readyz: less than the stack's own /readyz deadline
 * (the same READY_DEADLINE_MS), so a service whose check hangs is named in the stack's answer.
 */
const SERVICE_READY_MS = READY_DEADLINE_MS - 500;

/**
 * The stack's readiness: every service's own /readyz (a CA waiting for its parent, a log whose
 * store is down, a TSA whose key does not sign), asked over loopback with a short deadline. The
 * first reason found is the stack's, named by its service.
 */
export async function stackUnready(started: Standalone[]): Promise<string | undefined> {
  if (started.length < 4) return 'services still starting';
  const bases = started.map((s) => s.ready.ca ?? s.ready.log ?? s.ready.tsa ?? s.ready.admin ?? s.ready.witness).filter((b): b is string => typeof b === 'string');
  const reasons = await Promise.all(
    bases.map(async (base) => {
      try {
        const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(SERVICE_READY_MS) });
        if (r.status === 200) return undefined;
        const body = (await r.json().catch(() => ({}))) as { reason?: unknown };
        return `${base}: ${typeof body.reason === 'string' ? body.reason : `readyz answered ${r.status}`}`;
      } catch {
        return `${base}: readyz did not answer within ${SERVICE_READY_MS} ms`;
      }
    }),
  );
  return reasons.find((r) => r !== undefined);
}

/** The stack's own small server: the TUF repository and an aggregate readiness check. */
async function buildStackApp(tufDir: string, started: Standalone[]): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, frameworkErrors, ...SERVER_TIMEOUTS });
  installErrorHandler(app);
  await registerOps(app, {
    service: 'stack',
    description: 'TUF repository distributing trusted_root.json and signing_config.json',
    ready: () => stackUnready(started),
  });
  await app.register(tufRoutes, { repoDir: tufDir, prefix: '/tuf' });
  return app;
}

function summary(r: RunningStack['ready'], dataDir: string): string {
  const rel = (p: string): string => (p.startsWith(process.cwd() + '/') ? p.slice(process.cwd().length + 1) : p);
  return [
    '',
    `Cairn is running (data in ${rel(dataDir)}/). Services:`,
    `  CA (Fulcio API)      ${r.ca}`,
    `  log (Rekor API)      ${r.log}      CT: ${r.ct}`,
    `  TSA (RFC 3161)       ${r.tsa}/api/v1/timestamp`,
    `  SPIFFE / OIDC        ${r.oidc}      Workload API: unix://${r.socket}`,
    `  TUF repository       ${r.tuf}`,
    `Your workload identity: ${r.identity}`,
    'Next:',
    `  npx cairn sign FILE                        # keyless: JWT-SVID from the socket -> certificate -> log -> timestamp`,
    `  (or any Sigstore client: fulcioURL=${r.ca} rekorURL=${r.log} tsaServerURL=${r.tsa})`,
    `  npx cairn verify FILE --bundle FILE.sigstore.json --trusted-root ${rel(r.trustedRoot)} \\`,
    `      --certificate-identity ${r.identity} --certificate-oidc-issuer ${r.oidc}`,
    `  curl ${r.log}/api/v1/log                  # the log's signed tree head`,
    `  npx cairn monitor --log ${r.log} --trusted-root ${rel(r.trustedRoot)} --identity '^${r.identity}$'   # entries signed as you`,
    'Ctrl-C stops the stack; in-flight requests finish first.',
    '',
  ].join('\n');
}

/** --port for the stack: its five services take N..N+4, so N is at most 65531 (as the config's `port`). */
function stackPort(v: string): number {
  const n = parsePort(v);
  if (n > 65531) throw new InvalidArgumentError('the stack listens on N..N+4: give 0..65531');
  return n;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the whole private stack (SPIFFE, CA, log with CT, TSA, TUF) in one process')
    .addOption(new Option('--data-dir <dir>', 'data directory (default .cairn, or dataDir from --config)'))
    .addOption(new Option('--port <n>', 'first port of the range N..N+4 (0 = free ports; default 7460)').argParser(stackPort))
    .addOption(new Option('--host <addr>', 'listen address (default 127.0.0.1)'))
    .option('--trust-domain <td>', 'SPIFFE trust domain (default cairn.local)')
    .option('--config <file>', 'stack configuration (YAML or JSON); see host/cli/up.example.yaml')
    .option('--quiet', 'print only the JSON ready line')
    .addOption(new Option('--log-level <level>', 'structured JSON logs (pino) on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
    .action(async (opts: { dataDir?: string; port?: number; host?: string; trustDomain?: string; config?: string; quiet?: boolean; logLevel?: string }) => {
      const config = opts.config ? parseStackConfig(await readFile(opts.config, 'utf8')) : {};
      const stackOpts: StackOptions = {
        dataDir: opts.dataDir ?? config.dataDir ?? '.cairn',
        host: opts.host ?? config.host ?? '127.0.0.1',
        port: opts.port ?? config.port ?? 7460,
        trustDomain: opts.trustDomain ?? config.trustDomain ?? 'cairn.local',
        operator: config.operator ?? 'cairn.local',
        config,
        ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
      };
      let stack: RunningStack;
      try {
        stack = await startStack(stackOpts);
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { code?: string };
        const hint = err.code === 'EADDRINUSE' ? ` (port in use: pass --port N for another range, or --port 0 for free ports)` : '';
        process.stderr.write(`cairn up: ${err.code ? `${err.code}: ` : ''}${err.message}${hint}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${JSON.stringify(stack.ready)}\n`);
      if (!opts.quiet) process.stdout.write(summary(stack.ready, resolve(stackOpts.dataDir)));
      // A subordinate CA still waiting for its parent: say so once, with the reason.
      const caReady = await fetch(`${stack.ready.ca}/readyz`).catch(() => undefined);
      if (caReady && caReady.status === 503) {
        const reason = ((await caReady.json().catch(() => ({}))) as { reason?: string }).reason ?? 'not ready';
        process.stderr.write(`cairn up: the CA is not issuing yet (503 CA_PENDING until it is): ${reason}\n`);
      }
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          stack.close().then(done, (err: unknown) => {
            console.error(err);
            process.exitCode = 1;
            done();
          });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
