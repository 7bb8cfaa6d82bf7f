/**
 * The SPIFFE server's /readyz: not ready while its CA has no active signing authority (every SVID
 * request, node attestation and agent renewal then fails with SPIFFE_UNAVAILABLE), ready again
 * once maintenance gives it one.
 */
import { expect, it } from 'vitest';
import { MemoryPersistence, TrustDomainCa, type AuthorityState } from '../../host/spiffe/ca.js';
import { build } from '../../host/spiffe/plugin.js';
import { SpiffeStore } from '../../host/spiffe/store.js';

class Failing extends MemoryPersistence {
  fail = false;
  override async save(state: AuthorityState): Promise<void> {
    if (this.fail) throw new Error('ENOSPC: no space left on device');
    return super.save(state);
  }
}

it('/readyz is 503 while no authority can sign (all expired, the successor not saved), 200 once one is active', async () => {
  const DAY = 86_400_000;
  let now = Date.now();
  const persistence = new Failing();
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org', persistence, caTtlMs: DAY, now: () => now });
  const store = new SpiffeStore({ path: ':memory:' });
  const app = await build({ ca, store, issuer: () => 'http://127.0.0.1' });
  try {
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    // The server was stopped (or its maintenance kept failing) past the authority's lifetime,
    // and the key store cannot be written: maintenance cannot create a new authority.
    now += 2 * DAY;
    persistence.fail = true;
    await expect(ca.maintain()).rejects.toThrow(/ENOSPC/);
    await expect(ca.mintX509Svid('spiffe://example.org/app')).rejects.toMatchObject({ code: 'SPIFFE_UNAVAILABLE' });
    const r = await app.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json().reason).toMatch(/no active signing authority/);
    persistence.fail = false;
    await ca.maintain();
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  } finally {
    await app.close();
    store.close();
  }
});
