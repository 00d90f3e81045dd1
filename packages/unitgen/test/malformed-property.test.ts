// Property test of malformed configs: a good config cut, spliced with YAML's own syntax characters, flow
// brackets nested to any depth, placeholders and tabs at random places. Whatever the text, parsing either
// accepts it or throws a ConfigError whose every issue has the file, a line and column inside the text and a
// message of our own; never another exception (a stack overflow, a TypeError), never an empty message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, parseStack } from '../src/index.js';
import { checkProperty } from './helpers.js';

const GOOD = 'stack: site\ndescription: Site\nuser: plone\ndirectory: /srv/plone\nzeo: { command: /srv/plone/bin/runzeo, address: "127.0.0.1:8100" }\nclients: { count: 2, command: "/srv/plone/bin/client{n}", http: "127.0.0.1:{8080+n}", health: "127.0.0.1:{9080+n}" }\nhaproxy: { backend: plone }\n';

/** A piece to splice in: YAML indicators, deep brackets, anchors and aliases, placeholders, any text. */
const piece = fc.oneof(
  fc.stringMatching(/^[-?:,[\]{}#&*!|>'"%@`\t \n]{1,4}$/),
  { arbitrary: fc.tuple(fc.constantFrom('[', '{', '- ', '{a: '), fc.integer({ min: 1, max: 20_000 })).map(([open, n]) => open.repeat(n)), weight: 3 },
  fc.constantFrom('{n}', '{8080+n}', '&a x', '*a', '*nope', '<<: *a', '!!binary', '!!js/function', '? ', '---\n', '...\n', '%YAML 1.1\n'),
  fc.string({ maxLength: 8 }),
);
const edit = fc.record({ at: fc.nat(), cut: fc.nat({ max: 6 }), piece });

test('property: any malformed config is a ConfigError with positions and messages, never a crash', () => {
  let accepted = 0, refused = 0;
  checkProperty(() => fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
    let text = GOOD;
    for (const e of edits) { const at = e.at % (text.length + 1); text = text.slice(0, at) + e.piece + text.slice(at + e.cut); }
    const lines = text.split('\n').length;
    try {
      parseStack(text, { file: 'm.yaml' });
      accepted++;
    } catch (e) {
      assert.ok(e instanceof ConfigError, `${JSON.stringify(text.slice(0, 300))}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      refused++;
      for (const i of e.issues) {
        const where = `${JSON.stringify(text.slice(0, 300))}: ${JSON.stringify(i)}`;
        assert.ok(i.file === 'm.yaml' && i.line >= 1 && i.line <= lines + 1 && i.col >= 1, `position: ${where}`);
        assert.ok(i.message.trim().length > 0 && !/Maximum call stack|\[object Object\]/.test(i.message), `message: ${where}`);
      }
    }
  }), { numRuns: Number(process.env.FC_RUNS ?? 150) }));
  assert.ok(refused > 0, `accepted ${accepted}, refused ${refused}`);
});
