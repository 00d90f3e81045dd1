// Property tests (fast-check): arbitrary strings in every string field of the config. Each run either
// (a) is rejected with a ConfigError whose every issue has a position and a message, or (b) renders files
// that an independent reader (unitfile.ts, the yaml parser) reads back into exactly the intended
// sections, keys, values and argv: the same shape as a known-good stack, the user's value verbatim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import {
  ConfigError, builtinTemplates, compileTemplates, createEnv, formatAddress, formatDuration, loadTemplates, parseStack, renderWith,
  systemdUnescape, invalidUnitName, expandTemplate, parseAddress, belongsToStack, systemdEscape, type GeneratedFile, type StackModel,
} from '../src/index.js';
import { parseDuration } from '@zope-systemd/common';
import { parseExec, parseUnitFile, shape, splitWords, unspecify, type Directive } from './unitfile.js';
import { assertWrapperRead, REPO, type WrapperConfig } from './helpers.js';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { setupUnitName, sysusersName, tmpfilesName } from '../src/setup-files.js';
import type { CheckModel } from '../src/index.js';

// The wrapper's own parser, in-process (the built CLI once per run would take minutes; golden.test.ts runs it):
// every accepted config must mean to the wrapper what the model says.
const { parseConfig } = await import(join(REPO, 'packages/notify/src/znotify/config.ts')) as {
  parseConfig: (text: string, file: string, flags?: object, options?: { requireCommand?: boolean }) => WrapperConfig;
};

const compiled = compileTemplates(createEnv(), loadTemplates());
const builtin = builtinTemplates();
const OUT = '/etc/systemd/system';
const RUNS = Number(process.env.FC_RUNS ?? 150);

type Cfg = Record<string, unknown>;
const base = (): Cfg => ({
  stack: 'plone',
  description: 'Plone',
  user: 'plone',
  group: 'plone',
  directory: '/srv/plone',
  'read-write-paths': ['/srv/blobs'],
  environment: { PYTHONPATH: '/srv/plone/lib' },
  database: { postgresql: { unit: 'postgresql@15-main.service', address: '127.0.0.1:5432' } },
  zeo: { command: ['bin/zeoserver', 'fg'], address: '127.0.0.1:8100' },
  clients: {
    count: 2, command: ['bin/client{n}', 'console'], http: '127.0.0.1:{8080+n}', health: { agent: '127.0.0.1:{9080+n}', http: '127.0.0.1:{9180+n}' },
    warmup: { budget: '5min', urls: [{ path: '/Plone', host: 'www.example.org', text: '</html>' }] },
    checks: [
      { name: 'root', interval: '30s' },
      { name: 'plone', type: 'http', path: '/Plone/@@ok', host: 'client{n}.example.org', text: 'OK' },
      { name: 'disk', type: 'command', command: ['bin/check-disk', 'var/client{n}'] },
    ],
    watchdog: { 'database-grace': '5min', 'hang-timeout': 0, 'dump-stacks': false },
  },
  haproxy: { backend: 'plone', 'stats-socket': '/run/haproxy/admin.sock' },
  'wanted-by': ['multi-user.target'],
});

function render(text: string): { model: StackModel; files: GeneratedFile[] } | ConfigError {
  let model: StackModel;
  try {
    model = parseStack(text, { file: 'prop.yaml' });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    assert.ok(e.issues.length > 0);
    for (const i of e.issues) {
      assert.ok(i.line >= 1 && i.col >= 1 && i.message.length > 0, JSON.stringify(i));
      assert.equal(i.file, 'prop.yaml');
    }
    return e;
  }
  const files = renderWith(model, compiled, { outDir: OUT });
  // The built-in templates (plain functions compiled from the same sources, generator mode) render the same.
  assert.deepEqual(renderWith(model, builtin, { outDir: OUT }), files);
  return { model, files };
}

const baseline = render(stringify(base())) as { model: StackModel; files: GeneratedFile[] };
const baseShapes = baseline.files.map((f) => (f.kind === 'unit' ? shape(parseUnitFile(f.content)) : []));

