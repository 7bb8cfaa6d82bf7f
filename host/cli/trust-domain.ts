/**
 * `cairn trust-domain`: an organisation's side of trust-domain registration with a public CA
 * (host/ca/trust-domains.ts, the seed's third deployment model). Every command prints one JSON line.
 *
 *   cairn trust-domain register --ca URL --trust-domain TD --spiffe-id ID [--spiffe-id ID ...]
 *       (--bundle FILE | --bundle-url URL) [--oidc-issuer URL] [--socket S] [--as ID]
 *     builds the request, gets the proof (a JWT-SVID from the Workload API whose audience binds
 *     this exact request), and prints the CA's answer: the http-01 or dns-01 challenge to publish, or
 *     `active` when the CA asks for none
 *   cairn trust-domain validate --ca URL TD     ask the CA to check the published answer
 *   cairn trust-domain show --ca URL TD         the registration as the CA holds it
 *   cairn trust-domain update ...               as register, replacing the bundle, IDs and issuer
 *                                               (the proof comes from the keys registered now)
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { registrationAudience } from '../ca/trust-domains.js';
import { fetchJwtSvid } from '../signer/identity.js';

interface RegisterOptions {
  ca: string;
  trustDomain: string;
  spiffeId: string[];
  bundle?: string;
  bundleUrl?: string;
  oidcIssuer?: string;
  socket?: string;
  as?: string;
}

async function bundleOf(o: RegisterOptions): Promise<unknown> {
  if (o.bundle && o.bundleUrl) throw new Error('give --bundle or --bundle-url, not both');
  if (o.bundle) return JSON.parse(await readFile(o.bundle, 'utf8')) as unknown;
  if (o.bundleUrl) {
    const res = await fetch(o.bundleUrl, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`${o.bundleUrl} answered ${res.status}`);
    return (await res.json()) as unknown;
  }
  throw new Error('give the trust domain\'s SPIFFE bundle: --bundle FILE or --bundle-url URL');
}

async function call(method: string, url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method,
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { message: text.slice(0, 300) };
  }
  if (!res.ok) {
    const e = json as { error?: string; message?: string };
    throw Object.assign(new Error(`${res.status} ${e.error ?? ''}: ${e.message ?? ''}`.trim()), { body: json });
  }
  return json;
}

/** Builds and sends a registration (POST) or an update (PUT). */
export async function sendRegistration(o: RegisterOptions, update: boolean): Promise<unknown> {
  const bundle = await bundleOf(o);
  const ids = o.spiffeId;
  const socket = o.socket ?? process.env.SPIFFE_ENDPOINT_SOCKET;
  if (!socket) throw new Error('no Workload API socket for the proof: --socket or SPIFFE_ENDPOINT_SOCKET');
  const proof = (await fetchJwtSvid(socket, registrationAudience(o.trustDomain, bundle, ids, o.oidcIssuer), o.as)).token;
  const body = { ...(update ? {} : { trustDomain: o.trustDomain }), bundle, spiffeIds: ids, ...(o.oidcIssuer ? { oidcIssuer: o.oidcIssuer } : {}), proof };
  const base = `${o.ca.replace(/\/$/, '')}/cairn/v1/trust-domains`;
  return update ? call('PUT', `${base}/${encodeURIComponent(o.trustDomain)}`, body) : call('POST', base, body);
}

function print(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

async function run(f: () => Promise<unknown>): Promise<void> {
  try {
    print(await f());
  } catch (e) {
    process.stderr.write(`cairn trust-domain: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

export function registerTrustDomain(program: Command): void {
  const td = program.command('trust-domain').description('register a SPIFFE trust domain with a public Cairn CA (bundle, signing IDs, http-01 or dns-01 challenge)');
  const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
  for (const [name, update] of [['register', false], ['update', true]] as const) {
    td.command(name)
      .description(update ? 'replace a registration\'s bundle, IDs and issuer (proof from the keys registered now)' : 'register a trust domain: prints the challenge (http-01 or dns-01) to publish')
      .requiredOption('--ca <url>', 'the CA')
      .requiredOption('--trust-domain <td>', 'the trust domain')
      .requiredOption('--spiffe-id <id>', 'a SPIFFE ID allowed to get signing certificates (repeatable; spiffe://td/path/* for a prefix)', collect)
      .option('--bundle <file>', 'the trust domain\'s SPIFFE bundle (JWK Set)')
      .option('--bundle-url <url>', 'or fetch it from the trust domain\'s bundle endpoint')
      .option('--oidc-issuer <url>', 'check tokens through this OIDC issuer (host in the trust domain) instead of the bundle\'s JWT keys')
      .option('--socket <path>', 'Workload API socket for the proof (default SPIFFE_ENDPOINT_SOCKET)')
      .option('--as <spiffe-id>', 'which of this workload\'s SPIFFE IDs signs the proof')
      .action((o: RegisterOptions) => run(() => sendRegistration(o, update)));
  }
  td.command('validate')
    .description('ask the CA to check the published answer (http-01 or dns-01) and activate the registration')
    .requiredOption('--ca <url>', 'the CA')
    .argument('<trust-domain>')
    .action((name: string, o: { ca: string }) => run(() => call('POST', `${o.ca.replace(/\/$/, '')}/cairn/v1/trust-domains/${encodeURIComponent(name)}/validate`, {})));
  td.command('show')
    .description('the registration as the CA holds it')
    .requiredOption('--ca <url>', 'the CA')
    .argument('<trust-domain>')
    .action((name: string, o: { ca: string }) => run(() => call('GET', `${o.ca.replace(/\/$/, '')}/cairn/v1/trust-domains/${encodeURIComponent(name)}`)));
}
