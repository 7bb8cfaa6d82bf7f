import { describe, expect, it } from 'vitest';
import { leafHashes, rootFromLeafHashes, sha256 } from '../../host/core/index.js';

// Its own file: vitest gives every file a fresh module graph, so the core is not loaded yet here.
describe('WASM core before initCore()', () => {
  it('throws CORE_NOT_INITIALISED instead of touching an absent module', () => {
    const code = { code: 'CORE_NOT_INITIALISED' };
    expect(() => sha256(new Uint8Array(1))).toThrow(expect.objectContaining(code));
    expect(() => leafHashes([new Uint8Array(1)])).toThrow(expect.objectContaining(code));
    expect(() => rootFromLeafHashes(new Uint8Array(32))).toThrow(expect.objectContaining(code));
  });
});
