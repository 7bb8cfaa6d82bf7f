/**
 * `cairn monitor --log URL [--ct | --rekor-v1] (--trusted-root FILE | --log-key FILE) --identity PATTERN...`
 * (host/monitor/monitor.ts): prints one JSON line per log entry whose certificate names a watched
 * identity, and an alarm line, exit status 3, when the log rolls back or its entries do not hash
 * to the root it signed. `--state FILE` carries the last checkpoint and compact range between runs
 * (written atomically after every clean round), so a cron job or a long-running `--interval`
 * loop reads each entry once.
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileDurably } from '../keys/file.js';
import { InvalidArgumentError, type Command } from 'commander';
import { ctSource, keyVerifier, MonitorError, monitorOnce, rekorV1Source, tilesSource, type LogSource, type MonitorState } from '../monitor/monitor.js';
import { verifyCheckpointNote } from '../verify/pipeline.js';
import { parseTrustedRoot } from '../verify/trusted-root.js';

type Verify = (text: string) => { origin: string; size: number; root: Uint8Array };

// No default value for --identity: commander counts a default as the option given, so with one
// `requiredOption` never fired and a monitor without --identity watched nothing, silently.
const collect = (v: string, prev: RegExp[] = []): RegExp[] => {
  try {
    return [...prev, new RegExp(v)];
  } catch {
    throw new InvalidArgumentError(`not a regular expression: ${v}`);
  }
};

export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description('watch a transparency log (C2SP tlog-tiles, RFC 6962 CT or Rekor v1) for entries signed under your identities, auditing every entry against its signed root')
    .requiredOption('--log <url>', "the log's base URL, or a static tiles mirror of it")
    .option('--ct', 'the log is an RFC 6962 CT log (get-sth, get-entries): watch the certificates a CA logged')
    .option('--rekor-v1', "read the log's Rekor v1 API (/api/v1/log, entries by log index) instead of its tiles, following it across shards")
    .option('--trusted-root <file>', 'trusted_root.json whose tlogs (or, with --ct, ctlogs) include this log')
    .option('--log-key <file>', "the log's public key (PEM), instead of --trusted-root")
    .requiredOption('--identity <pattern>', 'regular expression matched against URI and email SANs (repeatable), e.g. ^spiffe://prod\\.acme\\.example/', collect)
    .option('--state <file>', 'state kept between runs (checkpoint and compact range)')
    .option('--from-head', "with no state yet: start at the log's current tree (its nodes checked against the signed root) instead of reading its whole history; tiles logs only")
    .option('--interval <seconds>', 'poll every N seconds until interrupted (default: one round)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('--interval must be a positive number of seconds');
      return n;
    })
    .action(async (o: { log: string; ct?: boolean; rekorV1?: boolean; trustedRoot?: string; logKey?: string; identity: RegExp[]; state?: string; interval?: number; fromHead?: boolean }) => {
      if (!o.trustedRoot === !o.logKey) throw new InvalidArgumentError('give exactly one of --trusted-root and --log-key');
      if (o.ct && o.rekorV1) throw new InvalidArgumentError('give at most one of --ct and --rekor-v1');
      let source: LogSource;
      if (o.ct) {
        // The CT log's key: the PEM given, or the trusted root's ctlog whose base URL is --log.
        const key = o.logKey
          ? createPublicKey(await readFile(o.logKey, 'utf8'))
          : parseTrustedRoot(JSON.parse(await readFile(o.trustedRoot!, 'utf8'))).ctlogs.find((l) => l.baseUrl.replace(/\/+$/, '') === o.log.replace(/\/+$/, ''))?.publicKey;
        if (!key) throw new InvalidArgumentError(`the trusted root has no CT log at ${o.log}`);
        source = ctSource({ base: o.log, key });
      } else {
        // The log whose base URL is --log, when the trusted root lists one: only its key may sign
        // what is audited, so a mirror serving another trusted log's tree is refused. A mirror or
        // CDN at another URL is checked against every tlog of the root; keep --state (or give
        // --log-key) so that a change of origin later is an alarm. A sharded Rekor v1 log's
        // shards are tlogs at the same URL, each with its key: all of them verify.
        let verify: Verify;
        if (o.logKey) verify = keyVerifier(await readFile(o.logKey, 'utf8'));
        else {
          const tlogs = parseTrustedRoot(JSON.parse(await readFile(o.trustedRoot!, 'utf8'))).tlogs;
          const at = tlogs.filter((l) => l.baseUrl.replace(/\/+$/, '') === o.log.replace(/\/+$/, ''));
          const trusted = at.length > 0 ? at : tlogs;
          verify = (text: string) => verifyCheckpointNote(text, trusted);
        }
        source = o.rekorV1 ? rekorV1Source({ base: o.log, verifyCheckpoint: verify }) : tilesSource({ base: o.log, verifyCheckpoint: verify });
      }
      let state: MonitorState | undefined = o.state ? await readFile(o.state, 'utf8').then((t) => JSON.parse(t) as MonitorState, () => undefined) : undefined;
      // A signal lets the round in progress finish and write its state, then ends the loop; one
      // that comes while the loop waits for the next round ends the wait too (not an hour later).
      const stop = new AbortController();
      const halt = (): void => stop.abort();
      process.once('SIGINT', halt);
      process.once('SIGTERM', halt);
      do {
        try {
          const r = await monitorOnce({ source, identities: o.identity, ...(state ? { state } : {}), ...(o.fromHead ? { fromHead: true } : {}) });
          for (const m of r.matches) process.stdout.write(JSON.stringify({ log: o.log, ...m }) + '\n');
          state = r.state;
          if (o.state) {
            // Durably: a state file a power cut left empty would stop every later start.
            await writeFileDurably(o.state, JSON.stringify(state));
          }
          process.stderr.write(JSON.stringify({ checked: state.size, read: r.read, matches: r.matches.length }) + '\n');
        } catch (e) {
          if (!(e instanceof MonitorError) || e.code === 'MONITOR_BAD_RESPONSE') {
            // A read that failed: report it; the next round (if any) tries again from the same state.
            process.stderr.write(JSON.stringify({ error: (e as { code?: string }).code ?? 'ERROR', message: (e as Error).message }) + '\n');
            if (!o.interval) process.exitCode = 1;
          } else {
            process.stdout.write(JSON.stringify({ alarm: e.code, log: o.log, message: e.message }) + '\n');
            process.exitCode = 3;
            return;
          }
        }
        if (o.interval && !stop.signal.aborted) await sleep(o.interval * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
      } while (o.interval && !stop.signal.aborted);
    });
}
