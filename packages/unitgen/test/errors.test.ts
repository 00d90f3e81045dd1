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

test('the fix for a control character names what that key\'s value is written into: the unit file, HAProxy\'s configuration, an HTTP request', () => {
  const base = 'user: a\ndirectory: /a\nclients: { count: 1, command: /a/b, http: "127.0.0.1:1", health: "127.0.0.1:2", warmup: [{ path: /Plone, host: "a\\nX-Evil: 1" }] }\n';
  const e = issues(`stack: a\ndescription: "x\\ny"\n${base}haproxy: { backend: "plone\\nbackend evil" }\n`);
  const fixOf = (key: string) => e.find((i) => i.key === key)?.fix ?? assert.fail(`no issue at ${key}: ${JSON.stringify(e)}`);
  assert.match(fixOf('haproxy.backend'), /HAProxy configuration/);
  assert.doesNotMatch(fixOf('haproxy.backend'), /unit file/);
  assert.match(fixOf('description'), /unit file/);
  assert.match(e.find((i) => /warmup/.test(i.key))?.fix ?? '', /HTTP request/, JSON.stringify(e));
});

test('a port clash\'s fix is the one for the key that claims the port second', () => {
  const front = issues('stack: a\nuser: a\ndirectory: /a\nzeo: { command: /a/z, address: "127.0.0.1:8100" }\nclients: { count: 1, command: /a/b, http: "127.0.0.1:8081", health: "127.0.0.1:9081" }\nhaproxy: { frontend: "127.0.0.1:8081" }\n');
  const f = front.find((i) => i.key === 'haproxy.frontend') ?? assert.fail(JSON.stringify(front));
  assert.match(f.message, /haproxy\.frontend: 127\.0\.0\.1:8081 is already used by client1 http/);
  assert.match(f.fix ?? '', /^give haproxy\.frontend an address no listener of the stack uses/);
  assert.doesNotMatch(f.fix ?? '', /every client/);
  const zeo = issues('stack: a\nuser: a\ndirectory: /a\nzeo: { command: /a/z, address: "127.0.0.1:8081" }\nclients: { count: 1, command: /a/b, http: "127.0.0.1:8081", health: "127.0.0.1:9081" }\n');
  assert.match(zeo.find((i) => /client1 http/.test(i.message))?.fix ?? '', /give the clients ports zeo\.address does not use/, JSON.stringify(zeo));
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

test('CLI check: a file that cannot be read does not hide another file\'s problems; 66 outranks 78', (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'bad.yaml'), missing = join(dir, 'nope.yaml');
  writeFileSync(cfg, BAD);
  const text = zunitgen(['check', cfg, missing]);
  assert.equal(text.code, 66, text.stderr);
  assert.equal(text.stderr.match(/: error: /g)?.length, 16);
  assert.ok(text.stderr.includes(`${cfg}:2:7: error: user: Zope must not run as root`), text.stderr);
  assert.ok(text.stderr.includes(`${missing}: error: cannot read the file`), text.stderr);
  const json = zunitgen(['check', '--json', missing, cfg]);
  assert.equal(json.code, 66);
  const problems = (JSON.parse(json.stdout) as { problems: Array<{ file: string }> }).problems;
  assert.equal(problems.length, 16);
  assert.deepEqual([...new Set(problems.map((p) => p.file))], [missing, cfg]);
});

test('CLI check and generate: a bare number after hours is a warning (not an error) with its place, what systemd reads and the fix', (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'odd.yaml');
  writeFileSync(cfg, 'stack: site\nuser: zope\ndirectory: /home/zope/site\nclients:\n  count: 1\n  command: /home/zope/site/bin/instance console\n'
    + '  http: 127.0.0.1:8080\n  health: 127.0.0.1:9080\n  recycle: { max-age: 1d, every: 1h30 }\n');
  const line = 9;
  const text = zunitgen(['check', cfg]);
  assert.equal(text.code, 0, text.stderr);
  assert.ok(text.stderr.includes(`${cfg}:${line}:`), text.stderr);
  assert.match(text.stderr, /: warning: clients\.recycle\.every: "1h30" is read as 1h 30s \(3630s in all\)/);
  assert.match(text.stderr, /hint: write every unit: "1h 30min" if 30 minutes is meant/);
  const json = JSON.parse(zunitgen(['check', '--json', cfg]).stdout) as { ok: boolean; warnings: Array<{ key: string; line: number }> };
  assert.equal(json.ok, true);
  assert.deepEqual(json.warnings.map((w) => [w.key, w.line]), [['clients.recycle.every', line]]);
  const gen = zunitgen(['generate', cfg, '--out', join(dir, 'out'), '--dry-run']);
  assert.match(gen.stderr, /: warning: clients\.recycle\.every: "1h30"/);
});

