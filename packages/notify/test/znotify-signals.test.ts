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

test('signal handlers: SIGHUP/SIGUSR1/SIGUSR2 wait for the instance to answer, SIGINT and SIGABRT go through, SIGTERM stops', async (t) => {
  const source = new EventEmitter();
  const { child, signals } = await signalRecorder();
  t.after(() => child.killGroup());
  const log = recordingLog();
  let answered = false;
  let stops = 0;
  const remove = installSignalHandlers(source, { child, answered: () => answered, stop: () => { stops++; }, log });
  source.emit('SIGUSR1');
  source.emit('SIGHUP');
  source.emit('SIGINT');
  assert.deepEqual(log.lines.filter((l) => l.level === 'warn').map((l) => l.fields.signal), ['SIGUSR1', 'SIGHUP']);
  await until('SIGINT at the instance', () => signals().includes('INT'));
  answered = true;
  source.emit('SIGUSR2');
  source.emit('SIGABRT');
  await until('SIGUSR2 and SIGABRT at the instance', () => signals().includes('USR2') && signals().includes('ABRT'));
  assert.ok(!signals().includes('USR1') && !signals().includes('HUP'), 'dropped signals never reached the instance');
  source.emit('SIGTERM');
  assert.equal(stops, 1);
  assert.ok(!signals().includes('TERM'), 'SIGTERM is the stop sequence\'s, not forwarded');
  remove();
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGABRT']) assert.equal(source.listenerCount(sig), 0, sig);
});
