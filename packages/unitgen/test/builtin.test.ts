// The built-in templates (plain functions compiled at build time by src/template-compiler.ts; what generate and
// generator mode render with) are current and render exactly what the run-time compiled Handlebars templates
// (--templates) render.
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinTemplates, compileTemplates, createEnv, loadTemplates, parseStack, renderWith } from '../src/index.js';
import { compileTemplate, compiledTemplatesModule } from '../src/template-compiler.js';
import { iterable as A, lookup as L, HELPER_OPTIONS as O, output as S, truthy as T } from '../src/template-runtime.js';
import { COMPILE_OPTIONS, registerHelpers } from '../src/helpers.js';
import { TemplateError } from '../src/errors.js';
import { FIXTURES, PKG } from './helpers.js';

test('the build put the current templates/ into the package: a copy, and compiled (run pnpm build)', () => {
  const source = join(PKG, '../../templates');
  for (const name of readdirSync(source)) {
    assert.equal(readFileSync(join(PKG, 'templates', name), 'utf8'), readFileSync(join(source, name), 'utf8'), `templates/${name}`);
  }
  assert.deepEqual(readdirSync(join(PKG, 'templates')).sort(), readdirSync(source).sort());
  assert.equal(readFileSync(join(PKG, 'dist/compiled-templates.js'), 'utf8'), compiledTemplatesModule(loadTemplates()));
});

test('built-in (compiled at build time) and run-time compiled Handlebars templates render the same files', () => {
  const pre = builtinTemplates();
  const rt = compileTemplates(createEnv(), loadTemplates());
  for (const name of ['plone', 'minimal', 'nasty', 'checks']) {
    const m = parseStack(readFileSync(join(FIXTURES, name, 'stack.yaml'), 'utf8'), { file: name });
    assert.deepEqual(renderWith(m, pre, { outDir: '/run/systemd/generator' }), renderWith(m, rt, { outDir: '/run/systemd/generator' }));
  }
});

