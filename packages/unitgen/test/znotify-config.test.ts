// The generated wrapper configs (<stack>-clientN.znotify.yaml): how clients.checks combines with the generated
// checks (change by name, drop with enabled: false, add), {n} in check values, clients.watchdog, each read back
// by the real wrapper (the built `znotify check --print`): what the stack config says is what the wrapper runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import * as WRAPPER from '@zope-systemd/common';
import { CHECK_TYPES, TYPE_KEYS } from '../src/check-config.js';
import { checkView } from '../src/render.js';
import type { CheckModel } from '../src/model.js';
import { loadTemplates, parseStack, render, type GeneratedFile, type StackModel } from '../src/index.js';
import { KEYS } from '../src/parse.js';
import { assertWrapperRead, REPO, tempDir, ZNOTIFY_CLI, znotifyCheck, type WrapperConfig } from './helpers.js';

/** Two clients; ZEO and PostgreSQL with addresses, so all three checks are generated. */
const STACK = `stack: site
user: zope
directory: /srv/site
database:
  postgresql: { unit: postgresql@15-main.service, address: 127.0.0.1:5432 }
zeo: { command: bin/zeoserver fg, address: 127.0.0.1:8100 }
clients:
  count: 2
  command: bin/instance{n} console
  http: 127.0.0.1:{8080+n}
  health: 127.0.0.1:{9080+n}
`;
const withChecks = (checks: string) => `${STACK}  checks:\n${checks.trim().split('\n').map((l) => `    ${l.trim()}`).join('\n')}\n`;

interface Generated { model: StackModel; files: GeneratedFile[]; read: WrapperConfig[] }

/** Parses and renders a stack, then has the built wrapper read every generated config (which must pass). */
function generate(t: { after(fn: () => void): void }, text: string): Generated {
  const model = parseStack(text, { file: 'stack.yaml' });
  const files = render(model, loadTemplates(), { outDir: '/etc/systemd/system' });
  assert.ok(existsSync(ZNOTIFY_CLI), `${ZNOTIFY_CLI} is missing: run pnpm build first`);
  const dir = tempDir(t);
  const read = files.filter((f) => f.kind === 'znotify').map((f, i) => {
    const p = join(dir, f.name);
    writeFileSync(p, f.content);
    const r = znotifyCheck(p);
    assert.equal(r.code, 0, `znotify check refused ${f.name}:\n${r.stderr}\n${f.content}`);
    assertWrapperRead(r.config!, model, model.clients[i]!.checks, f.name);
    return r.config!;
  });
  assert.equal(read.length, model.clients.length);
  return { model, files, read };
}

const checkOf = (g: Generated, client: number, name: string) => g.read[client - 1]!.checks.find((c) => c.name === name);
const names = (g: Generated, client = 1) => g.read[client - 1]!.checks.map((c) => `${c.name}:${c.type}`);

test('without clients.checks: root (http /), zeo and postgresql, as before', (t) => {
  const g = generate(t, STACK);
  assert.deepEqual(names(g), ['root:http', 'zeo:zeo', 'postgresql:postgresql']);
  assert.deepEqual(g.model.clients[0]!.checks, [
    { name: 'root', type: 'http', path: '/', roles: ['liveness', 'readiness'] },
    { name: 'zeo', type: 'zeo', address: { host: '127.0.0.1', port: 8100, family: 4 }, roles: ['startup', 'readiness'] },
    { name: 'postgresql', type: 'postgresql', address: { host: '127.0.0.1', port: 5432, family: 4 }, roles: ['startup', 'readiness'] },
  ]);
  // The root check asks each client's own http address (the wrapper's default for an http check).
  assert.deepEqual(checkOf(g, 2, 'root')!.address, { host: '127.0.0.1', port: 8082 });
});

