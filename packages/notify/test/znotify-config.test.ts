// znotify configuration: the contract's YAML parses to the documented model; every bad value is reported
// with file:line:col, the value and a fix; unknown keys get a did-you-mean; `znotify check` exits 0 / 78.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { didYouMean } from '@zope-systemd/common';
import { parseAddress, parseConfig, parseSignal } from '../src/znotify/config.js';
import { formatDuration } from '../src/znotify/duration.js';
import { ConfigError } from '../src/znotify/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
const CLI = path.join(repo, 'packages/notify/dist/znotify/cli.js');

// The example from docs/dev/CONTRACTS.md ("znotify config"), verbatim in substance.
const CONTRACT = `name: client1
command: [/srv/plone/bin/client1, console]
http: 127.0.0.1:8081
warmup:
  budget: 10min
  interval: 1s
  urls:
    - path: /Plone
      host: www.example.org
      status: 200
      text: "</html>"
      timeout: 60s
health:
  agent: 127.0.0.1:9081
  http: 127.0.0.1:9181
checks:
  - name: root
    type: http
    path: /
    interval: 5s
    timeout: 2s
    failure-threshold: 3
    success-threshold: 1
    roles: [liveness, readiness]
  - { name: zeo, type: zeo, address: 127.0.0.1:8100, roles: [readiness, liveness] }
  - { name: pg, type: postgresql, address: 127.0.0.1:5432, roles: [readiness, liveness] }
  - { name: disk, type: command, command: [/usr/bin/test, -w, /srv/plone/var], roles: [readiness] }
watchdog:
  database-grace: 2min
  hang-timeout: 5min
  dump-stacks: true
stop:
  drain: 10s
  signal: SIGTERM
  timeout: 60s
haproxy:
  stats-socket: /run/haproxy/admin.sock
  backend: plone
  server: client1
log:
  level: info
`;

