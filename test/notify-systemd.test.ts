// @zope-systemd/notify under a real systemd 252 (a disposable box, test/harness/box.ts): every fixture service
// (test/fixtures/notify-service/*.mjs, plain Node importing the built package) runs as the unprivileged box user,
// so every message must be attributed by its credentials, as in production. Checks what systemd.service(5) and
// sd_notify(3) document: Type=notify start blocking until READY=1, STATUS=, WatchdogSec= and WATCHDOG=trigger,
// EXTEND_TIMEOUT_USEC=, named socket activation, FDSTORE=, MAINPID= (and NotifyAccess=), STOPPING=, RELOADING=.
// One box for the whole file (a boot is most of what each test would otherwise cost): every test has unit names of
// its own, its own directory for the fixtures' logs, and stops its units when it ends.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BOX_NODE, bootBox, boxSkipReason, type Box } from './harness/box.js';
import { freePort } from './harness/net.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const skip = boxSkipReason()
  ?? (fs.existsSync(path.join(REPO, 'packages/notify/dist/index.js')) ? undefined : 'packages/notify is not built (run `pnpm build`)');

interface Ev { event: string; pid: number; t: number; [k: string]: unknown }

/** What a test sees of the file's box: `shared` is the test's own directory in the box's shared dir. */
type TestBox = Pick<Box, 'repo' | 'user' | 'exec' | 'systemctl' | 'show' | 'journal' | 'writeUnit'> & { shared: string };

let fileBox: Box | undefined;
before(async () => { if (!skip) fileBox = await bootBox(); });
after(async () => { await fileBox?.down({ poweroff: false }); });

/**
 * The file's box for one test: a fresh directory (for the fixtures' logs) under its shared dir; the units the test
 * writes are stopped when it ends, and when it failed, the journal is printed first.
 */
function testBox(t: TestContext): TestBox {
  const box = fileBox;
  assert.ok(box, 'the file\'s box did not boot');
  const dir = fs.mkdtempSync(path.join(box.shared, 'test-'));
  fs.chmodSync(dir, 0o1777);
  const units: string[] = [];
  t.after(async () => {
    if ((t as unknown as { passed?: boolean }).passed === false) {
      const j = await box.journal().catch((e: unknown) => `(journal unavailable: ${String(e)})`);
      process.stderr.write(`\n----- journal of box ${box.id} (test "${t.name}" failed) -----\n${j}----- end of journal -----\n`);
    }
    if (units.length > 0) await box.exec(['systemctl', 'stop', '--', ...units], { allowFail: true });
  });
  return {
    repo: box.repo, user: box.user, shared: dir,
    exec: (argv, opts) => box.exec(argv, opts),
    systemctl: (...args) => box.systemctl(...args),
    show: (unit, props) => box.show(unit, props),
    journal: (unit) => box.journal(unit),
    async writeUnit(name, text) {
      if (!name.includes('/')) units.push(name);
      await box.writeUnit(name, text);
    },
  };
}

/** A fixture service: Type=notify, as the box user, no start limit, logging to a file in the shared dir. */
function fixtureUnit(box: TestBox, fixture: string, o: { unit?: string[]; service?: string[]; env?: Record<string, string | number> } = {}): string {
  return [
    '[Unit]', `Description=fixture ${fixture}`, 'StartLimitIntervalSec=0', ...(o.unit ?? []),
    '[Service]', 'Type=notify', `User=${box.user.name}`,
    `Environment=FIXTURE_LOG=${logFile(box, fixture)}`,
    ...Object.entries(o.env ?? {}).map(([k, v]) => `Environment=${k}=${v}`),
    `ExecStart=${BOX_NODE} ${box.repo}/test/fixtures/notify-service/${fixture}.mjs`,
    ...(o.service ?? []), '',
  ].join('\n');
}
const logFile = (box: TestBox, fixture: string): string => path.join(box.shared, `${fixture}.log`);

function events(box: TestBox, fixture: string): Ev[] {
  let text = '';
  try { text = fs.readFileSync(logFile(box, fixture), 'utf8'); } catch { return []; }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
}