test('an entry named like a generated check changes only the keys it gives', (t) => {
  const g = generate(t, withChecks(`
    - { name: root, interval: 30s, timeout: 5s, failure-threshold: 5, path: /Plone/@@ok, host: www.example.org }
    - { name: postgresql, grace: 5min, roles: liveness }
  `));
  assert.deepEqual(names(g), ['root:http', 'zeo:zeo', 'postgresql:postgresql'], 'same checks, same order');
  const root = checkOf(g, 1, 'root')!;
  assert.deepEqual([root.intervalMs, root.timeoutMs, root.failureThreshold, root.path, root.host, root.roles],
    [30_000, 5000, 5, '/Plone/@@ok', 'www.example.org', ['liveness', 'readiness']]);
  const pg = checkOf(g, 1, 'postgresql')!;
  assert.deepEqual([pg.address, pg.graceMs, pg.roles], [{ host: '127.0.0.1', port: 5432 }, 300_000, ['liveness']]);
  // Untouched: the zeo check, and what the root entry did not give (the wrapper's defaults).
  assert.equal(root.successThreshold, 1);
  assert.deepEqual(g.model.clients[0]!.checks[1], { name: 'zeo', type: 'zeo', address: { host: '127.0.0.1', port: 8100, family: 4 }, roles: ['startup', 'readiness'] });
});

test('database checks as startup only (stale pages over a 503 during an outage): roles: [startup] reaches every wrapper', (t) => {
  const g = generate(t, withChecks(`
    - { name: zeo, roles: [startup] }
    - { name: postgresql, roles: startup }
  `));
  for (const client of [1, 2]) {
    assert.deepEqual(['zeo', 'postgresql'].map((n) => checkOf(g, client, n)!.roles), [['startup'], ['startup']]);
    assert.deepEqual(checkOf(g, client, 'root')!.roles, ['liveness', 'readiness'], 'the instance\'s own check keeps its roles');
  }
});

test('changing the type keeps the generated keys the new type has, drops the others', (t) => {
  const g = generate(t, withChecks(`
    - { name: zeo, type: tcp }
    - { name: root, type: tcp, address: "127.0.0.1:{8080+n}" }
  `));
  assert.deepEqual(g.model.clients[1]!.checks.slice(0, 2), [
    { name: 'root', type: 'tcp', address: { host: '127.0.0.1', port: 8082, family: 4 }, roles: ['liveness', 'readiness'] },
    { name: 'zeo', type: 'tcp', address: { host: '127.0.0.1', port: 8100, family: 4 }, roles: ['startup', 'readiness'] },
  ]);
  assert.equal(checkOf(g, 2, 'root')!.path, undefined, 'a tcp check has no path');
});

test('enabled: false drops a generated check; dropping all of them writes checks: [], not the wrapper default', (t) => {
  const g = generate(t, withChecks('- { name: postgresql, enabled: false }'));
  assert.deepEqual(names(g), ['root:http', 'zeo:zeo']);
  const none = generate(t, withChecks(`
    - { name: root, enabled: false }
    - { name: zeo, enabled: false }
    - { name: postgresql, enabled: false }
  `));
  const yaml = parseYaml(none.files.find((f) => f.kind === 'znotify')!.content) as { checks: unknown };
  assert.deepEqual(yaml.checks, []);
  assert.deepEqual(none.read[0]!.checks, [], 'the wrapper runs no check (a missing checks: would give it one of /)');
});

