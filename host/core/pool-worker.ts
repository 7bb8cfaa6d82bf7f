/** Worker side of host/core/pool.ts: loads the WASM core once, then verifies the chunks it is sent. */
import { parentPort } from 'node:worker_threads';
import { initCore, registerKey, verifyBatch, type SignatureItem } from './index.js';

await initCore();
parentPort!.on('message', (msg: { id: number; items?: SignatureItem[]; register?: Uint8Array[] }) => {
  for (const k of msg.register ?? []) registerKey(k);
  parentPort!.postMessage({ id: msg.id, result: msg.items ? verifyBatch(msg.items) : [] });
});
parentPort!.postMessage({ ready: true });
