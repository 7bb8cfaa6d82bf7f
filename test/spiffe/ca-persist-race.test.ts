/**
 * Rotations and maintenance of the trust-domain CA (host/spiffe/ca.ts) each end by saving a
 * snapshot of the authorities; the save awaits the disk. Two at once (an admin rotation while the
 * 5 s maintenance tick retires an authority, or two admin rotations) could finish their saves in
 * the other order, and the older snapshot then overwrote the newer: after a restart an authority
 * that had been published, and had signed SVIDs, was gone. The first save is held open here.
 */
import { X509Certificate } from 'node:crypto';
import { expect, it } from 'vitest';
import { MemoryPersistence, TrustDomainCa, type AuthorityState } from '../../host/spiffe/ca.js';

class SlowFirstSave extends MemoryPersistence {
  private saves = 0;
  release!: () => void;
  private readonly gate = new Promise<void>((r) => (this.release = r));
  override async save(state: AuthorityState): Promise<void> {
    if (++this.saves === 2) await this.gate; // the first save after open
    return super.save(state);
  }
}

it('concurrent rotations persist the newest state, whatever order their saves finish in', async () => {
  const persistence = new SlowFirstSave();
  const ca = await TrustDomainCa.open({ trustDomain: 'example.org', persistence });
  const first = ca.rotate({ immediate: true });
  const second = ca.rotate({ immediate: true });
  setTimeout(() => persistence.release(), 50);
  await Promise.all([first, second]);
  // The SVID signed by the authority active now must still verify after a restart.
  const svid = await ca.mintX509Svid('spiffe://example.org/app');
  const again = await TrustDomainCa.open({ trustDomain: 'example.org', persistence });
  expect(again.bundleSequence).toBe(ca.bundleSequence);
  const leaf = new X509Certificate(svid.chain[0]!);
  expect(again.x509Authorities().some((d) => leaf.verify(new X509Certificate(d).publicKey))).toBe(true);
});
