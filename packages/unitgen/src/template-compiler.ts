// The Handlebars-to-JavaScript compiler for the built-in templates. Runs at build time only
// (scripts/build-templates.mjs writes its output to dist/compiled-templates.js; the package does not ship this
// module). Handlebars' own parser reads the templates (whitespace control included), so the text between tags
// is exactly what Handlebars would output; this module only turns the tags into direct code: path lookups,
// helper calls, `if`/`unless`/`each` blocks and the `hardening` partial. Anything else is refused here, at
// build time, with the template and line.
//
// Why: the Handlebars runtime's per-call setup was most of generator mode's render time, and generator mode
// and `zunitgen generate` should run the same code. `--templates DIR` still compiles with Handlebars at run
// time (compile.ts); the tests render every fixture and every property run both ways and require identical
// files.

import Handlebars from 'handlebars';
import { COMPILE_OPTIONS, HELPER_NAMES } from './helpers.js';
import { TemplateError } from './errors.js';
import { TEMPLATE_NAMES, type TemplateSources } from './render.js';

/** The helpers registerHelpers() defines: a simple mustache with one of these names calls it. */
const OUR_HELPERS: ReadonlySet<string> = new Set(HELPER_NAMES);
/** Handlebars' built-in helpers that the compiled form does not implement as plain values. */
const HANDLEBARS_BUILTINS = new Set(['if', 'unless', 'each', 'with', 'lookup', 'log', 'helperMissing', 'blockHelperMissing']);

/** Handlebars AST nodes, walked by their `type`: the compiler reads only the fields each type has. */
type Node = any;

interface Scope {
  /** Context variables, innermost last: `..` steps one back. */
  contexts: string[];
  /** Data variables of the innermost `each` (@index, @first, @last, @key), if any. */
  data?: Record<string, string>;
}

class Compiler {
  private vars = 0;
  constructor(private readonly template: string, private readonly partials?: readonly string[]) {}

  fail(node: Node, what: string): never {
    const line = node?.loc?.start?.line;
    throw new TemplateError(`${this.template}.hbs${line ? `:${line}` : ''}: ${what} is not supported in the built-in templates (the build compiles them to plain functions); use it only with --templates`);
  }

  program(p: Node, s: Scope): string {
    return (p?.body ?? []).map((n: Node) => this.statement(n, s)).join('');
  }

  statement(n: Node, s: Scope): string {
    switch (n.type) {
      case 'ContentStatement': return n.value ? `o += ${JSON.stringify(n.value)};\n` : '';
      case 'CommentStatement': return '';
      case 'MustacheStatement': return `o += S(${this.mustache(n, s)});\n`;
      case 'BlockStatement': return this.block(n, s);
      case 'PartialStatement': {
        if (n.name.type !== 'PathExpression' || n.params.length || n.hash) this.fail(n, 'a partial with parameters, a hash or a dynamic name');
        if (this.partials && !this.partials.includes(n.name.original)) this.fail(n, `the partial "${n.name.original}" (there is no ${n.name.original}.hbs among the templates)`);
        // A standalone partial's indentation: with preventIndent, Handlebars writes it once, before the partial.
        const indent = n.indent ? `o += ${JSON.stringify(n.indent)};\n` : '';
        return `${indent}o += p[${JSON.stringify(n.name.original)}](${this.context(0, s, n)}, h, p);\n`;
      }
      default: return this.fail(n, `a ${n.type}`);
    }
  }

  /** A mustache's value: a helper call, or a value from the context. */
  mustache(n: Node, s: Scope): string {
    if (n.hash) this.fail(n, 'a hash argument');
    const p = n.path;
    if (p.type !== 'PathExpression') this.fail(n, 'a literal in place of a name');
    const simple = p.parts.length === 1 && !p.data && p.depth === 0 && !p.this;
    if (n.params.length > 0 || (simple && OUR_HELPERS.has(p.parts[0]))) return this.call(n, s);
    if (simple && HANDLEBARS_BUILTINS.has(p.parts[0])) this.fail(n, `the built-in helper "${p.parts[0]}" as a value`);
    return this.path(p, s);
  }

  call(n: Node, s: Scope): string {
    const p = n.path;
    if (p.type !== 'PathExpression' || p.parts.length !== 1 || p.data || p.depth !== 0 || !OUR_HELPERS.has(p.parts[0])) {
      this.fail(n, `calling "${p.original}" (not one of the helpers: ${[...OUR_HELPERS].join(', ')})`);
    }
    if (n.hash) this.fail(n, 'a hash argument');
    const args = n.params.map((a: Node) => this.expr(a, s));
    return `h.${p.parts[0]}(${[...args, 'O'].join(', ')})`;
  }