/** Polls until fn returns something other than undefined; fails with `what` after timeoutMs. */
async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}
const event = (box: TestBox, fixture: string, name: string, n = 1): Promise<Ev> =>
  until(`${n}x "${name}" from ${fixture}`, () => events(box, fixture).filter((e) => e.event === name)[n - 1]);

async function askTcp(port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    s.setEncoding('utf8').on('data', (d: string) => { data += d; });
    s.once('end', () => resolve(data));
    s.once('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error(`no answer on 127.0.0.1:${port} within 10 s`)));
  });
}

test('Type=notify: systemctl start returns only after READY=1; STATUS= shows in StatusText', { skip }, async (t) => {
  const b = testBox(t);
  await b.writeUnit('ready.service', fixtureUnit(b, 'ready', { env: { READY_DELAY_MS: 1500 } }));
  const t0 = Date.now();
  const start = b.systemctl('start', 'ready.service');
  // While the start job waits, the unit is activating and already shows the STATUS= sent before READY=1.
  const during = await until('StatusText "warming up"', async () => {
    const s = await b.show('ready.service', ['ActiveState', 'StatusText']);
    return s.StatusText === 'warming up' ? s : undefined;
  });
  assert.equal(during.ActiveState, 'activating');
  await start;
  const returned = Date.now();
  const ready = await event(b, 'ready', 'ready-sending');
  assert.ok(returned >= ready.t, `systemctl start returned at ${returned}, before READY=1 was sent at ${ready.t}`);
  assert.ok(returned - t0 >= 1500, `start took only ${returned - t0} ms`);
  t.diagnostic(`start: ${returned - t0} ms; returned ${returned - ready.t} ms after READY=1 was sent`);
  assert.deepEqual(await b.show('ready.service', ['ActiveState', 'SubState', 'StatusText', 'MainPID', 'NotifyAccess']),
    { ActiveState: 'active', SubState: 'running', StatusText: 'serving', MainPID: String(ready.pid), NotifyAccess: 'main' });
  assert.equal((await event(b, 'ready', 'start')).uid, b.user.uid);
});

test('WatchdogSec=: pings keep the service alive; when they stop it is killed and restarted (NRestarts grows)', { skip }, async (t) => {
  const b = testBox(t);
  await b.writeUnit('watchdog.service', fixtureUnit(b, 'watchdog', {
    env: { WATCHDOG_MODE: 'stall', PING_FOR_MS: 2500 },
    service: ['WatchdogSec=1s', 'Restart=on-failure', 'RestartSec=100ms'],
  }));
  await b.systemctl('start', 'watchdog.service');
  const first = await event(b, 'watchdog', 'start');
  assert.equal(first.watchdogUsec, '1000000');
  assert.equal(first.intervalMs, 500);
  const stopped = await event(b, 'watchdog', 'stopped-pinging');
  const second = await event(b, 'watchdog', 'start', 2);
  assert.notEqual(second.pid, first.pid);
  // Alive 2.5 s under a 1 s watchdog: the pings counted. Killed within about a second of the last ping.
  assert.ok(stopped.t - first.t >= 2400, `pinging stopped after ${stopped.t - first.t} ms`);
  assert.ok(second.t - stopped.t >= 400 && second.t - stopped.t < 4000, `restarted ${second.t - stopped.t} ms after the pings stopped`);
  t.diagnostic(`restarted ${second.t - stopped.t} ms after the pings stopped (WatchdogSec=1s)`);
  const { NRestarts } = await b.show('watchdog.service', ['NRestarts']);
  assert.ok(Number(NRestarts) >= 1, `NRestarts=${NRestarts}`);
  assert.match(await b.journal('watchdog.service'), /Watchdog timeout/);
  assert.match(await b.journal('watchdog.service'), /Failed with result 'watchdog'/);
});

test('WATCHDOG=trigger: the manager kills the service at once, long before WatchdogSec', { skip }, async (t) => {
  const b = testBox(t);
  await b.writeUnit('trigger.service', fixtureUnit(b, 'watchdog', {
    env: { WATCHDOG_MODE: 'trigger', TRIGGER_AFTER_MS: 300 },
    service: ['WatchdogSec=60s', 'Restart=on-failure', 'RestartSec=100ms'],
  }));
  await b.systemctl('start', 'trigger.service');
  const trigger = await event(b, 'watchdog', 'trigger-sending');
  const second = await event(b, 'watchdog', 'start', 2);
  assert.ok(second.t - trigger.t < 3000, `restarted ${second.t - trigger.t} ms after WATCHDOG=trigger`);
  t.diagnostic(`restarted ${second.t - trigger.t} ms after WATCHDOG=trigger`);
  const { NRestarts } = await b.show('trigger.service', ['NRestarts']);
  assert.ok(Number(NRestarts) >= 1, `NRestarts=${NRestarts}`);
  assert.match(await b.journal('trigger.service'), /Failed with result 'watchdog'/);
});

