// znotify end to end with an instance that behaves like Zope 5 on waitress (sample/instance.py: no signal handler
// of its own, SIGTERM cuts requests), under a real systemd 252 and a real HAProxy 2.6:
// - signals to the service's main process (`systemctl kill --kill-whom=main`, logrotate's postrotate): SIGHUP
//   and SIGUSR2 are not forwarded (the instance would die of them), SIGUSR1 dumps every thread's stack through
//   the startup hook without stopping anything;
// - a SIGSTOPped instance is hung, not busy: liveness is lost at once, the stacks still reach the journal (SIGCONT
//   with the SIGABRT), and the watchdog restarts the unit through the wrapper's trigger; a wrapper that misses its
//   pings gets systemd's SIGABRT and passes it on, the stacks reaching the journal within TimeoutAbortSec=;
// - `systemctl freeze` (cgroup v2, in a unified-cgroup box) takes the unit out of HAProxy through the check aimed
//   at the wrapper's agent; `systemctl thaw` puts it back with the same processes, without a restart; a freeze
//   longer than WatchdogSec= ends in SIGKILL at TimeoutAbortSec= (not TimeoutStopSec=) and a restart;
// - a restart under wrk load with requests in flight on the instance loses none: the stop signal waits until
//   HAProxy (Runtime API over host:port) reports no session on the server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PAUSE_REPORT_MS } from '../packages/notify/src/znotify/frozen.js';
import { WATCHDOG_ABORT_MS } from '../packages/unitgen/src/render.js';
import { BACKEND, e2eSkipReason, recordStates, SERVER, setUp, UNIT, until, type E2E } from './fixtures/znotify/e2e.js';
import { freePort } from './harness/net.js';
import { startInstance } from './harness/proc.js';

const skip = e2eSkipReason();

async function instancePid(e: E2E): Promise<number> {
  const pid = (await e.health()).pid;
  assert.ok(pid, 'no instance pid in /health');
  return pid;
}

test('signals to the wrapper: SIGHUP and SIGUSR2 are not forwarded; SIGUSR1 dumps the stacks without a restart', { skip }, async (t) => {
  const e = await setUp(t, { yaml: ['signals:', '  stack-dump: hook'] });
  await e.start();
  const before = await e.show(['MainPID', 'NRestarts']);
  const child = await instancePid(e);
  for (const sig of ['SIGHUP', 'SIGUSR2', 'SIGUSR1']) {
    await e.box.systemctl('kill', '--kill-whom=main', `--signal=${sig}`, 'client1.service');
  }
  // faulthandler writes the dump a line at a time: wait for its last frame (main), not its first line.
  const lines = await until('the stack dump in the journal, down to main()', async () => {
    const l = await e.journal();
    return l.some((x) => /File ".*sample\/instance\.py", line \d+ in main/.test(x.message)) ? l : undefined;
  }, 15_000, 200);
  const text = lines.map((l) => l.message).join('\n');
  assert.match(text, /SIGHUP not forwarded: Zope 4\+ has no SIGHUP handler/);
  assert.match(text, /SIGUSR2 not forwarded: Zope 4\+ has no SIGUSR2 handler/);
  assert.match(text, /SIGUSR1: asked the instance for a stack dump \(startup hook\)/);
  assert.match(text, /File ".*sample\/instance\.py", line \d+ in main/);
  // Nothing died, nothing restarted: same wrapper, same instance, still serving.
  assert.deepEqual(await e.show(['MainPID', 'NRestarts', 'ActiveState']), { MainPID: before.MainPID, NRestarts: '0', ActiveState: 'active' });
  assert.equal(await instancePid(e), child);
  assert.equal((await fetch(`http://127.0.0.1:${e.port}/`, { signal: AbortSignal.timeout(5000) })).status, 200);
});