function problems(text: string, flags = {}): string[] {
  try {
    parseConfig(text, 'c.yaml', flags, { requireCommand: true });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.exitCode, 78);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

// The duration grammar itself is tested with the shared parser (packages/common/test/duration.test.ts).
test('durations as the wrapper shows them', () => {
  assert.equal(formatDuration(4100), '4.1 s');
  assert.equal(formatDuration(12), '12 ms');
  assert.equal(formatDuration(125_000), '2 min 5 s');
});

test('addresses and signals', () => {
  assert.deepEqual(parseAddress('127.0.0.1:8081'), { host: '127.0.0.1', port: 8081 });
  assert.deepEqual(parseAddress('[::1]:9080'), { host: '::1', port: 9080 });
  assert.deepEqual(parseAddress('localhost:80'), { host: 'localhost', port: 80 });
  assert.deepEqual(parseAddress(9081), { host: '127.0.0.1', port: 9081 });
  assert.deepEqual(parseAddress('0', true), { host: '127.0.0.1', port: 0 });
  for (const bad of ['127.0.0.1', '127.0.0.1:99999', 'http://x:80', '', ':80', '0']) assert.equal(parseAddress(bad), undefined, bad);
  assert.equal(parseSignal('SIGTERM'), 'SIGTERM');
  assert.equal(parseSignal('quit'), 'SIGQUIT');
  assert.equal(parseSignal('SIGTREM'), undefined);
  assert.equal(didYouMean('helth', ['health', 'http']), 'health');
  assert.equal(didYouMean('failureThreshold', ['failure-threshold', 'interval']), 'failure-threshold');
  assert.equal(didYouMean('zzzzzz', ['health', 'http']), undefined);
});

test('the contract example parses into the documented model', () => {
  const c = parseConfig(CONTRACT, 'client1.yaml');
  assert.equal(c.name, 'client1');
  assert.deepEqual(c.command, ['/srv/plone/bin/client1', 'console']);
  assert.deepEqual(c.http, { host: '127.0.0.1', port: 8081 });
  assert.deepEqual(c.warmup, {
    budgetMs: 600_000, intervalMs: 1000,
    urls: [{ path: '/Plone', host: 'www.example.org', status: 200, text: '</html>', timeoutMs: 60_000 }],
  });
  assert.deepEqual(c.health, { agent: { host: '127.0.0.1', port: 9081 }, http: { host: '127.0.0.1', port: 9181 }, detailFrom: ['127.0.0.0/8', '::1/128'] });
  assert.equal(c.checks.length, 4);
  const [root, zeo, pg, disk] = c.checks;
  assert.deepEqual(root, {
    name: 'root', type: 'http', address: { host: '127.0.0.1', port: 8081 }, path: '/', status: 200,
    intervalMs: 5000, timeoutMs: 2000, failureThreshold: 3, successThreshold: 1, roles: ['liveness', 'readiness'], graceMs: 0,
  });
  assert.equal(zeo?.type, 'zeo');
  assert.equal(zeo?.graceMs, 120_000, 'database checks get watchdog.database-grace');
  assert.equal(pg?.type, 'postgresql');
  assert.equal(pg?.graceMs, 120_000);
  assert.deepEqual(disk?.type === 'command' && disk.command, ['/usr/bin/test', '-w', '/srv/plone/var']);
  assert.deepEqual(c.watchdog, { databaseGraceMs: 120_000, hangTimeoutMs: 300_000, dumpStacks: true });
  assert.deepEqual(c.stop, { drainMs: 10_000, signal: 'SIGTERM', timeoutMs: 60_000 });
  assert.deepEqual(c.haproxy, { statsSocket: '/run/haproxy/admin.sock', backend: 'plone', server: 'client1' });
  assert.equal(c.log.level, 'info');
});

test('defaults: a name and a command are enough; the root http check and warm-up of / are implied', () => {
  const c = parseConfig('name: c2\ncommand: [/bin/true]\n', 'c.yaml');
  assert.deepEqual(c.http, { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(c.warmup.urls, [{ path: '/', status: 200, timeoutMs: 60_000 }]);
  assert.equal(c.checks.length, 1);
  assert.equal(c.checks[0]!.name, 'root');
  assert.deepEqual(c.checks[0]!.roles, ['liveness', 'readiness']);
  assert.equal(c.haproxy, undefined);
  assert.deepEqual(c.health, { detailFrom: ['127.0.0.0/8', '::1/128'] });
});

test('default roles: databases are startup and readiness checks, never liveness (a restart cannot bring a database back)', () => {
  const c = parseConfig(`name: c2
command: [/bin/true]
checks:
  - { name: root, type: http }
  - { name: port, type: tcp }
  - { name: zeo, type: zeo, address: 8100 }
  - { name: pg, type: postgresql, address: 5432 }
  - { name: disk, type: command, command: [/bin/true] }
`, 'c.yaml');
  assert.deepEqual(Object.fromEntries(c.checks.map((k) => [k.name, k.roles])), {
    root: ['liveness', 'readiness'], port: ['readiness'], zeo: ['startup', 'readiness'], pg: ['startup', 'readiness'], disk: ['readiness'],
  });
  // The liveness role, with database-grace as its grace, is there for whoever asks for it.
  const d = parseConfig('name: c2\ncommand: [/bin/true]\nwatchdog: { database-grace: 90s }\nchecks: [{ name: zeo, type: zeo, address: 8100, roles: [readiness, liveness] }]\n', 'c.yaml');
  assert.deepEqual([d.checks[0]!.roles, d.checks[0]!.graceMs], [['readiness', 'liveness'], 90_000]);
});

test('flags override the file; the command after -- wins', () => {
  const c = parseConfig(CONTRACT, 'c.yaml', {
    name: 'client7', http: '127.0.0.1:8087', healthAgent: '127.0.0.1:9087', healthHttp: '[::1]:9187', logLevel: 'debug',
    command: ['/usr/bin/python3', 'instance.py'],
  });
  assert.equal(c.name, 'client7');
  assert.deepEqual(c.http, { host: '127.0.0.1', port: 8087 });
  assert.deepEqual(c.health.agent, { host: '127.0.0.1', port: 9087 });
  assert.deepEqual(c.health.http, { host: '::1', port: 9187 });
  assert.equal(c.log.level, 'debug');
  assert.deepEqual(c.command, ['/usr/bin/python3', 'instance.py']);
  // haproxy.server given explicitly stays; the default follows the name
  const d = parseConfig('name: a\ncommand: [x]\nhaproxy: { stats-socket: /run/h.sock, backend: plone }\n', 'c.yaml', { name: 'b' });
  assert.equal(d.haproxy?.server, 'b');
  // checks without an address follow --http
  assert.deepEqual(parseConfig('name: a\ncommand: [x]\n', 'c.yaml', { http: '127.0.0.1:9999' }).checks[0]!.type === 'http'
    && (parseConfig('name: a\ncommand: [x]\n', 'c.yaml', { http: '127.0.0.1:9999' }).checks[0] as { address: unknown }).address,
  { host: '127.0.0.1', port: 9999 });
});

test('errors carry file:line:col, the bad value and the fix; all are reported at once', () => {
  const text = `name: client1
command: [/bin/true]
warmup:
  budget: 10 minutes please
checks:
  - name: root
    type: http
    interval: soon
    failure-treshold: 3
  - { name: zeo, type: zeo }
stop:
  signal: SIGTREM
`;
  const lines = problems(text);
  assert.equal(lines.length, 5, lines.join('\n'));
  assert.match(lines[0]!, /^c\.yaml:4:11: warmup\.budget: "10 minutes please" is not a time span; write a systemd time span such as 500ms/);
  assert.match(lines[1]!, /^c\.yaml:9:5: checks\[0\]\.failure-treshold: unknown key "failure-treshold"; did you mean "failure-threshold"\?/);
  assert.match(lines[2]!, /^c\.yaml:8:15: checks\[0\]\.interval: "soon" is not a time span/);
  assert.match(lines[3]!, /^c\.yaml:10:5: checks\[1\]\.address: is missing; add `address: host:port` of the ZEO server/);
  assert.match(lines[4]!, /^c\.yaml:12:11: stop\.signal: "SIGTREM" is not a signal name; did you mean SIGTERM\?/);
});

test('a duration below its least value: the value, file:line:col, the least value and why a shorter one is a mistake', () => {
  const lines = problems('name: client1\ncommand: [x]\nwarmup: { budget: "1.84msec 0.50us", interval: 5ms }\nchecks: [{ name: root, type: http, timeout: 0 }]\n');
  assert.deepEqual(lines, [
    'c.yaml:3:19: warmup.budget: "1.84msec 0.50us" is too short (at least 1s); use 1s or more: the instance must start and answer within it, and none answers sooner: an empty Zope 5 answers / about 0.7 s after it starts, a real site far later',
    'c.yaml:3:48: warmup.interval: "5ms" is too short (at least 10ms); use 10ms or more: a URL that fails at once (connection refused while the instance starts) would be asked again with no pause, keeping the wrapper busy for nothing',
    'c.yaml:4:45: checks[0].timeout: 0 is too short (at least 1ms); use 1ms or more: it is how long a run may take: less fails every run before it is answered',
  ]);
  // At the least value, in any spelling, it is taken.
  assert.equal(parseConfig('name: client1\ncommand: [x]\nwarmup: { budget: "999ms 1000us" }\n', 'c.yaml').warmup.budgetMs, 1000);
});

test('unknown top-level keys, bad types, duplicates, strings for argv', () => {
  const lines = problems(`name: client1
command: /srv/plone/bin/client1 console
helth: { agent: 9081 }
checks:
  - { name: a, type: tpc }
  - { name: b, type: tcp, address: "localhost" }
  - { name: b, type: command, command: [/bin/true], roles: [readyness] }
log: { level: loud }
`);
  const all = lines.join('\n');
  assert.match(all, /c\.yaml:2:10: command: "\/srv\/plone\/bin\/client1 console" is a string, not a list; write it as a list of arguments, e\.g\. \["\/srv\/plone\/bin\/client1", "console"\]/);
  assert.match(all, /c\.yaml:3:1: helth: unknown key "helth"; did you mean "health"\?/);
  assert.match(all, /checks\[0\]\.type: "tpc" is not one of http, tcp, zeo, postgresql, command; did you mean "tcp"\?/);
  assert.match(all, /c\.yaml:6:36: checks\[1\]\.address: "localhost" is not an address; write host:port/);
  assert.match(all, /checks\[2\]\.name: "b" is used by an earlier check; give every check its own name/);
  assert.match(all, /checks\[2\]\.roles\[0\]: "readyness" is not one of startup, readiness, liveness; did you mean "readiness"\?/);
  assert.match(all, /log\.level: "loud" is not one of trace, debug, info/);
});

test('missing name and command; YAML syntax errors; flag errors name the flag', () => {
  const a = problems('http: 127.0.0.1:8080\n');
  assert.ok(a.some((l) => /name: is missing; add `name: client1` or pass --name client1/.test(l)), a.join('\n'));
  assert.ok(a.some((l) => /no command to run; give it after `--`/.test(l)), a.join('\n'));
  const b = problems('name: x\ncommand: [a\nhttp: [\n');
  assert.match(b[0]!, /^c\.yaml:\d+:\d+: YAML syntax error: /);
  const c = problems('name: x\ncommand: [a]\n', { http: 'nowhere', logLevel: 'chatty' });
  assert.ok(c.some((l) => l.startsWith('--http: http: "nowhere" is not an address')), c.join('\n'));
  assert.ok(c.some((l) => l.startsWith('--log-level: --log-level "chatty" is not one of')), c.join('\n'));
  // check (not run) does not need a command
  assert.doesNotThrow(() => parseConfig('name: x\n', 'c.yaml', {}, { requireCommand: false }));
});

test('a newline smuggled into a value is refused (it would end up in STATUS= and unit files)', () => {
  const lines = problems('name: x\ncommand: [a]\nwarmup: { urls: [{ path: "/Plone", host: "a\\nb" }] }\n');
  assert.ok(lines.some((l) => /warmup\.urls\[0\]\.host: "a\\nb" contains a control character/.test(l)), lines.join('\n'));
});

test('request paths are printable ASCII: anything else is refused with the percent-encoded path as the fix', () => {
  // Node's http.request throws ERR_UNESCAPED_CHARACTERS for "€" or a space, and sends "ü" as one raw byte.
  const lines = problems(`name: x
command: [a]
warmup:
  urls:
    - /Plone/€
    - { path: "/x%20y/café" }
checks:
  - { name: a, type: http, path: /Plone/€uro }
  - { name: b, type: http, path: "/a b" }
  - { name: c, type: http, path: Plone }
`);
  assert.deepEqual(lines, [
    'c.yaml:5:7: warmup.urls[0].path: "/Plone/€" contains "€", which a request path cannot carry unencoded (printable ASCII only); percent-encode it: "/Plone/%E2%82%AC"',
    'c.yaml:6:15: warmup.urls[1].path: "/x%20y/café" contains "é", which a request path cannot carry unencoded (printable ASCII only); percent-encode it: "/x%20y/caf%C3%A9"',
    'c.yaml:8:34: checks[0].path: "/Plone/€uro" contains "€", which a request path cannot carry unencoded (printable ASCII only); percent-encode it: "/Plone/%E2%82%ACuro"',
    'c.yaml:9:34: checks[1].path: "/a b" contains " ", which a request path cannot carry unencoded (printable ASCII only); percent-encode it: "/a%20b"',
    'c.yaml:10:34: checks[2].path: "Plone" is not an absolute path; write an absolute path such as /Plone or /VirtualHostBase/https/www.example.org:443/Plone/VirtualHostRoot/',
  ]);
  // percent-encoded paths, VirtualHostMonster ones included, pass unchanged
  const vhm = '/VirtualHostBase/https/www.example.org:443/Plone/VirtualHostRoot/_vh_caf%C3%A9/';
  const c = parseConfig(`name: x\ncommand: [a]\nwarmup: { urls: [${vhm}] }\nchecks: [{ name: a, type: http, path: "${vhm}?q=1" }]\n`, 'c.yaml');
  assert.equal(c.warmup.urls[0]!.path, vhm);
  assert.equal(c.checks[0]!.type === 'http' && c.checks[0]!.path, `${vhm}?q=1`);
});

test('znotify check: exit 0 for a valid file, 78 with file:line:col for a broken one', { skip: !existsOk(CLI) && 'run pnpm build first' }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'znotify-check-'));
  const good = path.join(dir, 'good.yaml');
  writeFileSync(good, CONTRACT);
  const ok = spawnSync(process.execPath, [CLI, 'check', '--config', good], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /good\.yaml: ok \(4 checks, 1 warm-up URL\)/);
  const printed = spawnSync(process.execPath, [CLI, 'check', '--config', good, '--print'], { encoding: 'utf8' });
  assert.equal(JSON.parse(printed.stdout).stop.timeoutMs, 60_000);

  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, CONTRACT.replace('interval: 5s', 'intervall: 5s'));
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', bad], { encoding: 'utf8' });
  assert.equal(r.status, 78);
  assert.equal(r.stderr.trim(), `znotify: ${bad}:20:5: checks[0].intervall: unknown key "intervall"; did you mean "interval"?`);

  const missing = spawnSync(process.execPath, [CLI, 'check', '--config', path.join(dir, 'nope.yaml')], { encoding: 'utf8' });
  assert.equal(missing.status, 66, 'EX_NOINPUT, as in zunitgen and zstack');
  assert.match(missing.stderr, /nope\.yaml: cannot read the config file \(ENOENT\)/);

  // the shipped example must stay valid
  const example = path.join(repo, 'examples/znotify/client1.yaml');
  if (existsOk(example)) {
    const e = spawnSync(process.execPath, [CLI, 'check', '--config', example], { encoding: 'utf8' });
    assert.equal(e.status, 0, e.stderr);
  }
});

