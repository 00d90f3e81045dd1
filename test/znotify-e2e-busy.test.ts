// znotify end to end: busy is not dead, hung is. Under a real systemd 252 with WatchdogSec=,
// a real waitress with ONE worker thread, and a real HAProxy 2.6:
// - a long request keeps the only thread busy: HAProxy's agent-check on the wrapper keeps the server UP and the
//   watchdog keeps being fed (NRestarts stays 0), while a classic `option httpchk` server on the instance's own
//   port, in the same HAProxy, goes DOWN (the contrast proves the test can fail);
// - a hung instance (POST /hang) is declared hung after watchdog.hang-timeout, with one probe at most waiting in
//   it meanwhile, its thread stacks land in the journal (SIGABRT with PYTHONFAULTHANDLER=1, dump-stacks: the
//   instance registers nothing itself), systemd kills it through the watchdog and restarts it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKEND, e2eSkipReason, recordStates, SERVER, setUp, until } from './fixtures/znotify/e2e.js';

const skip = e2eSkipReason();

// The case to hold: a request that keeps the only worker thread busy for 20 s. That is 10 x WatchdogSec=2s (the
// wrapper pings every 1 s, so ~20 pings have to go out while the thread is occupied), 20 x HAProxy's `timeout check
// 1s` (the httpchk server goes DOWN within ~2 s and stays DOWN the rest of the request), and ~40 x the wrapper's
// own root check interval/timeout (500 ms). Nothing in the wrapper or HAProxy counts longer than a few of those
// except watchdog.hang-timeout, set to 30 s here (beyond the request) because that is the knob that decides "hung":
// a longer request proves nothing more, it only repeats the same checks.
const LONG_REQUEST_S = 20;

async function pings(healthPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const m = /^znotify_watchdog_pings_total\{[^}]*\} (\d+)$/m.exec(text);
  assert.ok(m, `no znotify_watchdog_pings_total in /metrics:\n${text}`);
  return Number(m[1]);
}

test(`a ${LONG_REQUEST_S} s request on a one-thread instance: agent-check stays UP, watchdog fed; httpchk goes DOWN`, { skip }, async (t) => {
  const e = await setUp(t, { plainHttpchk: true, watchdogSec: 2, watchdogYaml: ['  hang-timeout: 30s', '  dump-stacks: true'] });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  await e.hx.waitForState('plain', SERVER, 'UP', { timeoutMs: 5000 });
  const before = await e.show(['MainPID', 'NRestarts']);
  const pings0 = await pings(e.healthPort);

  const agentRec = recordStates(e.hx, BACKEND, SERVER);
  const plainRec = recordStates(e.hx, 'plain', SERVER);
  t.after(async () => { await agentRec.stop(); await plainRec.stop(); });
  const t0 = Date.now();
  const slow = fetch(`http://127.0.0.1:${e.port}/slow?seconds=${LONG_REQUEST_S}`, { signal: AbortSignal.timeout((LONG_REQUEST_S + 20) * 1000) });
  // While it runs: the wrapper reports busy (its root check times out while TCP still connects).
  const busy = await until('the wrapper to report busy', async () => ((await e.health()).busy ? true : undefined), 5000, 100);
  assert.equal(busy, true);
  const h = await e.health();
  assert.equal(h.ready, true, `not ready while busy: ${JSON.stringify(h)}`);
  assert.equal(await e.agent(), 'up ready 100%\n');
  const res = await slow;
  const tDone = Date.now();
  assert.equal(res.status, 200);
  assert.equal(await res.text(), `slept ${LONG_REQUEST_S} s\n`);
  await agentRec.stop();
  await plainRec.stop();
  t.diagnostic(`request took ${tDone - t0} ms; agent-check server: ${agentRec.describe(t0)}; httpchk server: ${plainRec.describe(t0)}`);

  // The agent-checked server never left UP.
  assert.ok(agentRec.samples.length > 100, `only ${agentRec.samples.length} samples`);
  assert.deepEqual([...new Set(agentRec.samples.map((s) => s.state))], ['UP'], agentRec.describe(t0));
  // The classic HTTP check, answered by the same (only) worker thread, marked it DOWN.
  const plainDown = plainRec.samples.filter((s) => s.state === 'DOWN');
  assert.ok(plainDown.length > 0, `the httpchk server never went DOWN: ${plainRec.describe(t0)}`);
  assert.match(e.hx.output(), /Server plain\/client1 is DOWN, reason: Layer7 timeout/);

  // The watchdog kept being fed during the whole request and nothing restarted.
  const pings1 = await pings(e.healthPort);
  assert.ok(pings1 - pings0 >= LONG_REQUEST_S - 2, `only ${pings1 - pings0} WATCHDOG=1 during a ${LONG_REQUEST_S} s request (one per second expected)`);
  const after = await e.show(['MainPID', 'NRestarts', 'ActiveState', 'Result']);
  assert.deepEqual(after, { MainPID: before.MainPID, NRestarts: '0', ActiveState: 'active', Result: 'success' });
  const journal = (await e.journal()).map((l) => l.message).join('\n');
  assert.doesNotMatch(journal, /[Ww]atchdog timeout|liveness lost/);
  assert.match(journal, new RegExp(`"GET /slow\\?seconds=${LONG_REQUEST_S} HTTP/1\\.1" 200 \\d+ ${LONG_REQUEST_S}\\.\\d+s`));
  // The busy state ends with the request: not busy, still ready, HAProxy's httpchk recovers.
  await until('busy to clear', async () => ((await e.health()).busy ? undefined : true), 5000, 100);
  await e.hx.waitForState('plain', SERVER, 'UP', { timeoutMs: 5000 });
});

