/**
 * OLPC canonical JSON (http://wiki.laptop.org/go/Canonical_JSON), the encoding TUF signs
 * (TUF specification v1.0 §4.2 "Metadata format": "signatures over the canonical JSON of
 * `signed`"). It differs from RFC 8785: object keys are sorted by UTF-16 code units, only `"` and
 * `\` are escaped inside strings (control characters are emitted raw), and only integers are
 * allowed (no floats). tuf-js verifies with exactly this dialect (@tufjs/canonical-json); the test
 * suite cross-checks this encoder against it so a drift cannot go unnoticed.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON allows integers only, got ${value}`);
      return String(value);
    case 'string':
      return canonicalString(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const parts: string[] = [];
      // Default sort compares UTF-16 code units, as OLPC prescribes.
      for (const k of Object.keys(obj).sort()) {
        if (obj[k] === undefined) continue; // JSON has no `undefined`; drop it like JSON.stringify
        parts.push(`${canonicalString(k)}:${canonicalJson(obj[k])}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new TypeError(`cannot encode ${typeof value} as canonical JSON`);
  }
}

function canonicalString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
