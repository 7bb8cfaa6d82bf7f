/** PKCS#11 backend against a real SoftHSM v2 token: key generation in the token, ECDSA and Ed25519 signing. */
import { createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generatePkcs11EcKey, openPkcs11Signer, rawEcdsaToDer } from '../../host/keys/pkcs11.js';
import { SOFTHSM_MODULE, softhsmMissing, softhsmToken } from './softhsm.js';

const missing = softhsmMissing();
if (missing) console.log(`SKIP PKCS#11 tests: ${missing}`);
let token: Awaited<ReturnType<typeof softhsmToken>> | undefined;

beforeAll(async () => {
  if (missing) return;
  token = await softhsmToken('cairn-keys-test', '1234');
  process.env.TEST_HSM_PIN = '1234';
  await generatePkcs11EcKey({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: 'p256', curve: 'P-256' });
  await generatePkcs11EcKey({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: 'p384', curve: 'P-384' });
  await generatePkcs11EcKey({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: 'ed25519', curve: 'Ed25519' });
});
afterAll(async () => {
  await token?.close();
});

it.skipIf(!!missing).each([
  ['p256', 'ecdsa-p256-sha256', 'sha256'],
  ['p384', 'ecdsa-p384-sha384', 'sha384'],
] as const)('%s key in SoftHSM signs; signatures verify with the exported SPKI', async (label, alg, hash) => {
  const s = await openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: label, sessions: 2 });
  expect(s.algorithm).toBe(alg);
  const pub = createPublicKey({ key: Buffer.from(s.publicKeySpki), format: 'der', type: 'spki' });
  const msgs = Array.from({ length: 8 }, (_, i) => Buffer.from(`message ${i}`));
  const sigs = await Promise.all(msgs.map((m) => s.sign(m))); // concurrent: queued per session
  for (let i = 0; i < msgs.length; i++) {
    expect(sigs[i]![0]).toBe(0x30);
    expect(verify(hash, msgs[i]!, pub, sigs[i]!)).toBe(true);
    expect(verify(hash, msgs[(i + 1) % msgs.length]!, pub, sigs[i]!)).toBe(false);
  }
  await s.close();
  await s.close(); // idempotent
  await expect(s.sign(msgs[0]!)).rejects.toMatchObject({ code: 'KEY_PKCS11' });
});

it.skipIf(!!missing)('Ed25519 key in SoftHSM (PKCS#11 v3.0 CKM_EDDSA) signs whole messages; node:crypto verifies them with the exported SPKI', async () => {
  const s = await openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: 'ed25519', sessions: 2 });
  expect(s.algorithm).toBe('ed25519');
  expect(s.publicKeySpki.length).toBe(44);
  const pub = createPublicKey({ key: Buffer.from(s.publicKeySpki), format: 'der', type: 'spki' });
  expect(pub.asymmetricKeyType).toBe('ed25519');
  const msgs = Array.from({ length: 8 }, (_, i) => Buffer.from(`ed25519 message ${i}`.repeat(i + 1)));
  const sigs = await Promise.all(msgs.map((m) => s.sign(m)));
  for (let i = 0; i < msgs.length; i++) {
    expect(sigs[i]!.length).toBe(64);
    expect(verify(null, msgs[i]!, pub, sigs[i]!)).toBe(true);
    expect(verify(null, msgs[(i + 1) % msgs.length]!, pub, sigs[i]!)).toBe(false);
  }
  await s.close();
});

it.skipIf(!!missing)('wrong PIN, unknown token, unknown key label are coded errors', async () => {
  process.env.TEST_HSM_BAD = '9999';
  await expect(openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_BAD', keyLabel: 'p256' })).rejects.toMatchObject({ code: 'KEY_PKCS11' });
  await expect(openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'nope', pinEnv: 'TEST_HSM_PIN', keyLabel: 'p256' })).rejects.toMatchObject({ code: 'KEY_PKCS11' });
  await expect(openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: 'absent' })).rejects.toMatchObject({ code: 'KEY_PKCS11' });
  await expect(openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'UNSET_PIN_VAR', keyLabel: 'p256' })).rejects.toMatchObject({ code: 'KEY_PKCS11' });
  await expect(openPkcs11Signer({ module: '/nonexistent/lib.so', tokenLabel: 'x', pinEnv: 'TEST_HSM_PIN', keyLabel: 'p256' })).rejects.toMatchObject({ code: 'KEY_PKCS11' });
});

it.skipIf(!!missing)('a wrong PIN is refused while another signer holds the token logged in (the token itself answers CKR_USER_ALREADY_LOGGED_IN)', async () => {
  const good = await openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: 'p256' });
  try {
    process.env.TEST_HSM_BAD = '9999';
    await expect(openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_BAD', keyLabel: 'p256' })).rejects.toMatchObject({ code: 'KEY_PKCS11', message: expect.stringMatching(/PIN/) });
    // The right PIN still opens a second signer on the same login, and the first keeps signing.
    const second = await openPkcs11Signer({ module: SOFTHSM_MODULE, tokenLabel: 'cairn-keys-test', pinEnv: 'TEST_HSM_PIN', keyLabel: 'p256' });
    const pub = createPublicKey({ key: Buffer.from(second.publicKeySpki), format: 'der', type: 'spki' });
    expect(verify('sha256', Buffer.from('x'), pub, await good.sign(Buffer.from('x')))).toBe(true);
    await second.close();
  } finally {
    await good.close();
  }
});

it('raw r||s to DER keeps integers minimal and positive', () => {
  const r = Buffer.alloc(32, 0);
  r[31] = 1;
  const s = Buffer.alloc(32, 0xff);
  expect(rawEcdsaToDer(Buffer.concat([r, s])).toString('hex')).toBe('3026020101022100' + 'ff'.repeat(32));
});
