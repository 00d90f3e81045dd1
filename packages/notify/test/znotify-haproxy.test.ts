// The wrapper's server state in a real HAProxy (haproxy.ts ServerStateQueue): commands in the order decided,
// a `ready` dropped once the stop has begun, refusals and an unreachable socket logged, never thrown.
import assert from 'node:assert/strict';
import test from 'node:test';
import { rmSync } from 'node:fs';
import { runtimeCommand } from '@zope-systemd/common';
import { haproxyConfig, haproxySkipReason, useHaproxy } from '../../../test/harness/haproxy.js';
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
  assert.equal(log.lines[4]?.msg, 'could not set the HAProxy server to ready: /nonexistent/admin.sock: ENOENT: no HAProxy listens there; check that HAProxy runs and that its global section has `stats socket /nonexistent/admin.sock ... level user` (haproxy.wrapper-socket of the stack file)');
});

// The wrappers' own socket is of level user: HAProxy answers `set server` with "Permission denied". One info line
// says the agent's answers set the state instead, and nothing more is sent over it.
test('HAProxy server state over a level-user socket: one line that the agent sets the state, then nothing more is sent', { skip: haproxySkipReason() }, async (t) => {
  const user = `/tmp/znotify-level-user-${process.pid}.sock`;
  const hx = await useHaproxy(t, { config: haproxyConfig([{ name: 'plone', servers: [{ name: 'client1', port: await freePort() }] }]).replace(/^global$/m, `global\n  stats socket ${user} mode 600 level user`).replace(/^global$/m, `global\n  stats socket /tmp/znotify-level-admin-${process.pid}.sock mode 600 level admin`) });
  t.after(() => rmSync(user, { force: true }));
  const log = recordingLog();
  const q = new ServerStateQueue({ statsSocket: user, backend: 'plone', server: 'client1' }, log);
  await q.set('drain');
  await q.set('ready');
  await q.set('drain');
  assert.deepEqual(log.lines.map((l) => [l.level, l.msg]), [['info', `HAProxy stats socket ${user} is read-only (not level admin): the health agent's answers set plone/client1 ready and drain at HAProxy's next agent check`]]);
  assert.notEqual(await hx.serverState('plone', 'client1'), 'DRAIN', 'level user changes nothing');
  assert.match(await runtimeCommand(user, 'show stat'), /^plone,client1,/m, 'show stat works at level user (as the drain to zero needs)');
});
