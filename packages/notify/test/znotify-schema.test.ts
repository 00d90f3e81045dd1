// The published JSON Schema of znotify's configuration (schema/znotify.schema.json, written by `pnpm build`
// from the one description of the wrapper configuration) and znotify's own validator agree: the example and
// every configuration zunitgen writes pass both, and typical mistakes fail both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import fc from 'fast-check';
import { CHECK_KEYS, parseDuration, sectionKeys, WRAPPER_CONFIG, wrapperSchemaDefs, znotifyConfigSchema, type WrapperSectionName } from '@zope-systemd/common';
import { parseConfig } from '../src/znotify/config.js';
import { ConfigError } from '../src/znotify/errors.js';
import { validateSchema } from '../../../test/harness/json-schema.js';

type Schema = Record<string, unknown>;
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const schema = JSON.parse(readFileSync(path.join(REPO, 'packages/notify/schema/znotify.schema.json'), 'utf8')) as Schema;
const EXAMPLE = path.join(REPO, 'examples/znotify/client1.yaml');
const FIXTURES = path.join(REPO, 'packages/unitgen/test/fixtures');

/** The wrapper configs zunitgen writes for the fixtures' clients. */
function written(): string[] {
  return readdirSync(FIXTURES).flatMap((d) => {
    const dir = path.join(FIXTURES, d, 'expected');
    try { return readdirSync(dir).filter((f) => f.endsWith('.znotify.yaml')).map((f) => path.join(dir, f)); } catch { return []; }
  });
}

test('the built schema is the one the description gives, with every key of it', () => {
  assert.deepEqual(schema, JSON.parse(JSON.stringify(znotifyConfigSchema())), 'schema/znotify.schema.json is stale: run pnpm build');
  const props = (s: unknown) => Object.keys((s as Schema).properties as object);
  const defs = schema.$defs as Record<string, Schema>;
  assert.deepEqual(props(schema), sectionKeys('top'));
  for (const section of Object.keys(WRAPPER_CONFIG).filter((s) => s !== 'top') as WrapperSectionName[]) {
    assert.deepEqual(props(defs[section]), sectionKeys(section), section);
  }
  assert.deepEqual(props(defs.check), Object.keys(CHECK_KEYS));
});

test('the example and every config zunitgen writes validate against the schema and against znotify', () => {
  const files = [EXAMPLE, ...written()];
  assert.ok(files.length > 5, `found ${files.length} configs`);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    assert.deepEqual(validateSchema(schema, parseYaml(text)), [], f);
    parseConfig(text, f);
  }
});

/** The example with each [from, to] edit made in turn (each `from` must be in it): the edit's `to` and the text. */
function editedExample(edits: ReadonlyArray<readonly [string, string]>): Array<{ to: string; text: string }> {
  const base = readFileSync(EXAMPLE, 'utf8');
  return edits.map(([from, to]) => {
    assert.ok(base.includes(from), from);
    return { to, text: base.replace(from, to) };
  });
}

/** Each [from, to] edit of the example must be refused by both. */
function bothRefuse(mutations: ReadonlyArray<readonly [string, string]>): void {
  for (const { to, text } of editedExample(mutations)) {
    assert.notDeepEqual(validateSchema(schema, parseYaml(text)), [], `schema accepted: ${to}`);
    assert.throws(() => parseConfig(text, 'c.yaml'), ConfigError, `znotify accepted: ${to}`);
  }
}

/** Each [from, to] edit of the example must be accepted by both. */
function bothAccept(edits: ReadonlyArray<readonly [string, string]>): void {
  for (const { to, text } of editedExample(edits)) {
    assert.deepEqual(validateSchema(schema, parseYaml(text)), [], `schema refused: ${to}`);
    parseConfig(text, 'c.yaml');
  }
}

test('typical mistakes fail both the schema and znotify', () => {
  bothRefuse([
    ['http: 127.0.0.1:8081', 'http: 127.0.0.1'],
    ['log:\n  level: info', 'logs:\n  level: info'],
    ['  level: info', '  level: loud'],
    ['  budget: 10min', '  budget: 10 parsecs'],
    ['  interval: 1s', '  interval: 0.001'], // seconds, under its 10 ms least,
    ['    - path: /Plone ', '    - path: Plone '],
    ['      status: 200', '      status: 99'],
    ['- name: root ', '- name: "root check" '],
    ['    type: http', '    type: htp'],
    ['    interval: 5s', '    intervall: 5s'],
    ['    failure-threshold: 3', '    failure-threshold: 0'],
    ['    roles: [liveness, readiness]', '    roles: [ready]'],
    ['    command: [/usr/bin/test, -w, /srv/plone/var]', '    command: []'],
    ['  dump-stacks: true', '  dump-stacks: sure'],
    ['  backend: plone', '  backend: "a b"'],
    ['log:\n', 'signals:\n  forward: [SIGHUP, SIGHUP]\nlog:\n'],
  ]);
});

