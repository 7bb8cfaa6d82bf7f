/**
 * cairn witness-bundle (host/signer/witness-bundle.ts) counts distinct witnesses toward its
 * threshold, as the verifier does (host/verify/witnessed.ts): one witness key given twice, under
 * its own name or another, is one witness.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { expect, it } from 'vitest';
import { parseWitnessVkey, witnessVkey } from '../../host/log/note.js';
import { witnessBundle } from '../../host/signer/witness-bundle.js';

it('refuses a threshold that only a witness key given twice could meet', async () => {
  const pub = createPublicKey(generateKeyPairSync('ed25519').privateKey);
  const w = parseWitnessVkey(witnessVkey('w.example/one', pub));
  const alias = parseWitnessVkey(witnessVkey('alias.example/one', pub));
  // A cosignature does not sign the witness's name, so a log can repeat one under both hints.
  const bundle = { verificationMaterial: { tlogEntries: [{ logIndex: '0' }] } };
  for (const witnesses of [[w, w], [w, alias]]) {
    // Refused before any request: the log URL is never read.
    await expect(witnessBundle(bundle, { logUrl: 'http://127.0.0.1:9', witnesses, threshold: 2, waitMs: 0 })).rejects.toMatchObject({ code: 'SIGNER_BAD_INPUT', message: expect.stringMatching(/1\.\.1/) });
  }
});
