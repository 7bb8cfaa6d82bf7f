/**
 * A Rekor v1 answer whose entry has the right top-level types but a body that is not base64 JSON
 * with kind and apiVersion, or an inclusion proof with fields of the wrong type, is
 * SIGNER_LOG_FAILED: the signer used to fail with a SyntaxError or TypeError while building the
 * bundle's tlog entry. The CA is Cairn's own; the log is a loopback fake.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signArtifact } from '../../host/signer/sign.js';
import { issuerConfigDoc, startCa, TestIssuer, type RunningCa } from '../ca/fixtures.js';

let iss: TestIssuer;
let ca: RunningCa;
beforeAll(async () => {
  iss = await TestIssuer.start();
  ca = await startCa(issuerConfigDoc(iss));
});
afterAll(async () => {
  await ca?.close();
  await iss?.close();
});

it('a log entry with a malformed body or inclusion proof is SIGNER_LOG_FAILED', async () => {
  let entry: unknown;
  const log = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ab12: entry })));
  });
  await new Promise<void>((r) => log.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(log.address() as { port: number }).port}`;
  const good = { body: Buffer.from('{"kind":"hashedrekord","apiVersion":"0.0.1"}').toString('base64'), logIndex: 1, integratedTime: 1, logID: 'aa', verification: { signedEntryTimestamp: 'AA==' } };
  const proof = { logIndex: 1, treeSize: 2, rootHash: 'aa', hashes: ['bb'], checkpoint: 'c' };
  try {
    for (entry of [
      { ...good, body: 'bm90IGpzb24=' },
      { ...good, body: Buffer.from('null').toString('base64') },
      { ...good, body: Buffer.from('{"kind":5}').toString('base64') },
      { ...good, verification: { signedEntryTimestamp: 'AA==', inclusionProof: { ...proof, hashes: 5 } } },
      { ...good, verification: { signedEntryTimestamp: 'AA==', inclusionProof: { ...proof, rootHash: 5 } } },
      { ...good, verification: { signedEntryTimestamp: 'AA==', inclusionProof: null } },
    ]) {
      const sub = 'spiffe://example.org/signer';
      await expect(signArtifact(Buffer.from('artifact'), { endpoints: { ca: ca.url, log: url }, token: () => iss.mint('spiffe', { sub }) }), JSON.stringify(entry)).rejects.toMatchObject({ code: 'SIGNER_LOG_FAILED' });
    }
    // The well-formed entry goes through (the failures above are the answers').
    entry = { ...good, verification: { signedEntryTimestamp: 'AA==', inclusionProof: proof } };
    await expect(signArtifact(Buffer.from('artifact'), { endpoints: { ca: ca.url, log: url }, token: () => iss.mint('spiffe', { sub: 'spiffe://example.org/signer' }) })).resolves.toMatchObject({ verificationMaterial: {} });
  } finally {
    await new Promise<void>((r) => log.close(() => r()));
  }
});
