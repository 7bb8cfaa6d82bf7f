/**
 * Rekor v2 requests as rekor-tiles reads them (pkg/types/hashedrekord ToLogEntry): the digest's
 * hash algorithm is the one `keyDetails` names, its length must be that hash's, and the key must
 * be of the type `keyDetails` names.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { prepareEntryV2 } from '../../host/log/entries-v2.js';

beforeAll(() => initCore());

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function request(o: { curve: 'P-256' | 'P-384'; hash: 'sha256' | 'sha384'; keyDetails: string }) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: o.curve });
  const art = Buffer.from(`v2 artifact ${Math.random()}`);
  const digest = createHash(o.hash).update(art).digest();
  const body = {
    hashedRekordRequestV002: {
      digest: b64(digest),
      signature: {
        content: b64(sign(o.hash, art, privateKey)),
        verifier: { publicKey: { rawBytes: b64(publicKey.export({ format: 'der', type: 'spki' })) }, keyDetails: o.keyDetails },
      },
    },
  };
  return { body, digest };
}

describe('Rekor v2 hashedRekordRequestV002: the digest algorithm comes from keyDetails', () => {
  it('accepts a P-384 key over a SHA-384 digest (PKIX_ECDSA_P384_SHA_384) and logs it as SHA2_384', async () => {
    const { body, digest } = request({ curve: 'P-384', hash: 'sha384', keyDetails: 'PKIX_ECDSA_P384_SHA_384' });
    const p = await prepareEntryV2(body);
    const entry = JSON.parse(Buffer.from(p.body).toString('utf8'));
    expect(entry.spec.hashedRekordV002.data).toEqual({ algorithm: 'SHA2_384', digest: b64(digest) });
    expect(p.searchKeys).toContain(`sha384:${digest.toString('hex')}`);
  });

  it('still logs P-256 over SHA-256 as SHA2_256', async () => {
    const { body, digest } = request({ curve: 'P-256', hash: 'sha256', keyDetails: 'PKIX_ECDSA_P256_SHA_256' });
    const p = await prepareEntryV2(body);
    expect(JSON.parse(Buffer.from(p.body).toString('utf8')).spec.hashedRekordV002.data).toEqual({ algorithm: 'SHA2_256', digest: b64(digest) });
  });

  it('refuses a digest of another length than the keyDetails hash, and keyDetails naming another key type', async () => {
    // P-384 details with a SHA-256 digest: rekor-tiles refuses ("digest length does not match").
    await expect(prepareEntryV2(request({ curve: 'P-384', hash: 'sha256', keyDetails: 'PKIX_ECDSA_P384_SHA_384' }).body)).rejects.toMatchObject({ code: 'LOG_MALFORMED_ENTRY' });
    // A P-256 key declared as P-384: the entry would state an algorithm its key does not have.
    await expect(prepareEntryV2(request({ curve: 'P-256', hash: 'sha384', keyDetails: 'PKIX_ECDSA_P384_SHA_384' }).body)).rejects.toMatchObject({ code: 'LOG_BAD_KEY' });
    await expect(prepareEntryV2(request({ curve: 'P-384', hash: 'sha256', keyDetails: 'PKIX_ECDSA_P256_SHA_256' }).body)).rejects.toMatchObject({ code: 'LOG_BAD_KEY' });
  });
});

describe('Rekor v2 requests in the proto3 JSON mapping', () => {
  it('accepts the original proto field names as well as lowerCamelCase (rekor-tiles CLIENTS.md posts key_details, public_key, raw_bytes)', async () => {
    const { body } = request({ curve: 'P-256', hash: 'sha256', keyDetails: 'PKIX_ECDSA_P256_SHA_256' });
    const r = body.hashedRekordRequestV002;
    const snake = {
      hashed_rekord_request_v002: {
        digest: r.digest,
        signature: { content: r.signature.content, verifier: { key_details: r.signature.verifier.keyDetails, public_key: { raw_bytes: r.signature.verifier.publicKey.rawBytes } } },
      },
    };
    const a = await prepareEntryV2(snake);
    const b = await prepareEntryV2(body);
    expect(Buffer.from(a.body).toString('utf8')).toBe(Buffer.from(b.body).toString('utf8'));
    // One field given under both names is a duplicate, as protojson refuses it.
    const both = { hashedRekordRequestV002: { ...r, signature: { ...r.signature, verifier: { ...r.signature.verifier, key_details: 'PKIX_ECDSA_P256_SHA_256' } } } };
    await expect(prepareEntryV2(both)).rejects.toMatchObject({ code: 'LOG_MALFORMED_ENTRY' });
  });
});