test('CLI: a bad config leaves an existing output directory untouched', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'keep.service'), '[Service]\nExecStart=/bin/true\n');
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, BAD);
  assert.equal(zunitgen(['generate', cfg, '--out', dir]).code, 78);
  assert.deepEqual(readdirSync(dir).sort(), ['bad.yaml', 'keep.service']);
});

const BAD_CHECKS = `stack: site
user: zope
directory: /srv/site
zeo: { command: bin/zeoserver fg, address: 127.0.0.1:8100 }
clients:
  count: 2
  command: bin/instance{n} console
  http: 127.0.0.1:{8080+n}
  health: 127.0.0.1:{9080+n}
  checks:
    - { name: root, intervall: 30s }
    - { name: zeo, type: tpc, failure-threshold: 0 }
    - name: pg
      type: postgresql
      address: 127.0.0.1:5432
      timeout: 2 parsecs
    - { name: postgresql, enabled: false }
    - { name: plone, path: /Plone }
    - { name: port, type: tcp, path: /x, address: "127.0.0.1:{65534+n}" }
    - { name: disk, type: command, command: /usr/bin/test -w var }
    - { name: root, interval: 5ms }
    - { name: web, type: http, host: "a b", roles: [readiness, readyness] }
  watchdog: { database-grace: soon }
`;

test('clients.checks: every error located at file:line:col, with a hint where one helps', () => {
  const list = issues(BAD_CHECKS);
  assert.deepEqual(list.map((i) => `${i.line}:${i.col} ${i.message}${i.hint ? ` | ${i.hint}` : ''}`), [
    '11:21 clients.checks[0]: unknown key "intervall" | did you mean "interval"?',
    '12:26 clients.checks[1].type: expected one of http, tcp, zeo, postgresql, command, got "tpc" | did you mean "tcp"?',
    // A bad type does not hide the entry's other problems.
    '12:50 clients.checks[1].failure-threshold: expected an integer 1..1000, got number 0',
    '16:16 clients.checks[2].timeout: "2 parsecs" is not a time span: unknown unit "parsecs" | write a systemd time span such as 500ms, 30s, 2min, 1h 30min, or a number of seconds (units: us, ms, s, min, h, d, w, M, y)',
    '17:15 clients.checks[3]: there is no generated check "postgresql" to drop (enabled: false) | generated here: root, zeo; an entry of your own is dropped by removing it',
    '18:7 clients.checks[4]: missing required key "type" ("plone" is a new check) | one of http, tcp, zeo, postgresql, command; only an entry named like a generated check (here: root, zeo) may leave it out',
    '19:32 clients.checks[5].path: a tcp check has no "path" | keys of a tcp check: name, type, enabled, interval, timeout, failure-threshold, success-threshold, roles, grace, address',
    // {65534+n} is a valid port for client1 only: reported for the client where it breaks.
    '19:51 clients.checks[5].address (client2): "127.0.0.1:65536": the port must be 1..65535, got 65536 | write host:port such as 127.0.0.1:8080 or [::1]:8080',
    '20:45 clients.checks[6].command: expected a list of arguments, got string "/usr/bin/test -w var" | write it as a list, as the wrapper does: [/usr/bin/test, -w, var]',
    '21:15 clients.checks[7].name: "root" is already used by clients.checks[0] | give every check its own name (an entry named like a generated check changes that check)',
    '21:31 clients.checks[7].interval: must be at least 10ms, got "5ms" | use 10ms or more: shorter runs the check back to back, keeping the wrapper and the instance busy with checks',
    '22:38 clients.checks[8].host: not a host name: "a b" | the Host: header to send, e.g. www.example.org or www.example.org:8080',
    '22:64 clients.checks[8].roles: expected one of startup, readiness, liveness, got "readyness" | did you mean "readiness"?',
    '23:31 clients.watchdog.database-grace: "soon" is not a time span | write a systemd time span such as 500ms, 30s, 2min, 1h 30min, or a number of seconds (units: us, ms, s, min, h, d, w, M, y)',
  ]);
});

