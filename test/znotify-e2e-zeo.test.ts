// znotify end to end: the database going away. The sample instance depends on a host-side ZEO
// stub (sample/zeo_server.py, ZEO framing + `ruok`); the wrapper's zeo check, given readiness + liveness (the default
// is startup + readiness: no restart at all), sees it go:
// HAProxy turns the server DOWN at once, but within watchdog.database-grace the watchdog keeps being fed, so
// systemd restarts nothing (restarting ZEO clients does not bring a ZEO server back, docs/dev/FACTS.md); when the
// server returns, the instance is UP again, same process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKEND, e2eSkipReason, recordStates, SERVER, setUp, sleep, until } from './fixtures/znotify/e2e.js';

const skip = e2eSkipReason();
// 3 x WatchdogSec=2s: were the watchdog not fed during the outage, systemd would have killed the wrapper by then.
const OUTAGE_MS = 6000;

test('ZEO server gone: DOWN in HAProxy without a restart within database-grace, UP again when it is back', { skip }, async (t) => {
  const e = await setUp(t, { zeo: true, watchdogSec: 2, watchdogYaml: ['  database-grace: 30s', '  hang-timeout: 30s'] });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const before = await e.show(['MainPID', 'NRestarts']);
  const childBefore = (await e.health()).pid;

  const stat = async () => (await e.hx.showStat()).find((r) => r.pxname === BACKEND && r.svname === SERVER)!;
  const rec = recordStates(e.hx, BACKEND, SERVER);
  t.after(() => rec.stop());
  const t0 = Date.now();
  await e.zeo!.peer.stop();
  // zeo check: every 300 ms, failure-threshold 1, agent-inter 100 ms: DOWN within about a second.
  await e.hx.waitForState(BACKEND, SERVER, 'DOWN', { timeoutMs: 15_000 });
  const tDown = Date.now();
  const agent = await e.agent();
  // While it shuts down: `closed before the ZEO greeting`, or `closed without a ruok reply` when a check had the
  // greeting and sent its ruok as the server went; once it is gone: `connection refused`.
  assert.match(agent, /^down #zeo: (connection refused|closed before the ZEO greeting|ZEO Z5: closed without a ruok reply)\n$/);
  const h = await e.health();
  assert.equal(h.ready, false);
  assert.equal(h.live, true, 'liveness must hold within database-grace');
  // The instance itself is alive and well (`/` needs no database), only /Plone fails.
  assert.equal((await fetch(`http://127.0.0.1:${e.port}/Plone`, { signal: AbortSignal.timeout(5000) })).status, 500);

  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - t0)));
  const during = await e.show(['MainPID', 'NRestarts', 'ActiveState']);
  assert.deepEqual(during, { MainPID: before.MainPID, NRestarts: '0', ActiveState: 'active' });
  assert.match((await e.show(['StatusText'])).StatusText!, /not ready: zeo: (connection refused|closed before the ZEO greeting|ZEO Z5: closed without a ruok reply)/);

  // HAProxy's own word on flapping: seconds since the server's last state change (show stat's lastchg). A flap back
  // to UP during the outage would have changed it since the DOWN, however sparse the samples below.
  const lastchg = Number((await stat()).lastchg);
  const tBack = Date.now();
  await e.zeo!.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const tUp = Date.now();
  await sleep(300);
  await rec.stop();
  t.diagnostic(`DOWN ${tDown - t0} ms after the ZEO stub stopped (its last change ${lastchg} s before the stub was back, ${tBack - tDown} ms later); UP ${tUp - tBack} ms after it was back; HAProxy: ${rec.describe(t0)}`);

  // DOWN for the whole outage: no flapping back to UP while the server was gone. HAProxy's last change is the DOWN
  // (1 s of slack for its whole seconds); every sample (each a Runtime API round trip: ~100 in 6 s on a quiet
  // machine, under 50 at load 20) says DOWN.
  assert.ok(lastchg >= Math.floor((tBack - tDown) / 1000) - 1, `HAProxy's last state change ${lastchg} s before ${tBack - tDown} ms of outage; ${rec.describe(t0)}`);
  const outage = rec.samples.filter((s) => s.t >= tDown && s.t < tBack);
  assert.ok(outage.length >= 10 && outage.every((s) => s.state === 'DOWN'), `${outage.length} samples: ${rec.describe(t0)}`);
  const after = await e.show(['MainPID', 'NRestarts', 'ActiveState']);
  assert.deepEqual(after, { MainPID: before.MainPID, NRestarts: '0', ActiveState: 'active' });
  const h2 = await e.health();
  assert.equal(h2.ready, true);
  assert.equal(h2.pid, childBefore, 'the instance was restarted');
  assert.equal((await fetch(`http://127.0.0.1:${e.port}/Plone`, { signal: AbortSignal.timeout(5000) })).status, 200);
  const journal = (await e.journal()).map((l) => l.message).join('\n');
  assert.doesNotMatch(journal, /[Ww]atchdog timeout|liveness lost/);
  assert.match(journal, /check zeo failing/);
  assert.match(journal, /check zeo passing/);
  await until('StatusText back to ready', async () => (/^ready/.test((await e.show(['StatusText'])).StatusText!) ? true : undefined), 15_000);
});

test('the contrast: a ZEO outage longer than database-grace does restart the instance', { skip }, async (t) => {
  // database-grace 2s: liveness is lost 2 s after the first failed zeo check; the wrapper dumps stacks, sends
  // WATCHDOG=trigger, systemd restarts the unit. Proves the test above would notice a grace that is not honoured.
  const e = await setUp(t, { zeo: true, watchdogSec: 2, watchdogYaml: ['  database-grace: 2s', '  hang-timeout: 30s', '  dump-stacks: true'] });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const before = await e.show(['MainPID', 'NRestarts']);
  const t0 = Date.now();
  await e.zeo!.peer.stop();
  const p = await until('a restart', async () => {
    const s = await e.show(['NRestarts', 'MainPID']);
    return Number(s.NRestarts) >= 1 ? s : undefined;
  }, 15_000, 100);
  const restartedAfter = Date.now() - t0;
  t.diagnostic(`restarted ${restartedAfter} ms after the ZEO stub stopped (database-grace 2 s)`);
  assert.ok(restartedAfter >= 2000, `restarted after ${restartedAfter} ms, inside the 2 s grace`);
  assert.notEqual(p.MainPID, before.MainPID);
  // The new instance cannot warm up without its database (/Plone answers 500): activating, DOWN in HAProxy...
  await sleep(1000);
  assert.equal((await e.show(['ActiveState'])).ActiveState, 'activating');
  assert.equal(await e.state(), 'DOWN');
  // ...until the database is back.
  await e.zeo!.start();
  await until('active again', async () => ((await e.show(['ActiveState'])).ActiveState === 'active' ? true : undefined), 10_000, 100);
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const journal = (await e.journal()).map((l) => l.message).join('\n');
  assert.match(journal, /liveness lost/);
});
