// zunitgen end to end, failure side ("RestartPreventExitStatus=64 66 78" holds, and the health sockets must not undo
// what systemd decided). A client whose wrapper exits 78 (EX_CONFIG: here an operator's typo in its
// znotify config) must stay failed: RestartPreventExitStatus=78 stops systemd's own restart, and the health checks
// that keep connecting to its sockets (HAProxy's agent-check every 200 ms from the generated backend, plus a
// monitoring probe) must not start it again either. `systemctl stop` is covered by test/unitgen-e2e.test.ts; this
// is the case PartOf= does not cover: the service fails by itself, no stop job reaches the sockets, they go back to
// listening and the next connection triggers Service= (systemd.socket(5)).
//
// Found here first (docs/dev/UNITGEN-E2E-FINDINGS.md, F1): with PartOf= alone the sockets restarted the failed
// client until systemd's start limit ended it; the sockets now also carry BindsTo= their service.
//
// The start limit (restart: in the stack config, here with a 200 ms restart delay and a burst of 3): a client that
// fails at every start ends failed after exactly 3 starts, with its sockets down and zstack status saying so; one that
// fails twice within the span is restarted both times; one started while ZEO is down, failing after each 8 s budget, is
// started again and again and comes up by itself when ZEO is back. The box's DefaultStartLimitIntervalSec=0 is only a default:
// the generated units' own StartLimitIntervalSec= and StartLimitBurst= hold here as on a production host.
// Set-up: test/fixtures/unitgen/stack.ts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { BOX_NODE } from './harness/box.js';
import {
  agentSocket, BACKEND, clientUnit, healthSocket, probeTcp, setUpStack, sleep, stackSkipReason, TARGET, UNIT_DIR, until, ZEO_UNIT,
} from './fixtures/unitgen/stack.js';

const skip = stackSkipReason();
/** restart.burst of the test's stack: StartLimitBurst= of its units. */
const BURST = 3;
/** clients.warmup.budget of the test's stack, in seconds. */
const BUDGET_S = 8;

