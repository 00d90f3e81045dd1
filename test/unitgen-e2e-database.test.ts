// Stop stays stop, and a database outage restarts (and re-warms) no client: the generated stack under a real
// systemd 252, with the sample ZEO stub, two sample instances behind znotify and a real HAProxy 2.6 (the generated
// agent backend behind a frontend that wrk loads). The clients' watchdog is short (WatchdogSec=2s) and so is their
// database grace (1s), so an outage of several seconds is far longer than both.
//   1. `systemctl stop` ZEO: both clients stay running, out of HAProxy (their zeo check is readiness), no restart;
//   2. an operator restarts client1 while ZEO is stopped: ZEO is not started (no client Wants= it); client1's
//      wrapper waits for it before starting the instance, not READY, DOWN in HAProxy, and says so in STATUS=;
//   3. `systemctl start` ZEO: client1 becomes READY, client2 comes back UP without a restart (same run: its caches
//      warm, nothing to warm up), and wrk through HAProxy then gets only 200s.
// Set-up: test/fixtures/unitgen/stack.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from './harness/net.js';
import { BACKEND, clientUnit, probeTcp, setUpStack, sleep, stackSkipReason, TARGET, until, ZEO_UNIT } from './fixtures/unitgen/stack.js';

const skip = stackSkipReason();
const PROPS = ['ActiveState', 'SubState', 'NRestarts', 'InvocationID', 'StatusText', 'Job'];

interface WrkResult { requests: number; non2xx: number; socketErrors: number; output: string }

/** wrk against url for `seconds`; counts what it reports (it prints the error lines only when there were some). */
async function wrk(url: string, seconds: number, connections = 4): Promise<WrkResult> {
  const { stdout } = await promisify(execFile)('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', url], { timeout: (seconds + 30) * 1000 });
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const socketErrors = se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  assert.ok(Number.isFinite(requests), `cannot read wrk's output:\n${stdout}`);
  return { requests, non2xx, socketErrors, output: stdout };
}

