/**
 * The subordinate CA's side of the seed's Phase 3: the "certbot" that keeps this CA's certificate
 * live. It proves the server's SPIFFE ID to the parent CA with a JWT-SVID from the local Workload
 * API, sends a CSR for a fresh key, checks what comes back, stores it, and renews at two thirds
 * of the certificate's lifetime with a new key each time.
 *
 *   parent:
 *     url: https://ca.public.example      # the parent CA (POST /cairn/v1/subordinate-ca)
 *     socket: unix:///run/spire/agent.sock   # default SPIFFE_ENDPOINT_SOCKET
 *     audience: sigstore                  # the JWT-SVID audience the parent expects
 *     spiffeId: spiffe://prod.acme.example/cairn/ca   # which SVID, when the workload has several
 *     roots: /etc/cairn/parent-root.pem   # optional: the parent's root certificate(s), pinned
 *
 * Files in the data directory: sub-key.pem (encrypted PKCS#8, mode 0600), sub-passphrase (0600)
 * and sub-chain.pem (the subordinate certificate, then the parent's chain). A restart reuses them
 * while more than a third of the lifetime is left.
 */
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { readSecretFile, writeSecretFile } from '../keys/file.js';
import { fetchJwtSvid } from '../signer/identity.js';
import { CaError } from './errors.js';
import { loadFileCa, splitPem, type FileKeyConfig, type LoadedCa } from './keys.js';

const x509Crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1]>;

export interface ParentConfig {
  url: string;
  socket?: string;
  audience?: string;
  spiffeId?: string;
  /**
   * A PEM file with the parent's root certificate(s). When given, the chain the parent answers
   * with must end at one of them (or at a certificate one of them issued), so a compromised or
   * misconfigured endpoint at `url` cannot make this CA issue under a hierarchy nobody trusts;
   * TLS alone only says who answered, not which root it chains to. Read at start.
   */
  roots?: string;
  /**
   * Start without a certificate when none is stored and the parent does not issue one yet (its
   * registration of this trust domain still to come), answer CA_PENDING meanwhile, and keep
   * asking: after 1 s, then doubling up to `retryMaxSeconds` (default 30). Default: false, the
   * start fails instead. `cairn up` sets it.
   */
  wait?: boolean;
  retryMaxSeconds?: number;
}

export function parseParentConfig(v: unknown): ParentConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CaError('CA_BAD_CONFIG', 'parent must be a mapping');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['url', 'socket', 'audience', 'spiffeId', 'roots', 'wait', 'retryMaxSeconds'].includes(k)) throw new CaError('CA_BAD_CONFIG', `parent: unknown key ${k}`);
  if (typeof o.url !== 'string' || !/^https?:\/\//.test(o.url)) throw new CaError('CA_BAD_CONFIG', 'parent.url must be an http(s) URL');
  for (const k of ['socket', 'audience', 'spiffeId', 'roots'] as const) if (o[k] !== undefined && typeof o[k] !== 'string') throw new CaError('CA_BAD_CONFIG', `parent.${k} must be a string`);
  if (o.wait !== undefined && typeof o.wait !== 'boolean') throw new CaError('CA_BAD_CONFIG', 'parent.wait must be true or false');
  if (o.retryMaxSeconds !== undefined && (!Number.isInteger(o.retryMaxSeconds) || (o.retryMaxSeconds as number) < 1 || (o.retryMaxSeconds as number) > 3600)) throw new CaError('CA_BAD_CONFIG', 'parent.retryMaxSeconds must be an integer 1..3600');
  return o as unknown as ParentConfig;
}

