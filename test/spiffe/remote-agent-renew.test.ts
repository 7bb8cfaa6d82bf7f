/**
 * When the remote agent renews its SVID (host/spiffe/remote-agent.ts renewDelay): at half its
 * lifetime, and after failures with an exponential backoff capped at a minute, not once a second
 * for ever (every agent of a fleet would hammer a server that is down, or one that refuses an
 * SVID that has expired meanwhile, and log each attempt).
 */
import { expect, it } from 'vitest';
import { renewDelay } from '../../host/spiffe/remote-agent.js';

const HOUR = 3_600_000;

it('renews at half the lifetime while renewals succeed', () => {
  const c = { notBefore: 0, notAfter: HOUR };
  expect(renewDelay(c, 0, 0)).toBe(HOUR / 2);
  expect(renewDelay(c, 0, HOUR / 2 - 5_000)).toBe(5_000);
  // Past half-life (a restart with an old SVID): soon, but not in a busy loop.
  expect(renewDelay(c, 0, HOUR)).toBe(1_000);
  // setTimeout's limit for a very long-lived SVID.
  expect(renewDelay({ notBefore: 0, notAfter: 400 * 24 * HOUR }, 0, 0)).toBe(2 ** 31 - 1);
});

it('backs off after failed renewals, up to a minute, whatever the SVID has left', () => {
  const expired = { notBefore: 0, notAfter: HOUR };
  const delays = Array.from({ length: 10 }, (_, i) => renewDelay(expired, i + 1, 2 * HOUR));
  expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
  expect(renewDelay(expired, 1_000, 2 * HOUR)).toBe(60_000);
  // Attempts over an hour of a server that keeps failing: about 60, not 3,600.
  let t = 0;
  let n = 0;
  while (t < HOUR) t += renewDelay(expired, ++n, 2 * HOUR + t);
  expect(n).toBeLessThan(70);
});
