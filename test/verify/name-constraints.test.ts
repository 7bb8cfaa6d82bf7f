/**
 * RFC 5280 §4.2.1.10 name constraints (host/verify/name-constraints.ts): the matching rule of each
 * name form, the stricter rule for forms a permitting CA does not cover, and DER round trips.
 * The end-to-end check against `openssl verify` is in test/ca/subordinate.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { encodeNameConstraints, parseGeneralNames, parseNameConstraints, uriHost, violation, type GeneralName, type NameConstraints } from '../../host/verify/name-constraints.js';
import { seq, tlv } from '../../host/tsa/encode.js';
import { subordinateConstraints } from '../../host/ca/subordinate.js';

const uri = (value: string): GeneralName => ({ type: 'uri', value });
const email = (value: string): GeneralName => ({ type: 'email', value });
const dns = (value: string): GeneralName => ({ type: 'dns', value });
const ip = (...b: number[]): GeneralName => ({ type: 'ip', value: Uint8Array.from(b) });
const permit = (...g: GeneralName[]): NameConstraints => ({ permitted: g.map((base) => ({ base })), excluded: [] });

describe('matching per name form', () => {
  it('URI: the host, exact or (leading dot) strictly below; SPIFFE IDs by trust domain', () => {
    const nc = permit(uri('acme.test'));
    expect(violation([uri('spiffe://acme.test/build')], nc)).toBeUndefined();
    expect(violation([uri('spiffe://ACME.test/build')], nc)).toBeUndefined();
    expect(violation([uri('spiffe://acme.test.evil/build')], nc)).toMatch(/outside/);
    expect(violation([uri('spiffe://evilacme.test/x')], nc)).toMatch(/outside/);
    expect(violation([uri('spiffe://sub.acme.test/x')], nc)).toMatch(/outside/);
    expect(violation([uri('urn:acme.test')], nc)).toMatch(/outside/); // no authority
    expect(violation([uri('https://user@acme.test:8443/p')], nc)).toBeUndefined();
    const dot = permit(uri('.acme.test'));
    expect(violation([uri('spiffe://sub.acme.test/x')], dot)).toBeUndefined();
    expect(violation([uri('spiffe://acme.test/x')], dot)).toMatch(/outside/);
    expect(uriHost('spiffe://td/x')).toBe('td');
    expect(uriHost('https://[::1]/x')).toBeUndefined();
  });

  it('rfc822Name: a mailbox, a host, or every host below a domain', () => {
    expect(violation([email('a@acme.test')], permit(email('acme.test')))).toBeUndefined();
    expect(violation([email('a@mail.acme.test')], permit(email('acme.test')))).toMatch(/outside/);
    expect(violation([email('a@mail.acme.test')], permit(email('.acme.test')))).toBeUndefined();
    expect(violation([email('a@acme.test')], permit(email('.acme.test')))).toMatch(/outside/);
    expect(violation([email('a@acme.test')], permit(email('a@acme.test')))).toBeUndefined();
    expect(violation([email('b@acme.test')], permit(email('a@acme.test')))).toMatch(/outside/);
    expect(violation([email('not-an-address')], permit(email('acme.test')))).toMatch(/outside/);
  });

  it('dNSName: labels added on the left; the empty constraint is every name', () => {
    expect(violation([dns('acme.test')], permit(dns('acme.test')))).toBeUndefined();
    expect(violation([dns('www.acme.test')], permit(dns('acme.test')))).toBeUndefined();
    expect(violation([dns('wwwacme.test')], permit(dns('acme.test')))).toMatch(/outside/);
    expect(violation([dns('anything.example')], { permitted: [{ base: uri('x') }], excluded: [{ base: dns('') }] })).toMatch(/excluded/);
  });

  it('iPAddress: address under the mask, same family only', () => {
    const nc = permit(ip(10, 0, 0, 0, 255, 0, 0, 0));
    expect(violation([ip(10, 1, 2, 3)], nc)).toBeUndefined();
    expect(violation([ip(11, 1, 2, 3)], nc)).toMatch(/outside/);
    expect(violation([{ type: 'ip', value: new Uint8Array(16) }], nc)).toMatch(/outside/);
  });
});

describe('forms a constraint does not cover', () => {
  it('a CA that permits some names permits no names of the other forms (stricter than RFC 5280)', () => {
    const nc = permit(uri('acme.test'));
    expect(violation([email('a@acme.test')], nc)).toMatch(/permit no names of this form/);
    expect(violation([{ type: 'other', tag: 0xa0 }], nc)).toMatch(/permit no names of this form/);
  });

  it('a CA with excluded subtrees only follows RFC 5280', () => {
    const nc: NameConstraints = { permitted: [], excluded: [{ base: uri('evil.test') }] };
    expect(violation([uri('spiffe://acme.test/x'), email('a@b.test')], nc)).toBeUndefined();
    expect(violation([uri('spiffe://evil.test/x')], nc)).toMatch(/excluded/);
  });

  it('a constraint of a form this verifier does not evaluate fails closed', () => {
    const nc = parseNameConstraints(seq(tlv(0xa0, seq(tlv(0xa4, seq())))));
    expect(violation([uri('spiffe://acme.test/x')], nc)).toMatch(/does not evaluate/);
  });
});

describe('DER', () => {
  it('round-trips the subordinate profile, and its constraints say what the CA means', () => {
    const nc = subordinateConstraints('acme.test');
    const back = parseNameConstraints(encodeNameConstraints(nc));
    expect(back.permitted.map((s) => s.base)).toEqual(nc.permitted.map((s) => s.base));
    expect(back.excluded.length).toBe(3);
    expect(violation([uri('spiffe://acme.test/build')], back)).toBeUndefined();
    expect(violation([uri('spiffe://other.test/build')], back)).toBeDefined();
    expect(violation([email('dev@acme.test')], back)).toBeDefined();
    expect(violation([dns('acme.test')], back)).toBeDefined();
    expect(violation([ip(127, 0, 0, 1)], back)).toBeDefined();
  });

  it('refuses malformed or empty constraints, and minimum/maximum', () => {
    expect(() => parseNameConstraints(seq())).toThrow(/empty/);
    expect(() => parseNameConstraints(Uint8Array.of(0x31, 0x00))).toThrow();
    expect(() => parseNameConstraints(seq(tlv(0xa2, seq())))).toThrow(/unknown field/);
    expect(() => parseNameConstraints(seq(tlv(0xa0, seq(tlv(0x86, Buffer.from('x')), tlv(0x80, Uint8Array.of(1))))))).toThrow(/minimum/);
    expect(() => parseNameConstraints(Uint8Array.of(0x30, 0x05, 0xa0))).toThrow();
  });

  it('reads every SAN of a GeneralNames', () => {
    const names = parseGeneralNames(seq(tlv(0x86, Buffer.from('spiffe://a/b')), tlv(0x81, Buffer.from('x@y')), tlv(0x87, Uint8Array.of(1, 2, 3, 4))));
    expect(names.map((n) => n.type)).toEqual(['uri', 'email', 'ip']);
  });
});
