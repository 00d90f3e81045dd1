// findCommand: argv[0] resolved as execvp(3) resolves it, against real files.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { findCommand } from '../src/command-path.js';

test('findCommand: a path is that file; a bare name the first executable file in PATH; else why not', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'command-path-'));
  const a = path.join(dir, 'a'); const b = path.join(dir, 'b');
  mkdirSync(a); mkdirSync(b);
  writeFileSync(path.join(a, 'tool'), '#!/bin/sh\n', { mode: 0o644 }); // not executable: skipped in PATH
  writeFileSync(path.join(b, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  mkdirSync(path.join(a, 'sub')); // a directory of that name is skipped too
  writeFileSync(path.join(b, 'sub'), '#!/bin/sh\n', { mode: 0o755 });
  assert.deepEqual(findCommand('tool', { PATH: `${a}:${b}` }), { ok: true, value: path.join(b, 'tool') });
  assert.deepEqual(findCommand('sub', { PATH: `${a}:${b}` }), { ok: true, value: path.join(b, 'sub') });
  assert.deepEqual(findCommand(path.join(b, 'tool'), {}), { ok: true, value: path.join(b, 'tool') });
  const missing = findCommand('tool', { PATH: '/nonexistent' });
  assert.equal(missing.ok, false);
  assert.equal(!missing.ok && missing.message, 'command not found: tool (searched PATH=/nonexistent)');
  assert.equal(!missing.ok && missing.hint, 'give its absolute path, or add its directory to PATH');
  const cases: Array<[string, string]> = [
    ['/nonexistent/varnishadm', 'command not found: /nonexistent/varnishadm (no such file)'],
    [path.join(a, 'tool'), `command not executable: ${path.join(a, 'tool')} (check its mode and the x bit)`],
    [a, `command is a directory: ${a} (give the path of a program, not a directory)`],
    ['/usr/bin', 'command is a directory: /usr/bin (give the path of a program, not a directory)'],
  ];
  for (const [cmd, message] of cases) {
    const r = findCommand(cmd, { PATH: b });
    assert.equal(r.ok ? 'found' : r.message, message);
  }
  assert.equal(findCommand('', {}).ok, false);
});
