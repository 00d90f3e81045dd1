// watchdogEnabled() parsing, and WatchdogPinger against a real datagram receiver: it pings only while the
// health predicate holds, treats a slow or throwing check as unhealthy, and stops with its AbortSignal.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { watchdogEnabled, WatchdogPinger, closeNotifySockets, NotifyError } from '../src/index.js';

after(() => closeNotifySockets());

describe('watchdogEnabled()', () => {
  test('unset: undefined', () => {
    assert.equal(watchdogEnabled({ env: {} }), undefined);
    assert.equal(watchdogEnabled({ env: { WATCHDOG_PID: '1' } }), undefined);
  });

  test('usec and half the interval in ms', () => {
    assert.deepEqual(watchdogEnabled({ env: { WATCHDOG_USEC: '30000000' } }), { usec: 30_000_000n, intervalMs: 15_000 });
    assert.deepEqual(watchdogEnabled({ env: { WATCHDOG_USEC: '1001', WATCHDOG_PID: '42' }, pid: 42 }), { usec: 1001n, intervalMs: 1 }, 'at least 1 ms');
    assert.deepEqual(watchdogEnabled({ env: { WATCHDOG_USEC: '3' } }), { usec: 3n, intervalMs: 1 });
  });

  test('WATCHDOG_PID of another process: undefined', () => {
    assert.equal(watchdogEnabled({ env: { WATCHDOG_USEC: '1000000', WATCHDOG_PID: '42' }, pid: 43 }), undefined);
  });

  test('unsetEnvironment deletes WATCHDOG_USEC and WATCHDOG_PID', () => {
    const env: NodeJS.ProcessEnv = { WATCHDOG_USEC: '1000000', WATCHDOG_PID: '42', KEEP: '1' };
    assert.deepEqual(watchdogEnabled({ env, pid: 42, unsetEnvironment: true }), { usec: 1_000_000n, intervalMs: 500 });
    assert.deepEqual(env, { KEEP: '1' });
  });

  for (const [env, message] of [
    [{ WATCHDOG_USEC: 'soon' }, /WATCHDOG_USEC="soon" is not a watchdog timeout/],
    [{ WATCHDOG_USEC: '0' }, /WATCHDOG_USEC="0"/],
    [{ WATCHDOG_USEC: '-1' }, /WATCHDOG_USEC="-1"/],
    [{ WATCHDOG_USEC: '18446744073709551615' }, /below 2\^64-1/],
    [{ WATCHDOG_USEC: '1000', WATCHDOG_PID: 'me' }, /WATCHDOG_PID="me" is not a process id/],
  ] as const) {
    test(`malformed ${JSON.stringify(env)} -> ERR_WATCHDOG_MALFORMED`, () => {
      assert.throws(() => watchdogEnabled({ env: { ...env } }), (err: unknown) => {
        assert.ok(err instanceof NotifyError);
        assert.equal(err.code, 'ERR_WATCHDOG_MALFORMED');
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe('WatchdogPinger', () => {
  test('sends WATCHDOG=1 while healthy, nothing while unhealthy, again once healthy', async (t) => {
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    let healthy = true;
    const skips: string[] = [];
    const pinger = new WatchdogPinger({ intervalMs: 20, healthy: () => healthy, env: rx.env(), onSkip: (r) => skips.push(r) }).start();
    t.after(() => pinger.stop());
    await rx.waitForCount(3, 5000);
    assert.ok(rx.received.every((d) => d.text === 'WATCHDOG=1'));
    healthy = false;
    const atUnhealthy = pinger.pings;
    const skipsBefore = skips.length;
    // Two checks that found it unhealthy (however long a loaded machine takes to run them): no ping from either.
    for (let i = 0; i < 500 && skips.length < skipsBefore + 2; i++) await sleep(20);
    assert.equal(pinger.pings, atUnhealthy, 'no ping while unhealthy');
    assert.ok(skips.length >= skipsBefore + 2 && skips.every((r) => r === 'unhealthy'), skips.join());
    healthy = true;
    await rx.waitForCount(atUnhealthy + 1, 5000);
    await sleep(20);
    pinger.stop();
    await rx.waitForCount(pinger.pings, 5000);
    assert.equal(pinger.pings, rx.received.length);
  });

  test('an async check slower than healthTimeoutMs counts as unhealthy and gets its signal aborted', async (t) => {
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    const aborted: unknown[] = [];
    const pinger = new WatchdogPinger({
      intervalMs: 20,
      healthTimeoutMs: 15,
      env: rx.env(),
      healthy: (signal) =>
        new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), 200);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            aborted.push(signal.reason);
            resolve(true); // too late: the verdict was already "timeout"
          });
        }),
    });
    const r = await pinger.check();
    assert.deepEqual(r, { pinged: false, reason: 'timeout' });
    assert.equal(aborted.length, 1);
    assert.equal(rx.received.length, 0);
  });

  test('a throwing or rejecting check withholds the ping', async (t) => {
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    const boom = new Error('db down');
    const sync = await new WatchdogPinger({ intervalMs: 50, env: rx.env(), healthy: () => { throw boom; } }).check();
    assert.deepEqual(sync, { pinged: false, reason: 'threw', error: boom });
    const async = await new WatchdogPinger({ intervalMs: 50, env: rx.env(), healthy: async () => { throw boom; } }).check();
    assert.equal(async.reason, 'threw');
    const truthy = await new WatchdogPinger({ intervalMs: 50, env: rx.env(), healthy: () => 1 as unknown as boolean }).check();
    assert.equal(truthy.reason, 'unhealthy', 'only true counts');
    assert.equal(rx.received.length, 0);
    assert.deepEqual(await new WatchdogPinger({ intervalMs: 50, env: rx.env(), healthy: async () => true }).check(), { pinged: true });
    assert.equal((await rx.next()).text, 'WATCHDOG=1');
  });

  test('AbortSignal stops it; a check in flight at abort does not ping', async (t) => {
    const rx = await startDgramReceiver();
    t.after(() => rx.close());
    const ac = new AbortController();
    let release: (v: boolean) => void = () => {};
    let calls = 0;
    const pinger = new WatchdogPinger({
      intervalMs: 10,
      healthTimeoutMs: 1000,
      env: rx.env(),
      signal: ac.signal,
      healthy: () => {
        calls++;
        return calls === 1 ? true : new Promise<boolean>((r) => (release = r));
      },
    }).start();
    await rx.next();
    await sleep(30);
    ac.abort();
    assert.equal(pinger.running, false);
    release(true);
    await sleep(50);
    assert.equal(rx.received.length, 1);
    assert.equal(calls, 2);
  });

  test('send failures go to onError and the pinger keeps going', async () => {
    const errors: unknown[] = [];
    const p = new WatchdogPinger({ intervalMs: 50, healthy: () => true, env: { NOTIFY_SOCKET: `@zsd-wd-nobody-${process.pid}` }, onError: (e) => errors.push(e) });
    const r = await p.check();
    assert.equal(r.reason, 'send-failed');
    assert.equal((errors[0] as NotifyError).code, 'ERR_NOTIFY_SEND_FAILED');
  });

  test('bad options: ERR_NOTIFY_INVALID_ARGUMENT quoting the value', () => {
    assert.throws(() => new WatchdogPinger({ intervalMs: 0, healthy: () => true }), { code: 'ERR_NOTIFY_INVALID_ARGUMENT', message: /intervalMs.*got 0/ });
    assert.throws(() => new WatchdogPinger({ intervalMs: 10, healthTimeoutMs: -1, healthy: () => true }), { message: /healthTimeoutMs.*got -1/ });
    assert.throws(() => new WatchdogPinger({ intervalMs: 10 } as never), { message: /healthy must be a function/ });
  });
});
