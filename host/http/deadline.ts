/**
 * A whole-request deadline for an outgoing node:http(s) request. The request's own `timeout`
 * option is an idle timer, restarted by every byte, so a peer that trickles its answer out (a
 * byte every few seconds) holds the request for as long as it likes. `deadline` destroys the
 * request with `error()` when it is still open `ms` after it started, idle or not; the timer is
 * cleared when the request closes, so it never keeps the process alive.
 */
import type { ClientRequest } from 'node:http';

export function deadline(req: ClientRequest, ms: number, error: () => Error): void {
  const timer = setTimeout(() => req.destroy(error()), ms);
  req.once('close', () => clearTimeout(timer));
}
