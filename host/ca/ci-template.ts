/**
 * Fulcio's CI-provider templates (ci-issuer-metadata: extension-templates and
 * subject-alternative-name-template), as Fulcio evaluates them:
 *  - a value without "{{" names a claim (or a default value): `sha`, `job_workflow_sha`;
 *  - a value with "{{" is a Go text/template over the claims merged with the defaults.
 *
 * The template language is the subset Fulcio's own configuration uses, parsed here from its
 * text/template reading, and anything else is refused when the configuration loads (never
 * copied into a certificate as text):
 *   {{ .name }}                         a claim or default; missing is an error (missingkey=error)
 *   {{ index . "a.b/c" }}, {{(index . "a.b/c")}}   a claim whose name is not an identifier; missing is ""
 *   {{if eq X Y}} ... {{ else }} ... {{end}}        X, Y: either form above, or a "string"
 */
import { CaError } from './errors.js';

type Expr = { field: string } | { index: string } | { lit: string };
type Node = { text: string } | { expr: Expr } | { cond: [Expr, Expr]; then: Node[]; else: Node[] };
export type CiTemplate = { claim: string } | { nodes: Node[] };

const badTemplate = (t: string, why: string): never => {
  throw new CaError('CA_BAD_CONFIG', `ci-issuer-metadata template ${JSON.stringify(t.slice(0, 120))}: ${why}`);
};

/** One operand: `.name`, `index . "k"` (optionally in parentheses), or a double-quoted string. */
function parseExpr(src: string, t: string): Expr {
  const s = src.trim();
  const paren = /^\((.*)\)$/.exec(s);
  if (paren) return parseExpr(paren[1]!, t);
  const field = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(s);
  if (field) return { field: field[1]! };
  const index = /^index\s+\.\s+"([^"\\]*)"$/.exec(s);
  if (index) return { index: index[1]! };
  const lit = /^"([^"\\]*)"$/.exec(s);
  if (lit) return { lit: lit[1]! };
  return badTemplate(t, `unsupported expression ${JSON.stringify(s)}`);
}

/** `eq X Y` with X, Y simple operands (a parenthesised index counts as one). */
function parseCond(src: string, t: string): [Expr, Expr] {
  const m = /^eq\s+(\([^)]*\)|"[^"]*"|\S+)\s+(\([^)]*\)|"[^"]*"|\S+)$/.exec(src.trim());
  if (!m) return badTemplate(t, `only "if eq X Y" conditions are supported, not ${JSON.stringify(src.trim())}`);
  return [parseExpr(m[1]!, t), parseExpr(m[2]!, t)];
}

export function parseCiTemplate(t: string): CiTemplate {
  if (typeof t !== 'string' || t.length === 0 || t.length > 2048) return badTemplate(String(t), 'must be a non-empty string');
  if (!t.includes('{{')) return { claim: t };
  // Tokens: text between actions, and actions.
  const tokens: ({ text: string } | { action: string })[] = [];
  let p = 0;
  while (p < t.length) {
    const open = t.indexOf('{{', p);
    if (open < 0) {
      tokens.push({ text: t.slice(p) });
      break;
    }
    if (open > p) tokens.push({ text: t.slice(p, open) });
    const close = t.indexOf('}}', open + 2);
    if (close < 0) badTemplate(t, 'an action is not closed');
    const action = t.slice(open + 2, close);
    if (action.startsWith('-') || action.endsWith('-')) badTemplate(t, 'trim markers are not supported');
    tokens.push({ action: action.trim() });
    p = close + 2;
  }
  let i = 0;
  const block = (inIf: boolean): { nodes: Node[]; ended: 'end' | 'else' | 'eof' } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const tok = tokens[i++]!;
      if ('text' in tok) {
        if (tok.text.includes('}}')) badTemplate(t, 'stray "}}"');
        nodes.push({ text: tok.text });
        continue;
      }
      const a = tok.action;
      if (a === 'end' || a === 'else') {
        if (!inIf) badTemplate(t, `"${a}" outside an if`);
        return { nodes, ended: a };
      }
      const cond = /^if\s+(.*)$/.exec(a);
      if (cond) {
        const c = parseCond(cond[1]!, t);
        const then = block(true);
        let otherwise: Node[] = [];
        if (then.ended === 'else') {
          const e = block(true);
          if (e.ended !== 'end') badTemplate(t, 'an if has no end');
          otherwise = e.nodes;
        } else if (then.ended !== 'end') badTemplate(t, 'an if has no end');
        nodes.push({ cond: c, then: then.nodes, else: otherwise });
        continue;
      }
      nodes.push({ expr: parseExpr(a, t) });
    }
    if (inIf) badTemplate(t, 'an if has no end');
    return { nodes, ended: 'eof' };
  };
  return { nodes: block(false).nodes };
}

/** Claims over defaults, every value as text (Fulcio compares and prints them as strings). */
function value(data: Record<string, unknown>, defaults: Record<string, string>, name: string): string | undefined {
  const v = data[name] ?? defaults[name];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

export function renderCiTemplate(tpl: CiTemplate, claims: Record<string, unknown>, defaults: Record<string, string>): string {
  const need = (name: string): string => {
    const v = value(claims, defaults, name);
    if (v === undefined) throw new CaError('CA_BAD_IDENTITY', `the token has no claim ${name} (and there is no default)`);
    return v;
  };
  if ('claim' in tpl) return need(tpl.claim);
  const evalExpr = (e: Expr): string => ('lit' in e ? e.lit : 'field' in e ? need(e.field) : (value(claims, defaults, e.index) ?? ''));
  const run = (nodes: Node[]): string =>
    nodes.map((n) => ('text' in n ? n.text : 'expr' in n ? evalExpr(n.expr) : run(evalExpr(n.cond[0]) === evalExpr(n.cond[1]) ? n.then : n.else))).join('');
  return run(tpl.nodes);
}
