/**
 * `cairn serve log --config` (host/log/standalone.ts parseLogConfig): every documented key is
 * accepted with its documented type, and anything else is LOG_BAD_CONFIG naming the key.
 */
import { expect, it } from 'vitest';
import { parseLogConfig } from '../../host/log/standalone.js';

it('accepts every documented key', () => {
  const cfg = parseLogConfig([
    'keyType: ed25519',
    'origin: log.example.org',
    'batchSize: 512',
    'batchAgeMs: 20',
    'closeQuietBatches: false',
    'queueLimit: 1000',
    'bodyLimit: 65536',
    'witnesses: []',
    'ctRoots: []',
    'checkpointIntervalMs: 0',
    'verifyWorkers: 2',
  ].join('\n'));
  expect(cfg).toMatchObject({ keyType: 'ed25519', batchSize: 512, batchAgeMs: 20, closeQuietBatches: false, verifyWorkers: 2, checkpointIntervalMs: 0 });
  expect(parseLogConfig('')).toEqual({});
});

it('refuses unknown keys and wrong types with LOG_BAD_CONFIG', () => {
  for (const [text, what] of [
    ['closeQuietBatches: "no"', /closeQuietBatches/],
    ['batchAgeMs: 0', /batchAgeMs/],
    ['batchSize: 1.5', /batchSize/],
    ['verifyWorkers: 65', /verifyWorkers/],
    ['checkpointIntervalMs: -1', /checkpointIntervalMs/],
    ['keyType: rsa', /keyType/],
    ['origin: "a b"', /origin/],
    ['witnesses: [1]', /witnesses/],
    ['batchAge: 10', /unknown key batchAge/],
    ['- a list', /mapping/],
    ['{ not yaml', /YAML/],
  ] as const) {
    expect(() => parseLogConfig(text), text).toThrow(expect.objectContaining({ code: 'LOG_BAD_CONFIG', message: expect.stringMatching(what) }));
  }
});