test('EXTEND_TIMEOUT_USEC= keeps a start alive past TimeoutStartSec; without it the start times out', { skip }, async (t) => {
  const b = testBox(t);
  // TimeoutStartSec= also has to cover Node's start up to the first extension, and each extension the fixture's
  // timer lag: 2 s leave a loaded machine room for both (1 s did not: Node alone may take that long to start).
  await b.writeUnit('extend.service', fixtureUnit(b, 'extend', {
    env: { WARMUP_MS: 3500, EXTEND_USEC: 2_000_000, EXTEND_EVERY_MS: 500 }, service: ['TimeoutStartSec=2s'],
  }));
  let t0 = Date.now();
  await b.systemctl('start', 'extend.service');
  const took = Date.now() - t0;
  assert.ok(took >= 3500, `start took ${took} ms`);
  assert.equal((await b.show('extend.service', ['ActiveState'])).ActiveState, 'active');
  t.diagnostic(`start with EXTEND_TIMEOUT_USEC under TimeoutStartSec=2s: ${took} ms`);

  // The control: the same warm-up without extensions fails after TimeoutStartSec.
  await b.writeUnit('no-extend.service', fixtureUnit(b, 'extend', {
    env: { WARMUP_MS: 3500, EXTEND_USEC: 0 }, service: ['TimeoutStartSec=2s'],
  }));
  t0 = Date.now();
  const r = await b.exec(['systemctl', 'start', 'no-extend.service'], { allowFail: true });
  assert.notEqual(r.code, 0);
  t.diagnostic(`the start without extensions failed after ${Date.now() - t0} ms`);
  // Result=timeout is the proof that TimeoutStartSec ended it (a 3.5 s warm-up left alone would have succeeded);
  // no upper bound on the wall time, which only measures how busy the machine is.
  assert.equal((await b.show('no-extend.service', ['Result'])).Result, 'timeout');
});

test('socket activation: each socket arrives under its FileDescriptorName, and both accept connections', { skip }, async (t) => {
  const b = testBox(t);
  const [agentPort, httpPort] = [await freePort(), await freePort()];
  // Two socket units triggering one service; FileDescriptorName= names each one's fds (systemd.socket(5)).
  await b.writeUnit('agent.socket', `[Socket]\nListenStream=127.0.0.1:${agentPort}\nFileDescriptorName=agent\nService=sockets.service\n`);
  await b.writeUnit('http.socket', `[Socket]\nListenStream=127.0.0.1:${httpPort}\nFileDescriptorName=http\nService=sockets.service\n`);
  await b.writeUnit('sockets.service', fixtureUnit(b, 'sockets', { env: { EXPECT_NAMES: 'agent,http' } }));
  await b.systemctl('start', 'agent.socket', 'http.socket');
  assert.equal((await b.show('sockets.service', ['ActiveState'])).ActiveState, 'inactive');
  // The first connection starts the service; it answers on the socket it was made on.
  const http = await askTcp(httpPort);
  const agent = await askTcp(agentPort);
  const ready = await event(b, 'sockets', 'ready');
  assert.equal(http, `http ${ready.pid}\n`);
  assert.equal(agent, `agent ${ready.pid}\n`);
  const { fds } = await event(b, 'sockets', 'fds') as unknown as { fds: { fd: number; name: string }[] };
  assert.deepEqual(fds.map((f) => f.name).sort(), ['agent', 'http']);
  assert.deepEqual(fds.map((f) => f.fd).sort(), [3, 4]);
  assert.deepEqual(await b.show('sockets.service', ['ActiveState', 'MainPID', 'StatusText']),
    { ActiveState: 'active', MainPID: String(ready.pid), StatusText: `serving ${fds.map((f) => f.name).join(', ')}` });
});

