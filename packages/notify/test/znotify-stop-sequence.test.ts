// The stop sequence (stop-sequence.ts) alone: a real instance process, the real notifier on a real datagram
// receiver; the HAProxy queue is a recorder (the Runtime API itself is tested in znotify-haproxy.test.ts).
import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';
import { startDgramReceiver, type DgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { Notifier } from '../src/znotify/notifier.js';
import { ServiceState } from '../src/znotify/state.js';
import { StopSequence, type StopSequenceOptions } from '../src/znotify/stop-sequence.js';
import { recordingLog, signalRecorder } from './helpers/parts.js';
import type { Logger } from '../src/znotify/log.js';

async function setup(t: TestContext, o: { drainMs: number; timeoutMs: number; ignoreTerm?: boolean; running?: boolean }) {
  const r: DgramReceiver = await startDgramReceiver();
  t.after(() => r.close());
  const log = recordingLog();
  const notifier = new Notifier(r.env(), log as unknown as Logger);
  const { child, signals } = await signalRecorder({ ignoreTerm: o.ignoreTerm ?? false });
  t.after(() => child.killGroup());
  const state = new ServiceState('c1', 1, 0);
  state.childStarted(child.pid);
  if (o.running ?? true) state.becameReady(0);
  const haproxy: string[] = [];
  let begun = 0;
  const opts: StopSequenceOptions = {
    stop: { drainMs: o.drainMs, timeoutMs: o.timeoutMs, signal: 'SIGTERM' },
    child, state, notifier, log, haproxy: { set: async (s) => { haproxy.push(s); } }, onBegin: () => { begun++; },
  };
  return { r, log, child, signals, state, haproxy, stop: new StopSequence(opts), begun: () => begun };
}

test('stop: STOPPING=1 with the budget, drain until a second request, then the stop signal; the instance exits', async (t) => {
  const s = await setup(t, { drainMs: 600_000, timeoutMs: 5000 });
  assert.equal(s.stop.started, false);
  s.stop.begin();
  assert.equal(s.stop.started, true);
  assert.equal(s.begun(), 1, 'probes and pings end first');
  assert.deepEqual([s.state.stateName, s.state.phase], ['stopping', 'draining']);
  assert.equal(s.state.agentReply(), 'drain\n');
  const first = await s.r.next();
  assert.equal(first.text, 'STOPPING=1\nSTATUS=stopping: draining for 10 min\nEXTEND_TIMEOUT_USEC=615000000');
  assert.deepEqual(s.haproxy, ['drain']);
  // Draining: the instance keeps serving, no stop signal yet.
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(s.child.alive);
  assert.deepEqual(s.signals(), []);
  assert.equal(s.state.phase, 'draining', 'until the drain ends');
  s.stop.begin(); // a second SIGTERM ends the drain
  assert.equal(s.begun(), 1);
  await s.stop.finished;
  assert.equal(s.state.phase, 'stopping', 'the drain is over');
  assert.deepEqual(await s.child.exited, { code: 0, signal: null });
  assert.deepEqual(s.signals(), ['TERM']);
  assert.equal((await s.r.next()).text, 'STATUS=stopping: sent SIGTERM, waiting up to 5.0 s');
  assert.ok(s.log.lines.some((l) => l.msg === 'sending the stop signal'));
  assert.ok(s.log.lines.some((l) => /^drain cut short by a second SIGTERM after /.test(l.msg)), 'the journal says why the drain ended early');
});

test('stop: an instance that ignores the stop signal gets SIGKILL on its group after stop.timeout', async (t) => {
  const s = await setup(t, { drainMs: 0, timeoutMs: 1000, ignoreTerm: true });
  s.stop.begin();
  assert.equal(s.state.phase, 'stopping', 'no drain: straight to stopping');
  await s.stop.finished;
  assert.deepEqual(await s.child.exited, { code: null, signal: 'SIGKILL' });
  assert.deepEqual(s.signals(), ['TERM'], 'the stop signal came first, and was ignored');
  await s.r.waitForCount(3);
  assert.deepEqual(s.r.received.map((d) => d.text), [
    'STOPPING=1\nSTATUS=stopping\nEXTEND_TIMEOUT_USEC=11000000',
    'STATUS=stopping: sent SIGTERM, waiting up to 1.0 s',
    'STATUS=stopping: SIGKILL after 1.0 s',
  ]);
});

test('stop: before READY there is no drain and no Runtime API call; a failed start stays failed; a given reason is the status', async (t) => {
  const s = await setup(t, { drainMs: 600_000, timeoutMs: 5000, running: false });
  s.state.startFailed('warm-up budget exhausted');
  s.stop.begin({ drain: true, reason: 'start failed: warm-up budget exhausted' });
  assert.equal(s.state.phase, 'failed');
  await s.stop.finished;
  assert.deepEqual(s.haproxy, []);
  assert.equal(s.r.received[0]?.text ?? (await s.r.next()).text, 'STOPPING=1\nSTATUS=start failed: warm-up budget exhausted\nEXTEND_TIMEOUT_USEC=15000000');
  assert.deepEqual(await s.child.exited, { code: 0, signal: null });
});

test('stop: an instance already gone gets no signal, and the stop still finishes', async (t) => {
  const s = await setup(t, { drainMs: 600_000, timeoutMs: 5000 });
  s.child.killGroup();
  await s.child.exited;
  s.stop.begin();
  await s.stop.finished;
  assert.ok(!s.log.lines.some((l) => l.msg === 'sending the stop signal'));
});
