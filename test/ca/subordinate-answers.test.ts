/**
 * A subordinate CA's parent answering 201 with a chain that does not parse (no certificate, a PEM
 * block of garbage) is CA_PARENT_FAILED, like every other failure of the parent: it was an
 * uncoded OpenSSL error (ERR_OSSL_PEM_NO_START_LINE, ERR_OSSL_ASN1_WRONG_TAG) out of start(),
 * and the CA_PENDING reason while waiting. The Workload API is stubbed: only the parent matters.
 */
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
vi.mock('../../host/signer/identity.js', () => ({ fetchJwtSvid: async () => ({ token: 'e30.e30.sig', spiffeId: 'spiffe://sub.test/cairn/ca' }) }));
const { SubordinateClient } = await import('../../host/ca/subordinate-client.js');

it('a parent answer without a parseable certificate chain is CA_PARENT_FAILED', async () => {
  let body = '';
  const parent = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(body));
  });
  await new Promise<void>((r) => parent.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(parent.address() as { port: number }).port}`;
  const dir = await mkdtemp(join(tmpdir(), 'cairn-sub-answers-'));
  try {
    const answers = [
      { chain: { certificates: [] } },
      { chain: { certificates: ['junk'] } },
      { chain: { certificates: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'] } },
    ];
    for (const a of answers) {
      body = JSON.stringify(a);
      await expect(SubordinateClient.start({ dataDir: dir, parent: { url, socket: '/nonexistent.sock' } }), body).rejects.toMatchObject({ code: 'CA_PARENT_FAILED' });
    }
  } finally {
    await new Promise<void>((r) => parent.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  }
});