test('a stack duration below its least value: the value, file:line:col, the least value and why', () => {
  const text = `stack: plone
user: plone
directory: /srv/plone
zeo: { command: bin/zeoserver fg, address: 127.0.0.1:8100, ready-timeout: 500ms }
clients:
  count: 1
  command: bin/client{n} console
  http: 127.0.0.1:{8080+n}
  health: 127.0.0.1:{9080+n}
  recycle: { max-age: 30s, every: 5 }
watchdog: 0.5
haproxy: { backend: plone, check-interval: 99ms }
`;
  assert.deepEqual(issues(text).map((i) => `${i.line}:${i.col} ${i.message} | ${i.hint}`), [
    '4:75 zeo.ready-timeout: must be at least 1s, got "500ms" | use 1s or more: ZEO is a Python process that opens its storage before it listens: less fails starts that were about to succeed',
    '10:23 clients.recycle.max-age: must be at least 1min, got "30s" | use 1min or more: a client younger than that is still warming up: every run of the timer would restart one',
    '10:35 clients.recycle.every: must be at least 10s, got 5 | use 10s or more: a run that recycles a client drains, stops and warms it up, which takes longer than that, and a run that finds the stack busy only skips: shorter adds load and journal lines, not recycling',
    '11:11 watchdog: must be at least 1s, got 0.5 | use 1s or more: the wrapper pings at half of it, and a shorter one lets a pause of its event loop under load get a healthy instance killed',
    '12:44 haproxy.check-interval: must be at least 100ms, got "99ms" | use 100ms or more: HAProxy would connect to every wrapper more than ten times a second for an answer that changes far less often',
  ]);
});

test('clients.checks: a bad placeholder points at the brace; the CLI exits 78 and writes nothing', (t) => {
  const text = BAD_CHECKS.split('\n').slice(0, 10).join('\n') + '\n    - { name: zeo, address: "127.0.0.1:{m}" }\n';
  assert.deepEqual(issues(text).map((i) => `${i.line}:${i.col} ${i.message}`), ['11:40 clients.checks[0].address: bad placeholder {m} in "127.0.0.1:{m}"']);
  const dir = tempDir(t);
  const cfg = join(dir, 'checks.yaml');
  writeFileSync(cfg, BAD_CHECKS);
  const r = zunitgen(['generate', cfg, '--out', join(dir, 'out')]);
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /checks\.yaml:12:26: error: clients\.checks\[1\]\.type: expected one of http, tcp, zeo, postgresql, command, got "tpc"\n {2}hint: did you mean "tcp"\?/);
  assert.match(r.stderr, /14 errors; nothing was written\./);
  assert.deepEqual(readdirSync(dir), ['checks.yaml']);
});


test('haproxy.stats-socket "/" is refused: the wrapper would refuse the generated config at every start', () => {
  const e = issues('stack: a\nuser: a\ndirectory: /a\nclients: { count: 1, command: /a/b, http: "127.0.0.1:1", health: "127.0.0.1:2" }\nhaproxy: { stats-socket: / }\n');
  assert.deepEqual(e.map((i) => `${i.line}:${i.col} ${i.message}`), ['5:26 haproxy.stats-socket: "/" is a directory, not a socket']);
});

test('a warm-up or check path outside printable ASCII is refused with its percent-encoded form (znotify would refuse it too)', () => {
  const base = 'stack: a\nuser: a\ndirectory: /a\nclients: { count: 1, command: /a/b, http: "127.0.0.1:1", health: "127.0.0.1:2", ';
  const w = issues(`${base}warmup: ["/Plone/\u00fcber"] }\n`).find((i) => i.message.startsWith('clients.warmup'));
  assert.ok(w, 'no clients.warmup error');
  assert.match(w.message, /"\/Plone\/\u00fcber" contains "\u00fc", which a request path cannot carry unencoded \(printable ASCII only\)/);
  assert.equal(w.hint, 'percent-encode it: "/Plone/%C3%BCber"');
  assert.equal(w.line, 4);
  // What passes is what znotify accepts: an encoded path unchanged.
  assert.doesNotThrow(() => parseStack(`${base}warmup: ["/Plone/%C3%BCber"] }\n`, { file: 'ok.yaml' }));
});

test('haproxy.stats-socket host:port takes an IP literal, as every address here; a name is refused where it is', () => {
  const cfg = (s: string) => `stack: a\nuser: a\ndirectory: /a\nclients: { count: 1, command: /a/b, http: "127.0.0.1:1", health: "127.0.0.1:2" }\nhaproxy: { stats-socket: "${s}" }\n`;
  assert.equal(parseStack(cfg('127.0.0.1:9999')).haproxy.statsSocket, '127.0.0.1:9999');
  assert.equal(parseStack(cfg('[::1]:9999')).haproxy.statsSocket, '[::1]:9999');
  assert.equal(parseStack(cfg('/run/haproxy/admin.sock')).haproxy.statsSocket, '/run/haproxy/admin.sock');
  const e = issues(cfg('localhost:9999'));
  assert.deepEqual(e.map((i) => `${i.line}:${i.col} ${i.message}`), ['5:26 haproxy.stats-socket: "localhost:9999": "localhost" is a host name, not an IP address']);
  assert.deepEqual(issues(cfg('127.0.0.1:99999')).map((i) => i.message), ['haproxy.stats-socket: "127.0.0.1:99999": the port must be 1..65535, got 99999']);
  assert.deepEqual(issues(cfg('run/admin.sock')).map((i) => i.message), ['haproxy.stats-socket: expected an absolute path, got "run/admin.sock"']);
});
