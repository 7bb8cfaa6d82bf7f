/**
 * The log's API suites again, with the trees in PostgreSQL (host/log/store-pg.ts) instead of
 * SQLite: Rekor v1 and v2, tiles, witnesses, restart and concurrent appends (api.test.ts), the CT
 * personality and hostile input (ct-and-malformed.test.ts). The server is a real PostgreSQL
 * started here (scripts/postgres.mjs). Skipped, with the reason printed, when PostgreSQL's server
 * is not installed; CI installs it.
 */
import { afterAll, it } from 'vitest';
import { postgresBin, startPostgres } from '../../scripts/postgres.mjs';
import { usePostgres } from './helpers.js';

if (postgresBin()) {
  const pg = await startPostgres();
  // Registered before the suites' own hooks, so it runs after their logs have closed.
  afterAll(() => pg.stop());
  usePostgres(pg.url);
  await import('./api.test.js');
  await import('./ct-and-malformed.test.js');
} else {
  console.warn('test/log/postgres-api.test.ts skipped: no PostgreSQL server (initdb) installed (CI installs the postgresql package)');
  it.skip('the log API on PostgreSQL', () => undefined);
}
