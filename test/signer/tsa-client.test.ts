/**
 * The signer's RFC 3161 client (host/signer/clients.ts requestTimestamp) takes only a token that
 * answers its own request: the imprint is its digest, the nonce is echoed (RFC 3161 §2.4.2), and the
 * token is signed by the certificate it carries (certReq, §2.4.1). A TSA (or a proxy) that
 * replays an old token, drops the nonce, leaves the certificate out or stamps another digest is
 * refused with SIGNER_TSA_FAILED, before the token reaches a bundle. The TSA is Cairn's own,
 * behind a loopback server that misbehaves on purpose.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { requestTimestamp } from '../../host/signer/clients.js';
import { TimestampAuthority } from '../../host/tsa/core.js';
import { decodeInteger } from '../../host/tsa/der.js';
import { algorithmIdentifier, integer, octets, seq } from '../../host/tsa/encode.js';
import { createTsaIdentity } from '../../host/tsa/keys.js';
import { HASH_OIDS } from '../../host/tsa/oids.js';
import { build } from '../../host/tsa/plugin.js';
import { SerialStore } from '../../host/tsa/store.js';
import { verifyTimestampToken } from '../../host/tsa/verify.js';

let app: FastifyInstance;
let serials: SerialStore;
let server: Server;
let url: string;
let root: Uint8Array;
let mode: 'honest' | 'replay' | 'no-nonce' | 'no-cert' | 'other-digest' | 'other-nonce' = 'honest';
let first: Buffer | undefined;

const tsq = (digest: Uint8Array, nonce: bigint | undefined, certReq: boolean): Buffer =>
  Buffer.from(seq(integer(1n), seq(algorithmIdentifier(HASH_OIDS.sha256), octets(digest)), ...(nonce !== undefined ? [integer(nonce)] : []), ...(certReq ? [Uint8Array.of(0x01, 0x01, 0xff)] : [])));

/** The digest and nonce of the client's TimeStampReq (fixed layout: SHA-256 imprint, then the nonce). */
function fields(req: Buffer): { digest: Buffer; nonce: bigint } {
  const at = req.indexOf(Buffer.from([0x04, 0x20]));
  const digest = req.subarray(at + 2, at + 34);
  const n = at + 34;
  if (req[n] !== 0x02) throw new Error('no nonce in the request');
  return { digest, nonce: decodeInteger(req.subarray(n + 2, n + 2 + req[n + 1]!)) };
}

beforeAll(async () => {
  const { identity } = await createTsaIdentity({ type: 'ecdsa-p256' });
  root = identity.certificates[1]!;
  serials = new SerialStore({ path: ':memory:', blockSize: 16 });
  app = await build({ authority: new TimestampAuthority(identity), serials });
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const { digest, nonce } = fields(body);
      const forward =
        mode === 'no-nonce' ? tsq(digest, undefined, true)
        : mode === 'no-cert' ? tsq(digest, nonce, false)
        : mode === 'other-digest' ? tsq(createHash('sha256').update('something else').digest(), nonce, true)
        : mode === 'other-nonce' ? tsq(digest, nonce + 1n, true)
        : body;
      const r = await app.inject({ method: 'POST', url: '/api/v1/timestamp', headers: { 'content-type': 'application/timestamp-query' }, payload: forward });
      const out = mode === 'replay' && first ? first : Buffer.from(r.rawPayload);
      first ??= out;
      res.writeHead(201, { 'content-type': 'application/timestamp-reply' }).end(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/timestamp`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await app.close();
  serials.close();
});

it('an honest TSA: the token covers the signature and verifies under the TSA root', async () => {
  const sig = Buffer.from('a signature');
  const token = await requestTimestamp(url, sig);
  const v = verifyTimestampToken(token, { data: sig, trustedCerts: [root] });
  expect(v.hashAlgorithm).toBe('sha256');
});

for (const m of ['replay', 'no-nonce', 'no-cert', 'other-digest', 'other-nonce'] as const) {
  it(`a TSA answering with a token that does not answer the request is refused: ${m}`, async () => {
    mode = m;
    try {
      await expect(requestTimestamp(url, Buffer.from(`signature for ${m}`))).rejects.toMatchObject({ code: 'SIGNER_TSA_FAILED' });
    } finally {
      mode = 'honest';
    }
  });
}
