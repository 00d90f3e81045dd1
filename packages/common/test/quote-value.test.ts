// How messages quote what a user wrote: visibly (JSON style) and, for a long text such as a whole file read as
// one value, only as much as identifies it, with its length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quoteValue } from '../src/parse-result.js';

test('short values are quoted whole, control characters visible', () => {
  assert.equal(quoteValue('a b\tc'), '"a b\\tc"');
  assert.equal(quoteValue(5), '5');
  assert.equal(quoteValue('x'.repeat(120)), JSON.stringify('x'.repeat(120)));
});

test('a long value is cut to its first 120 characters and its length', () => {
  assert.equal(quoteValue('y'.repeat(121)), `${JSON.stringify('y'.repeat(120))}... (121 characters)`);
});

test('zunitgen check on a file that is one long line names it without repeating the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zsd-quote-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'not-a-stack.yaml');
  const secret = `password=${'s3cret'.repeat(100)}`;
  writeFileSync(file, `${'root:x:0:0:root:/root:/bin/bash '.repeat(10)}${secret}\n`);
  const cli = join(import.meta.dirname, '../../unitgen/dist/cli.js');
  let stderr = '';
  try { execFileSync(process.execPath, [cli, 'check', file], { encoding: 'utf8', stdio: 'pipe' }); } catch (e) { stderr = String((e as { stderr: string }).stderr); }
  assert.match(stderr, /expected a mapping/);
  assert.match(stderr, /\(\d+ characters\)/);
  assert.doesNotMatch(stderr, /s3cret/);
});
