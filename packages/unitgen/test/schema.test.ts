// The published JSON Schema of the stack config (schema/stack.schema.json, written by `pnpm build` from
// stack-schema.ts and, for the wrapper's keys, from the one description of the wrapper configuration) and
// zunitgen's own parser agree: the examples and every fixture pass both, every object has exactly the keys the
// parser accepts (a key in one place only fails here), and typical mistakes fail both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, KEYS, parseStack, stackConfigSchema } from '../src/index.js';
import { FIXTURES, PKG, REPO } from './helpers.js';
import { STACK_DURATIONS, type StackDurationKey } from '../src/stack-durations.js';
import { validateSchema } from '../../../test/harness/json-schema.js';
import { DURATION_MAX } from '@zope-systemd/common';

type Schema = Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(PKG, 'schema/stack.schema.json'), 'utf8')) as Schema;

const check = (v: unknown): string[] => validateSchema(schema, v);
const def = (name: string) => (schema.$defs as Record<string, Schema>)[name]!;
/** The object form of a value that may also be written short (health: ADDRESS, warmup: [URLs]). */
function objectForm(s: Schema): Schema {
  const ref = (s.$ref ?? (s.oneOf as Schema[] | undefined)?.find((x) => x.$ref)?.$ref) as string | undefined;
  return ref ? def(ref.replace('#/$defs/', '')) : s;
}

const inputs = [join(REPO, 'examples/stack/plone.yaml'), join(REPO, 'examples/stack/plone-hosts.yaml'), ...readdirSync(FIXTURES).map((d) => join(FIXTURES, d, 'stack.yaml'))];

test('the built schema is the one stack-schema.ts and the wrapper\'s description give', () => {
  assert.deepEqual(schema, JSON.parse(JSON.stringify(stackConfigSchema())), 'schema/stack.schema.json is stale: run pnpm build');
});

test('the examples and every fixture validate against the schema and against zunitgen', () => {
  assert.ok(inputs.length > 5, `found ${inputs.length} configs`);
  for (const f of inputs) {
    const text = readFileSync(f, 'utf8');
    assert.deepEqual(check(parseYaml(text)), [], f);
    parseStack(text, { file: f });
  }
});

test('every object of the schema has exactly the keys zunitgen accepts there', () => {
  const props = (s: Schema) => Object.keys((s.properties ?? {}) as object).sort();
  const p = schema.properties as Record<string, Schema>;
  const clients = p.clients!.properties as Record<string, Schema>;
  const pairs: Array<[string, readonly string[], Schema]> = [
    ['root', KEYS.root, schema],
    ['database', KEYS.database, p.database!],
    ['database.postgresql', KEYS.postgresql, (p.database!.properties as Record<string, Schema>).postgresql!],
    ['zeo', KEYS.zeo, p.zeo!],
    ['clients', KEYS.clients, p.clients!],
    ['clients.health', KEYS.health, objectForm(clients.health!)],
    ['clients.warmup', KEYS.warmup, objectForm(clients.warmup!)],
    ['clients.warmup.urls[]', KEYS['warmup-url'], def('wrapper-warmup-url')],
    ['memory', KEYS.memory, def('memory')],
    ['clients.stop', KEYS.stop, objectForm(clients.stop!)],
    ['clients.watchdog', KEYS['clients-watchdog'], objectForm(clients.watchdog!)],
    ['clients.signals', KEYS['clients-signals'], objectForm(clients.signals!)],
    ['clients.checks[]', KEYS.check, def('wrapper-check')],
    ['clients.recycle', KEYS.recycle, clients.recycle!],
    ['limits', KEYS.limits, p.limits!],
    ['restart', KEYS.restart, p.restart!],
    ['haproxy', KEYS.haproxy, p.haproxy!],
    ['haproxy.install', KEYS.haproxyInstall, (p.haproxy!.properties as Record<string, Schema>).install!],
    ['hosts[]', KEYS.host, def('host')],
  ];
  for (const [where, keys, s] of pairs) assert.deepEqual(props(s), [...keys].sort(), where);
  // Every object of KEYS has its pair above.
  assert.equal(pairs.length, Object.keys(KEYS).length);
});

/** Each [from, to] edit of the example must be refused by both. */
function bothRefuse(base: string, mutations: ReadonlyArray<readonly [string, string]>): void {
  for (const [from, to] of mutations) {
    assert.ok(base.includes(from), from);
    const text = base.replace(from, to);
    assert.notDeepEqual(check(parseYaml(text)), [], `schema accepted: ${to}`);
    assert.throws(() => parseStack(text, { file: 'x.yaml' }), ConfigError, `zunitgen accepted: ${to}`);
  }
}

/** Each [from, to] edit of the example must be accepted by both. */
function bothAccept(base: string, edits: ReadonlyArray<readonly [string, string]>): void {
  for (const [from, to] of edits) {
    assert.ok(base.includes(from), from);
    const text = base.replace(from, to);
    assert.deepEqual(check(parseYaml(text)), [], `schema refused: ${to}`);
    parseStack(text, { file: 'x.yaml' });
  }
}

