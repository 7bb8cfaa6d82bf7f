/**
 * PKCS#11 key backend (PKCS#11 v2.40 base spec; tested with SoftHSM v2 in CI): the CA's private
 * key stays in the token; Cairn holds a logged-in session and asks the token to sign.
 *
 * Config: module path (e.g. /usr/lib/softhsm/libsofthsm2.so), the token by label (or slot index),
 * the user PIN from an environment variable (never from the config file itself), and the key pair
 * by CKA_LABEL. Supported: EC P-256/P-384 (CKM_ECDSA over a digest computed here; the token's raw
 * r||s is re-encoded as a DER Ecdsa-Sig-Value, RFC 5480 §2.2 / SEC1), Ed25519 (PKCS#11 v3.0
 * CKK_EC_EDWARDS keys and CKM_EDDSA over the whole message, RFC 8032 PureEdDSA) and RSA
 * (CKM_SHA256_RSA_PKCS).
 *
 * A PKCS#11 session is single-threaded (v2.40 §5.1.3 "sessions"), so each session has a promise
 * queue; several sessions let the token sign in parallel. The async C_Sign variant runs in libuv's
 * thread pool so the event loop is not blocked by the token.
 */
import { createHash, createHmac, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { KeyError } from './errors.js';
import type { KeySigner, SigningAlgorithm } from './types.js';

type Pkcs11Module = typeof import('pkcs11js');
type PKCS11 = InstanceType<Pkcs11Module['PKCS11']>;

const require = createRequire(import.meta.url);
let lib: Pkcs11Module | undefined;
function pkcs11js(): Pkcs11Module {
  if (!lib) {
    try {
      lib = require('pkcs11js') as Pkcs11Module;
    } catch (cause) {
      throw new KeyError('KEY_PKCS11', 'the pkcs11js native module is not installed/built', { cause });
    }
  }
  return lib;
}

export interface Pkcs11Options {
  /** Path of the PKCS#11 module (.so). */
  module: string;
  /** Token label (CKA token info label), or `slot` (index into the token-present slot list). */
  tokenLabel?: string;
  slot?: number;
  /** Environment variable holding the user PIN (default CAIRN_PKCS11_PIN). */
  pinEnv?: string;
  /** CKA_LABEL of the key pair. */
  keyLabel: string;
  /** Parallel sessions (default 2). */
  sessions?: number;
}

/** One loaded + initialized module per path, shared by every signer in the process (C_Initialize once). */
const modules = new Map<string, { p: PKCS11; refs: number; pins: Map<string, Buffer> }>();

function acquire(path: string): PKCS11 {
  const m = modules.get(path);
  if (m) {
    m.refs++;
    return m.p;
  }
  const mod = pkcs11js();
  const p = new mod.PKCS11();
  try {
    p.load(path);
    // Async C_Sign runs on libuv's thread pool, several sessions at once: the module must lock.
    // NULL init args would promise single-threaded use (PKCS#11 v2.40 §5.4, C_Initialize), and
    // SoftHSM was seen spinning forever under concurrent signing without this flag.
    p.C_Initialize({ flags: mod.CKF_OS_LOCKING_OK });
  } catch (cause) {
    throw new KeyError('KEY_PKCS11', `cannot load/initialize PKCS#11 module ${path}`, { cause });
  }
  modules.set(path, { p, refs: 1, pins: new Map() });
  return p;
}

function release(path: string): void {
  const m = modules.get(path);
  if (!m) return;
  if (--m.refs === 0) {
    modules.delete(path);
    try {
      m.p.C_Finalize();
    } catch {
      /* already finalized */
    }
    m.p.close();
  }
}

function pin(o: Pkcs11Options): string {
  const name = o.pinEnv ?? 'CAIRN_PKCS11_PIN';
  const v = process.env[name];
  if (!v) throw new KeyError('KEY_PKCS11', `no PKCS#11 PIN: set ${name}`);
  return v;
}

function findSlot(p: PKCS11, o: Pkcs11Options): Buffer {
  const slots = p.C_GetSlotList(true);
  if (o.tokenLabel !== undefined) {
    for (const s of slots) if (p.C_GetTokenInfo(s).label.trim() === o.tokenLabel) return s;
    throw new KeyError('KEY_PKCS11', `no PKCS#11 token labelled ${o.tokenLabel}`);
  }
  const s = slots[o.slot ?? 0];
  if (!s) throw new KeyError('KEY_PKCS11', `no PKCS#11 slot ${o.slot ?? 0}`);
  return s;
}

/** Keys the PIN hashes: a PIN has little entropy, and a plain hash in memory would give it away. */
const PIN_KEY = randomBytes(32);

function openSession(path: string, slot: Buffer, userPin: string): Buffer {
  const P = pkcs11js();
  const m = modules.get(path)!;
  const p = m.p;
  const s = p.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  // The PIN's hash, per slot, from the login that succeeded: never the PIN itself.
  const slotKey = slot.toString('hex');
  const hash = createHmac('sha256', PIN_KEY).update(userPin).digest();
  try {
    p.C_Login(s, P.CKU_USER, userPin);
    m.pins.set(slotKey, hash);
  } catch (e) {
    // Login state is per token and application (v2.40 §5.6): later sessions are already logged
    // in, and the token answers CKR_USER_ALREADY_LOGGED_IN whatever PIN they give. So a second
    // signer with a wrong PIN would be let in on the first one's login: compare with that PIN.
    const already = e instanceof Error && /CKR_USER_ALREADY_LOGGED_IN/.test(e.message);
    const known = m.pins.get(slotKey);
    if (!already || (known !== undefined && !timingSafeEqual(known, hash))) {
      p.C_CloseSession(s);
      throw new KeyError('KEY_PKCS11', already ? 'PKCS#11 login failed: the PIN is not the one this token is logged in with' : 'PKCS#11 login failed', { cause: e });
    }
  }
  return s;
}

function findObject(p: PKCS11, session: Buffer, cls: number, label: string): Buffer | undefined {
  const P = pkcs11js();
  p.C_FindObjectsInit(session, [
    { type: P.CKA_CLASS, value: cls },
    { type: P.CKA_LABEL, value: label },
  ]);
  try {
    return p.C_FindObjects(session) ?? undefined;
  } finally {
    p.C_FindObjectsFinal(session);
  }
}

// DER helpers (X.690) for the SPKI and the ECDSA signature.
function derLen(n: number): Buffer {
  if (n < 0x80) return Buffer.of(n);
  const b: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff);
  return Buffer.from([0x80 | b.length, ...b]);
}
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.of(tag), derLen(body.length), body]);
};
function derInt(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  let v = unsigned.subarray(i);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.of(0), v]);
  return tlv(0x02, v);
}
/** PKCS#11 CKM_ECDSA output is r||s (v2.40 Mechanisms §2.3.1); X.509/CMS want SEQUENCE { r, s }. */
export function rawEcdsaToDer(sig: Buffer): Buffer {
  const h = sig.length / 2;
  return tlv(0x30, derInt(sig.subarray(0, h)), derInt(sig.subarray(h)));
}