test('a SIGSTOPped instance is hung, not busy: liveness lost at once, stacks dumped, the watchdog restarts it; a SIGSTOPped wrapper too, its dump within TimeoutAbortSec', { skip }, async (t) => {
  // hang-timeout 5 min: only the frozen rule can act within this test.
  const e = await setUp(t, { watchdogSec: 2, watchdogYaml: ['  hang-timeout: 5min', '  dump-stacks: true'] });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const before = await e.show(['MainPID', 'NRestarts']);
  const child = await instancePid(e);
  const rec = recordStates(e.hx, BACKEND, SERVER);
  t.after(() => rec.stop());
  const t0 = Date.now();
  await e.box.exec(['kill', '-STOP', String(child)]);
  await until('a restart', async () => {
    const p = await e.show(['NRestarts', 'ActiveState']);
    return Number(p.NRestarts) >= 1 && p.ActiveState === 'active' ? true : undefined;
  }, 30_000, 100);
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 10_000 });
  await rec.stop();
  t.diagnostic(`restarted ${Date.now() - t0} ms after SIGSTOP (WatchdogSec=2); HAProxy: ${rec.describe(t0)}`);

  const lines = await e.journal();
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l.message));
  const iFrozen = at(/instance stopped \(SIGSTOP or a job-control signal\): not ready, not live/);
  const iLost = at(/liveness lost: asking systemd to apply the watchdog policy/);
  const iDump = at(/in hang_forever|^Current thread/);
  // "Watchdog request": systemd acted on the wrapper's WATCHDOG=trigger, not on missed pings ("Watchdog timeout").
  const iRequest = at(/client1\.service: Watchdog request/);
  const text = lines.map((l) => l.message).join('\n');
  assert.ok(iFrozen >= 0 && iFrozen <= iLost && iLost < iRequest, text);
  // journald files systemd's own messages and the service's stream on separate paths, so "Watchdog request" can be
  // filed ahead of stream lines written earlier. Within the one stream the instance and the wrapper share, order
  // holds: the dump precedes the wrapper's report that the instance died of the SIGABRT it sent for the dump, which
  // precedes the wrapper's WATCHDOG=trigger.
  const iAborted = at(/instance was killed by SIGABRT/);
  assert.ok(iDump >= 0 && iAborted > iDump, `no stack dump before the instance was ended for the watchdog:\n${text}`);
  assert.match(text, /client1\.service: Failed with result 'watchdog'/);
  assert.doesNotMatch(text, /busy: root unanswered/, 'a stopped instance was taken for a busy one');
  assert.ok(rec.samples.some((s) => s.state === 'DOWN'), `HAProxy never took it out: ${rec.describe(t0)}`);
  assert.notEqual((await e.show(['MainPID'])).MainPID, before.MainPID);
  assert.notEqual(await instancePid(e), child);

  // The other way to a watchdog kill: the wrapper itself misses its pings (SIGSTOPped here). systemd declares the
  // timeout and sends WatchdogSignal= (SIGABRT, then SIGCONT) to the wrapper, which passes it on: the instance's
  // stacks reach the journal within TimeoutAbortSec= (as zunitgen generates it), and the unit ends by the wrapper's
  // exit, not by systemd's SIGKILL when the abort time runs out.
  const second = await e.show(['MainPID', 'NRestarts']);
  const seen = (await e.journal()).length;
  await e.box.exec(['kill', '-STOP', second.MainPID!]);
  await until('a restart after the missed pings', async () => {
    const p = await e.show(['NRestarts', 'ActiveState']);
    return Number(p.NRestarts) > Number(second.NRestarts) && p.ActiveState === 'active' ? true : undefined;
  }, 30_000, 100);
  const missed = (await e.journal()).slice(seen).map((l) => l.message).join('\n');
  assert.match(missed, /client1\.service: Watchdog timeout \(limit 2s\)/, missed);
  assert.match(missed, /SIGABRT \(watchdog signal\?\): passing it on/, missed);
  assert.match(missed, /File ".*sample\/instance\.py", line \d+ in main/, `no stack dump after the watchdog's SIGABRT:\n${missed}`);
  assert.doesNotMatch(missed, /State 'stop-watchdog' timed out/, `TimeoutAbortSec= cut the dump:\n${missed}`);
  assert.match(missed, /client1\.service: Failed with result 'watchdog'/);
});

