// The built `znotify` executable (dist/znotify/cli.js, one bundled file) stays resident as long as its
// instance, and V8 keeps its source text for the whole run: one byte per character when every character is
// in Latin-1, two bytes per character for the whole file as soon as one is not (+280 KiB measured in a heap
// snapshot of the wrapper). The build refuses such a bundle (scripts/bundle-znotify.mjs); this checks the
// built file itself, and that the check finds what it must.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain .mjs build script, no type declarations
import { firstWideChar, OUT } from '../scripts/bundle-znotify.mjs';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/znotify/cli.js');

test('the bundled znotify is Latin-1 only, so V8 stores its source one byte per character', () => {
  assert.equal(OUT, CLI);
  const text = fs.readFileSync(CLI, 'utf8');
  assert.ok(text.length > 100_000, `the bundle is ${text.length} characters: is it the whole bundle?`);
  assert.equal(firstWideChar(text), undefined);
});

test('firstWideChar finds the first character above U+00FF and its line', () => {
  assert.equal(firstWideChar('plain ASCII and Latin-1: \u00b5 \u00e9 \u00ff'), undefined);
  assert.deepEqual(firstWideChar('a\nb\n/[\u00b5\u03bc]/\n\u2026'), { code: 0x3bc, char: '\u03bc', line: 3 });
  assert.deepEqual(firstWideChar('x\u{1f600}'), { code: 0x1f600, char: '\u{1f600}', line: 1 });
});