test('new checks follow the generated ones in the order written; {n} is the client in address, path, host and command', (t) => {
  const g = generate(t, withChecks(`
    - { name: plone, type: http, path: "/Plone/client{n}/@@ok", host: "client{n}.example.org", status: 204, text: "OK {n} {{x}}", roles: [readiness] }
    - { name: disk, type: command, command: [bin/check-disk, "var/client{n}", --min, 1G], timeout: 10s }
    - { name: memcached, type: tcp, address: "127.0.0.1:11211", interval: 1min }
    - { name: sidecar, type: tcp, address: "[::1]:{7000+n}", roles: [startup, readiness] }
    - { name: root, enabled: true }
  `));
  assert.deepEqual(names(g, 2), ['root:http', 'zeo:zeo', 'postgresql:postgresql', 'plone:http', 'disk:command', 'memcached:tcp', 'sidecar:tcp']);
  const plone = checkOf(g, 2, 'plone')!;
  assert.deepEqual([plone.path, plone.host, plone.status, plone.text, plone.roles],
    ['/Plone/client2/@@ok', 'client2.example.org', 204, 'OK {n} {{x}}', ['readiness']], 'text is matched verbatim: no placeholders there');
  // A relative executable is taken relative to `directory`, as in every command of the stack config.
  assert.deepEqual(checkOf(g, 2, 'disk')!.command, ['/srv/site/bin/check-disk', 'var/client2', '--min', '1G']);
  assert.deepEqual(checkOf(g, 1, 'disk')!.command, ['/srv/site/bin/check-disk', 'var/client1', '--min', '1G']);
  assert.deepEqual(checkOf(g, 2, 'memcached')!.address, { host: '127.0.0.1', port: 11211 });
  assert.deepEqual(checkOf(g, 2, 'sidecar')!.address, { host: '::1', port: 7002 });
  assert.deepEqual(checkOf(g, 2, 'sidecar')!.roles, ['startup', 'readiness']);
});

test('every key of every check type reaches the wrapper, 0 and small values included', (t) => {
  generate(t, withChecks(`
    - { name: root, type: http, address: "127.0.0.1:{8080+n}", path: "/", host: "[::1]:8080", status: 200, text: "</html>", interval: 10ms, timeout: 1ms, failure-threshold: 1000, success-threshold: 1000, roles: [startup], grace: 0 }
    - { name: zeo, type: zeo, address: "[::1]:8100", interval: 1.5s, timeout: 2min, failure-threshold: 1, success-threshold: 2, roles: [liveness, readiness, startup], grace: 0 }
    - { name: postgresql, type: postgresql, address: "127.0.0.1:5433", interval: 1h, grace: 90s }
    - { name: port, type: tcp, address: "127.0.0.1:{9000+n}", timeout: 500ms, grace: 1 }
    - { name: cmd, type: command, command: [/usr/bin/test, "", "-w", "with space", "$HOME", "%n", "it's \\"q\\""], roles: liveness }
  `));
});

test('clients.watchdog: every value reaches the wrapper, 0 and false included', (t) => {
  const a = generate(t, `${STACK}  watchdog: { database-grace: 0, hang-timeout: 0, dump-stacks: false }\n`);
  assert.deepEqual(a.read[0]!.watchdog, { databaseGraceMs: 0, hangTimeoutMs: 0, dumpStacks: false });
  const b = generate(t, `${STACK}  watchdog: { database-grace: 5min, hang-timeout: 90s }\n`);
  assert.deepEqual(b.read[1]!.watchdog, { databaseGraceMs: 300_000, hangTimeoutMs: 90_000, dumpStacks: true });
  // database-grace is the grace of the database checks unless a check sets its own.
  const c = generate(t, `${withChecks('- { name: zeo, grace: 10s }')}  watchdog: { database-grace: 5min }\n`);
  assert.deepEqual([checkOf(c, 1, 'zeo')!.graceMs, checkOf(c, 1, 'postgresql')!.graceMs, checkOf(c, 1, 'root')!.graceMs], [10_000, 300_000, 0]);
});

// The wrapper's configuration is described once (@zope-systemd/common, wrapper-config.ts): the wrapper reads its
// file by it, and zunitgen takes its key lists from it. What is written by hand beside it (the template, the
// docs) must have exactly its keys: a key in one place only fails here. Both JSON Schemas are generated from
// it; schema.test.ts and znotify-schema.test.ts hold each to its tool's parser.
test('the stack config offers exactly the wrapper\'s keys for checks, watchdog, warm-up, health, stop and signals', () => {
  const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
  assert.deepEqual(sorted(CHECK_TYPES), sorted(WRAPPER.CHECK_TYPES), 'check types');
  // clients.checks: the wrapper's keys of each type, plus zunitgen's own `enabled`.
  const common = KEYS.check.filter((k) => !Object.values(TYPE_KEYS).some((ks) => ks.includes(k)) && k !== 'enabled');
  for (const type of CHECK_TYPES) assert.deepEqual(sorted([...common, ...TYPE_KEYS[type]]), sorted(WRAPPER.checkKeys(type)), `keys of a ${type} check`);
  const sections = { 'clients-watchdog': 'watchdog', warmup: 'warmup', 'warmup-url': 'warmup-url', health: 'health', stop: 'stop', 'clients-signals': 'signals' } as const;
  // Less the keys zunitgen writes itself (stack.generated: the warm-up slot), which the template writes all the same.
  for (const [ours, theirs] of Object.entries(sections)) assert.deepEqual(sorted(KEYS[ours as keyof typeof KEYS]), sorted(WRAPPER.stackSectionKeys(theirs)), ours);
});

