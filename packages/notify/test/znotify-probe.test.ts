// Probe state machine (thresholds, busy vs hung, database grace) and what the service state tells HAProxy,
// /health and /metrics. Time is what is tested here, so it is passed in explicitly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { CheckSpec } from '../src/znotify/config.js';
import { HttpProber, runCheck, type CheckResult } from '../src/znotify/checks.js';
import { applyResult, isLive, isPassing, isBusy, newProbeState, runProbe, type Clock } from '../src/znotify/probe.js';
import { ServiceState } from '../src/znotify/state.js';

const http: CheckSpec = {
  name: 'root', type: 'http', address: { host: '127.0.0.1', port: 1 }, path: '/', status: 200,
  intervalMs: 5000, timeoutMs: 2000, failureThreshold: 3, successThreshold: 2, roles: ['liveness', 'readiness'], graceMs: 0,
};
const zeo: CheckSpec = {
  name: 'zeo', type: 'zeo', address: { host: '127.0.0.1', port: 2 },
  intervalMs: 5000, timeoutMs: 2000, failureThreshold: 2, successThreshold: 1, roles: ['readiness', 'liveness'], graceMs: 120_000, ruokEveryMs: 0,
};
const ok: CheckResult = { ok: true, timedOut: false, detail: '200 in 3 ms', durationMs: 3 };
const bad: CheckResult = { ok: false, timedOut: false, detail: '500 (expected 200) in 9 ms', durationMs: 9 };
const refused: CheckResult = { ok: false, timedOut: false, detail: 'connection refused', durationMs: 1 };
const busy: CheckResult = { ok: false, timedOut: true, tcpConnects: true, detail: 'timed out after 2.0 s', durationMs: 2000 };
const dead: CheckResult = { ok: false, timedOut: true, tcpConnects: false, detail: 'timed out after 2.0 s', durationMs: 2000 };
const ctx = (now: number, childAlive = true) => ({ now, childAlive, hangTimeoutMs: 60_000 });

test('the first result decides; then failure-threshold failures to fail, success-threshold successes to pass', () => {
  const p = newProbeState(http);
  assert.equal(p.status, 'pending');
  assert.ok(isPassing(p), 'pending counts as passing for readiness');
  assert.equal(applyResult(p, ok, ctx(0)), 'pass');
  assert.equal(applyResult(p, bad, ctx(5000)), undefined);
  assert.equal(applyResult(p, bad, ctx(10_000)), undefined);
  assert.equal(p.status, 'pass');
  assert.equal(applyResult(p, bad, ctx(15_000)), 'fail');
  assert.equal(p.reason, 'root: 500 (expected 200) in 9 ms');
  assert.equal(applyResult(p, ok, ctx(20_000)), undefined, 'one success is not enough (success-threshold 2)');
  assert.equal(applyResult(p, ok, ctx(25_000)), 'pass');
  assert.equal(p.reason, undefined);
  assert.deepEqual(p.runs, { pass: 3, fail: 3, busy: 0 });
  const q = newProbeState(http);
  assert.equal(applyResult(q, refused, ctx(0)), 'fail', 'a pending probe fails on its first failure');
});

test('busy is not dead: timeouts while TCP connects and the child lives count as passing until hang-timeout', () => {
  const p = newProbeState(http);
  applyResult(p, ok, ctx(0));
  for (let t = 5000; t < 60_000; t += 5000) {
    assert.equal(applyResult(p, busy, ctx(t)), undefined, `still busy at ${t}`);
    assert.ok(isPassing(p) && isLive(p, t) && isBusy(p));
  }
  assert.equal(p.busySince, 3000, 'busy since the start of the first timed-out request');
  assert.equal(applyResult(p, busy, ctx(63_000)), 'fail');
  assert.match(p.reason!, /^root: hung, \/ unanswered for 1 min while TCP connects$/);
  assert.ok(!isLive(p, 63_000));
  // an answer ends it
  applyResult(p, ok, ctx(64_000));
  applyResult(p, ok, ctx(65_000));
  assert.equal(p.status, 'pass');
  assert.equal(p.busySince, undefined);
});

test('a timeout without TCP, or with the child gone, is a plain failure', () => {
  const p = newProbeState(http);
  applyResult(p, ok, ctx(0));
  applyResult(p, dead, ctx(5000));
  applyResult(p, busy, ctx(10_000, false));
  assert.equal(p.consecutiveFailures, 2);
  assert.equal(p.busySince, undefined);
  assert.equal(applyResult(p, dead, ctx(15_000)), 'fail');
});

