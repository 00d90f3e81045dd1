// SignalInbox (signals.ts) against real signals sent to this very process with process.kill: what arrives
// before a handler is kept or dropped, replayed once, and never meets the default action.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import test from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { installSignalHandlers, SignalInbox } from '../src/znotify/signals.js';
import { recordingLog, signalRecorder, until } from './helpers/parts.js';

test('kept signals wait for their handler and are replayed once, in order; dropped ones are reported', async () => {
  const source = new EventEmitter();
  const inbox = new SignalInbox(['SIGTERM', 'SIGUSR1', 'SIGUSR2'], source);
  const dropped: string[] = [];
  inbox.onDrop = (s) => dropped.push(s);
  source.emit('SIGTERM');
  source.emit('SIGUSR1');
  source.emit('SIGTERM');
  assert.deepEqual(inbox.pending, ['SIGTERM', 'SIGTERM']);
  assert.deepEqual(dropped, ['SIGUSR1']);
  const got: string[] = [];
  inbox.on('SIGTERM', () => got.push('TERM'));
  // Not during on(): the registering code finishes its set-up first.
  assert.deepEqual(got, []);
  await turn();
  assert.deepEqual(got, ['TERM', 'TERM']);
  assert.deepEqual(inbox.pending, []);
  source.emit('SIGTERM');
  assert.deepEqual(got, ['TERM', 'TERM', 'TERM']);
  // A second handler registered later gets nothing replayed: the signal was handled.
  const late: string[] = [];
  inbox.on('SIGTERM', () => late.push('TERM'));
  await turn();
  assert.deepEqual(late, []);
});

test('off() stops a handler; the signal is then kept again, not given its default action', async () => {
  const source = new EventEmitter();
  const inbox = new SignalInbox(['SIGTERM'], source);
  const got: string[] = [];
  const h = () => got.push('TERM');
  inbox.on('SIGTERM', h);
  source.emit('SIGTERM');
  inbox.off('SIGTERM', h);
  source.emit('SIGTERM');
  assert.deepEqual(got, ['TERM']);
  assert.deepEqual(inbox.pending, ['SIGTERM']);
  assert.equal(source.listenerCount('SIGTERM'), 1, 'the inbox keeps its own listener');
});

test('with the real process: a SIGUSR2 sent to this process before any handler neither kills it nor is lost', async (t) => {
  const inbox = new SignalInbox(['SIGUSR2']);
  // The inbox's process listener stays for the life of the process; this test owns SIGUSR2 in this file only.
  t.after(() => { process.removeAllListeners('SIGUSR2'); });
  const dropped: string[] = [];
  inbox.onDrop = (s) => dropped.push(s);
  process.kill(process.pid, 'SIGUSR2');
  for (let i = 0; i < 200 && dropped.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(dropped, ['SIGUSR2'], 'alive, and the dropped signal was reported');
  const kept = new SignalInbox(['SIGUSR2'], process, ['SIGUSR2']);
  process.kill(process.pid, 'SIGUSR2');
  for (let i = 0; i < 200 && kept.pending.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(kept.pending, ['SIGUSR2']);
  const got: string[] = [];
  kept.on('SIGUSR2', () => got.push('USR2'));
  await turn();
  assert.deepEqual(got, ['USR2']);
});

test('signal handlers: nothing is forwarded unless listed; SIGINT stops unless listed; SIGUSR1 dumps with the hook; SIGABRT is the watchdog\'s', async (t) => {
  const { child, signals } = await signalRecorder();
  t.after(() => child.killGroup());
  {
    const source = new EventEmitter();
    const log = recordingLog();
    let stops = 0;
    let aborts = 0;
    const remove = installSignalHandlers(source, {
      child, policy: { forward: [], stackDump: 'off' }, answered: () => true, log,
      stop: () => { stops++; }, dumpStacks: () => assert.fail('no hook configured'), watchdogSignal: () => { aborts++; },
    });
    for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGTERM', 'SIGABRT']) source.emit(sig);
    assert.deepEqual(log.lines.filter((l) => l.level === 'warn').map((l) => l.fields.signal), ['SIGHUP', 'SIGUSR1', 'SIGUSR2']);
    assert.match(log.lines.find((l) => l.fields.signal === 'SIGUSR2')!.msg, /^SIGUSR2 not forwarded: Zope 4\+ has no SIGUSR2 handler.*; list it in signals\.forward if the instance handles it$/);
    assert.equal(stops, 2, 'SIGINT and SIGTERM stop');
    assert.equal(aborts, 1);
    remove();
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGABRT']) assert.equal(source.listenerCount(sig), 0, sig);
  }
  {
    const source = new EventEmitter();
    const log = recordingLog();
    let answered = false;
    let dumps = 0;
    let stops = 0;
    installSignalHandlers(source, {
      child, policy: { forward: ['SIGHUP', 'SIGINT', 'SIGUSR2'], stackDump: 'hook' }, answered: () => answered, log,
      stop: () => { stops++; }, dumpStacks: () => { dumps++; }, watchdogSignal: () => {},
    });
    // A listed signal other than SIGINT waits until the instance has answered (its handler may not exist yet).
    source.emit('SIGHUP');
    source.emit('SIGINT');
    await until('SIGINT at the instance', () => signals().includes('INT'));
    assert.ok(!signals().includes('HUP'));
    answered = true;
    source.emit('SIGHUP');
    source.emit('SIGUSR2');
    source.emit('SIGUSR1');
    await until('SIGHUP and SIGUSR2 at the instance', () => signals().includes('HUP') && signals().includes('USR2'));
    assert.equal(dumps, 1);
    assert.equal(stops, 0, 'a forwarded SIGINT is not the wrapper\'s stop');
    assert.ok(!signals().includes('USR1'), 'SIGUSR1 went to the hook, not to the instance');
  }
});
