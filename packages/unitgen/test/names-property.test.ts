// Property test of the stack names a config may take. For any stack name (drawn from the unit names this machine
// really ships, their dash-separated heads, systemd's own names, joins of those with "/" and "-", and arbitrary
// text), parsing with the vendor unit search path either refuses the config with a ConfigError naming the stack's
// position and a fix, or every file it generates: has no "/" in its name, exists in none of the search path's
// directories, is none of systemd's own units, and its slice nests under no other slice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { builtinTemplates, ConfigError, parseStack, renderWith, systemdUnescape } from '../src/index.js';
import { RESERVED_STACK_NAMES } from '../src/unit-names.js';
import { VENDOR_UNIT_PATH } from '../src/unit-references.js';
import { checkProperty } from './helpers.js';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const UNIT_SUFFIX = /\.(service|socket|target|slice|scope|mount|automount|swap|path|timer|device)$/;
const DIRS = VENDOR_UNIT_PATH.filter((d) => existsSync(d));
/** The units the machine ships, read from the search path itself. */
const shipped = [...new Set(DIRS.flatMap((d) => readdirSync(d)).filter((n) => UNIT_SUFFIX.test(n)))];
/** Slices systemd creates itself without a file (systemd.special(7)). */
const BUILTIN_SLICES = ['-.slice', 'system.slice'];
/** Names of systemd's own units a stack's .target/.slice could take: the parser's list, each as a target and a slice. */
const systemdOwn = new Set([...RESERVED_STACK_NAMES.flatMap((s) => [`${s}.target`, `${s}.slice`]), ...BUILTIN_SLICES, 'init.scope']);

const stems = shipped.map((n) => n.replace(UNIT_SUFFIX, ''));
/** What a user would write to get a shipped name: the unescaped stem ("-" read back as "/"), and the heads before each "-". */
const machineName = fc.constantFrom(...stems).chain((s) => fc.constantFrom(
  s, systemdUnescape(s), ...s.split('-').map((_, i, parts) => parts.slice(0, i + 1).join('-')),
));
const word = fc.oneof(machineName, fc.constantFrom(...RESERVED_STACK_NAMES), fc.stringMatching(/^[A-Za-z0-9:_.\\-]{1,10}$/));
const stackName = fc.oneof(
  // A stack generates <name>.target and <name>.slice: the shipped targets and slices are the names it can take over.
  { arbitrary: fc.constantFrom(...shipped.filter((n) => /\.(target|slice)$/.test(n)).map((n) => n.replace(UNIT_SUFFIX, ''))), weight: 2 },
  word,
  fc.tuple(word, fc.constantFrom('/', '-', '//', '/../'), word).map(([a, sep, b]) => `${a}${sep}${b}`),
  fc.tuple(fc.constantFrom('', '/'), word, fc.constantFrom('', '/')).map(([a, w, b]) => `${a}${w}${b}`),
  fc.string({ maxLength: 12 }),
);

function config(stack: string): string {
  return `stack: ${JSON.stringify(stack)}
user: plone
directory: /srv/plone
zeo: { command: /srv/plone/bin/runzeo, address: "127.0.0.1:8100" }
clients: { count: 2, command: "/srv/plone/bin/client{n}", http: "127.0.0.1:{8080+n}", health: { agent: "127.0.0.1:{9080+n}", http: "127.0.0.1:{9180+n}" } }
haproxy: { backend: plone, frontend: "127.0.0.1:8000" }
`;
}

test('a stack name never yields a unit that shadows or nests under one systemd or the distribution ships; else it is refused with the fix', () => {
  assert.ok(DIRS.includes('/usr/lib/systemd/system') || DIRS.includes('/lib/systemd/system'), `no vendor unit directory among ${VENDOR_UNIT_PATH.join(', ')}`);
  assert.ok(shipped.length > 20, `only ${shipped.length} units found in ${DIRS.join(', ')}`);
  let accepted = 0, refusedForName = 0;
  checkProperty(() => fc.assert(fc.property(stackName, (stack) => {
    let files;
    try {
      const m = parseStack(config(stack), { file: 'stack.yaml', shadowCheck: { dirs: DIRS, exists: existsSync } });
      files = renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const own = e.issues.filter((i) => i.line === 1);
      assert.ok(own.length > 0, `${JSON.stringify(stack)}: refused, but not at the stack's line: ${e.message}`);
      for (const i of own) {
        assert.ok(i.col >= 1 && i.file === 'stack.yaml' && i.message.length > 0, `${JSON.stringify(stack)}: ${JSON.stringify(i)}`);
        // An empty name is refused as every empty string is ("must not be empty"): the fix is the message.
        if (stack !== '') assert.ok(i.hint && i.hint.length > 0, `${JSON.stringify(stack)}: refused without a fix: ${i.message}`);
      }
      refusedForName++;
      return;
    }
    accepted++;
    for (const { name } of files) {
      assert.ok(!name.includes('/'), `${JSON.stringify(stack)}: generated ${JSON.stringify(name)}`);
      const there = DIRS.find((d) => existsSync(`${d}/${name}`));
      assert.equal(there, undefined, `${JSON.stringify(stack)}: generated ${name}, which ${there}/${name} already is`);
      assert.ok(!systemdOwn.has(name), `${JSON.stringify(stack)}: generated ${name}, one of systemd's own units`);
      if (name.endsWith('.slice')) {
        // systemd.slice(5): "a-b.slice" is a child of "a.slice"; an escaped "-" (\x2d) nests nothing.
        const stem = name.slice(0, -'.slice'.length);
        assert.ok(stem !== '' && stem !== '-' && !stem.includes('-'), `${JSON.stringify(stack)}: ${name} nests under ${stem.split('-')[0]}.slice`);
      }
    }
  }), { numRuns: RUNS }));
  // Both outcomes must be reached, or the property says little.
  assert.ok(accepted > RUNS / 10 && refusedForName > RUNS / 10, `accepted ${accepted}, refused ${refusedForName} of ${RUNS}`);
});