const EXAMPLE = () => readFileSync(join(REPO, 'examples/stack/plone.yaml'), 'utf8');
const PLONE_CHECK = '{ name: plone, type: http, path: /Plone/@@ok, host: www.example.org, text: OK, roles: [readiness] }';

test('typical mistakes fail both the schema and zunitgen', () => {
  bothRefuse(EXAMPLE(), [
    ['stack: plone', 'stack: plone\nstak: x'],
    ['  count: 4', '  count: 0'],
    ['  http: 127.0.0.1:{8080+n}', '  http: localhost:{8080+n}'],
    ['watchdog: 30s', 'watchdog: 30 parsecs'],
    ['memory: { high: 1.5G, max: 2G }', 'memory: { high: 1.5g }'],
    ['  command: bin/zeoserver fg', '  command: []'],
    ['haproxy: { backend: plone,', 'haproxy: { backend: "a b",'],
    ['user: plone', 'user: Plone User'],
    ['{ name: root, interval: 10s }', '{ name: root, intervall: 10s }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 10 parsecs }'],
    ['type: http, path: /Plone/@@ok', 'type: htp, path: /Plone/@@ok'],
    ['text: OK, roles: [readiness]', 'text: OK, roles: [ready]'],
    ['{ name: plone, type: http', '{ name: "plone site", type: http'],
    ['watchdog: { database-grace: 5min }', 'watchdog: { database-grace: soon }'],
    // The stack config's own rules for the wrapper's keys (the description's `stack` rules).
    ['stop: { drain: 10s, timeout: 60s }', 'stop: { drain: 10s, timeout: 60s, signal: SIGKILL }'],
    ['stop: { drain: 10s, timeout: 60s }', 'stop: { drain: 10s, timeout: 60s, signal: TERM }'],
    ['  threads: 2', '  threads: 2\n  signals: { forward: [SIGTERM] }'],
    ['  threads: 2', '  threads: 2\n  signals: { forward: SIGHUP }'],
    ['  threads: 2', '  threads: 2\n  signals: { forward: [SIGHUP, SIGHUP] }'],
    ['    agent: 127.0.0.1:{9080+n}     # HAProxy agent-check', '    detail-from: [127.0.0.0/8]'],
    ['{ name: root, interval: 10s }', '{ name: root, enabled: false, interval: 10s }'],
    ['{ name: root, interval: 10s }', '{ interval: 10s }'],
    ['    agent: 127.0.0.1:{9080+n}', '    agent: "127.0.0.1:{9080+m}"'],
    ['    agent: 127.0.0.1:{9080+n}', '    agent: "agent.local:{9080+n}"'],
    // restart: the start limit's burst is a whole number from 2 (1 allows no restart); its keys are these three.
    ['watchdog: 30s', 'watchdog: 30s\nrestart: { burst: 1 }'],
    ['watchdog: 30s', 'watchdog: 30s\nrestart: { burst: 0 }'],
    ['watchdog: 30s', 'watchdog: 30s\nrestart: { burst: 1001 }'],
    ['watchdog: 30s', 'watchdog: 30s\nrestart: { burst: 2.5 }'],
    ['watchdog: 30s', 'watchdog: 30s\nrestart: { burst: "5" }'],
    ['watchdog: 30s', 'watchdog: 30s\nrestart: { limit: 5 }'],
    ['watchdog: 30s', 'watchdog: 30s\nrestart: 5s'],
  ]);
  bothAccept(EXAMPLE(), [['watchdog: 30s', 'watchdog: 30s\nrestart: { delay: 100ms, burst: 2, interval: 1d }'], ['watchdog: 30s', 'watchdog: 30s\nrestart: { burst: 1000 }']]);
});

test('durations below their least value, as a number or as text in any unit, fail both', () => {
  bothRefuse(EXAMPLE(), [
    ['    budget: 10min', '    budget: 999ms'],    // TimeoutStartSec=: at least 1 s in the stack config
    ['    budget: 10min', '    budget: 0.5'],
    ['    budget: 10min', '    budget: "0.5"'],
    ['    budget: 10min', '    budget: 900000us'],
    ['    budget: 10min', '    budget: 0.01min'],
    ['stop: { drain: 10s, timeout: 60s }', 'stop: { drain: 10s, timeout: 500ms }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 9ms }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 0 }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 0.009 }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 9999 us }'],
    ['{ name: root, interval: 10s }', '{ name: root, timeout: 0.5ms }'],
  ]);
  // At the least value, in any unit, both accept.
  bothAccept(EXAMPLE(), [
    ['    budget: 10min', '    budget: 1s'],
    ['    budget: 10min', '    budget: 1000ms'],
    ['    budget: 10min', '    budget: 1'],
    ['    budget: 10min', '    budget: 0.02min'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 10ms }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 10000us }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: 0.01 }'],
    ['{ name: root, interval: 10s }', '{ name: root, interval: "5ms 5ms" }'],
  ]);
});