test('the template writes every key of the wrapper config, and checkView names each one', () => {
  const tpl = readFileSync(join(REPO, 'templates/znotify.yaml.hbs'), 'utf8');
  for (const section of ['top', 'warmup', 'health', 'watchdog', 'stop', 'signals', 'haproxy', 'log'] as const) {
    for (const key of WRAPPER.sectionKeys(section)) assert.match(tpl, new RegExp(`^ *${key}:`, 'm'), `${section}.${key} is not in templates/znotify.yaml.hbs`);
  }
  for (const key of WRAPPER.sectionKeys('warmup-url')) assert.match(tpl, new RegExp(`^ *(- )?${key}:`, 'm'), `warmup.urls[].${key}`);
  // Every check key set in a model reaches the view under its template name, and the template writes it.
  const full = Object.fromEntries(Object.values(WRAPPER.CHECK_KEYS).map((k) => [k.field, k.value.kind === 'address' ? { host: '127.0.0.1', port: 1, family: 4 } : k.value.kind === 'duration' ? 1000 : 'x']));
  const view = checkView(full as unknown as CheckModel);
  assert.equal(Object.keys(view).length, Object.keys(WRAPPER.CHECK_KEYS).length);
  for (const [key, name] of Object.keys(WRAPPER.CHECK_KEYS).map((k) => [k, Object.keys(view).find((n) => n.toLowerCase() === k.replace(/-/g, ''))] as const)) {
    assert.ok(name, `checkView has no name for ${key}`);
    assert.match(tpl, new RegExp(`^ {2}(- | {2})${key}: \\{\\{yaml ${name}\\}\\}$`, 'm'), `the template does not write checks[].${key}`);
  }
});

test('docs/znotify.md documents every key of the wrapper config', () => {
  const doc = readFileSync(join(REPO, 'docs/znotify.md'), 'utf8');
  for (const section of ['warmup', 'health', 'watchdog', 'stop', 'signals', 'haproxy', 'log'] as const) {
    for (const key of WRAPPER.sectionKeys(section)) assert.ok(doc.includes(`| \`${section}.${key}\` |`), `${section}.${key}`);
  }
  for (const key of WRAPPER.sectionKeys('top')) assert.ok(doc.includes(`| \`${key}\` |`) || doc.includes(`| \`${key}.`), key);
  for (const key of WRAPPER.sectionKeys('warmup-url')) assert.ok(doc.includes(`| \`warmup.urls[].${key}\` |`), `warmup.urls[].${key}`);
  for (const key of WRAPPER.commonCheckKeys()) assert.ok(doc.includes(`| \`${key}\` |`), `checks[].${key}`);
  for (const [key, k] of Object.entries(WRAPPER.CHECK_KEYS)) {
    for (const type of k.types ?? []) assert.match(doc, new RegExp(`^\\| \`${type}\` \\| .*\`${key}\``, 'm'), `${key} of a ${type} check`);
  }
});

test('durations the wrapper would refuse (beyond what a timer holds) are refused here, with their position', (t) => {
  const stack = (stop: string) => `${STACK}  stop: ${stop}\n`;
  for (const bad of ['{ timeout: 30d }', '{ drain: 25d }']) {
    assert.throws(() => parseStack(stack(bad), { file: 'stack.yaml' }),
      (e: Error) => /stack\.yaml:12:\d+/.test(e.message) && /is longer than a timer can hold: at most 2147483647 ms/.test(e.message), bad);
  }
  // The longest accepted value is one the wrapper accepts too.
  const g = generate(t, stack('{ timeout: 24d, drain: 24d }'));
  assert.equal((g.read[0] as unknown as { stop: { timeoutMs: number; drainMs: number } }).stop.timeoutMs, 24 * 86_400_000);
});