test('database grace: a failing zeo check stays live for database-grace, not ready at once', () => {
  const p = newProbeState(zeo);
  applyResult(p, { ...ok, detail: 'ZEO Z5 ruok' }, ctx(0));
  applyResult(p, refused, ctx(10_000));
  assert.equal(applyResult(p, refused, ctx(15_000)), 'fail');
  assert.equal(p.failingSince, 9999, 'measured from the first failed run');
  assert.ok(!isPassing(p));
  assert.ok(isLive(p, 15_000));
  assert.ok(isLive(p, 129_998));
  assert.ok(!isLive(p, 129_999), 'grace over: liveness lost');
  applyResult(p, ok, ctx(130_000));
  assert.ok(isLive(p, 130_000) && isPassing(p));
  assert.equal(p.failingSince, undefined);
});

test('database grace holds while a returning database works up to success-threshold', () => {
  const p = newProbeState({ ...zeo, successThreshold: 2 });
  applyResult(p, ok, ctx(0));
  applyResult(p, refused, ctx(10_000));
  assert.equal(applyResult(p, refused, ctx(15_000)), 'fail');
  // the database is back: one success is not enough to pass, and must not end the grace either
  assert.equal(applyResult(p, ok, ctx(20_000)), undefined);
  assert.equal(p.status, 'fail');
  assert.equal(p.failingSince, 9999, 'still failing, still measured from the first failed run');
  assert.ok(isLive(p, 20_000), 'the first success after an outage must not trip the watchdog');
  assert.equal(applyResult(p, ok, ctx(25_000)), 'pass');
  assert.equal(p.failingSince, undefined);
  // flapping does not restart the grace: a failure between successes keeps the first failure's time
  applyResult(p, refused, ctx(30_000));
  applyResult(p, refused, ctx(35_000));
  applyResult(p, ok, ctx(40_000));
  applyResult(p, refused, ctx(45_000));
  assert.equal(p.failingSince, 29_999);
  assert.ok(isLive(p, 149_998) && !isLive(p, 149_999));
});

test('busy runs leave both streaks as they are: fail, busy, fail, busy, fail is failure-threshold 3', () => {
  const p = newProbeState(http);
  applyResult(p, ok, ctx(0));
  assert.equal(applyResult(p, bad, ctx(5000)), undefined);
  assert.equal(applyResult(p, busy, ctx(10_000)), undefined);
  assert.equal(applyResult(p, bad, ctx(15_000)), undefined);
  assert.equal(applyResult(p, busy, ctx(20_000)), undefined);
  assert.equal(applyResult(p, bad, ctx(25_000)), 'fail', 'a busy run is no pass: it does not break the streak');
  // and symmetric: ok, busy, ok is success-threshold 2
  assert.equal(applyResult(p, ok, ctx(30_000)), undefined);
  assert.equal(applyResult(p, busy, ctx(35_000)), undefined);
  assert.equal(applyResult(p, ok, ctx(40_000)), 'pass', 'a busy run is no failure: it does not break the streak');
});

test('agent replies follow the phase: warming up, up ready 100%, down #reason, drain', () => {
  const s = new ServiceState('client1', 3, 0);
  const root = newProbeState(http);
  const z = newProbeState(zeo);
  s.addProbes(root, z);
  s.childStarted(4242);
  assert.equal(s.agentReply(), 'down #warming up 0/3\n');
  s.warmupProgressed({ done: 2, total: 3 });
  assert.equal(s.agentReply(), 'down #warming up 2/3\n');
  s.becameReady(500);
  assert.equal(s.agentReply(), 'up ready 100%\n');
  applyResult(z, refused, ctx(1000));
  assert.equal(s.agentReply(), 'down #zeo: connection refused\n');
  assert.equal(s.ready(), false);
  assert.equal(s.live(2000), true, 'within the database grace');
  applyResult(z, ok, ctx(3000));
  assert.equal(s.agentReply(), 'up ready 100%\n');
  applyResult(z, { ...refused, detail: 'weird\nline\r\n#x' }, ctx(4000));
  applyResult(z, { ...refused, detail: 'weird\nline\r\n#x' }, ctx(5000));
  assert.equal(s.agentReply(), 'down #zeo: weird line #x\n', 'one line, always');
  s.childExited();
  assert.equal(s.agentReply(), 'down #instance exited\n');
  s.beganStopping();
  assert.equal(s.agentReply(), 'drain\n');
});

