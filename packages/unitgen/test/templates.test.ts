// --templates DIR: overrides the built-in templates file by file; a template cannot smuggle a broken or
// injected line into a unit file (the output is checked), and a broken template is a clear error (78).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir, zunitgen } from './helpers.js';
import { checkUnitShape, TemplateError } from '../src/index.js';

const EXAMPLE = join(REPO, 'examples/stack/plone.yaml');

test('--templates overrides one template, the others stay built in', (t) => {
  const dir = tempDir(t);
  const tpl = join(dir, 'tpl');
  mkdirSync(tpl);
  writeFileSync(join(tpl, 'slice.hbs'), '{{header}}\n[Slice]\n# site-specific slice\nCPUWeight={{m.limits.cpuWeight}}\n');
  const r = zunitgen(['generate', EXAMPLE, '--out', join(dir, 'out'), '--templates', tpl]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(readFileSync(join(dir, 'out', 'plone.slice'), 'utf8'), /# site-specific slice\nCPUWeight=100\n/);
  assert.match(readFileSync(join(dir, 'out', 'plone-client1.service'), 'utf8'), /^Type=notify$/m);
});

test('a template that writes a non-directive line into a unit file is refused (78), nothing written', (t) => {
  const dir = tempDir(t);
  const tpl = join(dir, 'tpl');
  mkdirSync(tpl);
  // {{m.description}} without the unit helper, plus a stray line: the output check catches it.
  writeFileSync(join(tpl, 'target.hbs'), '{{header}}\n[Unit]\nDescription={{m.description}}\nthis is not a directive\n');
  const r = zunitgen(['generate', EXAMPLE, '--out', join(dir, 'out'), '--templates', tpl]);
  assert.equal(r.code, 78);
  assert.match(r.stderr, /plone\.target:4: not a directive, section or comment/);
  assert.equal(existsSync(join(dir, 'out')), false);
});

test('a template with a syntax error is a clear error (78)', (t) => {
  const dir = tempDir(t);
  const tpl = join(dir, 'tpl');
  mkdirSync(tpl);
  writeFileSync(join(tpl, 'socket.hbs'), '{{#if x}}unclosed\n');
  const r = zunitgen(['generate', EXAMPLE, '--out', join(dir, 'out'), '--templates', tpl]);
  assert.equal(r.code, 78);
  assert.match(r.stderr, /cannot compile templates/);
});

test('checkUnitShape: comments, sections and directives pass; anything else is refused with its line', () => {
  const ok = '# c\n; c\n\n[Unit]\n  Description=x \\ y\n[X-Foo-1]\nKey1=\nA=b=c\n   \n# ends with a backslash \\\n';
  assert.doesNotThrow(() => checkUnitShape('u.service', ok));
  assert.doesNotThrow(() => checkUnitShape('u.service', ''));
  const bad: Array<[string, RegExp]> = [
    ['[Unit]\nfree text\n', /^u\.service:2: not a directive, section or comment: "free text"$/],
    ['[Unit]\n=x\n', /u\.service:2: not a directive/],
    ['[Unit]\n1Key=x\n', /u\.service:2: not a directive/],
    ['[Unit\n', /u\.service:1: not a directive/],
    ['[Unit] x\n', /u\.service:1: not a directive/],
    ['[Unit]\nExecStart=/bin/true \\\n', /u\.service:2: line ends with a backslash \(continuation\)/],
    ['[Unit]\n\nA=x\rB=y\n', /u\.service:3: control character in output/],
    ['# \u0000\n', /u\.service:1: control character in output/],
    ['A=\u007f\n', /u\.service:1: control character in output/],
    ['A=1\nB=\t2\n\n\nC=\u001b[1m\n', /u\.service:5: control character in output/],
  ];
  for (const [content, re] of bad) assert.throws(() => checkUnitShape('u.service', content), (e: Error) => e instanceof TemplateError && re.test(e.message), JSON.stringify(content));
});