test('a stopped ZEO stays stopped, clients wait for it and come back without a restart', { skip, timeout: 180_000 }, async (t) => {
  const frontendPort = await freePort();
  const s = await setUpStack(t, {
    clients: 2, warmupSeconds: 0.5, frontendPort,
    edit: (y) => y.replace(/^ {2}watchdog: \{ database-grace: 1min \}$/m, '  watchdog: { database-grace: 1s }').replace(/^watchdog: 20s$/m, 'watchdog: 2s'),
  });
  assert.match(s.configText, /database-grace: 1s/);
  assert.match(s.configText, /^watchdog: 2s$/m);
  const { box } = s;
  const hx = s.hx!;
  await box.exec(['systemctl', 'start', TARGET], { timeoutMs: 60_000 });
  for (const n of [1, 2]) await hx.waitForState(BACKEND, `client${n}`, 'UP', { timeoutMs: 10_000 });
  const before = await Promise.all([1, 2].map((n) => s.show(clientUnit(n), PROPS)));
  const zeoBefore = await s.show(ZEO_UNIT, ['ExecMainStartTimestampMonotonic']);

  await t.test('ZEO stopped: both clients stay running, out of HAProxy, for longer than grace and watchdog', async () => {
    await box.systemctl('stop', ZEO_UNIT);
    for (const n of [1, 2]) await hx.waitForState(BACKEND, `client${n}`, 'DOWN', { timeoutMs: 10_000 });
    // 3 x WatchdogSec, 6 x database-grace: a client with the database as liveness would have been restarted by now.
    await sleep(6000);
    for (const [i, n] of [1, 2].entries()) {
      const p = await s.show(clientUnit(n), PROPS);
      assert.equal(p.ActiveState, 'active', `client${n}: ${JSON.stringify(p)}`);
      assert.equal(p.NRestarts, '0', `client${n} restarted during the outage`);
      assert.equal(p.InvocationID, before[i]!.InvocationID, `client${n} is another run`);
      assert.match(p.StatusText ?? '', /^not ready: (zeo|plone): /, `client${n} STATUS=`);
      assert.equal(await hx.serverState(BACKEND, `client${n}`), 'DOWN');
    }
    assert.equal((await s.show(ZEO_UNIT, ['ActiveState'])).ActiveState, 'inactive');
  });

  await t.test('client1 restarted by hand while ZEO is stopped: ZEO is not started, client1 waits for it', async () => {
    await box.exec(['systemctl', 'restart', '--no-block', clientUnit(1)]);
    const waiting = await until('client1 to be starting again', async () => {
      const p = await s.show(clientUnit(1), PROPS);
      return p.InvocationID !== before[0]!.InvocationID && p.ActiveState === 'activating' ? p : undefined;
    }, 30_000, 100);
    // Watch for a while: ZEO gets no start job and stays down; client1 stays not ready, out of HAProxy.
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const [zeo, c1] = await Promise.all([s.show(ZEO_UNIT, ['ActiveState', 'Job']), s.show(clientUnit(1), PROPS)]);
      assert.equal(zeo.ActiveState, 'inactive', 'ZEO was started by a client restart');
      assert.equal(zeo.Job ?? '', '', `ZEO got a job: ${JSON.stringify(zeo)}`);
      assert.equal(c1.ActiveState, 'activating', `client1: ${JSON.stringify(c1)}`);
      seen.add(c1.StatusText ?? '');
      assert.equal(await hx.serverState(BACKEND, 'client1'), 'DOWN');
      await sleep(150);
    }
    t.diagnostic(`client1 STATUS= while waiting: ${[...seen].join(' | ')}`);
    // The wrapper has not even started the instance: it waits for the database first, and says so.
    assert.ok([...seen].some((x) => /^waiting for zeo \(127\.0\.0\.1:\d+\) before starting the instance: connection refused$/.test(x)), `STATUS= does not say what client1 waits for: ${[...seen].join(' | ')}`);
    assert.equal(await probeTcp(s.ports.http(1)), 'refused', 'client1\'s instance runs while ZEO is down');
    assert.equal(waiting.ActiveState, 'activating');
    // client2 is untouched by client1's restart.
    const c2 = await s.show(clientUnit(2), PROPS);
    assert.equal(c2.InvocationID, before[1]!.InvocationID);
  });

  await t.test('ZEO started again: client1 becomes READY, client2 is back without a restart, wrk gets only 200s', async () => {
    await box.systemctl('start', ZEO_UNIT);
    const back = Date.now();
    await until('client1 to be active', async () => ((await s.show(clientUnit(1), ['ActiveState'])).ActiveState === 'active' ? true : undefined), 60_000, 100);
    for (const n of [1, 2]) await hx.waitForState(BACKEND, `client${n}`, 'UP', { timeoutMs: 15_000 });
    t.diagnostic(`both clients UP ${Date.now() - back} ms after ZEO was started again`);
    const c2 = await s.show(clientUnit(2), PROPS);
    assert.equal(c2.InvocationID, before[1]!.InvocationID, 'client2 was restarted');
    assert.equal(c2.NRestarts, '0');
    const c1 = await s.show(clientUnit(1), PROPS);
    assert.equal(c1.NRestarts, '0', 'client1 failed and was restarted by systemd');
    // ZEO ran once more, started by the operator only.
    assert.notEqual((await s.show(ZEO_UNIT, ['ExecMainStartTimestampMonotonic'])).ExecMainStartTimestampMonotonic, zeoBefore.ExecMainStartTimestampMonotonic);
    const r = await wrk(`http://127.0.0.1:${frontendPort}/Plone`, 2);
    t.diagnostic(`wrk: ${r.requests} requests, ${r.non2xx} non-2xx, ${r.socketErrors} socket errors`);
    assert.ok(r.requests > 0, r.output);
    assert.equal(r.non2xx, 0, r.output);
    assert.equal(r.socketErrors, 0, r.output);
  });
});
