// ServiceState's transitions (state.ts): the phase moves one way, a failed start stays failed, and what the
// agent, /health and STATUS= say follows from the transitions alone.
import assert from 'node:assert/strict';
import test from 'node:test';
import type { CheckSpec } from '../src/znotify/config.js';
import { applyResult, newProbeState } from '../src/znotify/probe.js';
import { ServiceState } from '../src/znotify/state.js';

const root: CheckSpec = {
  name: 'root', type: 'http', address: { host: '127.0.0.1', port: 8080 }, path: '/', status: 200, intervalMs: 1000,
  timeoutMs: 2000, failureThreshold: 1, successThreshold: 1, roles: ['liveness', 'readiness'], graceMs: 0,
};
const ctx = (now: number) => ({ now, childAlive: true, hangTimeoutMs: 60_000 });

test('state: starting -> running -> stopping, with readiness, liveness and STATUS= following', () => {
  const s = new ServiceState('c1', 2, 0);
  const p = newProbeState(root);
  s.addProbes(p);
  assert.equal(s.live(0), false, 'no instance yet');
  s.childStarted(4242);
  assert.deepEqual([s.phase, s.childPid, s.live(0), s.ready()], ['starting', 4242, true, false]);
  s.warmupProgressed({ done: 1, total: 2, last: '/ 200 in 3 ms' });
  assert.equal(s.notReadyReason(), 'warming up 1/2');
  s.instanceAnswered();
  assert.equal(s.answered, true);
  s.becameReady(1500);
  assert.deepEqual([s.phase, s.readyAt, s.ready(), s.runningStatus(1500)], ['running', 1500, true, 'ready']);
  applyResult(p, { ok: false, timedOut: true, tcpConnects: true, detail: 'timed out after 2.0 s', durationMs: 2000 }, ctx(4000));
  assert.equal(s.runningStatus(5000), 'ready, busy: root unanswered for 3.0 s while TCP connects');
  applyResult(p, { ok: false, timedOut: false, detail: '500 (expected 200)', durationMs: 1 }, ctx(6000));
  assert.equal(s.runningStatus(6000), 'not ready: root: 500 (expected 200)');
  s.lostLiveness('root: 500 (expected 200)');
  assert.deepEqual([s.ready(), s.live(6000), s.runningStatus(6000)], [false, false, 'liveness lost: root: 500 (expected 200)']);
  s.beganStopping();
  assert.equal(s.phase, 'stopping');
  s.childExited();
  assert.equal(s.childAlive, false);
  s.countAgentRequest();
  s.countHttpRequest();
  s.countWatchdogPing();
  assert.deepEqual(s.counters, { agentRequests: 1, httpRequests: 1, watchdogPings: 1 });
});

test('state: a failed start stays failed through the stop; a wrapper failure keeps the phase', () => {
  const a = new ServiceState('c1', 1, 0);
  a.childStarted(1);
  a.startFailed('warm-up budget of 1.0 s exhausted');
  a.beganStopping();
  assert.deepEqual([a.phase, a.failure, a.notReadyReason(), a.agentReply()], ['failed', 'warm-up budget of 1.0 s exhausted', 'warm-up budget of 1.0 s exhausted', 'down #warm-up budget of 1.0 s exhausted\n']);

  const b = new ServiceState('c1', 1, 0);
  b.childStarted(1);
  b.becameReady(0);
  b.wrapperFailed('internal error: boom');
  b.beganStopping();
  assert.deepEqual([b.phase, b.failure, b.agentReply()], ['stopping', 'internal error: boom', 'drain\n']);
});

test('state: the phase /health reports for programs: starting, warming, running, draining, stopping, failed', () => {
  const s = new ServiceState('c1', 1, 0);
  const seen = () => {
    const j = s.toJSON(0);
    return [s.phase, j.phase, j.state, s.agentReply().trim()];
  };
  assert.deepEqual(seen(), ['starting', 'starting', 'starting', 'down #warming up 0/1']);
  s.childStarted(1);
  s.warmingUp();
  assert.deepEqual(seen(), ['warming', 'warming', 'starting', 'down #warming up 0/1']);
  assert.equal(s.live(0), true, 'warming is starting for liveness');
  s.becameReady(0);
  s.warmingUp();
  assert.deepEqual(seen(), ['running', 'running', 'running', 'up ready 100%'], 'warming never comes back');
  s.beganStopping(true);
  assert.deepEqual(seen(), ['draining', 'draining', 'stopping', 'drain']);
  assert.deepEqual([s.live(0), s.notReadyReason()], [true, 'stopping'], 'draining is stopping for liveness and the reason');
  s.drainEnded();
  assert.deepEqual(seen(), ['stopping', 'stopping', 'stopping', 'drain']);
  assert.match(s.metrics(0), /znotify_phase\{name="c1",phase="stopping"\} 1\n/, '/metrics keeps the coarse phases');

  const f = new ServiceState('c1', 1, 0);
  f.childStarted(1);
  f.warmingUp();
  f.startFailed('warm-up budget of 1.0 s exhausted');
  f.beganStopping(true);
  f.drainEnded();
  assert.deepEqual([f.phase, f.toJSON(0).phase, f.toJSON(0).state], ['failed', 'failed', 'failed']);
});