const ZEO_CHECK = '    address: 127.0.0.1:8100';
const DISK_CHECK = '    type: command\n    command: [/usr/bin/test, -w, /srv/plone/var]';

test('durations below their least value, as a number or as text in any unit, fail both; at it, both pass', () => {
  bothRefuse([
    ['  interval: 1s', '  interval: 9ms'],
    ['  interval: 1s', '  interval: "0.009"'],
    ['  interval: 1s', '  interval: 9999us'],
    ['  interval: 1s', '  interval: 0'],
    ['    interval: 5s', '    interval: 0.5ms'],
    ['    timeout: 2s', '    timeout: 0.9 ms'],
    ['      timeout: 10s', '      timeout: 0s'],
    ['  budget: 10min', '  budget: 0us'],
    ['  budget: 10min', '  budget: 0.001'],    // no instance answers sooner than a second: at least 1 s
    ['  budget: 10min', '  budget: 999ms'],
    ['  timeout: 60s', '  timeout: 0'],
  ]);
  bothAccept([
    ['  interval: 1s', '  interval: 10ms'],
    ['  interval: 1s', '  interval: 0.01'],
    ['  interval: 1s', '  interval: "5ms 5ms"'],
    ['    timeout: 2s', '    timeout: 1ms'],
    ['    timeout: 2s', '    timeout: 1000us'],
    ['  budget: 10min', '  budget: 1'],
    ['  budget: 10min', '  budget: 1000000us'],
  ]);
});

test('a key of another check type, or a key the type requires left out, fails both', () => {
  bothRefuse([
    [ZEO_CHECK, `${ZEO_CHECK}\n    path: /`],
    [ZEO_CHECK, `${ZEO_CHECK}\n    status: 200`],
    [DISK_CHECK, `${DISK_CHECK}\n    address: 127.0.0.1:1`],
    ['    path: /\n', '    path: /\n    ruok-every: 1min\n'],
    ['    address: 127.0.0.1:8100\n', ''],
    ['    command: [/usr/bin/test, -w, /srv/plone/var]\n', ''],
  ]);
  bothAccept([
    [ZEO_CHECK, `${ZEO_CHECK}\n    ruok-every: 0`],
    ['checks:\n', 'checks:\n  - { name: port, type: tcp, address: 8080 }\n'],
    ['checks:\n', 'checks:\n  - { name: db, type: postgresql, address: "db.example.org:5432" }\n'],
  ]);
});

test('a config without checks (checks: []) passes both', () => {
  const text = 'name: client1\nchecks: []\n';
  assert.deepEqual(validateSchema(schema, parseYaml(text)), []);
  assert.deepEqual(parseConfig(text, 'c.yaml').checks, []);
});

test('a duration of one component is refused by a schema only when it is below the least value (property)', () => {
  const defs = schema.$defs as Record<string, Schema>;
  const stack = wrapperSchemaDefs({ tool: 'stack', prefix: '' });
  const durationOf = (d: Schema, key: string) => ({ ...(d.properties as Record<string, Schema>)[key]!, description: undefined });
  const cases: Array<[Schema, number]> = [[durationOf(defs.check!, 'interval'), 10], [durationOf(defs.stop!, 'timeout'), 1], [durationOf(defs.warmup!, 'budget'), 1000], [durationOf(stack.warmup!, 'budget'), 1000]];
  const units = ['', 'us', 'usec', 'ms', 'msec', 's', 'sec', 'seconds', 'm', 'min', 'h', 'hr', 'd', 'w', 'M', 'y'];
  // Exact units (the least value is a whole or decimal number in them): schema and wrapper agree both ways.
  const exact = new Set(['', 'us', 'usec', 'ms', 'msec', 's', 'sec', 'seconds']);
  const number = fc.oneof(
    fc.nat(20000).map(String),
    fc.tuple(fc.nat(2000), fc.stringMatching(/^[0-9]{0,7}$/)).map(([i, f]) => `${i}.${f}`),
    fc.stringMatching(/^[0-9]{1,7}$/).map((f) => `.${f}`),
    fc.tuple(fc.stringMatching(/^0{1,3}$/), fc.nat(2000)).map(([z, i]) => `${z}${i}`),
  );
  fc.assert(fc.property(fc.constantFrom(...cases), number, fc.constantFrom(...units), fc.constantFrom('', ' '), ([d, min], n, unit, sp) => {
    const text = `${n}${sp}${unit}`;
    const r = parseDuration(text);
    const wrapperOk = r.ok && r.value >= min;
    const schemaOk = validateSchema({ ...d, $defs: {} } as Schema, text).length === 0;
    if (!schemaOk) assert.ok(!wrapperOk, `${text}: the schema refuses what the wrapper takes (least ${min} ms)`);
    if (exact.has(unit)) assert.equal(schemaOk, wrapperOk, `${text} (least ${min} ms)`);
  }), { numRuns: 3000 });
});