const OID_P256 = '06082a8648ce3d030107';
const OID_P384 = '06052b81040022';
// PKCS#11 v3.0 (§2.3.5-2.3.6 of the current mechanisms document); pkcs11js does not name them.
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
// CKA_EC_PARAMS of an Ed25519 key: the DER OID id-Ed25519 (RFC 8410 §3), or the printable string
// "edwards25519" that v3.0 also allows.
const OID_ED25519 = '06032b6570';
const NAME_ED25519 = Buffer.concat([Buffer.of(0x13, 12), Buffer.from('edwards25519')]).toString('hex');

function publicKeyInfo(p: PKCS11, session: Buffer, pub: Buffer, keyType: number): { spki: Uint8Array; algorithm: SigningAlgorithm } {
  const P = pkcs11js();
  if (keyType === P.CKK_EC) {
    const [params, point] = p.C_GetAttributeValue(session, pub, [{ type: P.CKA_EC_PARAMS }, { type: P.CKA_EC_POINT }]).map((a) => a.value as Buffer);
    const hex = params!.toString('hex');
    const algorithm: SigningAlgorithm | undefined = hex === OID_P256 ? 'ecdsa-p256-sha256' : hex === OID_P384 ? 'ecdsa-p384-sha384' : undefined;
    if (!algorithm) throw new KeyError('KEY_UNSUPPORTED', 'PKCS#11 EC key is not on P-256 or P-384');
    // CKA_EC_POINT is a DER OCTET STRING wrapping the uncompressed point (SoftHSM, most HSMs).
    let q = point!;
    if (q[0] === 0x04 && q.length !== 65 && q.length !== 97) q = q.subarray(q[1]! < 0x80 ? 2 : 2 + (q[1]! & 0x7f));
    const spki = tlv(0x30, tlv(0x30, Buffer.from('06072a8648ce3d0201', 'hex'), params!), tlv(0x03, Buffer.of(0), q));
    createPublicKey({ key: spki, format: 'der', type: 'spki' }); // validates the point
    return { spki: new Uint8Array(spki), algorithm };
  }
  if (keyType === CKK_EC_EDWARDS) {
    const [params, point] = p.C_GetAttributeValue(session, pub, [{ type: P.CKA_EC_PARAMS }, { type: P.CKA_EC_POINT }]).map((a) => a.value as Buffer);
    const hex = params!.toString('hex');
    if (hex !== OID_ED25519 && hex !== NAME_ED25519) throw new KeyError('KEY_UNSUPPORTED', 'PKCS#11 Edwards key is not Ed25519');
    // CKA_EC_POINT: the 32-byte public key, bare or wrapped in a DER OCTET STRING (tokens differ).
    let a = point!;
    if (a.length === 34 && a[0] === 0x04 && a[1] === 32) a = a.subarray(2);
    if (a.length !== 32) throw new KeyError('KEY_UNSUPPORTED', 'PKCS#11 Ed25519 public key is not 32 bytes');
    const spki = tlv(0x30, tlv(0x30, Buffer.from(OID_ED25519, 'hex')), tlv(0x03, Buffer.of(0), a));
    createPublicKey({ key: spki, format: 'der', type: 'spki' }); // validates the encoding
    return { spki: new Uint8Array(spki), algorithm: 'ed25519' };
  }
  if (keyType === P.CKK_RSA) {
    const [n, e] = p.C_GetAttributeValue(session, pub, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]).map((a) => a.value as Buffer);
    const key = createPublicKey({ key: { kty: 'RSA', n: n!.toString('base64url'), e: e!.toString('base64url') }, format: 'jwk' });
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) throw new KeyError('KEY_UNSUPPORTED', `PKCS#11 RSA key of ${bits} bits`);
    return { spki: new Uint8Array(key.export({ format: 'der', type: 'spki' })), algorithm: 'rsa-pkcs1v15-sha256' };
  }
  throw new KeyError('KEY_UNSUPPORTED', 'PKCS#11 key is neither EC, Ed25519 nor RSA');
}