// The template compiler on small templates: each construct it supports renders what Handlebars renders, over values
// that probe Handlebars' rules (0, '', empty arrays, null, missing keys, inherited properties).
describe('compiled templates: the same semantics as Handlebars', () => {
  const hb = createEnv();
  const helpers: Record<string, unknown> = Object.create(null);
  registerHelpers({ registerHelper: (n, fn) => { helpers[n] = fn; } });
  const compiled = (src: string, partials: Record<string, string> = {}) => {
    const load = (name: string, s: string) => new Function('A', 'L', 'O', 'S', 'T', `return ${compileTemplate(name, s)}`)(A, L, O, S, T) as (c: object, h: object, p: object) => string;
    const p = Object.fromEntries(Object.entries(partials).map(([n, s]) => [n, load(n, s)]));
    const fn = load('t', src);
    return (ctx: object) => fn(ctx, helpers, p);
  };
  const contexts: object[] = [
    { x: 0, list: [], o: { a: 'A', n: null }, s: '', grid: [] },
    { x: 1, list: [{ name: 'a' }, { name: 'b' }, { name: '' }], o: { a: 'A%', n: 0 }, s: 'text', grid: [[], ['p', 0]] },
    { x: 'yes', list: ['p', 'q'], o: Object.create({ a: 'inherited' }), s: ' ', top: 'T' },
    { x: false, list: null, o: null, s: 'x\ny' },
    { x: [0], list: [[], [1]], o: { a: [] }, s: 12.5 },
  ];
  const cases: Array<[string, string, Record<string, string>?]> = [
    ['plain paths', 'a={{o.a}} n={{o.n}} missing={{o.nope.deeper}} s={{s}} x={{x}}\n'],
    ['if / else on every kind of value', '{{#if x}}X{{else}}no X{{/if}}|{{#if o.a}}A{{/if}}|{{#if list}}L{{else}}no L{{/if}}|{{#if s}}S{{/if}}\n'],
    ['unless', '{{#unless x}}not x{{else}}x{{/unless}}\n'],
    ['else if chains', '{{#if s}}s{{else if x}}x{{else}}neither{{/if}}\n'],
    ['each with data, parent access and else', '{{#each list}}{{@index}}:{{name}}{{this}}{{#if @first}}F{{/if}}{{#if @last}}L{{/if}} top={{../top}} {{else}}empty{{/each}}\n'],
    ['nested each', '{{#each grid}}[{{#each this}}{{this}}/{{../length}}/{{../../x}} {{/each}}]{{/each}}\n'],
    ['standalone block lines are removed, inline ones kept', 'a\n{{#if x}}\nin\n{{/if}}\nb {{#if x}} in {{/if}} c\n  {{#each list}}\n  - {{name}}\n  {{/each}}\nend\n'],
    ['whitespace control', 'a   {{~#if x~}}   b   {{~/if~}}   c\n'],
    ['helpers, subexpressions, literals', '{{unit (concat "a%" s 1 true)}} {{yaml (list s x null)}} {{dur 1500}} {{comment s}}\n'],
    ['a standalone partial in the current context', 'before\n{{> part}}\nafter {{#each list}}{{> part}}{{/each}}\n', { part: 'part s={{s}} name={{name}}\n' }],
    ['comments', '{{! a comment }}{{!-- another --}}x\n'],
    ['an indented standalone partial (preventIndent: the indent once, before it)', 'a\n    {{> part}}\nb\n', { part: 'one\ntwo {{s}}\n' }],
  ];
  for (const [name, src, partials] of cases) {
    it(name, () => {
      const h = createEnv();
      for (const [n, s] of Object.entries(partials ?? {})) h.registerPartial(n, s);
      const want = h.compile(src, COMPILE_OPTIONS);
      const got = compiled(src, partials);
      // Either the same text, or the same error (a helper refusing a value).
      const run = (f: (c: object) => string, ctx: object) => { try { return f(ctx); } catch (e) { return `throws ${(e as Error).message}`; } };
      for (const ctx of contexts) assert.equal(run(got, ctx), run(want, ctx), `${JSON.stringify(ctx)}`);
    });
  }
  void hb;

  it('refuses what it does not implement, naming the template and line', () => {
    const refused: Array<[string, RegExp]> = [
      ['a\n{{#with o}}{{a}}{{/with}}', /t\.hbs:2: the block helper \{\{#with\}\}/],
      ['{{lookup o "a"}}', /t\.hbs:1: calling "lookup"/],
      ['{{nohelper x}}', /calling "nohelper"/],
      ['{{unit x key=1}}', /a hash argument/],
      ['{{@index}}', /@index outside an #each/],
      ['{{../x}}', /"\.\.\/" above the template's own context/],
      ['{{#each list as |item|}}{{item}}{{/each}}', /with other than one argument/],
      ['{{> (dyn) }}', /a partial with parameters, a hash or a dynamic name/],
      ['{{> part x}}', /a partial with parameters/],
      ['{{log x}}', /calling "log"/],
      ['{{each}}', /the built-in helper "each" as a value/],
      ['{{#if x}}', /t\.hbs: Parse error/],
      ['{{"text"}}', /t\.hbs:1: a literal in place of a name/],
    ];
    assert.throws(() => compileTemplate('t', '{{> nosuch}}', ['hardening']), /t\.hbs:1: the partial "nosuch" \(there is no nosuch\.hbs among the templates\)/);
    for (const [src, re] of refused) assert.throws(() => compileTemplate('t', src), (e: Error) => e instanceof TemplateError && re.test(e.message), src);
  });

  it('calls every helper registerHelpers() installs, and nothing else', () => {
    const names = Object.keys(helpers);
    assert.ok(names.length > 0);
    for (const n of names) {
      // A bare mustache with a helper's name is a call of it: the compiled form passes through the helpers table.
      const js = compileTemplate('t', `{{${n}}}`);
      assert.ok(js.includes(`h.${n}(`), `{{${n}}} is compiled as a call of the helper: ${js}`);
      assert.doesNotThrow(() => compileTemplate('t', `{{${n} x}}`), n);
    }
    assert.throws(() => compileTemplate('t', '{{nothelper x}}'), new RegExp(`not one of the helpers: ${names.join(', ')}\\)`));
  });

  it('refuses at render time what Handlebars would call or iterate differently', () => {
    assert.throws(() => compiled('{{x}}')({ x: () => 'called' }), /a template value is a function/);
    assert.throws(() => compiled('{{#each o}}{{this}}{{/each}}')({ o: { a: 1 } }), /#each over an object/);
  });
});
