/**
 * The CA under a burst it cannot serve (host/ca/plugin.ts): while its CT log hangs, certificate
 * requests wait on it, up to the CT client's deadline. Only a bounded number may wait; the
 * others are answered at once with 503 CA_OVERLOADED and Retry-After, so a burst against a slow
 * upstream cannot pile up requests (sockets, parsed bodies, pending signatures) without limit.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientKey, issuerConfigDoc, startCa, startHungCtLog, TestIssuer, v2Body, type RunningCa } from './fixtures.js';

let iss: TestIssuer;
let ctLog: Awaited<ReturnType<typeof startHungCtLog>>;
let ca: RunningCa;

beforeAll(async () => {
  iss = await TestIssuer.start();
  // A CT log that takes every submission and never answers (until the test ends that with 500s).
  ctLog = await startHungCtLog();
  ca = await startCa(issuerConfigDoc(iss), { ct: ctLog.ct });
});
afterAll(async () => {
  await ctLog?.close();
  await ca?.close();
  await iss?.close();
});

it('with its CT log hanging, a bounded number of requests wait; the rest get 503 CA_OVERLOADED with Retry-After at once', async () => {
  const token = await iss.mint('email', { sub: 'a', email: 'a@example.com', email_verified: true });
  const key = clientKey();
  const body = v2Body(token, key, 'a@example.com');
  const N = 1_300;
  const answered: { statusCode: number; headers: Record<string, unknown>; json: () => Record<string, unknown> }[] = [];
  const all = Promise.all(Array.from({ length: N }, () => ca.app.inject({ method: 'POST', url: '/api/v2/signingCert', payload: body }).then((r) => void answered.push(r))));
  // Until every request is either at the CT log (or queued for it) or answered. The CT client's
  // own deadline (10 s) ends the waiting ones only later.
  const until = Date.now() + 8_000;
  while ((answered.length < N - 1_024 || ctLog.requests() === 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(ctLog.requests()).toBeGreaterThan(0);
  expect(answered.length).toBeGreaterThanOrEqual(N - 1_024);
  for (const r of answered) {
    expect(r.statusCode).toBe(503);
    expect(r.json().error).toBe('CA_OVERLOADED');
    expect(r.headers['retry-after']).toBe('1');
  }
  // The CT log goes away: the waiting requests end (503 CA_CT_FAILED), and the count of requests
  // in progress with them, so the CA takes requests again.
  ctLog.release();
  await all;
  const after = await ca.app.inject({ method: 'POST', url: '/api/v2/signingCert', payload: body });
  expect(after.json().error).toBe('CA_CT_FAILED');
}, 30_000);
