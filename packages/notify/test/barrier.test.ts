// barrier(): BARRIER=1 with a real pipe fd to a real datagram receiver; resolves when the receiver closes
// the fd (as systemd does), times out while it holds it, and honours AbortSignal.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startDgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { barrier, notify, closeNotifySockets, NotifyError } from '../src/index.js';

after(() => closeNotifySockets());

test('resolves true once the receiver closed the fd; BARRIER=1 travels alone with exactly one fd', async (t) => {
  const rx = await startDgramReceiver({ barrier: 'hold' });
  t.after(() => rx.close());
  notify({ type: 'status', text: 'before the barrier' }, { env: rx.env() });
  let settled = false;
  const p = barrier({ env: rx.env(), timeoutMs: 5000 }).finally(() => (settled = true));
  assert.equal((await rx.next()).text, 'STATUS=before the barrier');
  const d = await rx.next();
  assert.deepEqual(d.bytes, Buffer.from('BARRIER=1'));
  assert.equal(d.fds.length, 1);
  assert.ok(fs.fstatSync(d.fds[0]!).isFIFO(), 'the barrier fd is a pipe');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(settled, false, 'still waiting while the receiver holds the fd');
  rx.closeFd(d.fds[0]!);
  assert.equal(await p, true);
});

test('resolves quickly against a receiver that closes at once, and leaks no fd', async (t) => {
  const rx = await startDgramReceiver({ abstract: true }); // barrier: 'close'
  t.after(() => rx.close());
  await barrier({ env: rx.env() }); // warm: socket + libc
  const before = fs.readdirSync('/proc/self/fd').length;
  for (let i = 0; i < 20; i++) assert.equal(await barrier({ env: rx.env(), timeoutMs: 2000 }), true);
  assert.equal(fs.readdirSync('/proc/self/fd').length, before);
  assert.ok(rx.received.every((d) => d.text === 'BARRIER=1' && d.barrierClosed));
});

test('rejects ERR_NOTIFY_BARRIER_TIMEOUT while the receiver holds the fd', async (t) => {
  const rx = await startDgramReceiver({ barrier: 'hold' });
  t.after(() => rx.close());
  const started = Date.now();
  await assert.rejects(barrier({ env: rx.env(), timeoutMs: 150 }), (err: unknown) => {
    assert.ok(err instanceof NotifyError);
    assert.equal(err.code, 'ERR_NOTIFY_BARRIER_TIMEOUT');
    assert.match(err.message, /within 150 ms/);
    assert.ok(err.message.includes(rx.address));
    return true;
  });
  assert.ok(Date.now() - started >= 140);
  assert.equal((await rx.next()).fds.length, 1);
});

test('AbortSignal: rejects ERR_NOTIFY_ABORTED with the reason as cause', async (t) => {
  const rx = await startDgramReceiver({ barrier: 'hold' });
  t.after(() => rx.close());
  const ac = new AbortController();
  const p = barrier({ env: rx.env(), timeoutMs: 10_000, signal: ac.signal });
  await rx.next();
  const reason = new Error('shutting down');
  ac.abort(reason);
  await assert.rejects(p, (err: unknown) => err instanceof NotifyError && err.code === 'ERR_NOTIFY_ABORTED' && err.cause === reason);
  await assert.rejects(barrier({ env: rx.env(), signal: AbortSignal.abort() }), { code: 'ERR_NOTIFY_ABORTED' });
});

test('unset NOTIFY_SOCKET: resolves false; bad timeoutMs: ERR_NOTIFY_INVALID_ARGUMENT', async () => {
  assert.equal(await barrier({ env: {} }), false);
  await assert.rejects(barrier({ env: {}, timeoutMs: -1 }), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /got -1/ });
});

test('a failed send closes both pipe ends and rejects with ERR_NOTIFY_SEND_FAILED', async () => {
  const before = fs.readdirSync('/proc/self/fd').length;
  await assert.rejects(barrier({ env: { NOTIFY_SOCKET: `@zsd-barrier-nobody-${process.pid}` } }), { code: 'ERR_NOTIFY_SEND_FAILED', errno: 'ECONNREFUSED' });
  assert.equal(fs.readdirSync('/proc/self/fd').length, before);
});

test('unsetEnvironment deletes NOTIFY_SOCKET once the barrier is sent', async (t) => {
  const rx = await startDgramReceiver({ abstract: true });
  t.after(() => rx.close());
  const env: NodeJS.ProcessEnv = rx.env();
  const p = barrier({ env, unsetEnvironment: true, timeoutMs: 5000 });
  assert.deepEqual(env, {}, 'gone before the wait ends');
  assert.equal(await p, true);
  assert.equal(await barrier({ env }), false);
});
