// The published JSON Schema (schema/stack.schema.json) and zunitgen's own validator agree: the example and
// every fixture pass both, the key tables are the same, and typical mistakes fail both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, KEYS, parseStack } from '../src/index.js';
import { FIXTURES, PKG, REPO } from './helpers.js';

type Schema = Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(PKG, 'schema/stack.schema.json'), 'utf8')) as Schema;

/** A small validator for the JSON Schema keywords the schema uses. Returns error paths. */
function check(s: Schema, v: unknown, path = '$'): string[] {
  if (typeof s.$ref === 'string') return check(resolve(s.$ref), v, path);
  const errs: string[] = [];
  if (s.oneOf) {
    const ok = (s.oneOf as Schema[]).filter((x) => check(x, v, path).length === 0).length;
    if (ok !== 1) errs.push(`${path}: matches ${ok} of oneOf`);
    return errs;
  }
  if (s.enum && !(s.enum as unknown[]).includes(v)) errs.push(`${path}: not in enum`);
  const t = s.type as string | undefined;
  const is = (ty: string) => ty === 'integer' ? Number.isInteger(v) : ty === 'number' ? typeof v === 'number' : ty === 'array' ? Array.isArray(v) : ty === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === ty;
  if (t && !is(t)) return [...errs, `${path}: not ${t}`];
  if (typeof v === 'string') {
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) errs.push(`${path}: pattern`);
    if (typeof s.minLength === 'number' && v.length < s.minLength) errs.push(`${path}: minLength`);
    if (typeof s.maxLength === 'number' && v.length > s.maxLength) errs.push(`${path}: maxLength`);
  }
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) errs.push(`${path}: minimum`);
    if (typeof s.maximum === 'number' && v > s.maximum) errs.push(`${path}: maximum`);
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) errs.push(`${path}: minItems`);
    if (s.items) v.forEach((x, i) => errs.push(...check(s.items as Schema, x, `${path}[${i}]`)));
  }
  if (t === 'object' && typeof v === 'object' && v) {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in v)) errs.push(`${path}: missing ${r}`);
    for (const [k, x] of Object.entries(v)) {
      if (props[k]) errs.push(...check(props[k]!, x, `${path}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${path}: unknown ${k}`);
    }
  }
  return errs;
}

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