test('a hung instance is killed by the watchdog (stacks dumped first) and restarted', { skip }, async (t) => {
  const e = await setUp(t, { watchdogSec: 2, watchdogYaml: ['  hang-timeout: 2s', '  dump-stacks: true'] });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const before = await e.show(['MainPID', 'NRestarts']);
  assert.equal(before.NRestarts, '0');
  const childBefore = (await e.health()).pid;

  const rec = recordStates(e.hx, BACKEND, SERVER);
  t.after(() => rec.stop());
  const t0 = Date.now();
  const r = await fetch(`http://127.0.0.1:${e.port}/hang`, { method: 'POST', signal: AbortSignal.timeout(20_000) });
  assert.equal(r.status, 202);

  // hang-timeout 2 s + the dump pause + the restart (warm-up 0): well within 15 s.
  await until('NRestarts >= 1 and active again', async () => {
    const p = await e.show(['NRestarts', 'ActiveState']);
    return Number(p.NRestarts) >= 1 && p.ActiveState === 'active' ? p : undefined;
  }, 15_000, 100);
  const tRestarted = Date.now();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  await rec.stop();
  t.diagnostic(`restarted ${tRestarted - t0} ms after POST /hang; HAProxy: ${rec.describe(t0)}`);

  const after = await e.show(['MainPID', 'NRestarts']);
  assert.notEqual(after.MainPID, before.MainPID);
  const h = await e.health();
  assert.equal(h.ready, true);
  assert.notEqual(h.pid, childBefore);
  // HAProxy took it out while it was hung or restarting, and back after.
  assert.ok(rec.samples.some((s) => s.state === 'DOWN'), `never DOWN: ${rec.describe(t0)}`);

  const lines = await e.journal();
  const find = (re: RegExp) => lines.find((l) => re.test(l.message));
  const dump = find(/File ".*instance\.py", line \d+ in hang_forever/);
  const watchdog = find(/client1\.service: Watchdog timeout|client1\.service: Watchdog request/);
  const hungLine = find(/liveness lost/);
  assert.ok(hungLine, 'the wrapper did not log the loss of liveness');
  assert.match(hungLine.message, /hung, \/ unanswered for/);
  assert.ok(dump, 'no thread stack dump (SIGABRT -> faulthandler) in the journal');
  assert.ok(watchdog, `systemd did not log a watchdog timeout/request:\n${lines.map((l) => l.message).join('\n')}`);
  assert.ok(dump.us <= watchdog.us, 'the stack dump came after the watchdog kill');
  // Through the whole hang (hang-timeout 2 s, the root check every 500 ms) one probe at most waited in waitress's
  // queue: the one sent when the hang began (were each run to send one, the depth would grow by one per run: 1, 2,
  // 3, 4, ...). Counted from the hang on: before it, a probe that comes while the one thread still finishes the
  // previous request is logged too. The first line after it is the sample's own HangTask, queued by POST /hang;
  // the probe is logged as depth 2 when it arrives before the thread has taken the HangTask (the thread is still
  // finishing POST /hang after its answer went out), else 1.
  const iHang = lines.findIndex((l) => /hang requested/.test(l.message));
  assert.ok(iHang >= 0, 'the instance did not log the hang');
  const depths = lines.slice(iHang).filter((l) => l.us <= watchdog.us).map((l) => /Task queue depth is (\d+)/.exec(l.message)?.[1]).filter((d) => d !== undefined).map(Number);
  assert.ok(depths.length >= 1 && depths.length <= 2 && depths.every((d) => d <= 2), `waitress's queue during the hang: ${depths.join(', ')}`);
});
