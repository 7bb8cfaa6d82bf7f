/**
 * The SET payload (host/log/set.ts setPayload) is written directly in its RFC 8785 form; it must
 * equal the `canonicalize` package's output for the same object on any body and any number.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jcs } from '../../host/log/jcs.js';
import { setPayload } from '../../host/log/set.js';

describe('setPayload', () => {
  it('equals jcs({body, integratedTime, logID, logIndex}) byte for byte', () => {
    const numbers = [0, 1, 1795994449, 2 ** 31, 2 ** 53 - 1, 2 ** 53 + 2, 1e21, 1.5, -0, -7];
    for (let i = 0; i < 200; i++) {
      const body = randomBytes(i * 7);
      const view = new Uint8Array(body.buffer, body.byteOffset, body.byteLength).subarray(i % 3); // an offset view too
      const t = numbers[i % numbers.length]!;
      const idx = numbers[(i * 3) % numbers.length]!;
      const logId = randomBytes(32).toString('hex');
      const want = jcs({ body: Buffer.from(view).toString('base64'), integratedTime: t, logID: logId, logIndex: idx });
      expect(setPayload(view, t, logId, idx).toString('utf8')).toBe(want);
    }
  });

  it('refuses a number with no JSON form, as jcs does', () => {
    expect(() => setPayload(new Uint8Array(1), Number.NaN, 'ab', 0)).toThrow();
    expect(() => setPayload(new Uint8Array(1), 0, 'ab', Number.POSITIVE_INFINITY)).toThrow();
  });
});
