// A stack over several hosts: the hosts: list, placement of the databases and clients, one unit set per host that
// systemd verifies on its own, one HAProxy backend with every client, and the bad inputs a multi-host config adds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync as writeFile } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, builtinTemplates, parseStack, verify } from '../src/index.js';
import { renderHostsWith } from '../src/render-hosts.js';
import { spawnSync } from 'node:child_process';
import { freePort } from '../../../test/harness/net.js';
import { CLI, REPO, have, tempDir, zunitgen, znotifyCheck } from './helpers.js';

const EXAMPLE = join(REPO, 'examples/stack/plone-hosts.yaml');
const example = readFileSync(EXAMPLE, 'utf8');

const base = (extra: { hosts?: string; zeo?: string; clients?: string } = {}) => `stack: plone
user: plone
directory: /srv/plone
hosts:
${extra.hosts ?? '  - { name: db, address: 10.0.0.11 }\n  - { name: app1, address: 10.0.0.12 }\n  - { name: app2, address: 10.0.0.13 }'}
zeo:
  command: bin/zeoserver fg
${extra.zeo ?? '  host: db\n  address: 10.0.0.11:8100'}
clients:
${extra.clients ?? '  hosts: { app1: 2, app2: 2 }'}
  command: bin/client{n} console
  http: "{host}:{8080+n}"
  health: "{host}:{9080+n}"
`;

