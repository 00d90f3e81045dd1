// znotify end to end: `systemctl start` of the wrapped sample instance returns only after the
// warm-up, the unit turns active only then, and HAProxy (agent-check on the wrapper) sees the instance DOWN during
// the warm-up and UP after. Real systemd 252 in a box, real waitress, real HAProxy 2.6.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { BACKEND, e2eSkipReason, recordStates, SERVER, setUp, sleep } from './fixtures/znotify/e2e.js';

const skip = e2eSkipReason();
const WARMUP_S = 3;

test('systemctl start returns after the warm-up; HAProxy sees DOWN during it and UP after', { skip }, async (t) => {
  // TimeoutStartSec=2 is shorter than the warm-up: the start only succeeds because the wrapper extends it with
  // EXTEND_TIMEOUT_USEC= while the warm-up progresses (systemd.service(5), sd_notify(3)).
  const e = await setUp(t, { warmupSeconds: WARMUP_S, service: ['TimeoutStartSec=2'] });

  // HAProxy 2.6 counts a server with agent-check only (no `check`) as UP until its agent first answers (there is
  // no `init-state` before 3.1): it is UP now, with nothing listening. That is HAProxy's start state, not the
  // wrapper's doing; what the wrapper controls begins with its first answer.
  const rec = recordStates(e.hx, BACKEND, SERVER);
  const active: Array<{ t: number; state: string }> = [];
  let polling = true;
  const activePoll = (async () => {
    while (polling) {
      const s = await e.show(['ActiveState']).catch(() => ({ ActiveState: 'error' }));
      active.push({ t: Date.now(), state: s.ActiveState! });
      await sleep(50);
    }
  })();
  t.after(async () => { polling = false; await activePoll; await rec.stop(); });

  const t0 = Date.now();
  await e.start();
  const tStarted = Date.now();
  polling = false;
  await activePoll;
  // A little more of HAProxy's view after READY: agent-inter is 100 ms.
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 30_000 });
  await sleep(300);
  await rec.stop();
  t.diagnostic(`systemctl start took ${tStarted - t0} ms; HAProxy: ${rec.describe(t0)}`);

  // The start blocked for the warm-up (the first /Plone takes WARMUP_S seconds in the sample).
  assert.ok(tStarted - t0 >= WARMUP_S * 1000, `systemctl start returned after ${tStarted - t0} ms, before the ${WARMUP_S} s warm-up`);
  const props = await e.show(['ActiveState', 'SubState', 'NRestarts', 'ExecMainStartTimestampMonotonic', 'ActiveEnterTimestampMonotonic', 'StatusText', 'MainPID', 'TimeoutStartUSec']);
  assert.equal(props.TimeoutStartUSec, '2s');
  assert.equal(props.ActiveState, 'active');
  assert.equal(props.SubState, 'running');
  assert.equal(props.NRestarts, '0');
  const activatingUs = Number(props.ActiveEnterTimestampMonotonic) - Number(props.ExecMainStartTimestampMonotonic);
  assert.ok(activatingUs >= WARMUP_S * 1e6, `unit became active ${activatingUs} us after its main process started`);
  assert.match(props.StatusText!, /^ready/);
  // When systemd took READY=1 (ActiveEnterTimestampMonotonic), on this host's wall clock: the box has no time
  // namespace, so its CLOCK_MONOTONIC is the host's (process.hrtime). Ordering against it does not depend on
  // how late systemctl's exit reached this process on a loaded machine.
  const activeAt = Number(props.ActiveEnterTimestampMonotonic) / 1000 + (Date.now() - Number(process.hrtime.bigint() / 1_000_000n));
  assert.ok(activeAt <= tStarted, `active at ${activeAt}, after systemctl start returned at ${tStarted}`);
  t.diagnostic(`systemd took READY=1 ${Math.round(activeAt - t0)} ms after the start; systemctl start returned ${Math.round(tStarted - activeAt)} ms after that`);

  // The unit was `activating` during the whole start, `active` never before systemd took READY=1. (The poller's
  // first sample may predate the start job: `inactive`.)
  const early = active.filter((s) => s.t < activeAt).map((s) => s.state);
  const seen = JSON.stringify(active.map((s) => s.state));
  // A few samples suffice to tell `activating` from a unit that was active at once (each one is a systemctl in the
  // box, a few hundred ms apart on a loaded machine).
  assert.ok(early.filter((s) => s === 'activating').length >= 3, `too few ActiveState samples during the start: ${seen}`);
  assert.ok(early.every((s) => s === 'activating' || s === 'inactive'), `ActiveState during start: ${seen}`);
  assert.ok(early.lastIndexOf('inactive') < early.indexOf('activating'), `inactive after activating: ${seen}`);

  // HAProxy: once the agent answered, DOWN through the warm-up; UP only after it.
  const firstAnswer = rec.samples.findIndex((s) => s.state === 'DOWN');
  assert.ok(firstAnswer >= 0, `HAProxy never saw the instance DOWN: ${rec.describe(t0)}`);
  const afterAnswer = rec.samples.slice(firstAnswer);
  const firstUp = afterAnswer.findIndex((s) => s.state === 'UP');
  assert.ok(firstUp > 0, `HAProxy never saw the instance UP after the warm-up: ${rec.describe(t0)}`);
  const down = afterAnswer.slice(0, firstUp);
  assert.ok(down.every((s) => s.state === 'DOWN'), `states during warm-up: ${rec.describe(t0)}`);
  // DOWN from early on (the agent listens before the instance is even spawned) until the warm-up is over: for
  // at least half of the warm-up (Node's own start, ~0.5 s here, may take longer on a loaded CI machine).
  const upAt = afterAnswer[firstUp]!.t;
  assert.ok(upAt - down[0]!.t >= WARMUP_S * 500, `DOWN for only ${upAt - down[0]!.t} ms of the ${WARMUP_S} s warm-up`);
  assert.ok(upAt - t0 >= WARMUP_S * 1000, `HAProxy saw UP ${upAt - t0} ms after start, inside the ${WARMUP_S} s warm-up`);
  // UP follows READY=1: the agent says up once systemd has processed the BARRIER=1 sent after it.
  assert.ok(upAt >= activeAt, `HAProxy saw UP ${Math.round(activeAt - upAt)} ms before systemd took READY=1`);
  assert.ok(afterAnswer.slice(firstUp).every((s) => s.state === 'UP'), `states after READY: ${rec.describe(t0)}`);

  // The wrapper's own answers agree; the instance served the warm-up's /Plone in about WARMUP_S seconds.
  assert.equal(await e.agent(), 'up ready 100%\n');
  const h = await e.health();
  assert.equal(h.ready, true);
  const journal = (await e.journal()).map((l) => l.message).join('\n');
  assert.match(journal, /"GET \/Plone HTTP\/1\.1" 200 \d+ 3\.\d+s/);
  assert.match(journal, /ready: warm-up 1\/1/);

  // The agent said `down #warming up 0/1` meanwhile: HAProxy keeps the reason.
  assert.match(e.hx.output(), /client1 is DOWN, reason: Layer7 wrong status, code: 0, info: "via agent : down \(warming up 0\/1\)"/);
});

test('a configuration error fails the start with status 78, and RestartPreventExitStatus=78 stops the restart loop', { skip }, async (t) => {
  const e = await setUp(t);
  // A typo in a key: the wrapper exits 78 (EX_CONFIG) naming the file, the line and the fix.
  fs.writeFileSync(e.configFile, fs.readFileSync(e.configFile, 'utf8').replace('warmup:', 'warmpu:'));
  const r = await e.box.exec(['systemctl', 'start', 'client1.service'], { allowFail: true, timeoutMs: 30_000 });
  assert.notEqual(r.code, 0);
  await sleep(1000); // RestartSec=200ms: a restart would have happened by now
  const p = await e.show(['ActiveState', 'Result', 'ExecMainStatus', 'NRestarts']);
  assert.deepEqual(p, { ActiveState: 'failed', Result: 'exit-code', ExecMainStatus: '78', NRestarts: '0' });
  const journal = (await e.journal()).map((l) => l.message).join('\n');
  assert.match(journal, /client1\.yaml:\d+:\d+: .*unknown key "warmpu".*did you mean "warmup"/);
});