test('FDSTORE=1: a stored fd comes back, under its FDNAME, after systemctl restart and after a crash', { skip }, async (t) => {
  const b = testBox(t);
  await b.writeUnit('fdstore.service', fixtureUnit(b, 'fdstore', { service: ['FileDescriptorStoreMax=4'] }));
  await b.systemctl('start', 'fdstore.service');
  const stored = await event(b, 'fdstore', 'stored');
  assert.deepEqual(stored.fds, []);
  await b.systemctl('restart', 'fdstore.service');
  const restored = await event(b, 'fdstore', 'restored');
  assert.notEqual(restored.pid, stored.pid);
  // The file was unlinked when the token was written: only the stored fd can still read it.
  assert.equal(restored.token, stored.token);
  assert.deepEqual(restored.fds, [{ fd: 3, name: 'state' }]);

  // A crash and Restart=on-failure: the same.
  await b.writeUnit('fdcrash.service', fixtureUnit(b, 'fdstore', {
    env: { EXIT_AFTER_MS: 300 }, service: ['FileDescriptorStoreMax=4', 'Restart=on-failure', 'RestartSec=100ms'],
  }).replace(logFile(b, 'fdstore'), path.join(b.shared, 'fdcrash.log')));
  await b.systemctl('start', 'fdcrash.service');
  const crashStored = await until('fdcrash stored', () => readEvents(path.join(b.shared, 'fdcrash.log')).find((e) => e.event === 'stored'));
  const crashRestored = await until('fdcrash restored', () => readEvents(path.join(b.shared, 'fdcrash.log')).find((e) => e.event === 'restored'));
  assert.equal(crashRestored.token, crashStored.token);
  assert.ok(Number((await b.show('fdcrash.service', ['NRestarts'])).NRestarts) >= 1);
});

function readEvents(file: string): Ev[] {
  try { return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev); } catch { return []; }
}

test('MAINPID=: the service hands over to a forked child; who may announce it depends on NotifyAccess=', { skip }, async (t) => {
  const b = testBox(t);
  const cases = [
    // The main process announces its child: NotifyAccess=main (the default) is enough.
    { name: 'mainpid-parent', announcer: 'parent', access: 'main', ok: true },
    // The child announces itself: it is not the main process yet, so this needs NotifyAccess=all ...
    { name: 'mainpid-child-all', announcer: 'child', access: 'all', ok: true },
    // ... and under NotifyAccess=main the manager drops the message: the start times out.
    { name: 'mainpid-child-main', announcer: 'child', access: 'main', ok: false },
  ];
  for (const c of cases) {
    const log = path.join(b.shared, `${c.name}.log`);
    await b.writeUnit(`${c.name}.service`, fixtureUnit(b, 'mainpid', {
      env: { ANNOUNCER: c.announcer }, service: [`NotifyAccess=${c.access}`, 'TimeoutStartSec=3s'],
    }).replace(logFile(b, 'mainpid'), log));
    const r = await b.exec(['systemctl', 'start', `${c.name}.service`], { allowFail: true });
    const evs = (): Ev[] => readEvents(log);
    if (!c.ok) {
      assert.notEqual(r.code, 0, `${c.name}: start should fail`);
      t.diagnostic(`${c.name}: start failed as expected, Result=${(await b.show(`${c.name}.service`, ['Result'])).Result}`);
      assert.match(await b.journal(`${c.name}.service`), /reception only permitted for main PID/);
      continue;
    }
    assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
    const parent = await until(`${c.name} parent-start`, () => evs().find((e) => e.event === 'parent-start'));
    const child = await until(`${c.name} child-start`, () => evs().find((e) => e.event === 'child-start'));
    assert.equal(child.ppid, parent.pid);
    assert.equal((await b.show(`${c.name}.service`, ['MainPID'])).MainPID, String(child.pid), c.name);
    // The former main process exits; the service stays up with the child, which now speaks for it.
    await until(`${c.name} child-status-sent`, () => evs().find((e) => e.event === 'child-status-sent'));
    assert.ok(evs().some((e) => e.event === 'parent-exit'));
    assert.deepEqual(await b.show(`${c.name}.service`, ['ActiveState', 'SubState', 'MainPID', 'StatusText']),
      { ActiveState: 'active', SubState: 'running', MainPID: String(child.pid), StatusText: 'child is main' }, c.name);
  }
});