export interface SubordinateClientOptions {
  dataDir: string;
  parent: ParentConfig;
  /** Called with each new issuing CA after a renewal, and with the first one when the client started without (parent.wait). */
  onRenew?: (ca: LoadedCa) => void;
  /** Called when a renewal attempt fails (it is retried). */
  onError?: (e: unknown) => void;
  /** Renew after this fraction of the lifetime (default 2/3). */
  renewAt?: number;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

export class SubordinateClient {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private ca: LoadedCa | undefined;
  private roots: X509Certificate[] | undefined;
  /** Why the last attempt to get a certificate failed (while waiting for the first one). */
  lastError: Error | undefined;

  private constructor(private readonly o: SubordinateClientOptions) {}

  private get files(): FileKeyConfig & { passphraseFile: string } {
    const d = this.o.dataDir;
    return { key: join(d, 'sub-key.pem'), chain: join(d, 'sub-chain.pem'), passphraseFile: join(d, 'sub-passphrase') };
  }

  /** Loads a stored certificate with enough life left, or gets a new one; then schedules renewal. */
  static async start(o: SubordinateClientOptions): Promise<SubordinateClient> {
    const c = new SubordinateClient(o);
    if (o.parent.roots !== undefined) c.roots = await loadParentRoots(o.parent.roots);
    const stored = await c.loadStored();
    if (stored && !c.due(stored)) c.ca = stored;
    else {
      try {
        c.ca = await c.obtain();
      } catch (e) {
        // A stored certificate that is still valid keeps the CA serving while the parent is down.
        if (stored && stored.cert.notAfter.getTime() > Date.now()) {
          o.onError?.(e);
          c.ca = stored;
        } else if (o.parent.wait) {
          // Nothing to serve with yet: wait for the parent (CA_PENDING until then).
          c.lastError = e as Error;
          o.onError?.(e);
          c.waitForFirst(1_000);
          return c;
        } else throw e;
      }
    }
    c.schedule();
    return c;
  }

  /** The issuing CA, or undefined while waiting for the first certificate (parent.wait). */
  get current(): LoadedCa | undefined {
    return this.ca;
  }

