/**
 * The trust-domain CA (host/spiffe/ca.ts) must not publish or sign with an authority before the
 * snapshot holding it is saved: an SVID signed by a key that a crash (or a failed save) then loses
 * chains to nothing after the restart, and the bundle's spiffe_sequence would be handed out again
 * for different keys (Trust Domain and Bundle §4.1.1: the sequence identifies one content).
 */
import { X509Certificate } from 'node:crypto';
import { expect, it } from 'vitest';
import { MemoryPersistence, TrustDomainCa, type AuthorityState } from '../../host/spiffe/ca.js';

class Controlled extends MemoryPersistence {
  fail = false;
  hold: Promise<void> | undefined;
  override async save(state: AuthorityState): Promise<void> {
    if (this.hold) await this.hold;
    if (this.fail) throw new Error('ENOSPC: no space left on device');
    return super.save(state);
  }
}

it('a rotation whose save fails changes neither the bundle, its sequence nor the signing authority', async () => {
  const persistence = new Controlled();
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org', persistence });
  const before = { seq: ca.bundleSequence, active: ca.activeAuthorityId(), keys: ca.bundle().keys.length };
  persistence.fail = true;
  await expect(ca.rotate({ immediate: true })).rejects.toThrow(/ENOSPC/);
  expect(ca.bundleSequence).toBe(before.seq);
  expect(ca.activeAuthorityId()).toBe(before.active);
  expect(ca.bundle().keys.length).toBe(before.keys);
  // After a restart the same sequence number names the same bundle.
  const again = await TrustDomainCa.open({ trustDomain: 'example.org', persistence: Object.assign(new MemoryPersistence(), { state: persistence.state }) });
  expect(again.bundleSequence).toBe(ca.bundleSequence);
  expect(again.bundle().keys).toEqual(ca.bundle().keys);
});

it('an SVID minted while a rotation is being saved is signed by an authority already on disk', async () => {
  const persistence = new Controlled();
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org', persistence });
  let release!: () => void;
  persistence.hold = new Promise<void>((r) => (release = r));
  const rotating = ca.rotate({ immediate: true });
  await new Promise((r) => setTimeout(r, 50)); // the new authority is made; its save is pending
  const svid = await ca.mintX509Svid('spiffe://example.org/app');
  // The process dies here: what is on disk is the state before the rotation.
  const onDisk = structuredClone(persistence.state);
  release();
  persistence.hold = undefined;
  await rotating;
  const restarted = await TrustDomainCa.open({ trustDomain: 'example.org', persistence: Object.assign(new MemoryPersistence(), { state: onDisk }) });
  const leaf = new X509Certificate(svid.chain[0]!);
  expect(restarted.x509Authorities().some((d) => leaf.verify(new X509Certificate(d).publicKey))).toBe(true);
});
