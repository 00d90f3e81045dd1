// The description of the wrapper's configuration holds together: every default is a value its own key
// accepts, every key has a field and a meaning, every check type has its keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHECK_KEYS, CHECK_TYPES, checkKeys, commonCheckKeys, DEFAULT_ROLES, MAX_TIMER_MS, parseAddress, parseDuration, parseRequestPath, sectionKeys,
  WRAPPER_CONFIG, type WrapperKey,
} from '../src/index.js';

const every = (): Array<[string, WrapperKey]> => [
  ...Object.entries(WRAPPER_CONFIG).flatMap(([section, keys]) => Object.entries(keys).map(([k, v]) => [`${section}.${k}`, v] as [string, WrapperKey])),
  ...Object.entries(CHECK_KEYS).map(([k, v]) => [`checks[].${k}`, v] as [string, WrapperKey]),
];

test('every default is a value its key accepts', () => {
  for (const [name, k] of every()) {
    assert.ok(k.field && k.doc, `${name}: field and doc`);
    const d = k.default;
    if (d === undefined) continue;
    const t = k.value;
    switch (t.kind) {
      case 'duration': {
        assert.ok(typeof d === 'number' && d >= (t.min ?? 0) && d <= MAX_TIMER_MS, name);
        assert.deepEqual(parseDuration(d / 1000), { ok: true, value: d }, name);
        break;
      }
      case 'integer': assert.ok(typeof d === 'number' && Number.isInteger(d) && d >= t.min && d <= t.max, name); break;
      case 'enum': assert.ok(t.values.includes(d as string), name); break;
      case 'boolean': assert.equal(typeof d, 'boolean', name); break;
      case 'address': assert.ok(parseAddress(d, { names: true, barePort: true }).ok, name); break;
      case 'request-path': assert.ok(parseRequestPath(d as string).ok, name); break;
      default: break;
    }
  }
});

test('keys: sections in order, the checks of each type, roles by type', () => {
  assert.deepEqual(sectionKeys('stop'), ['drain', 'signal', 'timeout']);
  assert.deepEqual(commonCheckKeys(), ['name', 'type', 'interval', 'timeout', 'failure-threshold', 'success-threshold', 'roles', 'grace']);
  assert.deepEqual(checkKeys('zeo').slice(-2), ['address', 'ruok-every']);
  assert.deepEqual(checkKeys('command').at(-1), 'command');
  for (const type of CHECK_TYPES) {
    assert.ok(DEFAULT_ROLES[type].length > 0, type);
    assert.ok(checkKeys(type).length > commonCheckKeys().length, `${type} has keys of its own`);
  }
  // Fields are unique within a check, so a validated check has one property per key.
  const fields = Object.values(CHECK_KEYS).map((k) => k.field);
  assert.equal(new Set(fields).size, fields.length);
});