test('systemctl freeze: the frozen unit goes DOWN in HAProxy; thaw brings it back UP, same processes, no restart; a freeze longer than WatchdogSec ends in a kill at TimeoutAbortSec and a restart', { skip }, async (t) => {
  // A unified-cgroup box: systemd 252 offers `systemctl freeze` (the cgroup v2 freezer) only there. The freeze
  // takes the wrapper too (same cgroup), so nothing of ours runs while it lasts: what takes the client out is
  // HAProxy's `check` aimed at the agent port (the kernel completes the handshake, nobody answers, the check times
  // out), as zunitgen generates it. The agent-check alone ignores an agent that does not answer: the `agentonly`
  // backend shows it. WatchdogSec=30 s: the freeze ends long before it (a longer one, see docs/znotify.md).
  const e = await setUp(t, { cgroup: 'unified', checkAtAgent: true, agentOnlyBackend: true, watchdogSec: 30 });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  await e.hx.waitForState('agentonly', SERVER, 'UP', { timeoutMs: 5000 });
  const before = await e.show(['MainPID', 'NRestarts']);
  const child = await instancePid(e);

  const frozenAt = Date.now();
  await e.box.systemctl('freeze', UNIT);
  assert.equal((await e.show(['FreezerState'])).FreezerState, 'frozen');
  await e.hx.waitForState(BACKEND, SERVER, 'DOWN', { timeoutMs: 10_000 });
  // Frozen for longer than the wrapper's pause report needs (its once-a-second look comes that much late).
  await sleep(Math.max(0, PAUSE_REPORT_MS + 1500 - (Date.now() - frozenAt)));
  assert.equal(await e.state('agentonly'), 'UP', 'an agent-check alone took a frozen server out: then the check at the agent proves nothing');
  assert.equal((await e.show(['FreezerState'])).FreezerState, 'frozen');

  await e.box.systemctl('thaw', UNIT);
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 10_000 });
  assert.deepEqual(await e.show(['MainPID', 'NRestarts', 'ActiveState', 'FreezerState']),
    { MainPID: before.MainPID, NRestarts: '0', ActiveState: 'active', FreezerState: 'running' });
  assert.equal(await instancePid(e), child);
  assert.equal(await e.agent(), 'up ready 100%\n');
  const text = (await e.journal()).map((l) => l.message).join('\n');
  assert.doesNotMatch(text, /[Ww]atchdog timeout|liveness lost|check root failing/, text);
  // What explains the DOWN in HAProxy's log: the wrapper says it was held.
  assert.match(text, /the wrapper did not run for \d+\.\d s \(its cgroup frozen, e\.g\. systemctl freeze/, text);

  // A freeze longer than WatchdogSec=: systemd 252 declares a watchdog timeout and sends SIGABRT to the frozen
  // wrapper, where it stays pending. TimeoutAbortSec= (as zunitgen generates it) is what ends that: SIGKILL, which
  // the cgroup v2 freezer lets through. TimeoutStopSec=infinity here, so nothing else could end it: without
  // TimeoutAbortSec= the unit would stay in deactivating (stop-watchdog) for good and this test would hang.
  await e.box.writeUnit(`${UNIT}.d/short-watchdog.conf`, ['[Service]', 'WatchdogSec=2', `TimeoutAbortSec=${WATCHDOG_ABORT_MS}ms`, 'TimeoutStopSec=infinity', ''].join('\n'));
  await e.box.exec(['systemctl', 'restart', UNIT], { timeoutMs: 60_000 });
  const mid = await e.show(['MainPID', 'NRestarts', 'TimeoutAbortUSec', 'TimeoutStopUSec']);
  assert.equal(mid.TimeoutStopUSec, 'infinity');
  assert.equal(mid.TimeoutAbortUSec, `${WATCHDOG_ABORT_MS / 1000}s`);
  await e.box.systemctl('freeze', UNIT);
  const longFreeze = Date.now();
  const after = await until('the frozen unit killed and started again', async () => {
    const p = await e.show(['MainPID', 'NRestarts', 'ActiveState', 'Result']);
    return Number(p.NRestarts) >= 1 && p.ActiveState === 'active' ? p : undefined;
  }, 90_000, 100);
  t.diagnostic(`long freeze: active again ${Date.now() - longFreeze} ms after the freeze (WatchdogSec=2, TimeoutAbortSec=${WATCHDOG_ABORT_MS} ms)`);
  assert.notEqual(after.MainPID, mid.MainPID);
  const lines = (await e.journal()).map((l) => l.message);
  const from = lines.findLastIndex((l) => /Watchdog timeout \(limit 2s\)/.test(l));
  const at = (re: RegExp) => lines.findIndex((l, i) => i >= from && re.test(l));
  const order = [at(/Killing process \d+ \(node\) with signal SIGABRT/), at(/State 'stop-watchdog' timed out\. Killing\./),
    at(/Failed with result 'watchdog'/), at(/Scheduled restart job/), at(/^ready: warm-up/)];
  assert.ok(from >= 0 && order.every((i, k) => i > (k === 0 ? from : order[k - 1]!)), `watchdog -> SIGABRT -> abort timeout -> SIGKILL -> restart -> ready, in order:\n${lines.slice(Math.max(0, from)).join('\n')}`);
  // The new run is not frozen: the wrapper answers (systemd 252 still shows FreezerState=frozen for it, a stale value).
  assert.equal(await e.agent(), 'up ready 100%\n');
  assert.notEqual(await instancePid(e), child);
});