  /** Asks the parent again after `delay` ms, doubling the delay up to parent.retryMaxSeconds. */
  private waitForFirst(delay: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.obtain().then(
        (ca) => {
          if (this.closed) return void ca.signer.close();
          this.ca = ca;
          this.lastError = undefined;
          this.o.onRenew?.(ca);
          this.schedule();
        },
        (e: unknown) => {
          this.lastError = e as Error;
          this.o.onError?.(e);
          this.waitForFirst(Math.min(delay * 2, (this.o.parent.retryMaxSeconds ?? 30) * 1000));
        },
      );
    }, delay);
    this.timer.unref();
  }

  private due(ca: LoadedCa, now = Date.now()): boolean {
    const from = ca.cert.notBefore.getTime();
    const to = ca.cert.notAfter.getTime();
    return now >= from + (to - from) * (this.o.renewAt ?? 2 / 3);
  }

  private async loadStored(): Promise<LoadedCa | undefined> {
    const f = this.files;
    // A renewal a crash interrupted (obtain): the new key waits aside until its chain is in place.
    // If the chain is the one it belongs to, finish the switch; if not, the old pair stands.
    const next = `${f.key}.next`;
    if (await exists(next)) {
      const pending = await loadFileCa({ ...f, key: next }).catch(() => undefined);
      if (pending) {
        await pending.signer.close();
        await rename(next, f.key);
      } else await rm(next, { force: true });
    }
    if (!(await exists(f.key)) || !(await exists(f.chain))) return undefined;
    // A pair that does not match (written by an older version, or by hand) is treated as nothing
    // stored: a new certificate is asked for. So is a chain that no longer ends at the pinned
    // roots (parent.roots added or changed since it was stored).
    const ca = await loadFileCa(f).catch(() => undefined);
    if (ca && this.roots) {
      try {
        checkParentChain(splitPem(await readFile(f.chain, 'utf8')), Buffer.from(ca.cert.publicKey.rawData), this.roots);
      } catch {
        await ca.signer.close();
        return undefined;
      }
    }
    return ca;
  }

  private schedule(): void {
    if (this.closed || !this.ca) return;
    const from = this.ca.cert.notBefore.getTime();
    const to = this.ca.cert.notAfter.getTime();
    const at = from + (to - from) * (this.o.renewAt ?? 2 / 3);
    // setTimeout holds at most 2^31-1 ms (24.8 days); a longer wait is taken in steps.
    const wait = Math.min(Math.max(at - Date.now(), 0), 2 ** 31 - 1);
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.closed || !this.ca) return;
    if (!this.due(this.ca)) return this.schedule();
    try {
      await this.renew();
    } catch (e) {
      this.o.onError?.(e);
      // Retry well before expiry: a tenth of what is left, between 5 s and an hour.
      const left = this.ca!.cert.notAfter.getTime() - Date.now();
      this.timer = setTimeout(() => void this.tick(), Math.min(Math.max(left / 10, 5_000), 3_600_000));
      this.timer.unref();
    }
  }

  /** Gets a new certificate now, switches to it and schedules the next renewal. */
  async renew(): Promise<LoadedCa> {
    const old = this.ca;
    const ca = await this.obtain();
    // Closed while the parent was answering: the server no longer issues, so the new CA is not
    // switched to (onRenew would hand it to a CA that is shutting down) and its signer is released.
    // The files hold it already, so the next start uses it.
    if (this.closed) {
      await ca.signer.close();
      return old ?? ca;
    }
    this.ca = ca;
    this.o.onRenew?.(this.ca);
    clearTimeout(this.timer);
    this.schedule();
    // Requests that started with the old key may still be signing; release it a little later.
    setTimeout(() => void old?.signer.close(), 30_000).unref();
    return this.ca;
  }

  private async obtain(): Promise<LoadedCa> {
    const p = this.o.parent;
    // The passphrase that will encrypt the new key comes first, before the parent is asked: one
    // that group or others can read may already be out, so it is refused with its chmod hint
    // (readSecretFile, as loadFileCa refuses it) instead of protecting a freshly certified CA key.
    // Read after the parent answered, it was only refused once a certificate had been issued and
    // the key written, and a subordinate with parent.wait asked again, and again, for new ones.
    const f = this.files;
    if (!(await exists(f.passphraseFile))) await writeSecretFile(f.passphraseFile, `${randomBytes(32).toString('base64url')}\n`);
    const pass = (await readSecretFile(f.passphraseFile)).split('\n')[0]!.trim();
    const socket = p.socket ?? process.env.SPIFFE_ENDPOINT_SOCKET;
    if (!socket) throw new CaError('CA_BAD_CONFIG', 'parent: no Workload API socket (parent.socket or SPIFFE_ENDPOINT_SOCKET)');
    let svid: { token: string; spiffeId: string };
    try {
      svid = await fetchJwtSvid(socket, p.audience ?? 'sigstore', p.spiffeId);
    } catch (cause) {
      throw new CaError('CA_PARENT_FAILED', `no JWT-SVID for the parent CA: ${(cause as Error).message}`, { cause });
    }
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const td = /^spiffe:\/\/([^/]+)/.exec(svid.spiffeId)?.[1] ?? 'subordinate';
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${td}`, keys: keys as never, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } }, x509Crypto);
    let res: Response;
    try {
      res = await fetch(`${p.url.replace(/\/$/, '')}/cairn/v1/subordinate-ca`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ credentials: { oidcIdentityToken: svid.token }, certificateSigningRequest: Buffer.from(csr.toString('pem')).toString('base64') }),
        signal: AbortSignal.timeout(30_000),
        redirect: 'error',
      });
    } catch (cause) {
      throw new CaError('CA_PARENT_FAILED', `the parent CA at ${p.url} is unreachable`, { cause });
    }
    const text = await res.text();
    if (res.status !== 201) throw new CaError('CA_PARENT_FAILED', `the parent CA answered ${res.status}: ${text.slice(0, 300)}`);
    let pems: string[];
    try {
      pems = (JSON.parse(text) as { chain: { certificates: string[] } }).chain.certificates.flatMap((c) => splitPem(c));
    } catch (cause) {
      throw new CaError('CA_PARENT_FAILED', 'the parent CA answer has no certificate chain', { cause });
    }
    checkParentChain(pems, Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)), this.roots);

    const pkcs8 = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' });
    // Two files cannot be replaced at once. Writing the key over the old one first left, after a
    // crash before the chain, a pair that matched neither certificate: the next start had nothing
    // to serve with until the parent answered, though the old certificate had a third of its life
    // left. So the key waits aside (.next) until the chain is in place; loadStored finishes or
    // drops a switch a crash interrupted.
    const next = `${f.key}.next`;
    await writeSecretFile(next, pkcs8.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: pass }) as string);
    await writeSecretFile(f.chain, pems.map((x) => x.trim() + '\n').join(''));
    await rename(next, f.key);
    return loadFileCa(f);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

/**
 * The parent's answer, checked before it is stored. What the parent signed must be a CA
 * certificate for our key, constrained to our trust domain, and every certificate of the chain
 * must be issued and signed by the next (RFC 5280 §6.1.3): anything else would make every leaf
 * this server issues unverifiable (or worse), and would only show when verifiers refuse them.
 * With pinned `roots`, the chain must also end at one of them, or at a certificate one of them
 * issued and signed.
 */
export function checkParentChain(pems: readonly string[], spki: Uint8Array, roots?: readonly X509Certificate[]): void {
  let certs: X509Certificate[];
  let constrained: boolean;
  try {
    certs = pems.map((p) => new X509Certificate(p));
    if (certs.length === 0) throw new Error('no certificate');
    constrained = new x509.X509Certificate(pems[0]!).extensions.some((e) => e.type === '2.5.29.30' && e.critical);
  } catch (cause) {
    throw new CaError('CA_PARENT_FAILED', 'the parent CA answer holds no parseable certificate chain', { cause });
  }
  const cert = certs[0]!;
  if (!cert.publicKey.export({ format: 'der', type: 'spki' }).equals(spki)) throw new CaError('CA_PARENT_FAILED', 'the parent CA certified another key');
  if (!cert.ca) throw new CaError('CA_PARENT_FAILED', 'the parent CA did not issue a CA certificate');
  if (!constrained) throw new CaError('CA_PARENT_FAILED', 'the parent CA certificate carries no name constraints');
  for (let i = 0; i + 1 < certs.length; i++) {
    const [c, issuer] = [certs[i]!, certs[i + 1]!];
    if (!issuer.ca || !c.checkIssued(issuer) || !c.verify(issuer.publicKey)) throw new CaError('CA_PARENT_FAILED', `certificate ${i} of the parent CA's chain is not issued by the next one`);
  }
  if (roots) {
    const last = certs[certs.length - 1]!;
    const anchored = roots.some((r) => r.raw.equals(last.raw) || (r.ca && last.checkIssued(r) && last.verify(r.publicKey)));
    if (!anchored) throw new CaError('CA_PARENT_FAILED', "the parent CA's chain does not end at a pinned root (parent.roots)");
  }
}

/** parent.roots: one or more CA certificates in a PEM file. */
export async function loadParentRoots(path: string): Promise<X509Certificate[]> {
  let roots: X509Certificate[];
  try {
    roots = splitPem(await readFile(path, 'utf8')).map((p) => new X509Certificate(p));
  } catch (cause) {
    throw new CaError('CA_BAD_CONFIG', `parent.roots: ${path} does not hold PEM certificates`, { cause });
  }
  if (roots.length === 0 || roots.some((r) => !r.ca)) throw new CaError('CA_BAD_CONFIG', `parent.roots: ${path} must hold CA certificates`);
  return roots;
}