/** Opens a signer on a key pair in a PKCS#11 token. */
export async function openPkcs11Signer(o: Pkcs11Options): Promise<KeySigner> {
  const P = pkcs11js();
  const userPin = pin(o);
  const p = acquire(o.module);
  const sessions: { s: Buffer; q: Promise<unknown> }[] = [];
  const closeAll = (): void => {
    for (const x of sessions.splice(0)) {
      try {
        p.C_CloseSession(x.s);
      } catch {
        /* gone */
      }
    }
    release(o.module);
  };
  try {
    const slot = findSlot(p, o);
    const n = Math.max(1, Math.min(o.sessions ?? 2, 16));
    for (let i = 0; i < n; i++) sessions.push({ s: openSession(o.module, slot, userPin), q: Promise.resolve() });
    const s0 = sessions[0]!.s;
    const priv = findObject(p, s0, P.CKO_PRIVATE_KEY, o.keyLabel);
    const pub = findObject(p, s0, P.CKO_PUBLIC_KEY, o.keyLabel);
    if (!priv || !pub) throw new KeyError('KEY_PKCS11', `no key pair labelled ${o.keyLabel} in the token`);
    const keyType = p.C_GetAttributeValue(s0, priv, [{ type: P.CKA_KEY_TYPE }])[0]!.value as Buffer;
    const { spki, algorithm } = publicKeyInfo(p, s0, pub, Number(keyType.length >= 8 ? keyType.readBigUInt64LE(0) : BigInt(keyType.readUIntLE(0, keyType.length))));
    let next = 0;
    let closed = false;
    const signOn = (session: Buffer, data: Uint8Array): Promise<Uint8Array> =>
      new Promise((resolve, reject) => {
        const ec = algorithm === 'ecdsa-p256-sha256' || algorithm === 'ecdsa-p384-sha384';
        // ECDSA signs a digest computed here; EdDSA (PureEdDSA) and RSA-with-SHA-256 take the message.
        const input = ec ? createHash(algorithm === 'ecdsa-p384-sha384' ? 'sha384' : 'sha256').update(data).digest() : Buffer.from(data);
        const mechanism = ec ? P.CKM_ECDSA : algorithm === 'ed25519' ? CKM_EDDSA : P.CKM_SHA256_RSA_PKCS;
        try {
          p.C_SignInit(session, { mechanism }, priv);
        } catch (cause) {
          reject(new KeyError('KEY_PKCS11', 'C_SignInit failed', { cause }));
          return;
        }
        p.C_Sign(session, input, Buffer.alloc(1024), (err, sig) => {
          if (err) reject(new KeyError('KEY_PKCS11', 'C_Sign failed', { cause: err }));
          else resolve(new Uint8Array(ec ? rawEcdsaToDer(sig) : sig));
        });
      });
    return {
      algorithm,
      publicKeySpki: spki,
      sign(data) {
        if (closed) return Promise.reject(new KeyError('KEY_PKCS11', 'signer is closed'));
        const slotq = sessions[next++ % sessions.length]!;
        const run = slotq.q.then(() => signOn(slotq.s, data));
        slotq.q = run.catch(() => undefined);
        return run;
      },
      async close() {
        if (closed) return;
        closed = true;
        await Promise.all(sessions.map((x) => x.q));
        closeAll();
      },
    };
  } catch (e) {
    closeAll();
    throw e;
  }
}