/** The issues of a config that must fail, as "line:col message". */
function issues(text: string): string[] {
  try { parseStack(text, { file: 's.yaml' }); } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}:${i.col} ${i.message}${i.hint ? ` | ${i.hint}` : ''}`);
    throw e;
  }
  assert.fail('the config was accepted');
}

test('the example: hosts, placement, server names that say host and client', () => {
  const m = parseStack(example, { file: 'plone-hosts.yaml' });
  assert.deepEqual(m.hosts?.map((h) => [h.name, h.address, h.ssh, h.zeo, h.clients]), [
    ['db', '10.0.0.11', 'root@10.0.0.11', true, []],
    ['app1', '10.0.0.12', 'root@10.0.0.12', false, ['client1', 'client2', 'client3']],
    ['app2', '10.0.0.13', 'root@app2.example.org', false, ['client4', 'client5', 'client6']],
  ]);
  assert.deepEqual(m.hosts?.[2]?.sshOptions, [['Port', '2222']]);
  assert.deepEqual(m.clients.map((c) => [c.server, `${c.http.host}:${c.http.port}`, `${c.health.agent.host}:${c.health.agent.port}`]), [
    ['app1-client1', '10.0.0.12:8081', '10.0.0.12:9081'], ['app1-client2', '10.0.0.12:8082', '10.0.0.12:9082'],
    ['app1-client3', '10.0.0.12:8083', '10.0.0.12:9083'], ['app2-client4', '10.0.0.13:8084', '10.0.0.13:9084'],
    ['app2-client5', '10.0.0.13:8085', '10.0.0.13:9085'], ['app2-client6', '10.0.0.13:8086', '10.0.0.13:9086'],
  ]);
  // Start order inside a host only; the remote ZEO is waited for by each wrapper (startup role).
  assert.deepEqual(m.clients.map((c) => c.after), [[], ['plone-client1.service'], ['plone-client2.service'], [], ['plone-client4.service'], ['plone-client5.service']]);
  for (const c of m.clients) {
    assert.deepEqual(c.checks.find((k) => k.name === 'zeo')?.roles, ['startup', 'readiness']);
  }
});

test('explicit placement; a one-host stack keeps systemd ordering after its ZEO', () => {
  const m = parseStack(base({ clients: '  hosts: { app1: [1, 3], app2: [2, 4] }' }), { file: 's.yaml' });
  assert.deepEqual(m.clients.map((c) => c.server), ['app1-client1', 'app2-client2', 'app1-client3', 'app2-client4']);
  assert.deepEqual(m.clients.map((c) => c.after), [[], [], ['plone-client1.service'], ['plone-client2.service']]);
  const one = parseStack(base({ hosts: '  - { name: db, address: 10.0.0.11 }', zeo: '  address: 10.0.0.11:8100', clients: '  count: 2' }), { file: 's.yaml' });
  assert.deepEqual(one.clients.map((c) => [c.server, c.after, c.checks.find((k) => k.name === 'zeo')?.roles]), [
    ['db-client1', ['plone-zeo.service'], ['startup', 'readiness']],
    ['db-client2', ['plone-zeo.service', 'plone-client1.service'], ['startup', 'readiness']],
  ]);
});

test('one unit set per host, each verified by systemd on its own; one HAProxy backend with every client', { skip: have('systemd-analyze') ? undefined : 'systemd-analyze not installed' }, (t) => {
  const m = parseStack(example, { file: 'plone-hosts.yaml' });
  const r = renderHostsWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' });
  const names = (h: string) => r.hosts.find((x) => x.host.name === h)!.files.map((f) => f.name).sort();
  // Every host gets the setup unit and the user and directories it applies (the same on every host).
  const setup = ['plone-setup.service', 'plone.slice', 'plone.sysusers.conf', 'plone.target', 'plone.tmpfiles.conf'];
  assert.deepEqual(names('db'), ['plone-setup.service', 'plone-zeo.service', 'plone.slice', 'plone.sysusers.conf', 'plone.target', 'plone.tmpfiles.conf']);
  assert.deepEqual(names('app2'), ['plone-client4-agent.socket', 'plone-client4-health.socket', 'plone-client4.service', 'plone-client4.znotify.yaml',
    'plone-client5-agent.socket', 'plone-client5-health.socket', 'plone-client5.service', 'plone-client5.znotify.yaml',
    'plone-client6-agent.socket', 'plone-client6-health.socket', 'plone-client6.service', 'plone-client6.znotify.yaml', ...setup]);
  for (const h of r.hosts) {
    // No unit names a unit of another host.
    const all = h.files.map((f) => f.content).join('\n');
    for (const other of r.hosts.filter((x) => x !== h)) for (const f of other.files) if (!setup.includes(f.name)) assert.ok(!all.includes(f.name), `${h.host.name} names ${f.name}`);
    const dir = tempDir(t);
    for (const f of h.files) require_write(join(dir, f.name), f.content);
    const v = verify(dir, { stubExec: true });
    assert.equal(v.ok, true, `${h.host.name}: ${v.output}`);
    for (const f of h.files.filter((x) => x.kind === 'znotify')) {
      const read = znotifyCheck(join(dir, f.name));
      assert.equal(read.code, 0, read.stderr);
      assert.deepEqual(read.config!.checks.find((c) => c.name === 'zeo')?.address, { host: '10.0.0.11', port: 8100 });
    }
  }
  // The example keeps /health on each host's loopback: the httpchk alternative, which would poll it from the HAProxy
  // host, is not generated (it would check HAProxy's own loopback).
  assert.deepEqual(r.haproxy.map((f) => f.name), ['haproxy-plone.cfg']);
  const hap = r.haproxy.find((f) => f.name === 'haproxy-plone.cfg')!.content;
  const servers = hap.split('\n').filter((l) => l.trim().startsWith('server ')).map((l) => l.trim().split(/\s+/).slice(1, 3).join(' '));
  assert.deepEqual(servers, ['app1-client1 10.0.0.12:8081', 'app1-client2 10.0.0.12:8082', 'app1-client3 10.0.0.12:8083',
    'app2-client4 10.0.0.13:8084', 'app2-client5 10.0.0.13:8085', 'app2-client6 10.0.0.13:8086']);
  assert.match(hap, /server app2-client6 \S+ .*agent-addr 10\.0\.0\.13 agent-port 9086/);
});

function require_write(file: string, content: string): void { writeFile(file, content); }


test('bad input: a host name used twice, a client on an unknown host, a bind address not on that host', () => {
  const dup = issues(base({ hosts: '  - { name: db, address: 10.0.0.11 }\n  - { name: app1, address: 10.0.0.12 }\n  - { name: app1, address: 10.0.0.13 }', clients: '  hosts: { app1: 2 }' }));
  assert.deepEqual(dup, ['7:13 hosts[].name: host "app1" is used twice (first at line 6) | give every host its own name']);

  const unknown = issues(base({ clients: '  hosts: { app1: 2, ap2: 2 }' }));
  assert.deepEqual(unknown, ['13:21 clients.hosts: unknown host "ap2" | did you mean "app2"? (hosts: db, app1, app2)']);

  const zeoElsewhere = issues(base({ zeo: '  host: db\n  address: 10.0.0.12:8100' }));
  assert.deepEqual(zeoElsewhere, ['11:12 zeo.address: 10.0.0.12:8100 is not an address of host "db" (10.0.0.11) | bind it to 10.0.0.11:8100, or move it to the host that has 10.0.0.12']);

  const loopback = issues(base().replace('http: "{host}:{8080+n}"', 'http: 127.0.0.1:{8080+n}'));
  assert.equal(loopback.length, 1, loopback.join('\n'));
  assert.match(loopback[0]!, /^15:9 clients\.http \(client1\): 127\.0\.0\.1:8081 is not an address of host "app1" \(10\.0\.0\.12\) \| bind it to 10\.0\.0\.12:8081 \(write \{host\}:PORT\): HAProxy and the other hosts cannot reach loopback$/);

  // The wildcard, written out, is asked for; loopback for the health HTTP listener keeps /health detail local.
  parseStack(base().replace('health: "{host}:{9080+n}"', 'health: { agent: "0.0.0.0:{9080+n}", http: "127.0.0.1:{9180+n}" }'), { file: 's.yaml' });

  assert.deepEqual(issues(base({ hosts: '  - { name: db, address: 10.0.0.11 }\n  - { name: app1, address: 10.0.0.11 }', clients: '  hosts: { app1: 2 }' })),
    ['6:28 hosts["app1"].address: 10.0.0.11 is already the address of host "db" | every host needs an address of its own: the services of two hosts would bind to the same ports']);
  assert.deepEqual(issues(base({ clients: '  count: 3\n  hosts: { app1: 2, app2: 2 }' })),
    ['13:10 clients.count: 3, but clients.hosts places 4 | leave count out when clients.hosts is given, or make them agree']);
  assert.deepEqual(issues(base({ clients: '  hosts: { app1: [1, 2], app2: [2] }' })),
    ['13:33 clients.hosts.app2: client2 is already placed on "app1" | each client runs on one host']);
  assert.deepEqual(issues(base({ zeo: '  address: 10.0.0.11:8100' })), ['10:12 zeo: which host runs it? | add host: (one of db, app1, app2)']);
  assert.match(issues(base({ clients: '  count: 4' })).join('\n'), /clients: which host runs which client\? \| add clients.hosts/);
  assert.match(issues(base({ hosts: '  - { name: db, address: 10.0.0.11 }\n  - { name: App1, address: localhost }', clients: '  hosts: { db: 2 }' })).join('\n'),
    /hosts\[\]\.name: "App1" is not a host name/);
  assert.match(issues(base({ hosts: '  - { name: db, address: 10.0.0.11, ssh: "-oProxyCommand=x" }', clients: '  hosts: { db: 2 }' })).join('\n'),
    /hosts\["db"\]\.ssh: "-oProxyCommand=x" is not an ssh destination/);
  // {host} outside a stack with hosts.
  const single = readFileSync(join(REPO, 'examples/stack/plone.yaml'), 'utf8').replace('http: 127.0.0.1:{8080+n}', 'http: "{host}:{8080+n}"');
  assert.match(issues(single).join('\n'), /\{host\} in "\{host\}:\{8080\+n\}" is the address of a client's host, and this stack has no hosts/);
});

test('haproxy.install: where deploy puts the backend file, what haproxy -c loads, which unit it reloads', () => {
  const m = parseStack(`${base()}haproxy: { install: { host: app1, file: /etc/haproxy/conf.d/plone.cfg } }\n`, { file: 's.yaml' });
  assert.deepEqual(m.haproxy.install, { host: 'app1', file: '/etc/haproxy/conf.d/plone.cfg', config: ['/etc/haproxy/haproxy.cfg', '/etc/haproxy/conf.d'], unit: 'haproxy.service' });
  const local = parseStack(`${base()}haproxy: { install: { file: /etc/haproxy/plone.cfg, config: [/etc/haproxy/haproxy.cfg, /etc/haproxy/plone.cfg], unit: lb.service } }\n`, { file: 's.yaml' });
  assert.deepEqual(local.haproxy.install, { file: '/etc/haproxy/plone.cfg', config: ['/etc/haproxy/haproxy.cfg', '/etc/haproxy/plone.cfg'], unit: 'lb.service' });

  assert.deepEqual(issues(`${base()}haproxy: { install: { host: ap1, file: /etc/haproxy/conf.d/plone.cfg } }\n`),
    ['17:29 haproxy.install.host: unknown host "ap1" | did you mean "app1"? (hosts: db, app1, app2)']);
  assert.deepEqual(issues(`${base()}haproxy: { install: { file: /etc/haproxy/conf.d/plone } }\n`),
    ['17:29 haproxy.install.file: "/etc/haproxy/conf.d/plone" does not end in .cfg | HAProxy loads only *.cfg files from a directory: e.g. /etc/haproxy/conf.d/plone.cfg']);
  assert.deepEqual(issues(`${base()}haproxy: { install: { file: /etc/haproxy/conf.d/plone.cfg, config: [/etc/haproxy/haproxy.cfg] } }\n`),
    ['17:68 haproxy.install.config: HAProxy would not load "/etc/haproxy/conf.d/plone.cfg": neither it nor its directory is listed | list what HAProxy is started with (-f), including the file or its directory']);
  const single = readFileSync(join(REPO, 'examples/stack/plone.yaml'), 'utf8').replace(/^haproxy:.*$/m, 'haproxy: { install: { file: /etc/haproxy/conf.d/plone.cfg } }');
  assert.match(issues(single).join('\n'), /haproxy\.install: installing HAProxy's file is part of zunitgen deploy, for a stack with hosts:/);
});

test('clients.health.detail-from: by default loopback and the stack\'s own hosts get /health\'s full detail; a list replaces that', () => {
  const m = parseStack(base(), { file: 's.yaml' });
  assert.deepEqual(m.clients[0]!.health.detailFrom, ['127.0.0.0/8', '::1/128', '10.0.0.11/32', '10.0.0.12/32', '10.0.0.13/32']);
  const conf = renderHostsWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' }).hosts[1]!.files.find((f) => f.name === 'plone-client1.znotify.yaml')!;
  assert.match(conf.content, /^  detail-from: \["127\.0\.0\.0\/8","::1\/128","10\.0\.0\.11\/32","10\.0\.0\.12\/32","10\.0\.0\.13\/32"\]$/m);
  const listed = parseStack(base().replace('health: "{host}:{9080+n}"', 'health: { agent: "{host}:{9080+n}", detail-from: [10.0.0.0/24, "fd00::5"] }'), { file: 's.yaml' });
  assert.deepEqual(listed.clients[0]!.health.detailFrom, ['10.0.0.0/24', 'fd00::5/128']);
  assert.deepEqual(issues(base().replace('health: "{host}:{9080+n}"', 'health: { agent: "{host}:{9080+n}", detail-from: [10.0.0.0/33, monitoring] }')), [
    '16:53 clients.health.detail-from: "10.0.0.0/33": /33 is longer than an IPv4 address (32 bits) | write an address (10.0.0.5, ::1) or a CIDR (10.0.0.0/24, fd00::/64)',
    '16:66 clients.health.detail-from: "monitoring" is not a network | write an address (10.0.0.5, ::1) or a CIDR (10.0.0.0/24, fd00::/64)',
  ]);
  // One machine: nothing is written, the wrapper's own default (loopback) holds.
  assert.equal(parseStack(readFileSync(join(REPO, 'examples/stack/plone.yaml'), 'utf8'), { file: 'p.yaml' }).clients[0]!.health.detailFrom, undefined);
});

test('zunitgen generate: a directory per host plus the HAProxy files; a changed stack touches only what changed; bad input exits 78 with file:line:col', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'build');
  const cfg = join(dir, 'stack.yaml');
  require_write(cfg, base());
  const first = zunitgen(['generate', cfg, '--out', out]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`create ${out}/app2/plone-client4.service`));
  assert.match(readFileSync(join(out, 'app1', 'plone-client1.service'), 'utf8'), /--config \/etc\/systemd\/system\/plone-client1\.znotify\.yaml/);
  assert.match(readFileSync(join(out, 'haproxy-plone.cfg'), 'utf8'), /server app2-client4 10\.0\.0\.13:8084/);
  // One more client on app2: app2 gains client5, HAProxy gains its server, db and app1 stay as they are.
  require_write(cfg, base({ clients: '  hosts: { app1: 2, app2: 3 }' }));
  const dry = zunitgen(['generate', cfg, '--out', out, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  const lines = dry.stdout.trim().split('\n').map((l) => l.replace(out, 'OUT')).sort();
  assert.deepEqual(lines, ['would create OUT/app2/plone-client5-agent.socket', 'would create OUT/app2/plone-client5.service',
    'would create OUT/app2/plone-client5.znotify.yaml', 'would update OUT/app2/plone.target', 'would update OUT/haproxy-plone.cfg']);
  require_write(cfg, base({ clients: '  hosts: { app1: 2, ap2: 3 }' }));
  const bad = zunitgen(['generate', cfg, '--out', out]);
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, new RegExp(`^${cfg}:13:21: error: clients.hosts: unknown host "ap2"\\n  hint: did you mean "app2"\\?`));
});

test('zunitgen generate with clients.recycle: the recycle timer and service on the first client\'s host only, its target wants it, the others name it nowhere', (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'build');
  const cfg = join(dir, 'stack.yaml');
  writeFile(cfg, base({ clients: '  hosts: { app1: 2, app2: 2 }\n  recycle: { max-age: 1d }' }));
  const r = zunitgen(['generate', cfg, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const recycleFiles = r.stdout.split('\n').filter((l) => l.includes('recycle')).map((l) => l.replace(`${out}/`, '')).sort();
  assert.deepEqual(recycleFiles, ['create app1/plone-recycle.service', 'create app1/plone-recycle.timer']);
  assert.match(readFileSync(join(out, 'app1', 'plone-recycle.service'), 'utf8'), new RegExp(`^ExecStart=.* recycle ${cfg}$`, 'm'));
  assert.match(readFileSync(join(out, 'app1', 'plone.target'), 'utf8'), /^Wants=.*plone-recycle\.timer/m);
  for (const h of ['db', 'app2']) assert.doesNotMatch(readFileSync(join(out, h, 'plone.target'), 'utf8'), /recycle/, h);
});

test('zunitgen deploy STACK --dry-run with a relative path (with clients.recycle): resolved as generate resolves it, not refused with 78', async (t) => {
  const dir = tempDir(t);
  // ssh to a loopback port nobody listens on: deploy gets as far as asking the hosts, which refuse at once.
  const port = await freePort();
  const hosts = `  - { name: db, address: 127.0.0.1, ssh-options: { Port: ${port} } }\n  - { name: app1, address: 127.0.0.2, ssh-options: { Port: ${port} } }`;
  writeFile(join(dir, 'site.yaml'), base({ hosts, zeo: '  host: db\n  address: 127.0.0.1:18100', clients: '  hosts: { app1: 2 }\n  recycle: { max-age: 1d }' }).replace('"{host}:{8080+n}"', '"{host}:{18080+n}"').replace('"{host}:{9080+n}"', '"{host}:{19080+n}"'));
  const r = spawnSync(process.execPath, [CLI, 'deploy', 'site.yaml', '--dry-run'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.doesNotMatch(r.stderr, /absolute path/, r.stderr);
  assert.notEqual(r.status, 78, r.stderr);
  assert.match(r.stdout, /^checking 2 hosts: db, app1/m, r.stdout + r.stderr);
  assert.equal(r.status, 69, r.stderr);
});
