// zunitgen verify: systemd-analyze verify, failing on warnings too (systemd #23860: exit 0 on warnings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execPaths, generate, verify } from '../src/index.js';
import { stackUnits } from '../src/verify.js';
import { have, REPO, tempDir, zunitgen } from './helpers.js';

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

// A unit of someone else beside the stack's in /etc/systemd/system, with something systemd-analyze warns about.
const LEGACY = '[Unit]\nDescription=legacy daemon\n[Service]\nType=forking\nPIDFile=/var/run/legacy.pid\nExecStart=/bin/true\nResart=always\n[Install]\nWantedBy=multi-user.target\n';

test('verify checks the stack\'s own units (its manifest, or --stack): a foreign unit\'s warning in the same directory is not the stack\'s', { skip }, (t) => {
  const dir = tempDir(t);
  const example = join(REPO, 'examples/stack/plone.yaml');
  const other = join(dir, 'shop.yaml');
  writeFileSync(other, readFileSync(example, 'utf8').replace(/^stack: plone$/m, 'stack: shop'));
  const out = join(dir, 'units');
  const plone = generate(example, { out });
  generate(other, { out });
  writeFileSync(join(out, 'legacy.service'), LEGACY);
  const ploneUnits = plone.files.map((f) => f.name).filter((n) => /\.(service|socket|target|slice|timer)$/.test(n)).sort();

  const both = stackUnits(out);
  assert.deepEqual(both.scope, { stacks: ['plone', 'shop'] });
  assert.ok(!both.units.includes('legacy.service'));
  assert.deepEqual(both.units.filter((u) => u.startsWith('plone')), ploneUnits);
  assert.equal(both.units.length, 2 * ploneUnits.length);

  const cli = zunitgen(['verify', out, '--stub-exec', '--stack', example]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout, `ok: verified the ${ploneUnits.length} units of stack plone in ${out}: ${ploneUnits.join(' ')}\n`);

  // The same directory without manifests (units put there another way): every unit, the foreign one too, and it says so.
  for (const m of ['.zunitgen-plone.manifest.json', '.zunitgen-shop.manifest.json']) rmSync(join(out, m));
  const whole = zunitgen(['verify', out, '--stub-exec']);
  assert.equal(whole.code, 1, whole.stdout);
  assert.match(whole.stderr, /^systemd-analyze verify reported problems in the \d+ units in .* \(every unit: it holds no zunitgen manifest\): .*legacy\.service/);
  assert.match(whole.stderr, /legacy\.service:\d+: Unknown key 'Resart'/);
  // Given the stack, its names are enough.
  assert.deepEqual(stackUnits(out, 'plone'), { units: ploneUnits, scope: { stacks: ['plone'] } });
  const nosuch = join(dir, 'nosuch.yaml');
  writeFileSync(nosuch, readFileSync(example, 'utf8').replace(/^stack: plone$/m, 'stack: nosuch'));
  const none = zunitgen(['verify', out, '--stub-exec', '--stack', nosuch]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no unit files of stack nosuch in /);
});