/** What every Description= should read, by file. */
function descriptions(m: StackModel): Map<string, string> {
  const d = new Map<string, string>([[m.target, m.description], [m.slice, `${m.description}: resource limits`]]);
  d.set(setupUnitName(m.prefix), `${m.description}: service user and writable directories`);
  if (m.zeo) d.set(m.zeo.unit, `${m.description}: ZEO server`);
  for (const c of m.clients) {
    d.set(c.unit, `${m.description}: ZEO client ${c.name}`);
    d.set(c.agentSocket, `${m.description}: ${c.name} health agent socket`);
    if (c.healthSocket) d.set(c.healthSocket, `${m.description}: ${c.name} health HTTP socket`);
  }
  return d;
}

const units = (v: string) => v.split(/\s+/).filter(Boolean);

/** The full round trip: everything in the output means exactly what the model says. */
function roundTrip(m: StackModel, files: GeneratedFile[]): void {
  assert.equal(files.length, baseline.files.length, 'same set of files');
  const desc = descriptions(m);
  files.forEach((f, i) => {
    assert.equal(f.kind, baseline.files[i]!.kind);
    assert.ok(f.content.split('\n').every((l) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(l)), `${f.name}: control character`);
    if (f.kind !== 'unit') return;
    assert.equal(invalidUnitName(f.name), undefined, f.name);
    const ds: Directive[] = parseUnitFile(f.content);
    assert.deepEqual(shape(ds), baseShapes[i], `${f.name}: same sections and keys as the known-good stack`);
    for (const d of ds) {
      switch (d.key) {
        case 'Description': assert.equal(unspecify(d.value), desc.get(f.name), f.name); break;
        case 'User': assert.equal(d.value, m.user); break;
        case 'Group': assert.equal(d.value, m.group); break;
        case 'WorkingDirectory': assert.equal(unspecify(d.value), m.directory); break;
        case 'ReadWritePaths': {
          const [first, ...rest] = splitWords(d.value).map(unspecify);
          assert.deepEqual([first, ...rest], [`-${m.varPath}`, ...m.readWritePaths]);
          break;
        }
        case 'Slice': assert.equal(d.value, m.slice); break;
        case 'Sockets': {
          // Sockets= unquotes (a backslash escapes the next character): read it that way, as systemd does.
          const c = m.clients.find((x) => x.unit === f.name)!;
          assert.deepEqual(splitWords(d.value), [c.agentSocket, ...(c.healthSocket ? [c.healthSocket] : [])], f.name);
          break;
        }
        case 'Environment': {
          // specifiers on the whole value first, then words with quotes and C escapes (systemd.exec(5))
          const env = f.name === m.zeo?.unit ? m.zeo.environment : m.clientEnvironment;
          const chosen = 'PYTHONDONTWRITEBYTECODE' in env || 'PYTHONPYCACHEPREFIX' in env;
          const want = Object.entries(m.hardening && !chosen ? { PYTHONDONTWRITEBYTECODE: '1', ...env } : env).map(([k, v]) => `${k}=${v}`);
          assert.deepEqual(splitWords(unspecify(d.value)), want, f.name);
          break;
        }
        case 'PartOf': assert.equal(d.value, f.name.endsWith('.socket') ? m.clients.find((c) => f.name === c.agentSocket || f.name === c.healthSocket)!.unit : m.target); break;
        case 'Service': assert.equal(d.value, m.clients.find((c) => f.name === c.agentSocket || f.name === c.healthSocket)!.unit); break;
        case 'SyslogIdentifier': assert.equal(unspecify(d.value), f.name.replace(/\.service$/, '')); break;
        case 'WantedBy': assert.deepEqual(units(d.value), m.wantedBy); break;
        case 'ExecStart': {
          if (f.name === setupUnitName(m.prefix)) {
            const argv = parseExec(d.value);
            const sysusers = [['/usr/bin/systemd-sysusers', `${OUT}/${sysusersName(m.prefix)}`]];
            const tmpfiles = [['/usr/bin/systemd-tmpfiles', '--create', `${OUT}/${tmpfilesName(m.prefix)}`]];
            assert.ok(isDeepStrictEqual(argv, sysusers) || isDeepStrictEqual(argv, tmpfiles), `${f.name}: ${d.value}`);
            break;
          }
          const c = m.clients.find((x) => x.unit === f.name);
          const want = c ? [...m.znotify, 'run', '--name', c.name, '--config', `${OUT}/${m.prefix}-${c.name}.znotify.yaml`, '--', ...c.command] : m.zeo!.command;
          assert.deepEqual(parseExec(d.value), [want]);
          break;
        }
        // The start limit and the restart pause: the model's numbers, read back as systemd reads a time span.
        case 'StartLimitIntervalSec': assert.equal(f.name === setupUnitName(m.prefix) ? d.value : spanMs(d.value), f.name === setupUnitName(m.prefix) ? '0' : startLimitSpan(m, f.name), f.name); break;
        case 'StartLimitBurst': assert.equal(d.value, String(m.restart.burst), f.name); break;
        case 'RestartSec': assert.equal(spanMs(d.value), m.restart.delayMs, f.name); break;
        case 'ExecStartPost': assert.deepEqual(parseExec(d.value), [[...m.zunitgen, 'wait-tcp', formatAddress(m.zeo!.address), '--timeout', formatDuration(m.zeo!.readyTimeoutMs)]]); break;
        default:
          if (['After', 'Wants', 'Sockets'].includes(d.key)) for (const u of units(d.value)) assert.equal(invalidUnitName(u), undefined, `${d.key}=${u}`);
      }
    }
  });
  // unit names carry the stack, escaped so that systemd-escape --unescape gives it back
  assert.equal(systemdUnescape(m.prefix), m.stack.replace(/\//g, '/'));
  for (const c of m.clients) {
    const f = files.find((x) => x.name === `${m.prefix}-${c.name}.znotify.yaml`)!;
    const y = parseYaml(f.content) as Record<string, unknown>;
    assert.deepEqual(y.name, c.name);
    assert.deepEqual(y.command, c.command);
    assert.deepEqual(y.http, formatAddress(c.http));
    assert.deepEqual((y.warmup as { urls?: unknown }).urls, m.warmup.urls.length ? m.warmup.urls.map((u) => ({ path: u.path, ...(u.host ? { host: u.host } : {}), status: u.status, ...(u.text ? { text: u.text } : {}), ...(u.timeoutMs ? { timeout: formatDuration(u.timeoutMs) } : {}) })) : undefined);
    assert.deepEqual(y.haproxy, m.haproxy.wrapperSocket ? { 'stats-socket': m.haproxy.wrapperSocket, backend: m.haproxy.backend, server: c.name } : undefined);
    assert.deepEqual(y.checks, c.checks.map(checkYaml), `${f.name}: checks`);
    assertWrapperRead(parseConfig(f.content, f.name, {}, { requireCommand: true }), m, c.checks, f.name);
  }
  const hap = files.find((x) => x.kind === 'haproxy')!.content;
  assert.match(hap, new RegExp(`^backend ${m.haproxy.backend.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  assert.equal(hap.split('\n').filter((l) => /^\s+server /.test(l)).length, m.clients.length);
}

/** A systemd time span in ms (the value side of the round trip; refuses what is not one). */
function spanMs(v: string): number {
  const r = parseDuration(v, undefined, 'span');
  assert.ok(r.ok, `${JSON.stringify(v)} is not a time span`);
  return r.value;
}

/**
 * StartLimitIntervalSec= as docs/unitgen.md states it: restart.interval, or restart.burst times a prompt failure (a
 * minute, at most half the unit's wait: the clients' warm-up budget, ZEO's ready-timeout) and RestartSec=.
 */
function startLimitSpan(m: StackModel, unit: string): number {
  if (m.restart.intervalMs !== undefined) return m.restart.intervalMs;
  const waitMs = unit === m.zeo?.unit ? m.zeo.readyTimeoutMs : m.warmup.budgetMs;
  return m.restart.burst * (Math.min(60_000, Math.floor(waitMs / 2)) + m.restart.delayMs);
}

/** A check as the generated YAML must spell it: the wrapper's keys, only those the model sets. */
function checkYaml(c: CheckModel): Record<string, unknown> {
  const y: Record<string, unknown> = { name: c.name, type: c.type };
  const put = (k: string, v: unknown) => { if (v !== undefined) y[k] = v; };
  const dur = (ms: number | undefined) => (ms === undefined ? undefined : formatDuration(ms));
  put('address', c.address && formatAddress(c.address)); put('path', c.path); put('host', c.host); put('status', c.status);
  put('text', c.text); put('command', c.command); put('interval', dur(c.intervalMs)); put('timeout', dur(c.timeoutMs));
  put('failure-threshold', c.failureThreshold); put('success-threshold', c.successThreshold); put('grace', dur(c.graceMs)); put('roles', c.roles);
  return y;
}

/** Strings that hit unit-file syntax often, mixed with arbitrary Unicode (lone surrogates included). */
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: fc.constantFrom('%', '$', ';', '\\', '"', "'", ' ', '\t', '\n', '\r', '{', '}', 'n', '+', '1', '/', '.', '-', '@', ':', '#', '=', '[', ']', 'a', 'Z', 'ä', '\u0000', '\u007f', '\u2028'), maxLength: 24 }),
);

function property(name: string, arb: fc.Arbitrary<string>, set: (c: Cfg, s: string) => void, verbatim: (m: StackModel, s: string) => void, minAccepted = 0) {
  test(`property: arbitrary ${name}`, () => {
    let accepted = 0;
    fc.assert(fc.property(arb, (s) => {
      const c = base();
      set(c, s);
      const r = render(stringify(c));
      if (r instanceof ConfigError) return;
      accepted++;
      verbatim(r.model, s);
      roundTrip(r.model, r.files);
    }), { numRuns: RUNS });
    // Free-text fields must mostly be accepted (and so round-tripped), not rejected wholesale.
    assert.ok(accepted >= minAccepted * RUNS, `${name}: only ${accepted} of ${RUNS} accepted`);
  });
}

const clients = (c: Cfg) => c.clients as Cfg;
property('stack', nasty, (c, s) => { c.stack = s; (c.haproxy as Cfg).backend = 'plone'; }, (m, s) => assert.equal(m.stack, s), 0.3);
property('description', nasty, (c, s) => { c.description = s; }, (m, s) => assert.equal(m.description, s), 0.3);
property('user', nasty, (c, s) => { c.user = s; }, (m, s) => assert.equal(m.user, s));
property('group', nasty, (c, s) => { c.group = s; }, (m, s) => assert.equal(m.group, s));
property('directory', nasty.map((s) => `/${s}`), (c, s) => { c.directory = s; }, (m, s) => assert.equal(m.directory, s));
property('znotify path', nasty.map((s) => `/${s}`), (c, s) => { c.znotify = s; }, (m, s) => assert.deepEqual(m.znotify, [s]));
property('zunitgen path', nasty.map((s) => `/${s}`), (c, s) => { c.zunitgen = s; }, (m, s) => assert.deepEqual(m.zunitgen, [s]));
property('znotify argv prefix argument', nasty, (c, s) => { c.znotify = ['/usr/bin/node', s]; }, (m, s) => assert.deepEqual(m.znotify, ['/usr/bin/node', s]), 0.3);
property('read-write-paths item', nasty.map((s) => `/${s}`), (c, s) => { c['read-write-paths'] = [s]; }, (m, s) => assert.ok(m.readWritePaths.includes(s) || m.varPath === s));
property('client command argument', nasty, (c, s) => { clients(c).command = ['/srv/plone/bin/client{n}', s, 'x']; }, (m, s) => {
  m.clients.forEach((cl, i) => { const e = expandTemplate(s, i + 1); assert.ok(e.ok); assert.deepEqual(cl.command, ['/srv/plone/bin/client' + (i + 1), e.value, 'x']); });
}, 0.3);
property('client command as one string', nasty, (c, s) => { clients(c).command = `bin/client{n} ${s}`; }, () => {});
property('zeo command argument', nasty, (c, s) => { (c.zeo as Cfg).command = ['bin/zeoserver', s]; }, (m, s) => assert.deepEqual(m.zeo!.command.slice(1), [expandTemplateOrSelf(s)]), 0.3);
property('clients.http', nasty, (c, s) => { clients(c).http = s; }, () => {});
property('clients.health.agent', nasty, (c, s) => { clients(c).health = { agent: s }; }, () => {});
property('warmup path', nasty, (c, s) => { clients(c).warmup = [s]; }, (m, s) => assert.equal(m.warmup.urls[0]!.path, s));
property('warmup host', nasty, (c, s) => { clients(c).warmup = [{ path: '/', host: s }]; }, (m, s) => assert.equal(m.warmup.urls[0]!.host, s));
property('warmup text', nasty, (c, s) => { clients(c).warmup = [{ path: '/', text: s }]; }, (m, s) => assert.equal(m.warmup.urls[0]!.text, s), 0.3);
property('environment value', nasty, (c, s) => { c.environment = { PYTHONPATH: s }; }, (m, s) => { assert.equal(m.clientEnvironment.PYTHONPATH, s); assert.equal(m.zeo!.environment.PYTHONPATH, s); }, 0.3);
property('clients.environment value', nasty, (c, s) => { clients(c).environment = { PYTHONPATH: s }; }, (m, s) => { assert.equal(m.clientEnvironment.PYTHONPATH, s); assert.equal(m.zeo!.environment.PYTHONPATH, '/srv/plone/lib'); }, 0.3);
property('zeo.environment value', nasty, (c, s) => { (c.zeo as Cfg).environment = { PYTHONPATH: s }; }, (m, s) => assert.equal(m.zeo!.environment.PYTHONPATH, s), 0.3);
property('environment name', nasty, (c, s) => { c.environment = { [s]: 'x' }; }, (m, s) => assert.equal(m.clientEnvironment[s], 'x'));
test('environment name __proto__ (a valid variable name) reaches the units, not dropped', () => {
  const c = base();
  c.environment = { ['__proto__']: 'x' };
  const r = render(stringify(c));
  assert.ok(!(r instanceof ConfigError), String(r));
  assert.ok(Object.hasOwn(r.model.clientEnvironment, '__proto__'));
  assert.equal(r.model.clientEnvironment['__proto__'], 'x');
  const client = r.files.find((f) => f.name.endsWith('-client1.service'))!;
  assert.match(client.content, /^Environment=.*__proto__=x/m);
});
property('zeo.command address argument', nasty, (c, s) => { (c.zeo as Cfg).command = ['bin/runzeo', '-a', s]; }, (m, s) => {
  const a = parseAddress(s);
  assert.ok(a.ok && a.value.port === m.zeo!.address.port, `accepted -a ${JSON.stringify(s)} although zeo.address is ${formatAddress(m.zeo!.address)}`);
});
property('postgresql unit', nasty, (c, s) => { ((c.database as Cfg).postgresql as Cfg).unit = s; }, (m, s) => assert.equal(m.postgresql!.unit, s));
property('haproxy backend', nasty, (c, s) => { (c.haproxy as Cfg).backend = s; }, (m, s) => assert.equal(m.haproxy.backend, s));
property('haproxy stats-socket', nasty.map((s) => `/${s}`), (c, s) => { (c.haproxy as Cfg)['stats-socket'] = s; }, (m, s) => assert.equal(m.haproxy.statsSocket, s));
property('haproxy wrapper-socket', nasty.map((s) => `/${s}`), (c, s) => { (c.haproxy as Cfg)['wrapper-socket'] = s; }, (m, s) => assert.equal(m.haproxy.wrapperSocket, s));
property('wanted-by', nasty, (c, s) => { c['wanted-by'] = [s]; }, (m, s) => assert.deepEqual(m.wantedBy, [s]));
property('log-level', nasty, (c, s) => { c['log-level'] = s; }, (m, s) => assert.equal(m.logLevel, s));
property('stop signal', nasty, (c, s) => { clients(c).stop = { signal: s }; }, (m, s) => assert.equal(m.stop.signal, s));
property('restart delay', nasty, (c, s) => { c.restart = { delay: s }; }, (m) => assert.ok(m.restart.delayMs >= 100));
property('restart interval', nasty, (c, s) => { c.restart = { interval: s }; }, (m) => assert.ok(m.restart.intervalMs! >= 1000));
property('restart burst', nasty, (c, s) => { c.restart = { burst: s }; }, () => assert.fail('a string burst was accepted'));
property('restart key', nasty, (c, s) => { c.restart = { [s]: 3 }; }, () => {});
property('a key name', nasty, (c, s) => { clients(c)[s] = 1; }, () => {});

// clients.checks: a new entry appended to the base's, each string field arbitrary. `{n}` expands where it may.
// Nasty strings are nearly always refused as names, hosts and addresses; near-valid ones make sure the accepted
// side (escaping, expansion, the wrapper reading it) is exercised as well.
const nearName = fc.oneof(nasty, fc.stringMatching(/^[A-Za-z0-9_.@ {}-]{1,12}$/));
const nearHost = fc.oneof(nasty, fc.stringMatching(/^[a-z0-9.{}n+ -]{1,20}(:[0-9{}n+]{1,6})?$/));
const nearAddress = fc.oneof(nasty, fc.tuple(
  fc.constantFrom('127.0.0.1', '[::1]', '10.0.0.256', 'localhost', '[fe80::1%eth0]', ''),
  fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constantFrom('{n}', '{8080+n}', '{n+65534}', '{ 1 + n }', '{m}', '{{n}}', '{n', 'n}')),
).map(([h, p]) => `${h}:${p}`));
const addCheck = (c: Cfg, check: Cfg) => { (clients(c).checks as Cfg[]).push(check); };
const lastCheck = (m: StackModel, i: number) => m.clients[i]!.checks.at(-1)!;
const perClient = (m: StackModel, s: string, get: (c: CheckModel) => unknown, wrap: (v: string) => unknown = (v) => v) => {
  m.clients.forEach((_, i) => { const e = expandTemplate(s, i + 1); assert.ok(e.ok); assert.deepEqual(get(lastCheck(m, i)), wrap(e.value)); });
};
property('check name', nearName, (c, s) => addCheck(c, { name: s, type: 'tcp' }), (m, s) => assert.ok(m.clients[0]!.checks.some((k) => k.name === s)));
property('check type', nasty, (c, s) => addCheck(c, { name: 'x', type: s, address: '127.0.0.1:1' }), (m, s) => assert.equal(lastCheck(m, 0).type, s));
property('check path', nasty.map((s) => `/${s}`), (c, s) => addCheck(c, { name: 'x', type: 'http', path: s }), (m, s) => perClient(m, s, (k) => k.path));
property('check host', nearHost, (c, s) => addCheck(c, { name: 'x', type: 'http', host: s }), (m, s) => perClient(m, s, (k) => k.host));
property('check text', nasty, (c, s) => addCheck(c, { name: 'x', type: 'http', text: s }), (m, s) => assert.equal(lastCheck(m, 1).text, s), 0.3);
property('check address', nearAddress, (c, s) => addCheck(c, { name: 'x', type: 'tcp', address: s }), (m, s) => perClient(m, s, (k) => k.address && formatAddress(k.address)));
property('check command argument', nasty, (c, s) => addCheck(c, { name: 'x', type: 'command', command: ['/usr/bin/test', s] }),
  (m, s) => perClient(m, s, (k) => k.command, (v) => ['/usr/bin/test', v]), 0.3);
property('check role', nasty, (c, s) => addCheck(c, { name: 'x', type: 'tcp', roles: [s] }), (m, s) => assert.deepEqual(lastCheck(m, 0).roles, [s]));
property('check interval', nasty, (c, s) => addCheck(c, { name: 'x', type: 'tcp', interval: s }), () => {});
property('generated check changed by a key', nasty, (c, s) => addCheck(c, { name: 'zeo', [s]: '1s' }), () => {});
property('check dropped by name', nearName, (c, s) => addCheck(c, { name: s, enabled: false }), (m, s) => assert.ok(!m.clients[0]!.checks.some((k) => k.name === s)));
property('watchdog database-grace', nasty, (c, s) => { (clients(c).watchdog as Cfg)['database-grace'] = s; }, (m) => assert.ok(m.clientWatchdog.databaseGraceMs !== undefined));

function expandTemplateOrSelf(s: string): string {
  return s; // the ZEO command is not a per-instance template
}

test('property: the model oracle itself is sound (known-good stack renders and round-trips)', () => {
  roundTrip(baseline.model, baseline.files);
});

test('property: a manifest entry that belongs to a stack is a file directly inside the output directory', () => {
  fc.assert(fc.property(nasty, nasty, (stack, name) => {
    const prefix = systemdEscape(stack || 'x');
    for (const n of [name, `${prefix}-${name}`, `${prefix}.${name}`, `haproxy-${prefix}-${name}.cfg`]) {
      if (!belongsToStack(n, prefix)) continue;
      assert.equal(join('/out', n).split('/').length, 3, `${JSON.stringify(n)} leaves /out`);
      assert.ok(n !== '.' && n !== '..' && !n.includes('/'));
    }
  }), { numRuns: RUNS });
});
