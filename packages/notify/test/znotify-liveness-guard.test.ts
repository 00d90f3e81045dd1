// The liveness guard (liveness-guard.ts) alone: a real instance process that records SIGABRT, the real
// notifier on a real datagram receiver, probe results applied to a real ServiceState.
import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';
import { startDgramReceiver } from '../../../test/harness/dgram-receiver.js';
import type { CheckSpec } from '../src/znotify/config.js';
import { LivenessGuard } from '../src/znotify/liveness-guard.js';
import type { Logger } from '../src/znotify/log.js';
import { Notifier } from '../src/znotify/notifier.js';
import { applyResult, newProbeState } from '../src/znotify/probe.js';
import { ServiceState } from '../src/znotify/state.js';
import { recordingLog, signalRecorder, until } from './helpers/parts.js';

const zeo: CheckSpec = {
  name: 'zeo', type: 'zeo', address: { host: '127.0.0.1', port: 8100 }, intervalMs: 1000, timeoutMs: 500,
  failureThreshold: 1, successThreshold: 1, roles: ['readiness', 'liveness'], graceMs: 0, ruokEveryMs: 0,
};
const refused = { ok: false, timedOut: false, detail: 'connection refused', durationMs: 1 };

async function setup(t: TestContext, o: { watchdogUsec?: bigint; dumpStacks?: boolean } = {}) {
  const r = await startDgramReceiver();
  t.after(() => r.close());
  const log = recordingLog();
  const { child, signals } = await signalRecorder();
  t.after(() => child.killGroup());
  const state = new ServiceState('c1', 1, 0);
  const probe = newProbeState(zeo);
  state.addProbes(probe);
  state.childStarted(child.pid);
  state.becameReady(0);
  const usec = o.watchdogUsec;
  const guard = new LivenessGuard({
    watchdog: usec === undefined ? undefined : { usec, intervalMs: Number(usec / 2000n) },
    state, child, notifier: new Notifier(r.env(), log as unknown as Logger), log, dumpStacks: o.dumpStacks ?? true, now: () => 1000,
  });
  t.after(() => guard.stop());
  return { r, log, child, signals, state, probe, guard };
}

test('liveness guard: WATCHDOG=1 while live; lost: no more pings, STATUS=, SIGABRT (the dump), WATCHDOG=trigger, then it waits for the watchdog signal', async (t) => {
  const s = await setup(t, { watchdogUsec: 200_000n });
  s.guard.start();
  await s.r.waitForCount(2);
  assert.deepEqual(s.r.received.slice(0, 2).map((d) => d.text), ['WATCHDOG=1', 'WATCHDOG=1']);
  assert.ok(s.state.counters.watchdogPings >= 2);
  s.guard.check();
  assert.equal(s.state.livenessLost, undefined, 'live: nothing happens');

  applyResult(s.probe, refused, { now: 1000, childAlive: true, hangTimeoutMs: 60_000 });
  s.guard.check();
  assert.equal(s.state.livenessLost, 'zeo: connection refused');
  assert.equal(s.state.ready(), false);
  await until('WATCHDOG=trigger', () => s.r.received.some((d) => d.text === 'WATCHDOG=trigger'));
  const texts = s.r.received.map((d) => d.text);
  const iLost = texts.indexOf('STATUS=liveness lost: zeo: connection refused');
  assert.ok(iLost >= 0 && iLost < texts.indexOf('WATCHDOG=trigger'), texts.join(' | '));
  assert.ok(!texts.slice(iLost).includes('WATCHDOG=1'), 'no ping after liveness was lost');
  const iDump = s.log.lines.findIndex((l) => /^sent SIGABRT: the instance writes every thread's stack \(faulthandler/.test(l.msg));
  assert.ok(iDump >= 0, 'the stack dump was asked for before the trigger');
  await until('the instance got SIGABRT', () => s.signals().includes('ABRT'));
  assert.ok(!s.signals().includes('USR1'), 'no SIGUSR1: Zope 5 would die of it');
  // The wrapper stays until systemd's watchdog signal arrives.
  let settled = false;
  void s.guard.settled().then(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(settled, false, 'settled before the watchdog signal');
  s.guard.noteWatchdogSignal();
  await until('settled', () => settled);
  // Once lost, it stays lost: a second check sends nothing more.
  const n = s.r.received.length;
  s.guard.check();
  assert.equal(s.r.received.length, n);
});

test('liveness guard: without WATCHDOG_USEC it neither pings nor triggers; without dump-stacks no SIGUSR1', async (t) => {
  const a = await setup(t);
  a.guard.start();
  applyResult(a.probe, refused, { now: 1000, childAlive: true, hangTimeoutMs: 60_000 });
  a.guard.check();
  assert.equal(a.state.livenessLost, undefined);
  assert.deepEqual(a.r.received, []);

  const b = await setup(t, { watchdogUsec: 600_000_000n, dumpStacks: false });
  applyResult(b.probe, refused, { now: 1000, childAlive: true, hangTimeoutMs: 60_000 });
  b.guard.check();
  await until('WATCHDOG=trigger', () => b.r.received.some((d) => d.text === 'WATCHDOG=trigger'));
  assert.deepEqual(b.signals(), []);
  // Without a trigger under way there is nothing to wait for.
  await a.guard.settled();
});