test('/health JSON and /metrics text', () => {
  const s = new ServiceState('client"1', 1, 0, Date.UTC(2026, 0, 1));
  const root = newProbeState(http);
  s.addProbes(root);
  s.childStarted(4242);
  s.becameReady(0);
  s.warmupProgressed({ done: 1, total: 1 });
  applyResult(root, ok, ctx(1000));
  applyResult(root, busy, ctx(6000));
  const j = s.toJSON(7000);
  assert.equal(j.ready, true);
  assert.equal(j.busy, true);
  assert.equal(j.pid, 4242);
  assert.deepEqual((j.checks as Array<Record<string, unknown>>)[0], {
    name: 'root', type: 'http', roles: ['liveness', 'readiness'], status: 'pass', busy: true, live: true,
    last: 'timed out after 2.0 s', lastDurationMs: 2000, lastAgoSeconds: 1, busyForSeconds: 3,
  });
  const m = s.metrics(7000, { rss: 1234, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 });
  assert.match(m, /^# HELP znotify_up /);
  assert.match(m, /\nznotify_ready\{name="client\\"1"\} 1\n/);
  assert.match(m, /\nznotify_busy\{name="client\\"1"\} 1\n/);
  assert.match(m, /\nznotify_phase\{name="client\\"1",phase="running"\} 1\n/);
  assert.match(m, /\nznotify_check_runs_total\{name="client\\"1",check="root",type="http",result="busy"\} 1\n/);
  assert.match(m, /\nprocess_resident_memory_bytes\{name="client\\"1"\} 1234\n/);
  assert.match(m, /\nprocess_start_time_seconds\{name="client\\"1"\} 1767225600\n$/);
  // every sample line is `name{labels} number`
  for (const line of m.trim().split('\n')) {
    if (!line.startsWith('#')) assert.match(line, /^[a-z_]+\{[^}]*\} -?[0-9.e+-]+$/, line);
  }
});

test('runProbe: first run at once, then every interval start-to-start; stops on abort', async () => {
  let t = 0;
  const sleeps: number[] = [];
  const ac = new AbortController();
  const clock: Clock = { now: () => t, sleep: async (ms) => { sleeps.push(ms); t += ms; } };
  const p = newProbeState({ ...http, intervalMs: 1000 });
  let runs = 0;
  await runProbe({
    state: p, clock,
    run: async () => { runs++; t += 300; if (runs === 4) ac.abort(); return ok; },
    context: () => ({ childAlive: true, hangTimeoutMs: 1 }),
    onResult: () => {},
  }, ac.signal);
  assert.equal(runs, 4);
  assert.deepEqual(sleeps, [700, 700, 700]);
  // untilPass: a startup-only probe stops once it passes
  const q = newProbeState({ ...http, roles: ['startup'], successThreshold: 1 });
  let n = 0;
  await runProbe({
    state: q, clock, untilPass: true,
    run: async () => (++n < 3 ? refused : ok),
    context: () => ({ childAlive: true, hangTimeoutMs: 1 }),
    onResult: () => {},
  }, new AbortController().signal);
  assert.equal(n, 3);
  assert.equal(q.status, 'pass');
});

test('runProbe: a check that throws is a failed run, and the loop goes on', async () => {
  // A real trigger: http.request throws ERR_UNESCAPED_CHARACTERS for this path before anything is sent.
  let requests = 0;
  const server = createServer((_req, res) => { requests++; res.end('ok'); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  const prober = new HttpProber(address);
  try {
    const spec: CheckSpec = { ...http, address, path: '/Plone/\u20acuro', successThreshold: 1, intervalMs: 1000 };
    const p = newProbeState(spec);
    let t = 0;
    const ac = new AbortController();
    const clock: Clock = { now: () => t, sleep: async (ms) => { t += ms; } };
    const results: CheckResult[] = [];
    await runProbe({
      state: p, clock,
      run: (signal) => runCheck(spec, { http: () => prober, env: {} }, signal),
      context: () => ({ childAlive: true, hangTimeoutMs: 60_000 }),
      onResult: (_s, r) => { results.push(r); if (results.length === 3) ac.abort(); },
    }, ac.signal);
    assert.equal(results.length, 3, 'the loop survived the throws');
    for (const r of results) {
      assert.equal(r.ok, false);
      assert.match(r.detail, /^check threw ERR_UNESCAPED_CHARACTERS: Request path contains unescaped characters$/);
    }
    assert.equal(p.status, 'fail', 'not left pending (which counts as passing)');
    assert.ok(!isPassing(p));
    assert.match(p.reason!, /^root: check threw ERR_UNESCAPED_CHARACTERS/);
    assert.deepEqual(p.runs, { pass: 0, fail: 3, busy: 0 });
    assert.equal(requests, 0);
  } finally {
    await prober.close();
    server.close();
  }
});
