/**
 * The log's side of C2SP tlog-witness: after each published checkpoint, send it to every
 * configured witness with a consistency proof from the size that witness last cosigned, and add
 * the cosignature it returns to the checkpoint (TransparencyLog.addCosignature checks it against
 * the witness key, as for cosignatures posted to /checkpoint/cosignature).
 *
 * Per witness, at most one request is in flight; checkpoints published meanwhile are coalesced
 * into the newest. The size the witness holds starts unknown (0); a 409 answer carries it
 * (text/x.tlog.size), and the request is sent again once from there. Failures are reported and
 * retried with the next checkpoint, or after `retryMs`.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TransparencyLog } from './log.js';
import { parseNote, type WitnessKey } from './note.js';
import { deadline } from '../http/deadline.js';

export interface WitnessEndpoint {
  /** The witness's submission prefix; requests go to <url>/add-checkpoint. */
  url: string;
  key: WitnessKey;
}

interface State {
  endpoint: WitnessEndpoint;
  /** The tree size the witness last cosigned, as far as we know. */
  size: number;
  running: boolean;
  again: boolean;
  retry?: NodeJS.Timeout;
}

function post(url: string, body: string, timeoutMs: number, signal: AbortSignal): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'POST', timeout: timeoutMs, signal, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (text.length > 64 * 1024) req.destroy(new Error('answer too large'));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    deadline(req, timeoutMs, () => new Error('timed out'));
    req.on('error', reject);
    req.end(body);
  });
}

export class WitnessClient {
  private readonly states: State[];
  private readonly unsubscribe: () => void;
  private closed = false;
  /** Aborts the requests in flight at close(). */
  private readonly stop = new AbortController();

  constructor(
    private readonly log: TransparencyLog,
    endpoints: WitnessEndpoint[],
    private readonly o: { onError?: (witness: string, e: unknown) => void; timeoutMs?: number; retryMs?: number } = {},
  ) {
    this.states = endpoints.map((endpoint) => ({ endpoint, size: 0, running: false, again: false }));
    this.unsubscribe = log.onPublished(() => this.notify());
  }

  /** Sends the current checkpoint to every witness (coalescing with requests in flight). */
  notify(): void {
    if (this.closed) return;
    for (const st of this.states) void this.run(st);
  }

  /** Resolves when no request is in flight (tests). */
  async settled(): Promise<void> {
    while (this.states.some((s) => s.running)) await new Promise((r) => setTimeout(r, 10));
  }

  /**
   * Stops sending: requests in flight are aborted (a slow witness would otherwise hold a shutting
   * down log for up to timeoutMs), and it resolves once no run is left, so nothing touches the log
   * or its store after they are closed.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    for (const st of this.states) clearTimeout(st.retry);
    this.stop.abort();
    await this.settled();
  }

  private async run(st: State): Promise<void> {
    if (st.running) {
      st.again = true;
      return;
    }
    st.running = true;
    try {
      do {
        st.again = false;
        await this.send(st);
      } while (st.again && !this.closed);
    } catch (e) {
      if (this.closed) return; // aborted by close(): nothing to report or retry
      this.o.onError?.(st.endpoint.key.name, e);
      clearTimeout(st.retry);
      st.retry = setTimeout(() => this.notify(), this.o.retryMs ?? 30_000);
      st.retry.unref();
    } finally {
      st.running = false;
    }
  }

  private async send(st: State, secondTry = false): Promise<void> {
    const note = this.log.checkpoint();
    const body = parseNote(note).body;
    const size = Number(body.split('\n')[1]);
    if (st.size > size) throw new Error(`the witness holds size ${st.size}, beyond this log's ${size}`);
    // tlog-witness: "old <size>", the consistency proof lines, an empty line, the checkpoint.
    const proof = st.size === 0 || st.size === size ? [] : await this.log.consistencyProof(st.size, size);
    const request = `old ${st.size}\n${proof.map((h) => `${Buffer.from(h).toString('base64')}\n`).join('')}\n${note}`;
    const r = await post(`${st.endpoint.url.replace(/\/$/, '')}/add-checkpoint`, request, this.o.timeoutMs ?? 10_000, this.stop.signal);
    if (r.status === 409 && !secondTry) {
      const held = /^(0|[1-9][0-9]*)\n$/.exec(r.text);
      if (!held) throw new Error('409 without a tree size');
      st.size = Number(held[1]);
      return this.send(st, true);
    }
    if (r.status !== 200) throw new Error(`add-checkpoint answered ${r.status}: ${r.text.trim().slice(0, 200)}`);
    // The answer is signature lines; appended to the checkpoint body they form a note that
    // addCosignature verifies against the witness key (and stores if the tree is still current).
    await this.log.addCosignature(`${body}\n${r.text}`);
    st.size = size;
  }
}