test('a client that exits 78 (configuration error) while its health sockets are being probed', { skip, timeout: 240_000 }, async (t) => {
  // An 8 s warm-up budget: the start limit's cycle is then min(1 min, 8 s / 2) + 200 ms = 4.2 s, and a client waiting
  // in vain for ZEO fails about 8.5 s after each start.
  const s = await setUpStack(t, { clients: 2, warmupSeconds: 0.5, edit: (y) => `${y.replace('budget: 60s', `budget: ${BUDGET_S}s`)}restart: { delay: 200ms, burst: ${BURST} }\n` });
  const { box } = s;
  const hx = s.hx!;
  await box.exec(['systemctl', 'start', TARGET], { timeoutMs: 60_000 });
  await hx.waitForState(BACKEND, 'client2', 'UP', { timeoutMs: 5000 });

  // An operator's typo in client2's wrapper config, then a restart: the wrapper rejects the config with 78.
  await box.exec(['sh', '-c', `echo 'warmpu: {}' >> ${UNIT_DIR}/plone-client2.znotify.yaml`]);
  const restart = await box.exec(['systemctl', 'restart', clientUnit(2)], { allowFail: true, timeoutMs: 30_000 });
  const first = await s.show(clientUnit(2), ['ActiveState', 'Result', 'ExecMainStatus', 'ExecMainStartTimestampMonotonic']);

  // HAProxy keeps asking (agent-inter and inter 200 ms); so does a monitoring probe of the health HTTP port.
  for (let i = 0; i < 30; i++) {
    await probeTcp(s.ports.health(2));
    await sleep(100);
  }
  const after = await s.show(clientUnit(2), ['ActiveState', 'SubState', 'Result', 'ExecMainStatus', 'ExecMainStartTimestampMonotonic', 'NRestarts']);
  const sockets = {
    agent: await s.show(agentSocket(2), ['ActiveState', 'Result']),
    health: await s.show(healthSocket(2), ['ActiveState', 'Result']),
  };
  const pid1 = (await box.journal(clientUnit(2))).split('\n').filter((l) => / systemd\[1\]: /.test(l));
  const starts = pid1.filter((l) => /: Starting plone-client2\.service/.test(l)).length;
  const brokenStarts = starts - 1; // the first start was with the good config
  t.diagnostic(`right after the restart: ${JSON.stringify(first)}; 3 s later: ${JSON.stringify(after)}; sockets: ${JSON.stringify(sockets)}; starts with the broken config: ${brokenStarts}`);

  await t.test('systemctl restart reports the failure; the unit ends failed with exit status 78', () => {
    assert.notEqual(restart.code, 0, 'restart with a broken config succeeded');
    assert.equal(after.ActiveState, 'failed');
    assert.equal(after.Result, 'exit-code');
    assert.equal(after.ExecMainStatus, '78');
    assert.equal(after.NRestarts, '0', 'systemd itself restarted it (RestartPreventExitStatus=78 ignored)');
  });

  await t.test('the health checks connecting to its sockets do not start it again', () => {
    assert.equal(brokenStarts, 1, `client2 was started ${brokenStarts} times with the broken config:\n${pid1.join('\n')}`);
    assert.equal(after.ExecMainStartTimestampMonotonic, first.ExecMainStartTimestampMonotonic, 'client2 was started again after it failed');
    // Nothing should be left listening for a client that cannot run: HAProxy's agent and TCP checks get refused.
    assert.notEqual(sockets.agent.Result, 'service-start-limit-hit');
    assert.notEqual(sockets.health.Result, 'service-start-limit-hit');
  });

  await t.test('the other client is untouched', async () => {
    assert.equal((await s.show(clientUnit(1), ['ActiveState'])).ActiveState, 'active');
    await until('HAProxy to see client1 UP', async () => (await hx.serverState(BACKEND, 'client1')) === 'UP' || undefined, 3000);
    assert.equal(await hx.serverState(BACKEND, 'client2'), 'DOWN');
  });

  await t.test('a config file that is gone: exit 66 (EX_NOINPUT), and the unit stays failed instead of waiting to restart', async () => {
    await box.exec(['rm', `${UNIT_DIR}/plone-client2.znotify.yaml`]);
    await box.exec(['systemctl', 'reset-failed', clientUnit(2)]);
    const start = await box.exec(['systemctl', 'start', clientUnit(2)], { allowFail: true, timeoutMs: 30_000 });
    assert.notEqual(start.code, 0, 'start without a config file succeeded');
    // A unit systemd means to restart sits in activating/auto-restart; RestartPreventExitStatus= leaves it failed.
    const gone = await s.show(clientUnit(2), ['ActiveState', 'SubState', 'Result', 'ExecMainStatus', 'NRestarts']);
    assert.deepEqual(gone, { ActiveState: 'failed', SubState: 'failed', Result: 'exit-code', ExecMainStatus: '66', NRestarts: '0' });
    assert.match(await box.journal(clientUnit(2)), /plone-client2\.znotify\.yaml: cannot read the config file \(ENOENT\)/);
  });

  // Port taken: client1's instance cannot bind its HTTP port (held here, on the host network the box shares), so each
  // start fails within a second or two; with RestartSec=200ms systemd's default limit (5 in 10 s) would never stop it.
  await t.test(`a client that fails at every start ends failed after restart.burst (${BURST}) starts, its sockets down, zstack status says why`, async () => {
    await box.exec(['systemctl', 'stop', clientUnit(1)], { timeoutMs: 30_000 });
    // Connections to it (the wrapper's warm-up requests) are closed at once.
    const holder = net.createServer((c) => { c.on('error', () => {}); c.destroy(); }).listen(s.ports.http(1), '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      const since = (await box.exec(['date', '+%Y-%m-%d %H:%M:%S.%N'])).stdout.trim().slice(0, 26);
      // The stack's start already counts in client1's span: a fresh count, as after an operator's reset-failed.
      await box.exec(['systemctl', 'reset-failed', clientUnit(1)]);
      const start = await box.exec(['systemctl', 'start', clientUnit(1)], { allowFail: true, timeoutMs: 60_000 });
      assert.notEqual(start.code, 0, 'a client whose port is taken started');
      const end = await until('systemd to give up on client1', async () => {
        const p = await s.show(clientUnit(1), ['ActiveState', 'SubState', 'Result', 'NRestarts', 'InvocationID']);
        return p.ActiveState === 'failed' ? p : undefined;
      }, 60_000, 200);
      const pid1 = (await box.exec(['journalctl', '--no-pager', '-q', '-o', 'cat', '_PID=1', `UNIT=${clientUnit(1)}`, '--since', since])).stdout.split('\n');
      t.diagnostic(`client1 at the end: ${JSON.stringify(end)}; systemd said:\n${pid1.filter((l) => /Starting|Scheduled|too quickly|Failed with/.test(l)).join('\n')}`);
      assert.equal(pid1.filter((l) => l.startsWith('Starting ')).length, BURST, 'starts of client1');
      assert.equal(pid1.filter((l) => l === `${clientUnit(1)}: Start request repeated too quickly.`).length, 1);
      // systemd 252 keeps the Result= of the failure that led to the refused restart: only its journal says why it stopped.
      assert.deepEqual([end.ActiveState, end.SubState, end.Result, end.NRestarts], ['failed', 'failed', 'exit-code', String(BURST)]);
      // The sockets went with it (the refused restart fails them: their service cannot start), so no health check
      // starts it again.
      assert.deepEqual(await s.show(agentSocket(1), ['ActiveState', 'Result']), { ActiveState: 'failed', Result: 'service-start-limit-hit' });
      assert.equal(await probeTcp(s.ports.agent(1)), 'refused');
      // zstack status: start-limit-hit as the last reason, the failure before it, and what to do.
      const st = await box.exec([BOX_NODE, `${box.repo}/packages/stack/dist/cli.js`, 'status', s.configFile], { allowFail: true, timeoutMs: 60_000 });
      t.diagnostic(st.stdout);
      const row = st.stdout.split('\n').find((l) => l.startsWith(`${clientUnit(1)} `)) ?? '';
      assert.match(row, /^\S+\s+failed\/failed\s.*\sstart-limit-hit \(exit-code\)\s/, st.stdout);
      assert.ok(st.stdout.includes(`${clientUnit(1)}: systemd gave up on it (more than ${BURST} starts within `), st.stdout);
      assert.ok(st.stdout.includes(`systemctl reset-failed ${clientUnit(1)} && systemctl start ${clientUnit(1)}`), st.stdout);
      const json = JSON.parse((await box.exec([BOX_NODE, `${box.repo}/packages/stack/dist/cli.js`, 'status', '--json', s.configFile], { allowFail: true, timeoutMs: 60_000 })).stdout) as { clients: Array<{ unit: string; result: string; startLimitHit?: { limit: string } }> };
      const c1 = json.clients.find((c) => c.unit === clientUnit(1))!;
      assert.equal(c1.result, 'exit-code');
      assert.match(c1.startLimitHit?.limit ?? '', new RegExp(`^${BURST} starts within \\S`));
      // client2 is fine: no start-limit-hit there.
      assert.ok(!json.clients.find((c) => c.unit === clientUnit(2))!.startLimitHit);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  await t.test(`a client that fails ${BURST - 1} times within the span is restarted each time`, async () => {
    // The operator's way back: the cause gone (the port free again), reset-failed forgets the count, start.
    await box.exec(['systemctl', 'reset-failed', clientUnit(1)]);
    const again = await box.exec(['systemctl', 'start', clientUnit(1)], { allowFail: true, timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stderr);
    for (let kill = 1; kill < BURST; kill++) {
      const before = await s.show(clientUnit(1), ['MainPID', 'InvocationID']);
      await box.exec(['systemctl', 'kill', '--kill-who=main', '--signal=SIGKILL', clientUnit(1)]);
      const back = await until(`client1 restarted after kill ${kill}`, async () => {
        const p = await s.show(clientUnit(1), ['ActiveState', 'SubState', 'NRestarts', 'InvocationID']);
        return p.ActiveState === 'active' && p.InvocationID !== before.InvocationID ? p : p.ActiveState === 'failed' ? assert.fail(`client1 failed after kill ${kill}: ${JSON.stringify(p)}`) : undefined;
      }, 60_000, 200);
      assert.deepEqual([back.SubState, back.NRestarts], ['running', String(kill)]);
    }
    // BURST starts in the span so far (the start above and the restarts): all allowed, the unit serves.
    await until('HAProxy to see client1 UP again', async () => (await hx.serverState(BACKEND, 'client1')) === 'UP' || undefined, 10_000);
  });

  // A start that fails by running out its wait is no crash loop: a client (re)started while ZEO is down waits its whole
  // budget for it, fails (69), and systemd starts it again, more than restart.burst times, since those starts come
  // further apart than the limit's cycle. Once ZEO is back the client comes up by itself, with no reset-failed.
  await t.test(`a client started while ZEO is down is started more than ${BURST} times, each after its budget, and comes up by itself when ZEO is back`, async () => {
    await box.exec(['systemctl', 'stop', ZEO_UNIT]);
    const since = (await box.exec(['date', '+%Y-%m-%d %H:%M:%S.%N'])).stdout.trim().slice(0, 26);
    await box.exec(['systemctl', 'reset-failed', clientUnit(1)]);
    await box.exec(['systemctl', '--no-block', 'restart', clientUnit(1)]);
    const pid1 = async (): Promise<string[]> => (await box.exec(['journalctl', '--no-pager', '-q', '-o', 'cat', '_PID=1', `UNIT=${clientUnit(1)}`, '--since', since])).stdout.split('\n');
    const starts = await until(`client1 started ${BURST + 1} times while ZEO is down`, async () => {
      const p = await s.show(clientUnit(1), ['ActiveState']);
      if (p.ActiveState === 'failed') assert.fail(`systemd gave up on client1 while it waited for ZEO:\n${(await pid1()).join('\n')}`);
      const n = (await pid1()).filter((l) => l.startsWith('Starting ')).length;
      return n > BURST ? n : undefined;
    }, (BURST + 2) * (BUDGET_S + 10) * 1000, 500);
    t.diagnostic(`client1 started ${starts} times while ZEO was down`);
    assert.ok(!(await pid1()).some((l) => /too quickly/.test(l)), 'no start was refused');
    await box.exec(['systemctl', 'start', ZEO_UNIT], { timeoutMs: 60_000 });
    await until('client1 active again', async () => ((await s.show(clientUnit(1), ['ActiveState'])).ActiveState === 'active' || undefined), 3 * (BUDGET_S + 10) * 1000, 200);
    await until('HAProxy to see client1 UP again', async () => (await hx.serverState(BACKEND, 'client1')) === 'UP' || undefined, 10_000);
  });

  // An operator who runs znotify from a checkout under /tmp: it is there for zunitgen, but PrivateTmp=yes gives the
  // units an empty /tmp. generate says so; the unit indeed cannot start, and does once PrivateTmp=no.
  await t.test('znotify under /tmp: generate warns, the unit cannot run it under PrivateTmp=yes, and can without', async () => {
    const dir = `/tmp/zs-${process.pid}`, cli = `${dir}/cli.js`; // the box's own /tmp: it goes with the box
    await box.exec(['sh', '-c', `mkdir -p ${dir} && ln -sf ${box.repo}/packages/notify/dist/znotify/cli.js ${cli}`]);
    const config = `${s.configFile}.tmp-znotify.yaml`;
    const text = s.configText.replace(/^znotify: .*$/m, `znotify: [${BOX_NODE}, ${cli}]`);
    writeFileSync(config, text);
    const gen = await box.exec([BOX_NODE, `${box.repo}/packages/unitgen/dist/cli.js`, 'generate', config, '--out', UNIT_DIR]);
    // At the key that names it: the second item of znotify's list.
    const at = `${config}:${text.split('\n').findIndex((l) => l.startsWith('znotify:')) + 1}:${`znotify: [${BOX_NODE}, `.length + 1}`;
    assert.ok(gen.stderr.split('\n').some((l) => l.startsWith(`${at}: warning: ${cli} (`) && l.endsWith('): the units run it (znotify:), but PrivateTmp=yes hides /tmp and /var/tmp from the stack\'s services')), gen.stderr);
    await box.exec(['systemctl', 'daemon-reload']);
    await box.exec(['systemctl', 'reset-failed', clientUnit(2)], { allowFail: true });
    const start = await box.exec(['systemctl', 'start', clientUnit(2)], { allowFail: true, timeoutMs: 30_000 });
    assert.notEqual(start.code, 0, 'a unit whose znotify is under /tmp started');
    assert.ok((await box.journal(clientUnit(2))).includes(`Cannot find module '${cli}'`), 'the unit did not fail for want of its znotify');
    // The control: the same unit without a private /tmp runs the same znotify.
    await box.exec(['systemctl', 'stop', clientUnit(2)], { allowFail: true });
    await box.writeUnit(`${clientUnit(2)}.d/shared-tmp.conf`, '[Service]\nPrivateTmp=no\n');
    await box.exec(['systemctl', 'reset-failed', clientUnit(2)], { allowFail: true });
    await box.exec(['systemctl', 'start', clientUnit(2)], { timeoutMs: 30_000 });
    assert.equal((await s.show(clientUnit(2), ['ActiveState'])).ActiveState, 'active');
  });

});
