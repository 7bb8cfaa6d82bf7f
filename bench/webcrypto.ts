/**
 * The WASM core against a runtime's own WebCrypto, measured inside that runtime: the inputs, the
 * timing code (JS source evaluated there) and the table. Shared by bench/browser.ts (headless
 * Chromium) and bench/runtimes.ts (Deno, Bun), so every runtime runs the same work:
 *  - ECDSA P-256: signatures by distinct keys. The core checks them over their SHA-256 digests in
 *    one verifyBatch; WebCrypto can only verify over the message, so it imports each key and
 *    verifies each message, all at once (Promise.all), which is its best case, and one at a time;
 *  - Ed25519: the same, where the runtime's WebCrypto has Ed25519;
 *  - an RFC 6962 root: the core's leafHashes + rootFromLeafHashes against the same tree built with
 *    crypto.subtle.digest (every level's hashes requested at once).
 * Medians of the timed runs after untimed ones, each side on identical input.
 *
 * WebCrypto cannot verify ECDSA over a digest, which is what hashedrekord entries and bundles
 * checked by digest need; the P-256 rows compare the core's digest check with WebCrypto's message
 * check, the nearest thing such a runtime has.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import * as twin from '../host/core/reference.js';
import { fmt, table } from './harness.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Fresh keys, signatures and leaves (hex, for JSON), and the root Node computes. */
export function webCryptoInputs(quick: boolean): Record<string, unknown> {
  const n = quick ? 64 : 256;
  const p256 = Array.from({ length: n }, (_, i) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const msg = Buffer.from(`webcrypto bench ${i} ${Math.random()}`);
    return {
      spki: hex(publicKey.export({ type: 'spki', format: 'der' })),
      msg: hex(msg),
      digest: hex(twin.sha256(msg)),
      der: hex(sign('sha256', msg, privateKey)),
      raw: hex(sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
    };
  });
  const ed25519 = Array.from({ length: n }, (_, i) => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const msg = Buffer.from(`webcrypto bench ed25519 ${i}`);
    return { spki: hex(publicKey.export({ type: 'spki', format: 'der' })), msg: hex(msg), sig: hex(sign(null, msg, privateKey)) };
  });
  const leaves = Array.from({ length: quick ? 2_000 : 10_000 }, (_, i) => Buffer.from(`leaf ${i} `.padEnd(100, '.')));
  const root = hex(twin.rootFromLeafHashes(Buffer.concat(leaves.map((l) => twin.leafHash(l)))));
  return { p256, ed25519, leaves: leaves.map(hex), root, runs: quick ? 3 : 7, warm: 2 };
}

/**
 * `measure(core, data)` as source: resolves with median ms per side. Where the runtime has
 * node:crypto's ECDH (Deno, Bun), P-256 is timed with that step and then all in WASM.
 */
export const MEASURE = `
async function measure(core, d) {
  const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const runs = d.runs, warm = d.warm;
  async function time(f) {
    for (let i = 0; i < warm; i++) await f();
    const out = [];
    for (let i = 0; i < runs; i++) { const t = performance.now(); await f(); out.push(performance.now() - t); }
    return median(out);
  }
  const p = d.p256.map((x) => ({ spki: bytes(x.spki), digest: bytes(x.digest), der: bytes(x.der), raw: bytes(x.raw), msg: bytes(x.msg) }));
  const e = d.ed25519.map((x) => ({ spki: bytes(x.spki), msg: bytes(x.msg), sig: bytes(x.sig) }));
  const coreP = () => { const v = core.verifyBatch(p.map((x) => ({ alg: 'ecdsa-p256-sha256', publicKey: x.spki, digestOrMessage: x.digest, signature: x.der }))); if (!v.every(Boolean)) throw new Error('core P-256 refused a good signature'); };
  const webP = async () => { const v = await Promise.all(p.map(async (x) => crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, await crypto.subtle.importKey('spki', x.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']), x.raw, x.msg))); if (!v.every(Boolean)) throw new Error('WebCrypto refused a good P-256 signature'); };
  const webPSeq = async () => { for (const x of p) { if (!(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, await crypto.subtle.importKey('spki', x.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']), x.raw, x.msg))) throw new Error('WebCrypto refused a good P-256 signature'); } };
  const coreE = () => { const v = core.verifyBatch(e.map((x) => ({ alg: 'ed25519', publicKey: x.spki, digestOrMessage: x.msg, signature: x.sig }))); if (!v.every(Boolean)) throw new Error('core Ed25519 refused a good signature'); };
  let webE;
  try {
    await crypto.subtle.importKey('spki', e[0].spki, { name: 'Ed25519' }, false, ['verify']);
    webE = async () => { const v = await Promise.all(e.map(async (x) => crypto.subtle.verify({ name: 'Ed25519' }, await crypto.subtle.importKey('spki', x.spki, { name: 'Ed25519' }, false, ['verify']), x.sig, x.msg))); if (!v.every(Boolean)) throw new Error('WebCrypto refused a good Ed25519 signature'); };
  } catch { webE = undefined; }
  const leaves = d.leaves.map(bytes);
  let coreRoot, webRoot;
  const coreM = () => { coreRoot = hex(core.rootFromLeafHashes(core.leafHashes(leaves))); };
  const cat = (...parts) => { const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0)); let o = 0; for (const x of parts) { out.set(x, o); o += x.length; } return out; };
  const webM = async () => {
    // RFC 6962 §2.1: leaves 0x00 || data, nodes 0x01 || left || right, the odd one carried up.
    let level = (await Promise.all(leaves.map((l) => crypto.subtle.digest('SHA-256', cat(new Uint8Array([0]), l))))).map((b) => new Uint8Array(b));
    while (level.length > 1) {
      const pairs = [];
      for (let i = 0; i + 1 < level.length; i += 2) pairs.push(crypto.subtle.digest('SHA-256', cat(new Uint8Array([1]), level[i], level[i + 1])));
      const next = (await Promise.all(pairs)).map((b) => new Uint8Array(b));
      if (level.length % 2) next.push(level[level.length - 1]);
      level = next;
    }
    webRoot = hex(level[0]);
  };
  // initCore's choice, then node:crypto's ECDH step wherever the runtime has it, then none.
  const ecdhDefault = core.p256ScalarMulInstalled();
  const ecdh = await core.installRuntimeScalarMul();
  const r = {
    ecdhDefault,
    ecdh,
    p256: { core: await time(coreP), web: await time(webP), n: p.length },
    p256Seq: { core: 0, web: await time(webPSeq), n: p.length },
    ed25519: { core: await time(coreE), web: webE ? await time(webE) : null, n: e.length },
    merkle: { core: await time(coreM), web: await time(webM), n: leaves.length },
  };
  if (ecdh) {
    core.setP256ScalarMul(undefined);
    r.p256Wasm = { core: await time(coreP), web: r.p256.web, n: p.length };
  }
  r.rootsAgree = coreRoot === webRoot && coreRoot === d.root;
  return r;
}
`;

