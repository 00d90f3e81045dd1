// Bad input: every error listed (not only the first), each at file:line:col with a hint where one helps,
// exit 78, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseStack } from '../src/index.js';
import { tempDir, zunitgen } from './helpers.js';

const BAD = `stack: plone
user: root
directory: srv/plone
memroy: 1G
database:
  postgresql: { unit: "postgresql@.service" }
zeo:
  command: bin/zeoserver fg
  address: 127.0.0.1:99999
clients:
  count: 3
  command: "bin/client{m} console"
  http: 127.0.0.1:8080
  health: 127.0.0.1:{9080+n}
  warmup: [Plone]
  memory: { high: 3G, max: 2G }
  theads: 4
limits: { memory-max: 10Q, cpu-weight: 0 }
watchdog: 30 parsecs
haproxy: { backend: "plone backend" }
log-level: verbose
`;

function issues(text: string) {
  try {
    parseStack(text, { file: 'bad.yaml' });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues;
  }
  assert.fail('config was accepted');
}

test('every error is listed with file:line:col, sorted by position', () => {
  const list = issues(BAD);
  const at = list.map((i) => `${i.line}:${i.col} ${i.message.split(':')[0]}`);
  assert.deepEqual(at, [
    '2:7 user',
    '3:12 directory',
    '4:1 config',
    '6:23 database.postgresql.unit',
    '9:12 zeo.address',
    '12:23 clients.command',
    '13:9 clients.http',
    '15:12 clients.warmup',
    '16:19 clients.memory',
    '17:3 clients',
    '18:23 limits.memory-max',
    '18:40 limits.cpu-weight',
    '19:11 watchdog',
    '20:21 haproxy.backend',
    '21:12 log-level',
  ]);
  for (const i of list) assert.equal(i.file, 'bad.yaml');
});

test('unknown keys get a did-you-mean', () => {
  const t = issues(BAD).find((i) => i.message.includes('"theads"'));
  assert.equal(t?.hint, 'did you mean "threads"?');
  const e = issues('stack: a\nuser: a\ndirectory: /a\nclients: { count: 1, command: /a/b, http: "127.0.0.1:1", helth: "127.0.0.1:2" }\n');
  assert.ok(e.some((i) => i.message.includes('unknown key "helth"') && i.hint === 'did you mean "health"?'));
  assert.ok(e.some((i) => i.message.includes('missing required key "health"')));
});

test('YAML syntax errors, duplicate keys and aliases are located', () => {
  assert.deepEqual(issues('stack: a\nstack: b\n').map((i) => [i.line, i.col]), [[2, 1]]);
  const syn = issues('stack: [a\nuser: b\n');
  assert.ok(syn.length >= 1 && syn[0]!.message.startsWith('YAML'));
  assert.match(issues('stack: &x a\nuser: *x\ndirectory: /a\nclients: {}\n')[0]!.message, /aliases are not supported/);
});

test('newlines and control characters in values are rejected at validation', () => {
  const e = issues('stack: "a\\nExecStartPre=/bin/evil"\nuser: a\ndirectory: /a\nclients: { count: 1, command: "/a/b\\tc", http: "127.0.0.1:1", health: "127.0.0.1:2" }\n');
  assert.ok(e.some((i) => i.line === 1 && /control character U\+000A/.test(i.message)));
  assert.ok(e.some((i) => i.line === 4 && /control character U\+0009/.test(i.message)));
});

test('port clashes between clients are reported', () => {
  const e = issues('stack: a\nuser: a\ndirectory: /a\nclients: { count: 2, command: /a/b, http: "127.0.0.1:{8080+n}", health: "127.0.0.1:{8081+n}" }\n');
  assert.ok(e.some((i) => /client2 http: 127\.0\.0\.1:8082 is already used by client1 health agent/.test(i.message)), JSON.stringify(e));
});

test('CLI: exit 78, every error on stderr, nothing written', (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, BAD);
  const out = join(dir, 'out');
  const r = zunitgen(['generate', cfg, '--out', out]);
  assert.equal(r.code, 78, r.stderr);
  assert.equal(r.stderr.match(/: error: /g)?.length, 15);
  assert.match(r.stderr, new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2:7: error: user: Zope must not run as root`));
  assert.match(r.stderr, /15 errors; nothing was written\./);
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir), ['bad.yaml']);
  // check: same verdict, no output directory needed
  assert.equal(zunitgen(['check', cfg]).code, 78);
});

test('CLI: a bad config leaves an existing output directory untouched', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'keep.service'), '[Service]\nExecStart=/bin/true\n');
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, BAD);
  assert.equal(zunitgen(['generate', cfg, '--out', dir]).code, 78);
  assert.deepEqual(readdirSync(dir).sort(), ['bad.yaml', 'keep.service']);
});

test('haproxy.stats-socket "/" is refused: the wrapper would refuse the generated config at every start', () => {
  const e = issues('stack: a\nuser: a\ndirectory: /a\nclients: { count: 1, command: /a/b, http: "127.0.0.1:1", health: "127.0.0.1:2" }\nhaproxy: { stats-socket: / }\n');
  assert.deepEqual(e.map((i) => `${i.line}:${i.col} ${i.message}`), ['5:26 haproxy.stats-socket: "/" is a directory, not a socket']);
});
