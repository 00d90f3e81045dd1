import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childEnv } from '../src/index.js';

test('childEnv drops exactly the systemd service variables and leaves env untouched', () => {
  const env = {
    PATH: '/usr/bin',
    NOTIFY_SOCKET: '/run/systemd/notify',
    WATCHDOG_USEC: '30000000',
    WATCHDOG_PID: '42',
    LISTEN_PID: '42',
    LISTEN_FDS: '2',
    LISTEN_FDNAMES: 'http:agent',
    LISTEN_ADDRESS: '127.0.0.1:8080',
  };
  const frozen = { ...env };
  const child = childEnv(env);
  assert.deepEqual(child, { PATH: '/usr/bin', LISTEN_ADDRESS: '127.0.0.1:8080' });
  assert.deepEqual(env, frozen);
  assert.notEqual(child, env);
});

test('childEnv defaults to a copy of process.env', () => {
  const child = childEnv();
  assert.notEqual(child, process.env);
  assert.equal(child.PATH, process.env.PATH);
  assert.equal(child.NOTIFY_SOCKET, undefined);
});