interface Timing {
  core: number;
  web: number | null;
  n: number;
}

/** What `measure` resolves with (plus `error` when the embedded script failed). */
export interface Measured {
  error?: string;
  /** Whether initCore installed the ECDH step by itself. */
  ecdhDefault: boolean;
  ecdh: boolean;
  p256: Timing;
  p256Wasm?: Timing;
  p256Seq: Timing;
  ed25519: Timing;
  merkle: Timing;
  rootsAgree: boolean;
}

/** Throws on a failed run; else the markdown table and the median times. */
export function webCryptoTable(r: Measured, where: string): string {
  if (r.error) throw new Error(`${where} failed: ${r.error}`);
  if (!r.rootsAgree) throw new Error(`${where}: the core and WebCrypto computed different roots`);
  const perSec = (ms: number, count: number): string => Math.round((count * 1000) / ms).toLocaleString('en-US');
  const ratio = (t: Timing): string => (t.web === null ? '—' : `${(t.web / t.core).toFixed(2)}×`);
  const chosen = r.p256Wasm && !r.ecdhDefault ? r.p256Wasm : r.p256; // the P-256 path initCore picks here
  const rows = [
    [`ECDSA P-256, ${r.p256.n} distinct keys (core: over the digests, one verifyBatch${r.ecdh ? `, with the runtime's node:crypto ECDH step${r.ecdhDefault ? ' as initCore installs it' : ''}` : ''}; WebCrypto: import + verify over the messages, all at once)`, perSec(r.p256.core, r.p256.n), perSec(r.p256.web!, r.p256.n), ratio(r.p256)],
    ...(r.p256Wasm ? [[`same, core all in WASM${r.ecdhDefault ? ' (`setP256ScalarMul(undefined)`)' : ', as initCore leaves it here'}`, perSec(r.p256Wasm.core, r.p256.n), perSec(r.p256Wasm.web!, r.p256.n), ratio(r.p256Wasm)]] : []),
    [`same, WebCrypto one signature at a time (await each)${r.p256Wasm ? '; core as initCore sets it up' : ''}`, perSec(chosen.core, r.p256.n), perSec(r.p256Seq.web!, r.p256.n), `${(r.p256Seq.web! / chosen.core).toFixed(2)}×`],
    [`Ed25519, ${r.ed25519.n} distinct keys`, perSec(r.ed25519.core, r.ed25519.n), r.ed25519.web === null ? 'not in this runtime' : perSec(r.ed25519.web, r.ed25519.n), ratio(r.ed25519)],
    [`RFC 6962 root of ${r.merkle.n.toLocaleString('en-US')} leaves of 100 bytes (leaves/s)`, perSec(r.merkle.core, r.merkle.n), perSec(r.merkle.web!, r.merkle.n), ratio(r.merkle)],
  ];
  return table(['work', 'core (per s)', 'WebCrypto (per s)', 'core vs WebCrypto'], rows) +
    `\n\nMedian times (ms): P-256 core ${fmt.ms(r.p256.core)}${r.p256Wasm ? ` (all in WASM ${fmt.ms(r.p256Wasm.core)})` : ''} / WebCrypto ${fmt.ms(r.p256.web!)}; Ed25519 core ${fmt.ms(r.ed25519.core)} / WebCrypto ${r.ed25519.web === null ? '—' : fmt.ms(r.ed25519.web)}; Merkle core ${fmt.ms(r.merkle.core)} / WebCrypto ${fmt.ms(r.merkle.web!)}.`;
}
