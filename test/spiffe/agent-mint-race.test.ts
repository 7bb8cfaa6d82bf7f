/**
 * Several Workload API streams asking for the same entry's SVID at once (host/spiffe/agent.ts
 * x509Svids: every stream rebuilds on each agent update). The mint awaits the CA (an HTTP call to
 * the server for a remote agent), so without sharing it each stream minted its own SVID, the cache
 * kept only the last, and nextRefresh found no half-life for the others: their streams got no
 * refresh timer and served an SVID until it expired. And an entry deleted while its SVID was being
 * minted must not be put back into the cache.
 */
import { expect, it } from 'vitest';
import { Agent, type EntrySource } from '../../host/spiffe/agent.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import type { RegistrationEntry } from '../../host/spiffe/store.js';

const agentId = 'spiffe://example.org/spire/agent/local';
const entry = (id: string): RegistrationEntry => ({ id, spiffeId: `spiffe://example.org/app/${id}`, parentId: agentId, selectors: ['unix:uid:1'], hint: '', x509SvidTtl: 3600, jwtSvidTtl: 300, federatesWith: [], dnsNames: [], createdAt: 0 });

function entries(list: RegistrationEntry[]): EntrySource & { set(l: RegistrationEntry[]): void } {
  const listeners = new Set<() => void>();
  return {
    listEntries: () => list,
    onEntriesChanged: (fn) => (listeners.add(fn), () => listeners.delete(fn)),
    set(l) {
      list = l;
      for (const f of listeners) f();
    },
  };
}

it('concurrent callers share one mint per entry, and each gets a refresh time for what it got', async () => {
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
  let mints = 0;
  const mint = ca.mintX509Svid.bind(ca);
  ca.mintX509Svid = async (...args) => {
    mints++;
    await new Promise((r) => setTimeout(r, 20));
    return mint(...args);
  };
  const e = entry('a');
  const agent = new Agent({ agentId, ca, entries: entries([e]) });
  const got = await Promise.all([agent.x509Svids([e]), agent.x509Svids([e]), agent.x509Svids([e])]);
  for (const g of got) expect(agent.nextRefresh([g[0]!.svid])).toBeTypeOf('number');
  expect(mints).toBe(1);
  expect(new Set(got.map((g) => g[0]!.svid.serial)).size).toBe(1);
  agent.close();
});

it('an entry deleted while its SVID is minted is not cached afterwards', async () => {
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org' });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const mint = ca.mintX509Svid.bind(ca);
  ca.mintX509Svid = async (...args) => {
    await gate;
    return mint(...args);
  };
  const e = entry('b');
  const src = entries([e]);
  const agent = new Agent({ agentId, ca, entries: src });
  const pending = agent.x509Svids([e]);
  await new Promise((r) => setImmediate(r));
  src.set([]);
  release();
  const [{ svid }] = await pending;
  // Nothing of the deleted entry is held: no refresh is scheduled for its SVID.
  expect(agent.nextRefresh([svid])).toBeUndefined();
  agent.close();
});
