/**
 * Federation client (SPIFFE Federation §4–§5): polls each configured foreign trust domain's bundle
 * endpoint at the bundle's `spiffe_refresh_hint` (default five minutes, Federation §4.1.2) and keeps
 * the bundles apart per trust domain (never merged, §4.1.3). Two endpoint profiles (§5.2):
 * - `https_web`: TLS with the server certificate validated against the system roots or the `ca`
 *   given in the relationship (RFC 6125 host name check by node:tls); no client authentication.
 * - `https_spiffe`: the server presents an X509-SVID. Its chain must lead to an X.509 authority
 *   of the endpoint's trust domain, and its SPIFFE ID (the leaf's one URI SAN) must be the
 *   relationship's `endpointSpiffeId`; host names are not checked (§5.2.2). The authorities come
 *   from the bundle this client holds for that trust domain, so a rotation seen in one fetch
 *   authenticates the next; before the first, from the relationship's `bootstrap` bundle.
 * `http:` URLs are accepted only when `allowInsecureHttp` is set (loopback tests).
 * With `stateDir`, each bundle accepted is kept there and loaded again at start, as SPIRE keeps
 * federated bundles in its datastore: a restart while an endpoint is down keeps trusting its
 * trust domain, and an https_spiffe endpoint whose trust domain rotated its CA since the bootstrap
 * bundle is still authenticated.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { SpiffeError } from './errors.js';
import { parseSpiffeId, parseTrustDomain } from './id.js';
import { MAX_BUNDLE_BYTES, parseBundle, type ParsedBundle } from './bundle.js';
import { deadline } from '../http/deadline.js';
import { writeFileDurably } from '../keys/file.js';

export interface FederationRelationship {
  trustDomain: string;
  /** Bundle endpoint URL (https). */
  url: string;
  profile: 'https_web' | 'https_spiffe';
  /** https_web: PEM trust anchors for the endpoint's TLS certificate instead of the system roots. */
  ca?: string;
  /** https_spiffe: the SPIFFE ID the bundle endpoint server must present. */
  endpointSpiffeId?: string;
  /** https_spiffe: the endpoint trust domain's bundle to authenticate the first fetch with. */
  bootstrap?: ParsedBundle;
}

export interface FederationOptions {
  relationships: FederationRelationship[];
  allowInsecureHttp?: boolean;
  /** Clamp for the refresh interval in ms (defaults 1 s .. 1 day). */
  minRefreshMs?: number;
  maxRefreshMs?: number;
  /** Directory where each accepted bundle is kept (`<trust domain>.json`) and loaded from at start. */
  stateDir?: string;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

const DEFAULT_REFRESH_MS = 5 * 60_000;

export function validateRelationship(r: FederationRelationship, allowInsecureHttp = false): FederationRelationship {
  parseTrustDomain(r.trustDomain);
  if (r.profile !== 'https_web' && r.profile !== 'https_spiffe') throw new SpiffeError('SPIFFE_BAD_CONFIG', `unsupported bundle endpoint profile ${String(r.profile)}`);
  if (r.profile === 'https_spiffe') {
    if (r.endpointSpiffeId === undefined) throw new SpiffeError('SPIFFE_BAD_CONFIG', 'an https_spiffe relationship needs endpointSpiffeId');
    const td = parseSpiffeId(r.endpointSpiffeId).trustDomain;
    if (!r.bootstrap || r.bootstrap.trustDomain !== td || r.bootstrap.x509Authorities.length === 0) {
      throw new SpiffeError('SPIFFE_BAD_CONFIG', `an https_spiffe relationship needs a bootstrap bundle of ${td} with X.509 authorities`);
    }
  }
  let u: URL;
  try {
    u = new URL(r.url);
  } catch (e) {
    throw new SpiffeError('SPIFFE_BAD_CONFIG', 'bundle endpoint URL is invalid', { cause: e });
  }
  // Federation §5.2.1.1: scheme https, no userinfo.
  if (u.username || u.password) throw new SpiffeError('SPIFFE_BAD_CONFIG', 'bundle endpoint URL must not contain userinfo');
  if (u.protocol !== 'https:' && !(allowInsecureHttp && u.protocol === 'http:')) throw new SpiffeError('SPIFFE_BAD_CONFIG', 'bundle endpoint URL must be https');
  return r;
}

/**
 * TLS options for an https_spiffe endpoint (Federation §5.2.2): the chain validated against the
 * given X.509 authorities by node:tls, then the leaf's SPIFFE ID compared with the expected one
 * in place of the host name check. Also how an agent authenticates its server (remote-agent.ts).
 */
export function spiffeTls(endpointSpiffeId: string, authorities: readonly Uint8Array[]): https.RequestOptions {
  return {
    ca: authorities.map((d) => new X509Certificate(d).toString()),
    // A fresh connection each time: a pooled socket was authenticated under the options of the
    // request that opened it, and the agent's pool key does not include checkServerIdentity.
    agent: false,
    checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
      const uris = (cert.subjectaltname ?? '').split(', ').filter((n) => n.startsWith('URI:'));
      if (uris.length !== 1 || uris[0] !== `URI:${endpointSpiffeId}`) {
        return new SpiffeError('SPIFFE_BAD_BUNDLE', `bundle endpoint presented ${uris.join(', ') || 'no SPIFFE ID'}, not ${endpointSpiffeId}`);
      }
      return undefined;
    },
  };
}

