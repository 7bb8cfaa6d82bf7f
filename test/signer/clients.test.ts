/**
 * signing_config.json service selection (host/signer/clients.ts readSigningConfig): validFor is a
 * closed interval [start, end] (sigstore_common.proto TimeRange), and "newest" compares instants,
 * whatever fraction or offset the RFC 3339 strings carry.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { readSigningConfig } from '../../host/signer/clients.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signing-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.useRealTimers();
});

const service = (url: string, start: string, end?: string) => ({ url, majorApiVersion: 1, validFor: { start, ...(end ? { end } : {}) }, operator: 'test' });

async function config(caUrls: unknown[]): Promise<string> {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json', caUrls, rekorTlogUrls: [service('https://log.example', '2020-01-01T00:00:00Z')] }));
  return path;
}

it('still uses a service at the very end of its validFor (the end is inclusive)', async () => {
  const path = await config([service('https://ca.example', '2020-01-01T00:00:00Z', '2025-06-01T12:00:00Z')]);
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.parse('2025-06-01T12:00:00Z'));
  expect((await readSigningConfig(path)).ca).toBe('https://ca.example');
  vi.setSystemTime(Date.parse('2025-06-01T12:00:00.001Z'));
  await expect(readSigningConfig(path)).rejects.toMatchObject({ code: 'SIGNER_BAD_CONFIG' });
});

it('picks the newest start by instant, not by string order', async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.parse('2025-06-01T00:00:00Z'));
  // 01:00+02:00 is 23:00Z the day before: older than midnight Z, though it sorts after it as text.
  const offsets = await config([service('https://older.example', '2025-01-01T01:00:00+02:00'), service('https://newer.example', '2025-01-01T00:00:00Z')]);
  expect((await readSigningConfig(offsets)).ca).toBe('https://newer.example');
  // A fraction makes the later instant sort first as text ('.' < 'Z').
  const fractions = await config([service('https://older.example', '2025-01-01T00:00:00Z'), service('https://newer.example', '2025-01-01T00:00:00.500Z')]);
  expect((await readSigningConfig(fractions)).ca).toBe('https://newer.example');
});