function existsOk(p: string): boolean {
  try { readFileSync(p); return true; } catch { return false; }
}

test('HAProxy backend and server names follow HAProxy\'s identifier rule, also when the server defaults to the name', () => {
  const hp = (s: string) => `name: client@1\ncommand: [x]\nhaproxy: { stats-socket: /run/h.sock, ${s} }\n`;
  const bad = problems(hp('backend: "plone;x", server: "c/1"'));
  assert.equal(bad.length, 2, bad.join('\n'));
  assert.match(bad[0]!, /^c\.yaml:3:\d+: haproxy\.backend: .*plone;x/);
  assert.match(bad[0]!, /letters, digits and - _ \. :/);
  assert.match(bad[1]!, /^c\.yaml:3:\d+: haproxy\.server: .*c\/1/);
  // The server name defaults to the instance name, which may hold an @ that HAProxy refuses.
  const byName = problems(hp('backend: plone'));
  assert.equal(byName.length, 1, byName.join('\n'));
  assert.match(byName[0]!, /the server name defaults to the instance name "client@1", which HAProxy does not accept/);
  assert.match(byName[0]!, /set haproxy\.server/);
  assert.equal(parseConfig(hp('backend: plone.v2, server: "client:1"'), 'c.yaml').haproxy?.server, 'client:1');
  assert.equal(parseConfig(hp('backend: plone, server: client_1').replace('client@1', 'client-1'), 'c.yaml').haproxy?.backend, 'plone');
});
