/**
 * `cairn serve <service>`: start one service on its own. Every service module exports
 * `startStandalone(opts)`, which builds the app, listens, and resolves to its URLs; this file
 * prints the single JSON ready line on stdout and handles shutdown signals.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { TrustedRootInput } from '../trust/trust-files.js';

export interface StandaloneOptions {
  dataDir: string;
  port: number;
  host: string;
  config?: string;
  trustDomain?: string;
  /** pino level for structured JSON logs on stderr; absent or 'silent' = no logs. */
  logLevel?: string;
}

export interface Standalone {
  /** Fields merged into the ready line after `"ready": true`. */
  ready: Record<string, string>;
  /**
   * What this service contributes to the stack's trusted_root.json (its log keys, CA chain or TSA
   * chain, with the URL it is served at). `cairn up` merges the contributions of every service.
   */
  trust?: TrustedRootInput;
  /**
   * Calls `fn` with the new contribution when it changes while the service runs (a subordinate
   * CA that got its first certificate from its parent); `cairn up` rewrites the trust files then.
   */
  onTrustChange?(fn: (trust: TrustedRootInput) => void): void;
  close(): Promise<void>;
}

export type Starter = (opts: StandaloneOptions) => Promise<Standalone>;

// One line per service; loaded lazily so `cairn verify` does not pay for SQLite or gRPC.
export const services: Record<string, () => Promise<Starter>> = {
  tsa: async () => (await import('../tsa/standalone.js')).startStandalone,
  spiffe: async () => (await import('../spiffe/standalone.js')).startStandalone,
  log: async () => (await import('../log/standalone.js')).startStandalone,
  ca: async () => (await import('../ca/standalone.js')).startStandalone,
  witness: async () => (await import('../witness/standalone.js')).startStandalone,
};

/** Print the ready line, then close cleanly on SIGINT/SIGTERM (in-flight requests finish first). */
export async function runUntilSignal(started: Standalone): Promise<void> {
  process.stdout.write(JSON.stringify({ ready: true, ...started.ready }) + '\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      started.close().then(resolve, (err) => {
        console.error(err);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port number, 0..65535');
  return n;
}

export function registerServe(program: Command): void {
  const serve = program.command('serve').description('run one service on its own');
  for (const name of Object.keys(services)) {
    const cmd = serve
      .command(name)
      .description(`run the ${name} service`)
      .addOption(new Option('--data-dir <dir>', 'data directory').default(`.cairn/${name}`))
      .addOption(new Option('--port <n>', 'TCP port (0 = any free port)').default(0).argParser(parsePort))
      .addOption(new Option('--host <addr>', 'listen address').default('127.0.0.1'))
      .option('--config <file>', 'service configuration file (YAML or JSON)')
      .addOption(new Option('--log-level <level>', 'structured JSON logs on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'));
    if (name === 'spiffe') cmd.requiredOption('--trust-domain <td>', 'SPIFFE trust domain, e.g. example.org');
    cmd.addHelpText('after', `\nConfiguration keys: README.md "Running one service on its own", and host/${name}/standalone.ts for all of them.`);
    cmd.action(async (opts: StandaloneOptions) => {
      const start = await services[name]!();
      let running: Standalone;
      try {
        running = await start(opts);
      } catch (e) {
        // One coded line, as `cairn up` reports a failed start, not a stack trace: a bad
        // configuration is the operator's to fix, and its code says which.
        const err = e as NodeJS.ErrnoException;
        const hint = err.code === 'EADDRINUSE' ? ' (port in use: pass another --port, or --port 0 for a free one)' : '';
        // An error without a code is a bug: its stack goes with it.
        process.stderr.write(`cairn serve ${name}: ${err.code ? `${err.code}: ${err.message}` : (err.stack ?? String(e))}${hint}\n`);
        process.exitCode = 1;
        return;
      }
      await runUntilSignal(running);
    });
  }
}