/**
 * Generates an EC key pair in the token (CKM_EC_KEY_PAIR_GEN, or CKM_EC_EDWARDS_KEY_PAIR_GEN for
 * Ed25519; private key sensitive and not extractable) — for provisioning and tests; returns
 * nothing secret.
 */
export async function generatePkcs11EcKey(o: Pkcs11Options & { curve?: 'P-256' | 'P-384' | 'Ed25519' }): Promise<void> {
  const P = pkcs11js();
  const p = acquire(o.module);
  try {
    const session = openSession(o.module, findSlot(p, o), pin(o));
    try {
      const params = Buffer.from(o.curve === 'P-384' ? OID_P384 : o.curve === 'Ed25519' ? OID_ED25519 : OID_P256, 'hex');
      p.C_GenerateKeyPair(
        session,
        { mechanism: o.curve === 'Ed25519' ? CKM_EC_EDWARDS_KEY_PAIR_GEN : P.CKM_EC_KEY_PAIR_GEN },
        [
          { type: P.CKA_TOKEN, value: true },
          { type: P.CKA_LABEL, value: o.keyLabel },
          { type: P.CKA_EC_PARAMS, value: params },
          { type: P.CKA_VERIFY, value: true },
        ],
        [
          { type: P.CKA_TOKEN, value: true },
          { type: P.CKA_LABEL, value: o.keyLabel },
          { type: P.CKA_PRIVATE, value: true },
          { type: P.CKA_SENSITIVE, value: true },
          { type: P.CKA_EXTRACTABLE, value: false },
          { type: P.CKA_SIGN, value: true },
        ],
      );
    } finally {
      p.C_CloseSession(session);
    }
  } finally {
    release(o.module);
  }
}