  expr(e: Node, s: Scope): string {
    switch (e.type) {
      case 'PathExpression': return this.path(e, s);
      case 'SubExpression': return this.call(e, s);
      case 'StringLiteral': case 'NumberLiteral': case 'BooleanLiteral': return JSON.stringify(e.value);
      case 'NullLiteral': return 'null';
      case 'UndefinedLiteral': return 'undefined';
      default: return this.fail(e, `a ${e.type}`);
    }
  }

  context(depth: number, s: Scope, n: Node): string {
    const i = s.contexts.length - 1 - depth;
    if (i < 0) this.fail(n, `"../" above the template's own context`);
    return s.contexts[i]!;
  }

  path(p: Node, s: Scope): string {
    if (p.data) {
      const v = p.parts.length === 1 ? s.data?.[p.parts[0]] : undefined;
      if (!v || p.depth) this.fail(p, `@${p.parts.join('.')} outside an #each (or other than @index, @first, @last, @key)`);
      return v;
    }
    let out = this.context(p.depth, s, p);
    for (const part of p.parts) out = `L(${out}, ${JSON.stringify(part)})`;
    return out;
  }

  block(n: Node, s: Scope): string {
    const p = n.path;
    const name = p.type === 'PathExpression' && p.parts.length === 1 ? p.parts[0] : undefined;
    if (n.hash || n.params.length !== 1 || (n.program?.blockParams?.length ?? 0) > 0) this.fail(n, `{{#${p.original}}} with other than one argument`);
    const arg = this.expr(n.params[0], s);
    if (name === 'if' || name === 'unless') {
      const yes = this.program(n.program, s);
      const no = this.program(n.inverse, s);
      return `if (${name === 'unless' ? '!' : ''}T(${arg})) {\n${yes}}${no ? ` else {\n${no}}` : ''}\n`;
    }
    if (name === 'each') {
      const k = this.vars++;
      const [a, i, c] = [`a${k}`, `i${k}`, `c${k + 1}`];
      const inner: Scope = { contexts: [...s.contexts, c], data: { index: i, key: i, first: `(${i} === 0)`, last: `(${i} === ${a}.length - 1)` } };
      const body = this.program(n.program, inner);
      const no = this.program(n.inverse, s);
      return `{ const ${a} = A(${arg});\nfor (let ${i} = 0; ${i} < ${a}.length; ${i}++) { const ${c} = ${a}[${i}];\n${body}}\n${no ? `if (${a}.length === 0) {\n${no}}\n` : ''}}\n`;
    }
    return this.fail(n, `the block helper {{#${p.original}}}`);
  }
}

/** JavaScript source of one template function `(c0, h, p) => string`. */
export function compileTemplate(name: string, source: string, partials?: readonly string[]): string {
  let ast: Node;
  try {
    // The same options as run-time compilation; ignoreStandalone is not set, so standalone lines are removed.
    ast = Handlebars.parse(source, COMPILE_OPTIONS as unknown as ParseOptions);
  } catch (e) {
    throw new TemplateError(`${name}.hbs: ${(e as Error).message}`, { cause: e });
  }
  const body = new Compiler(name, partials).program(ast, { contexts: ['c0'] });
  return `function (c0, h, p) {\nlet o = "";\n${body}return o;\n}`;
}

type ParseOptions = Parameters<typeof Handlebars.parse>[1];

/**
 * The text of dist/compiled-templates.js: every template of `sources` as a function `(context, helpers,
 * partials) => string`, importing the few functions they call from ./template-runtime.js.
 */
export function compiledTemplatesModule(sources: TemplateSources): string {
  const fns = TEMPLATE_NAMES.map((n) => `  ${JSON.stringify(n)}: ${compileTemplate(n, sources[n], TEMPLATE_NAMES).replace(/\n/g, '\n  ')},`).join('\n');
  return [
    '// Generated at build time by scripts/build-templates.mjs from templates/*.hbs (src/template-compiler.ts).',
    "import { iterable as A, lookup as L, HELPER_OPTIONS as O, output as S, truthy as T } from './template-runtime.js';",
    '',
    'export const TEMPLATES = {',
    fns,
    '};',
    '',
  ].join('\n');
}