/** Where each of the stack's own durations goes into the example: [from, to with VALUE]. */
const STACK_DURATION_EDITS: Record<StackDurationKey, readonly [string, string]> = {
  watchdog: ['watchdog: 30s', 'watchdog: VALUE'],
  'zeo.ready-timeout': ['  address: 127.0.0.1:8100', '  address: 127.0.0.1:8100\n  ready-timeout: VALUE'],
  'clients.recycle.max-age': ['  threads: 2', '  threads: 2\n  recycle: { max-age: VALUE }'],
  'clients.recycle.every': ['  threads: 2', '  threads: 2\n  recycle: { max-age: 1d, every: VALUE }'],
  'restart.delay': ['watchdog: 30s', 'watchdog: 30s\nrestart: { delay: VALUE }'],
  'restart.interval': ['watchdog: 30s', 'watchdog: 30s\nrestart: { interval: VALUE }'],
  'haproxy.check-interval': ['haproxy: { backend: plone,', 'haproxy: { check-interval: VALUE, backend: plone,'],
  'haproxy.queue-timeout': ['haproxy: { backend: plone,', 'haproxy: { queue-timeout: VALUE, backend: plone,'],
};

test('the stack\'s own durations below their least value, as a number or as text in any unit, fail both; at it both accept', () => {
  assert.deepEqual(Object.keys(STACK_DURATION_EDITS).sort(), Object.keys(STACK_DURATIONS).sort());
  for (const [key, [from, to]] of Object.entries(STACK_DURATION_EDITS)) {
    const { min } = STACK_DURATIONS[key as StackDurationKey];
    const edits = (values: Array<string | number>) => values.map((v) => [from, to.replace('VALUE', String(v))] as const);
    bothRefuse(EXAMPLE(), edits([`${min - 1}ms`, (min - 1) / 1000, `"${(min - 1) / 1000}"`, `${min * 1000 - 1}us`, `${min / 60_000 / 2}min`]));
    bothAccept(EXAMPLE(), edits([`${min}ms`, min / 1000, `${min * 1000}us`]));
  }
});

test('the stack\'s own durations up to the greatest their consumer holds (a Node timer, or systemd and comparisons) pass both; beyond it fail both', () => {
  for (const [key, [from, to]] of Object.entries(STACK_DURATION_EDITS)) {
    const { ms } = DURATION_MAX[STACK_DURATIONS[key as StackDurationKey].max];
    const edits = (values: Array<string | number>) => values.map((v) => [from, to.replace('VALUE', String(v))] as const);
    bothAccept(EXAMPLE(), edits([ms / 1000, `${ms}ms`]));
    bothRefuse(EXAMPLE(), edits([(ms + 1) / 1000]));
  }
  // An uptime threshold is no timer, and the recycle timer is systemd's: a month is fine for both.
  assert.equal(STACK_DURATIONS['clients.recycle.max-age'].max, 'span');
  assert.equal(STACK_DURATIONS['clients.recycle.every'].max, 'span');
  bothAccept(EXAMPLE(), [['  threads: 2', '  threads: 2\n  recycle: { max-age: 30d, every: 30d }']]);
  // The watchdog's pings run on a Node timer: 25 days is past what it holds.
  assert.throws(() => parseStack(EXAMPLE().replace('watchdog: 30s', 'watchdog: 25d'), { file: 'x.yaml' }), /longer than a timer can hold/);
});

test('a key of another check type fails both; the keys of the type pass', () => {
  bothRefuse(EXAMPLE(), [
    [PLONE_CHECK, '{ name: db, type: zeo, address: 127.0.0.1:8100, path: / }'],
    [PLONE_CHECK, '{ name: port, type: tcp, address: 127.0.0.1:8080, status: 200 }'],
    [PLONE_CHECK, '{ name: disk, type: command, command: [/bin/true], address: 127.0.0.1:1 }'],
    [PLONE_CHECK, '{ name: web, type: http, ruok-every: 1min }'],
    // The wrapper reads a bare port as 127.0.0.1:port; the stack config wants the address written out.
    [PLONE_CHECK, '{ name: port, type: tcp, address: 8080 }'],
    [PLONE_CHECK, '{ name: pg, type: postgresql, address: 127.0.0.1:5432, text: OK }'],
  ]);
  bothAccept(EXAMPLE(), [
    [PLONE_CHECK, '{ name: db, type: zeo, address: "127.0.0.1:{8100+n}", ruok-every: 0 }'],
    [PLONE_CHECK, '{ name: disk, type: command, command: [bin/check, "var/client{n}"], timeout: 10s }'],
    [PLONE_CHECK, '{ name: pg, type: postgresql, address: "db.example.org:5432" }'],
    ['{ name: root, interval: 10s }', '{ name: root, enabled: false }'],
    ['{ name: root, interval: 10s }', '{ name: zeo, type: tcp }'],
  ]);
});
