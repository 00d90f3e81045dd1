// The notifier (notifier.ts) against a real datagram receiver: redacted STATUS=, repeated status texts
// suppressed, the last status remembered, and a lost NOTIFY_SOCKET logged once instead of thrown.
import assert from 'node:assert/strict';
import test from 'node:test';
import { startDgramReceiver } from '../../../test/harness/dgram-receiver.js';
import type { Logger } from '../src/znotify/log.js';
import { Notifier } from '../src/znotify/notifier.js';
import { recordingLog } from './helpers/parts.js';

test('notifier: status() sends a text once, with extra states first; announce() keeps the status wherever it stands', async (t) => {
  const r = await startDgramReceiver();
  t.after(() => r.close());
  const n = new Notifier(r.env(), recordingLog() as unknown as Logger);
  n.status('warm-up 0/1');
  n.status('warm-up 0/1');
  n.status('warm-up 0/1', [{ type: 'extend-timeout', usec: 5_000_000n }]);
  n.announce([{ type: 'stopping' }, { type: 'status', text: 'stopping' }, { type: 'extend-timeout', usec: 1n }]);
  n.status('stopping');
  n.send([{ type: 'status', text: 'not remembered' }]);
  await r.waitForCount(4);
  assert.deepEqual(r.received.map((d) => d.text), [
    'STATUS=warm-up 0/1',
    'EXTEND_TIMEOUT_USEC=5000000\nSTATUS=warm-up 0/1',
    'STOPPING=1\nSTATUS=stopping\nEXTEND_TIMEOUT_USEC=1',
    'STATUS=not remembered',
  ]);
  assert.equal(n.lastStatus, 'stopping');
});

test('notifier: a DSN in a status is redacted; a failed send is logged once per code; strict rethrows', async (t) => {
  const r = await startDgramReceiver();
  t.after(() => r.close());
  const log = recordingLog();
  new Notifier(r.env(), log as unknown as Logger).status('zeo: postgresql://zope:s3cret@db/plone refused');
  assert.equal((await r.next()).text, 'STATUS=zeo: postgresql://zope:***@db/plone refused');

  const lost = new Notifier({ NOTIFY_SOCKET: '/nonexistent/notify.sock' }, log as unknown as Logger);
  lost.send([{ type: 'watchdog' }]);
  lost.send([{ type: 'watchdog' }]);
  assert.deepEqual(log.lines.map((l) => l.msg), ['cannot notify systemd']);
  assert.throws(() => lost.send([{ type: 'ready' }], true));
});

test('notifier: settled() is true once the manager closed the barrier fd, false (logged) when it does not, false without systemd', async (t) => {
  const closing = await startDgramReceiver();
  t.after(() => closing.close());
  const log = recordingLog();
  const n = new Notifier(closing.env(), log as unknown as Logger);
  n.send([{ type: 'ready' }]);
  assert.equal(await n.settled(), true);
  // The receiver closes the fd in its own thread; the datagram reaches this thread's list just after.
  await closing.waitForCount(2);
  assert.deepEqual(closing.received.map((d) => d.text), ['READY=1', 'BARRIER=1']);

  const holding = await startDgramReceiver({ barrier: 'hold' });
  t.after(() => holding.close());
  assert.equal(await new Notifier(holding.env(), log as unknown as Logger).settled(50), false);
  assert.deepEqual(log.lines.map((l) => l.msg), ['systemd did not confirm the notifications sent so far (BARRIER=1); going on']);
  for (const d of holding.received) for (const fd of d.fds) holding.closeFd(fd);

  assert.equal(await new Notifier({}, log as unknown as Logger).settled(), false);
});
