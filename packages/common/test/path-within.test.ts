import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { firstDirHolding, isPathWithin } from '../src/index.js';

test('a path is within a directory when it is the directory or below it, by whole components', () => {
  assert.ok(isPathWithin('/tmp', '/tmp'));
  assert.ok(isPathWithin('/tmp/site/bin/instance', '/tmp'));
  assert.ok(isPathWithin('/tmp/', '/tmp'));
  assert.ok(isPathWithin('/tmp/a', '/tmp/'));
  assert.ok(!isPathWithin('/tmpfoo', '/tmp'));
  assert.ok(!isPathWithin('/tm', '/tmp'));
  assert.ok(!isPathWithin('/var/tmp', '/tmp'));
  assert.ok(!isPathWithin('/', '/tmp'));
  assert.ok(isPathWithin('/anything', '/'));
  assert.ok(isPathWithin('/', '/'));
  assert.ok(!isPathWithin('relative/x', '/'));
  assert.equal(firstDirHolding('/run/user/1000/x', ['/home', '/root', '/run/user']), '/run/user');
  assert.equal(firstDirHolding('/run/userx', ['/home', '/root', '/run/user']), undefined);
});

test('property: within is the same as "dir\'s components are a prefix of path\'s"', () => {
  const seg = fc.constantFrom('a', 'b', 'ab', 'tmp');
  fc.assert(fc.property(fc.array(seg, { maxLength: 4 }), fc.array(seg, { maxLength: 4 }), (p, d) => {
    const prefix = d.length <= p.length && d.every((x, i) => p[i] === x);
    assert.equal(isPathWithin(`/${p.join('/')}`, `/${d.join('/')}`), prefix);
  }));
});
