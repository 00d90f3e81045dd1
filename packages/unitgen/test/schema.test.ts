// The published JSON Schema (schema/stack.schema.json) and zunitgen's own validator agree: the example and
// every fixture pass both, the key tables are the same, and typical mistakes fail both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, KEYS, parseStack } from '../src/index.js';
import { FIXTURES, PKG, REPO } from './helpers.js';
import { validateSchema } from '../../../test/harness/json-schema.js';

type Schema = Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(PKG, 'schema/stack.schema.json'), 'utf8')) as Schema;

const check = (s: Schema, v: unknown): string[] => validateSchema(s, v);

function resolve(ref: string): Schema {
  return ref.replace(/^#\//, '').split('/').reduce<Schema>((o, k) => o[k] as Schema, schema);
}

const inputs = [join(REPO, 'examples/stack/plone.yaml'), join(REPO, 'examples/stack/plone-hosts.yaml'), ...readdirSync(FIXTURES).map((d) => join(FIXTURES, d, 'stack.yaml'))];

test('the example and every fixture validate against the schema and against zunitgen', () => {
  for (const f of inputs) {
    const text = readFileSync(f, 'utf8');
    assert.deepEqual(check(schema, parseYaml(text)), [], f);
    parseStack(text, { file: f });
  }
});

test('schema properties are exactly the keys zunitgen accepts', () => {
  const props = (s: Schema) => Object.keys((s.properties ?? {}) as object).sort();
  const p = schema.properties as Record<string, Schema>;
  const clients = p.clients!.properties as Record<string, Schema>;
  const pairs: Array<[readonly string[], Schema]> = [
    [KEYS.root, schema],
    [KEYS.database, p.database!],
    [KEYS.postgresql, (p.database!.properties as Record<string, Schema>).postgresql!],
    [KEYS.zeo, p.zeo!],
    [KEYS.clients, p.clients!],
    [KEYS.health, (clients.health!.oneOf as Schema[])[1]!],
    [KEYS.warmup, (clients.warmup!.oneOf as Schema[])[1]!],
    [KEYS['warmup-url'], (resolve('#/$defs/warmupUrl').oneOf as Schema[])[1]!],
    [KEYS.memory, resolve('#/$defs/memory')],
    [KEYS.stop, clients.stop!],
    [KEYS['clients-watchdog'], clients.watchdog!],
    [KEYS.check, resolve('#/$defs/check')],
    [KEYS.limits, p.limits!],
    [KEYS.haproxy, p.haproxy!],
    [KEYS.haproxyInstall, (p.haproxy!.properties as Record<string, Schema>).install!],
    [KEYS.host, resolve('#/$defs/host')],
  ];
  for (const [keys, s] of pairs) assert.deepEqual(props(s), [...keys].sort());
});

test('typical mistakes fail both the schema and zunitgen', () => {
  const base = readFileSync(join(REPO, 'examples/stack/plone.yaml'), 'utf8');
  const mutations: Array<[string, string]> = [
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
  ];
  for (const [from, to] of mutations) {
    assert.ok(base.includes(from), from);
    const text = base.replace(from, to);
    assert.notDeepEqual(check(schema, parseYaml(text)), [], `schema accepted: ${to}`);
    assert.throws(() => parseStack(text, { file: 'x.yaml' }), ConfigError, `zunitgen accepted: ${to}`);
  }
});