/**
 * One GET of a bundle endpoint; redirects are not followed (Federation §5.2.1 makes them
 * optional). For https_spiffe, `authorities` are the endpoint trust domain's X.509 authorities
 * (default: the relationship's bootstrap bundle).
 */
export async function fetchBundle(r: FederationRelationship, timeoutMs = 10_000, authorities?: readonly Uint8Array[]): Promise<ParsedBundle> {
  return (await fetchBundleDocument(r, timeoutMs, authorities)).bundle;
}

/** fetchBundle, with the document as it was received (what FederationClient keeps). */
function fetchBundleDocument(r: FederationRelationship, timeoutMs: number, authorities?: readonly Uint8Array[]): Promise<{ bundle: ParsedBundle; document: Buffer }> {
  return new Promise((resolve, reject) => {
    const u = new URL(r.url);
    const mod = u.protocol === 'https:' ? https : http;
    let tls: https.RequestOptions = {};
    if (u.protocol === 'https:') {
      if (r.profile === 'https_spiffe') {
        const anchors = authorities ?? r.bootstrap?.x509Authorities ?? [];
        if (!r.endpointSpiffeId || anchors.length === 0) {
          reject(new SpiffeError('SPIFFE_BAD_CONFIG', 'an https_spiffe relationship needs endpointSpiffeId and X.509 authorities'));
          return;
        }
        tls = spiffeTls(r.endpointSpiffeId, anchors);
      } else if (r.ca) tls = { ca: r.ca };
    }
    const req = mod.get(u, { timeout: timeoutMs, ...tls, headers: { accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new SpiffeError('SPIFFE_BAD_BUNDLE', `bundle endpoint for ${r.trustDomain} answered ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BUNDLE_BYTES) {
          req.destroy(new SpiffeError('SPIFFE_BAD_BUNDLE', 'bundle too large'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        try {
          const document = Buffer.concat(chunks);
          resolve({ bundle: parseBundle(r.trustDomain, document), document });
        } catch (e) {
          reject(e);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new SpiffeError('SPIFFE_BAD_BUNDLE', 'bundle endpoint timed out')));
    // timeoutMs bounds the whole fetch: an endpoint trickling its bundle out would otherwise hold
    // this refresh (and the server's start) for hours.
    deadline(req, timeoutMs, () => new SpiffeError('SPIFFE_BAD_BUNDLE', 'bundle endpoint timed out'));
    req.on('error', (e) => reject(e instanceof SpiffeError ? e : new SpiffeError('SPIFFE_BAD_BUNDLE', `bundle endpoint for ${r.trustDomain} unreachable`, { cause: e })));
  });
}

export class FederationClient extends EventEmitter<{ update: [] }> {
  private readonly current = new Map<string, ParsedBundle>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly opts: FederationOptions;
  private stopped = false;

  constructor(opts: FederationOptions) {
    super();
    this.setMaxListeners(0);
    this.opts = opts;
    for (const r of opts.relationships) validateRelationship(r, opts.allowInsecureHttp);
  }

  bundles(): Map<string, ParsedBundle> {
    return new Map(this.current);
  }

  /** The bundles kept before a restart, then the first fetch of every relationship (errors are logged; polling continues), then polling. */
  async start(): Promise<void> {
    if (this.opts.stateDir) {
      for (const r of this.opts.relationships) {
        try {
          this.current.set(r.trustDomain, parseBundle(r.trustDomain, await readFile(this.keptPath(r.trustDomain))));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.log?.('kept federated bundle unreadable', { trustDomain: r.trustDomain, err: String(e) });
        }
      }
      if (this.current.size > 0) this.emit('update');
    }
    await Promise.all(this.opts.relationships.map((r) => this.refresh(r)));
  }

  /** Trust domain names are [a-z0-9._-] only (id.ts), so never a path of their own. */
  private keptPath(trustDomain: string): string {
    return join(this.opts.stateDir!, `${trustDomain}.json`);
  }

  /** Fetches one relationship now and schedules the next poll at its refresh hint. */
  async refresh(r: FederationRelationship): Promise<void> {
    let next = DEFAULT_REFRESH_MS;
    try {
      // https_spiffe: the endpoint trust domain's authorities as last seen, else the bootstrap's.
      const endpointTd = r.profile === 'https_spiffe' && r.endpointSpiffeId ? parseSpiffeId(r.endpointSpiffeId).trustDomain : undefined;
      const held = endpointTd ? this.current.get(endpointTd) : undefined;
      const { bundle: b, document } = await fetchBundleDocument(r, 10_000, held && held.x509Authorities.length > 0 ? held.x509Authorities : undefined);
      const prev = this.current.get(r.trustDomain);
      // A lower sequence than the one we hold is a rollback (§4 "MUST be monotonically increasing").
      if (prev?.sequence !== undefined && b.sequence !== undefined && b.sequence < prev.sequence) {
        throw new SpiffeError('SPIFFE_BAD_BUNDLE', `bundle for ${r.trustDomain} went back from sequence ${prev.sequence} to ${b.sequence}`);
      }
      if (b.refreshHintSeconds !== undefined && b.refreshHintSeconds > 0) next = b.refreshHintSeconds * 1000;
      if (!prev || JSON.stringify(prev) !== JSON.stringify(b)) {
        // Kept first: a failed write is retried by the next refresh, the bundle then still new.
        // The bytes received, not a re-encoding: parseBundle takes x509-svid keys whose
        // certificate key has no JWK form (brainpool, RSA-PSS), and reads them back the same.
        if (this.opts.stateDir) await writeFileDurably(this.keptPath(r.trustDomain), document);
        this.current.set(r.trustDomain, b);
        this.emit('update');
      }
    } catch (e) {
      // Keep the last good bundle; retry sooner than a full interval.
      this.opts.log?.('federated bundle refresh failed', { trustDomain: r.trustDomain, err: String(e) });
      next = Math.min(next, 30_000);
    }
    if (this.stopped) return;
    const clamped = Math.max(this.opts.minRefreshMs ?? 1000, Math.min(next, this.opts.maxRefreshMs ?? 86_400_000));
    clearTimeout(this.timers.get(r.trustDomain));
    const t = setTimeout(() => void this.refresh(r), clamped);
    t.unref();
    this.timers.set(r.trustDomain, t);
  }

  close(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