test('STOPPING=1: the unit is deactivating while the service still drains, then inactive', { skip }, async (t) => {
  const b = testBox(t);
  await b.writeUnit('stopping.service', fixtureUnit(b, 'stopping', { env: { DRAIN_MS: 1500 } }));
  await b.systemctl('start', 'stopping.service');
  const start = await event(b, 'stopping', 'start');
  // The service decides to stop by itself (no stop job): systemd.service(5) / sd_notify(3) STOPPING=1.
  await b.systemctl('kill', '--kill-who=main', '--signal=SIGUSR2', 'stopping.service');
  await event(b, 'stopping', 'stopping-sent');
  const during = await until('deactivating', async () => {
    const s = await b.show('stopping.service', ['ActiveState', 'SubState', 'MainPID', 'StatusText']);
    return s.ActiveState === 'deactivating' && s.StatusText === 'draining' ? s : undefined;
  });
  assert.ok(!events(b, 'stopping').some((e) => e.event === 'exiting'), 'the service had already finished draining');
  assert.equal(during.MainPID, String(start.pid));
  const exiting = await event(b, 'stopping', 'exiting');
  assert.ok(exiting.t - start.t >= 1500);
  await until('inactive', async () => ((await b.show('stopping.service', ['ActiveState'])).ActiveState === 'inactive' ? true : undefined));
  assert.equal((await b.show('stopping.service', ['Result'])).Result, 'success');
});

test('RELOADING=1: systemctl reload returns after the READY=1 that ends the reload; the unit shows reloading meanwhile', { skip }, async (t) => {
  const b = testBox(t);
  // ExecReload signals the service and stays alive a moment. systemd 252 (src/core/service.c,
  // service_enter_running) keeps a reload job waiting for READY=1 only if RELOADING=1 arrived before the
  // ExecReload process exited; a bare `kill -HUP` can win that race (measured here: 2 of 12 reloads with
  // ExecReload=/bin/kill -HUP $MAINPID returned after ~40 ms, before RELOADING=1; Type=notify-reload, systemd
  // >= 253, fixes it). The 1 s here is far shorter than the reload itself (2.5 s), so the wait measured is systemd's.
  await b.writeUnit('reload.service', fixtureUnit(b, 'reload', {
    env: { RELOAD_MS: 2500 }, service: ["ExecReload=/bin/sh -c 'kill -HUP \"$MAINPID\" && sleep 1'"],
  }));
  await b.systemctl('start', 'reload.service');
  const t0 = Date.now();
  const reload = b.systemctl('reload', 'reload.service');
  const during = await until('reloading', async () => {
    const s = await b.show('reload.service', ['ActiveState', 'StatusText']);
    return s.StatusText === 'reloading to generation 1' ? s : undefined;
  });
  assert.equal(during.ActiveState, 'reloading');
  await reload;
  const returned = Date.now();
  const ready = await event(b, 'reload', 'ready-sending');
  assert.ok(returned >= ready.t, `systemctl reload returned at ${returned}, before READY=1 was sent at ${ready.t}`);
  assert.ok(returned - t0 >= 2500, `reload took only ${returned - t0} ms`);
  t.diagnostic(`reload: ${returned - t0} ms; returned ${returned - ready.t} ms after READY=1 was sent`);
  assert.deepEqual(await b.show('reload.service', ['ActiveState', 'StatusText']), { ActiveState: 'active', StatusText: 'generation 1' });

  // A reload the service starts by itself (here on a SIGHUP from outside systemctl reload): reloading until READY=1.
  await b.systemctl('kill', '--kill-who=main', '--signal=SIGHUP', 'reload.service');
  await until('service-initiated reloading', async () => ((await b.show('reload.service', ['ActiveState'])).ActiveState === 'reloading' ? true : undefined));
  await event(b, 'reload', 'ready-sending', 2);
  await until('active again', async () => {
    const s = await b.show('reload.service', ['ActiveState', 'StatusText']);
    return s.ActiveState === 'active' && s.StatusText === 'generation 2' ? true : undefined;
  });
});
