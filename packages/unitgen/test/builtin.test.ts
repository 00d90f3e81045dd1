// The precompiled built-in templates (generator mode) are current and render exactly what the run-time
// compiled templates render.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinTemplates, compileTemplates, createEnv, loadTemplates, parseStack, renderWith } from '../src/index.js';
import { builtinTemplatesSource } from '../src/precompile-source.js';
import { FIXTURES, PKG } from './helpers.js';

test('src/builtin-templates.ts is generated from the current templates/ (run scripts/precompile.mjs)', () => {
  assert.equal(readFileSync(join(PKG, 'src/builtin-templates.ts'), 'utf8'), builtinTemplatesSource());
});

test('precompiled and run-time compiled templates render the same files', () => {
  const pre = builtinTemplates();
  const rt = compileTemplates(createEnv(), loadTemplates());
  for (const name of ['plone', 'minimal', 'nasty', 'checks']) {
    const m = parseStack(readFileSync(join(FIXTURES, name, 'stack.yaml'), 'utf8'), { file: name });
    assert.deepEqual(renderWith(m, pre, { outDir: '/run/systemd/generator' }), renderWith(m, rt, { outDir: '/run/systemd/generator' }));
  }
});
