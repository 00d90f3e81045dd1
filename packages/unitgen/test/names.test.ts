// Unit names: a stack never replaces or nests under a unit systemd or the distribution ships, and `verify`
// catches a reference that does not resolve (the Sockets= of an escaped stack name, read the way systemd does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseStack, unitReferences, verify } from '../src/index.js';
import { RESERVED_STACK_NAMES } from '../src/unit-names.js';
import { have, tempDir, zunitgen } from './helpers.js';

const stackYaml = (stack: string) => `stack: ${JSON.stringify(stack)}\nuser: plone\ndirectory: /srv/plone\nclients: { count: 1, command: /srv/plone/bin/client1, http: "127.0.0.1:8081", health: "127.0.0.1:9081" }\n`;

function refused(text: string, opts: Parameters<typeof parseStack>[1] = {}): ConfigError {
  try { parseStack(text, { file: 'names.yaml', ...opts }); } catch (e) { assert.ok(e instanceof ConfigError, String(e)); return e; }
  assert.fail('config was accepted');
}

test('systemd\'s own names are refused at stack:, with the fix', () => {
  for (const name of RESERVED_STACK_NAMES) {
    const e = refused(stackYaml(name));
    assert.equal(e.issues.length, 1, name);
    assert.deepEqual([e.issues[0]!.line, e.issues[0]!.col], [1, 8]);
    assert.match(e.issues[0]!.message, new RegExp(`${name}\\.target/${name}\\.slice`));
    assert.match(e.issues[0]!.hint!, /name the stack after the site/);
  }
});

test('"/" in a stack name is refused: it would nest the stack\'s slice under another', () => {
  for (const name of ['/', 'a/b', '/srv/../etc', 'system/x']) {
    const e = refused(stackYaml(name));
    assert.match(e.issues[0]!.message, /nests a slice under another/, name);
  }
  // "-" is escaped (\x2d) and nests nothing: still fine
  assert.equal(parseStack(stackYaml('my-site')).slice, 'my\\x2dsite.slice');
});

test('a generated name that exists in the given unit directories is refused (the shadow check)', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'plone-client1.service'), '[Service]\nExecStart=/bin/true\n');
  const e = refused(stackYaml('plone'), { shadowCheck: { dirs: [dir], exists: (p) => readdirSync(dir).includes(p.slice(dir.length + 1)) } });
  assert.match(e.issues[0]!.message, new RegExp(`plone-client1\\.service \\(${dir}/plone-client1\\.service\\)`));
});

test('the recycle timer\'s units are in the shadow check too, when the stack has them', (t) => {
  const dir = tempDir(t);
  const recycling = stackYaml('plone').replace(' }\n', ', recycle: { max-age: 1d } }\n');
  const shadow = { shadowCheck: { dirs: [dir], exists: (p: string) => readdirSync(dir).includes(p.slice(dir.length + 1)) } };
  for (const unit of ['plone-recycle.service', 'plone-recycle.timer']) {
    writeFileSync(join(dir, unit), '[Unit]\n');
    const e = refused(recycling, shadow);
    assert.match(e.issues[0]!.message, new RegExp(`generates unit names the system already has: ${unit.replace('.', '\\.')} \\(${dir}/`), unit);
    assert.deepEqual([e.issues[0]!.line, e.issues[0]!.col], [1, 8]);
    // Without clients.recycle the stack generates neither: nothing is shadowed.
    parseStack(stackYaml('plone'), { file: 'names.yaml', ...shadow });
    rmSync(join(dir, unit));
  }
});

test('generate refuses names the distribution ships (ZUNITGEN_UNIT_PATH stands in for /usr/lib/systemd/system): 78, nothing written', (t) => {
  const dir = tempDir(t);
  const vendor = join(dir, 'vendor');
  mkdirSync(vendor);
  writeFileSync(join(vendor, 'site.target'), '[Unit]\n');
  writeFileSync(join(dir, 'site.yaml'), stackYaml('site'));
  const r = zunitgen(['generate', join(dir, 'site.yaml'), '--out', join(dir, 'out')], { ZUNITGEN_UNIT_PATH: vendor });
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /site\.yaml:1:8: error: stack: "site" generates unit names the system already has: site\.target/);
  assert.deepEqual(readdirSync(dir).sort(), ['site.yaml', 'vendor']);
});

test('generator mode never writes a name that is in the unit search path', (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'etc'), normal = join(dir, 'normal'), etcUnits = join(dir, 'etc-systemd-system');
  for (const d of [cfg, normal, etcUnits]) mkdirSync(d);
  writeFileSync(join(etcUnits, 'site-client1-agent.socket'), '[Socket]\nListenStream=1\n');
  writeFileSync(join(cfg, 'site.yaml'), stackYaml('site'));
  writeFileSync(join(cfg, 'other.yaml'), stackYaml('other').replace(/8081/, '8082').replace(/9081/, '9082'));
  const kmsg = join(dir, 'kmsg');
  const r = zunitgen(['generator', normal], { ZUNITGEN_CONFIG_DIR: cfg, ZUNITGEN_KMSG: kmsg, ZUNITGEN_UNIT_PATH: etcUnits });
  assert.equal(r.code, 1);
  const written = readdirSync(normal);
  assert.ok(written.includes('other.target'));
  assert.ok(!written.some((f) => f.startsWith('site')), written.join(' '));
});

test('unitReferences reads Sockets= unquoted and Wants=/After= with backslashes kept', () => {
  const refs = unitReferences('[Unit]\nWants=a\\x2db.service\nAfter=x.service y.service\n[Service]\nSockets=a\\x2db-agent.socket "q\\\\x20r.socket"\nSlice=s%%x.slice\n');
  assert.deepEqual(refs.map((r) => [r.key, r.name]), [
    ['Wants', 'a\\x2db.service'], ['After', 'x.service'], ['After', 'y.service'],
    ['Sockets', 'ax2db-agent.socket'], ['Sockets', 'q\\x20r.socket'], ['Slice', 's%x.slice'],
  ]);
});

test('verify fails on a Sockets= reference systemd would resolve to a unit that does not exist', { skip: have('systemd-analyze') ? false : 'systemd-analyze not installed' }, (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a\\x2db-agent.socket'), '[Socket]\nListenStream=127.0.0.1:9999\nService=a\\x2db.service\n');
  writeFileSync(join(dir, 'a\\x2db.service'), '[Service]\nExecStart=/srv/x/bin/a\nSockets=a\\x2db-agent.socket\n');
  const r = verify(dir, { stubExec: true });
  assert.equal(r.ok, false);
  assert.match(r.output, /a\\x2db\.service:3: Sockets= refers to "ax2db-agent\.socket", which is neither in/);
  // written the way systemd reads it, the same reference resolves
  writeFileSync(join(dir, 'a\\x2db.service'), '[Service]\nExecStart=/srv/x/bin/a\nSockets=a\\\\x2db-agent.socket\n');
  const fixed = verify(dir, { stubExec: true });
  assert.equal(fixed.output, '');
  assert.ok(fixed.ok);
});