interface WrkResult { requests: number; non2xx: number; socketErrors: number; text: string }

function wrk(url: string, seconds: number, connections: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t', '2', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '30s', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { text += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { text += d; });
    p.on('error', reject);
    p.on('close', () => {
      const n = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
      resolve({
        requests: n(/(\d+) requests in/), non2xx: n(/Non-2xx or 3xx responses: (\d+)/),
        socketErrors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0, text,
      });
    });
  });
}

test('restart under wrk with long requests in flight: drain to zero over host:port, no request lost', { skip }, async (t) => {
  // client2, a plain sample instance on the host, takes the traffic while client1 restarts.
  const port2 = await freePort();
  const other = await startInstance({ port: port2 });
  t.after(() => other.stop({ signal: 'SIGKILL' }));
  const e = await setUp(t, {
    runtimeApiTcp: true, frontend: true, drain: '30s', serverExtra: 'maxconn 1',
    otherServers: [{ name: 'client2', port: port2, extra: 'maxconn 1' }],
    backendExtra: ['timeout queue 60s', 'retries 0'],
  });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const load = wrk(`http://127.0.0.1:${e.frontendPort}/slow?seconds=0.5`, 8, 4);
  // Requests are in flight on client1 (maxconn 1 keeps one there while the load lasts) when the restart begins.
  await until('a session on client1', async () => {
    const row = (await e.hx.showStat()).find((r) => r.pxname === BACKEND && r.svname === SERVER);
    return Number(row?.scur ?? 0) > 0 ? true : undefined;
  }, 5000, 20);
  await e.box.exec(['systemctl', 'restart', 'client1.service'], { timeoutMs: 60_000 });
  const r = await load;
  t.diagnostic(`wrk: ${r.requests} requests, ${r.non2xx} non-2xx, ${r.socketErrors} socket errors`);
  assert.ok(r.requests > 0, r.text);
  assert.equal(r.non2xx, 0, r.text);
  assert.equal(r.socketErrors, 0, r.text);

  const lines = await e.journal();
  const text = lines.map((l) => l.message).join('\n');
  const drained = /plone\/client1: no session left after [\d.]+ m?s \((\d+) in flight and (\d+) queued when the drain began\)/.exec(text);
  assert.ok(drained, `no drain to zero in the journal:\n${text}`);
  assert.ok(Number(drained[1]) + Number(drained[2]) >= 1, `nothing was in flight when the drain began: ${drained[0]}`);
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l.message));
  assert.ok(at(/no session left after/) < at(/sending the stop signal/), text);
});
