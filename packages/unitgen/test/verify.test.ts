// zunitgen verify: systemd-analyze verify, failing on warnings too (systemd #23860: exit 0 on warnings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execPaths, verify } from '../src/index.js';
import { have, tempDir, zunitgen } from './helpers.js';

const skip = have('systemd-analyze') ? false : 'systemd-analyze not installed';

test('a warning (unknown key) fails verify although systemd-analyze exits 0', { skip }, (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'x.service'), '[Service]\nExecStart=/srv/nowhere/bin/x\nFoo=bar\n');
  const r = verify(dir, { stubExec: true });
  assert.equal(r.ok, false);
  assert.match(r.output, /Unknown key 'Foo' in section \[Service\]/);
  const cli = zunitgen(['verify', dir, '--stub-exec']);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /Unknown key 'Foo'/);
});

test('without --stub-exec a missing executable is reported; with it, it is stubbed', { skip }, (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'x.service'), '[Service]\nExecStart=/srv/nowhere/bin/x\n');
  const plain = verify(dir);
  assert.equal(plain.ok, false);
  assert.match(plain.output, /\/srv\/nowhere\/bin\/x is not executable/);
  const stubbed = verify(dir, { stubExec: true });
  assert.equal(stubbed.output, '');
  assert.ok(stubbed.ok);
  assert.equal(zunitgen(['verify', dir, '--stub-exec']).code, 0);
});

test('execPaths: executables of Exec lines, prefixes and quotes removed', () => {
  assert.deepEqual(execPaths('ExecStart=-/a/b c\nExecStartPost="/x y/z" 1\nExecStop=@/p/q name\nExecReload=relative\n'), ['/a/b', '/x y/z', '/p/q']);
});
