/**
 * A CT log that hangs (host/ca/ct-client.ts): the first submission runs into the 10 s deadline;
 * then the log is not asked again for 5 s, and certificate requests meanwhile get 503 CA_CT_FAILED
 * with Retry-After at once instead of each waiting out the deadline. After the pause the log is
 * asked again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientKey, issuerConfigDoc, startCa, startHungCtLog, TestIssuer, v2Body, type RunningCa } from './fixtures.js';

let iss: TestIssuer;
let ctLog: Awaited<ReturnType<typeof startHungCtLog>>;
let ca: RunningCa;

beforeAll(async () => {
  iss = await TestIssuer.start();
  ctLog = await startHungCtLog();
  ca = await startCa(issuerConfigDoc(iss), { ct: ctLog.ct });
});
afterAll(async () => {
  await ctLog?.close();
  await ca?.close();
  await iss?.close();
});

it('after a submission times out, requests are refused at once for the pause, then the log is asked again', async () => {
  const token = await iss.mint('email', { sub: 'a', email: 'a@example.com', email_verified: true });
  const body = v2Body(token, clientKey(), 'a@example.com');
  const post = () => ca.app.inject({ method: 'POST', url: '/api/v2/signingCert', payload: body });
  const first = await post();
  expect([first.statusCode, first.json().error]).toEqual([503, 'CA_CT_FAILED']);
  expect(ctLog.requests()).toBe(1);
  const t0 = Date.now();
  const second = await post();
  expect(Date.now() - t0).toBeLessThan(2_000);
  expect([second.statusCode, second.json().error]).toEqual([503, 'CA_CT_FAILED']);
  expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(second.headers['retry-after'])).toBeLessThanOrEqual(5);
  expect(ctLog.requests()).toBe(1); // not asked
  await new Promise((r) => setTimeout(r, 5_100));
  const third = post();
  const until = Date.now() + 3_000;
  while (ctLog.requests() < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(ctLog.requests()).toBe(2); // asked again after the pause
  ctLog.release();
  expect((await third).json().error).toBe('CA_CT_FAILED');
}, 40_000);
