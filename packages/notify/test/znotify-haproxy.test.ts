// The wrapper's server state in a real HAProxy (haproxy.ts ServerStateQueue): commands in the order decided,
// a `ready` dropped once the stop has begun, refusals and an unreachable socket logged, never thrown.
import assert from 'node:assert/strict';
import test from 'node:test';
import { haproxySkipReason, useHaproxy } from '../../../test/harness/haproxy.js';
import { freePort } from '../../../test/harness/net.js';
import { ServerStateQueue } from '../src/znotify/haproxy.js';
import { recordingLog } from './helpers/parts.js';

test('HAProxy server state: in the order queued; ready skipped once not allowed; refusals and failures logged', { skip: haproxySkipReason() }, async (t) => {
  const hx = await useHaproxy(t, { backends: [{ name: 'plone', servers: [{ name: 'client1', port: await freePort() }] }] });
  const log = recordingLog();
  let readyAllowed = true;
  const q = new ServerStateQueue({ statsSocket: hx.statsSocket, backend: 'plone', server: 'client1' }, log, () => readyAllowed);
  // Queued back to back: each is a connection of its own, yet the last one decides.
  void q.set('drain');
  void q.set('ready');
  await q.set('drain');
  assert.equal(await hx.serverState('plone', 'client1'), 'DRAIN');
  assert.deepEqual(log.lines.map((l) => l.msg), ['HAProxy server set to drain', 'HAProxy server set to ready', 'HAProxy server set to drain']);

  readyAllowed = false;
  await q.set('ready');
  assert.equal(await hx.serverState('plone', 'client1'), 'DRAIN', 'a ready after the stop began is not sent');
  assert.equal(log.lines.length, 3);

  const refused = new ServerStateQueue({ statsSocket: hx.statsSocket, backend: 'plone', server: 'nosuch' }, log);
  await refused.set('drain');
  assert.deepEqual(log.lines[3], { level: 'warn', msg: 'HAProxy refused state drain', fields: { backend: 'plone', server: 'nosuch', answer: 'No such server.' } });

  const gone = new ServerStateQueue({ statsSocket: '/nonexistent/admin.sock', backend: 'plone', server: 'client1' }, log);
  await gone.set('ready');
  assert.equal(log.lines[4]?.msg, 'could not set the HAProxy server to ready');
});