test('haproxy.stats-socket as host:port reaches each wrapper, which reads it as its Runtime API address', (t) => {
  const g = generate(t, `${STACK}haproxy: { backend: site, stats-socket: "127.0.0.1:9999" }\n`);
  for (const [i, c] of g.read.entries()) {
    assert.deepEqual(c.haproxy, { statsSocket: '127.0.0.1:9999', backend: 'site', server: `client${i + 1}` });
  }
});

test('more checks or warm-up URLs than the wrapper runs (64) are refused here, not by the wrapper at start', () => {
  const many = Array.from({ length: 65 }, (_, i) => `- { name: extra${i}, type: tcp, address: 127.0.0.1:${1000 + i} }`).join('\n');
  assert.throws(() => parseStack(withChecks(many), { file: 'stack.yaml' }),
    (e: Error) => /clients\.checks: 6[5-8] checks per client, more than the wrapper runs \(64\)/.test(e.message), 'checks');
  const urls = `${STACK}  warmup: [${Array.from({ length: 65 }, () => '/Plone').join(', ')}]\n`;
  assert.throws(() => parseStack(urls, { file: 'stack.yaml' }), (e: Error) => /clients\.warmup: 65 URLs, more than the wrapper warms up \(64\)/.test(e.message), 'urls');
});

test('zeo ruok-every reaches the wrapper; the wrapper\'s default (1min) holds when it is not given', (t) => {
  const g = generate(t, withChecks('- { name: zeo, ruok-every: 5min }'));
  assert.equal((checkOf(g, 1, 'zeo') as unknown as { ruokEveryMs: number }).ruokEveryMs, 300_000);
  assert.match(g.files.find((f) => f.kind === 'znotify')!.content, /\n {4}ruok-every: "5min"\n/);
  const d = generate(t, STACK);
  assert.equal((checkOf(d, 2, 'zeo') as unknown as { ruokEveryMs: number }).ruokEveryMs, 60_000);
  assert.throws(() => parseStack(withChecks('- { name: root, ruok-every: 5min }'), { file: 'stack.yaml' }), /clients\.checks\[0\]\.ruok-every: a http check has no "ruok-every"/);
});

test('clients.signals and clients.observability reach every wrapper, which reads them back', (t) => {
  const g = generate(t, `${STACK}  observability: 127.0.0.1:{9180+n}\n  signals: { forward: [SIGHUP], stack-dump: hook }\n`);
  for (const [i, c] of g.read.entries()) {
    const r = c as unknown as { signals: unknown; observability: unknown; checks: Array<{ name: string; path?: string }> };
    assert.deepEqual(r.signals, { forward: ['SIGHUP'], stackDump: 'hook' });
    assert.deepEqual(r.observability, { host: '127.0.0.1', port: 9181 + i });
    assert.deepEqual(r.checks.slice(-3).map((k) => `${k.name} ${k.path}`), ['startup /startup', 'ready /ready', 'live /live']);
  }
  // Left out: the wrapper's defaults (nothing forwarded, no hook, no observability checks).
  const d = generate(t, STACK);
  assert.deepEqual((d.read[0] as unknown as { signals: unknown }).signals, { forward: [], stackDump: 'off' });
  assert.throws(() => parseStack(`${STACK}  signals: { forward: [SIGTERM] }\n`, { file: 'stack.yaml' }), /clients\.signals\.forward/);
  assert.throws(() => parseStack(`${STACK}  signals: { stack-dump: hook, forward: [SIGUSR1] }\n`, { file: 'stack.yaml' }), /SIGUSR1 already asks for a stack dump/);
  assert.throws(() => parseStack(`${STACK}  observability: 127.0.0.1:9180\n`, { file: 'stack.yaml' }), /clients\.observability: "127\.0\.0\.1:9180" is the same for all 2 clients/);
});
