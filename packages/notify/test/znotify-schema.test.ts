// The published JSON Schema of znotify's configuration (schema/znotify.schema.json, written by `pnpm build`
// from the one description of the wrapper configuration) and znotify's own validator agree: the example and
// every configuration zunitgen writes pass both, and typical mistakes fail both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { CHECK_KEYS, sectionKeys, WRAPPER_CONFIG, znotifyConfigSchema, type WrapperSectionName } from '@zope-systemd/common';
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

test('typical mistakes fail both the schema and znotify', () => {
  const base = readFileSync(EXAMPLE, 'utf8');
  const mutations: Array<[string, string]> = [
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
  ];
  for (const [from, to] of mutations) {
    assert.ok(base.includes(from), from);
    const text = base.replace(from, to);
    assert.notDeepEqual(validateSchema(schema, parseYaml(text)), [], `schema accepted: ${to}`);
    assert.throws(() => parseConfig(text, 'c.yaml'), ConfigError, `znotify accepted: ${to}`);
  }
});
