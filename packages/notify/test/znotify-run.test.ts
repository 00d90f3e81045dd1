// `znotify run` end to end on the host: the built CLI as a real child process, the real waitress sample
// instance as its child, the real datagram receiver as NOTIFY_SOCKET (READY/STATUS/WATCHDOG/STOPPING in
// order), the real ZEO stub, a real HAProxy. Only systemd itself is missing here (see test/ for the box).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, waitForTcp } from '../../../test/harness/net.js';
import { startDgramReceiver, type DgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { instanceArgv, peerEnv, REPO_ROOT, sampleSkipReason, startZeoServer, usePeer, type Peer } from '../../../test/harness/proc.js';
import { haproxySkipReason, useHaproxy } from '../../../test/harness/haproxy.js';
import { findSetpriv } from '../src/znotify/child.js';

const CLI = path.join(REPO_ROOT, 'packages/notify/dist/znotify/cli.js');
const skipSample = sampleSkipReason();

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'znotify-run-'));
}

async function receiver(t: TestContext): Promise<DgramReceiver> {
  const r = await startDgramReceiver();
  t.after(() => r.close());
  return r;
}

/** One agent-check exchange, as HAProxy does it. */
async function agent(port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let d = '';
    s.setEncoding('utf8');
    s.on('data', (x: string) => { d += x; });
    s.on('error', reject);
    s.on('close', () => resolve(d));
  });
}

async function get(port: number, p: string): Promise<{ status: number; body: string; type: string }> {
  return await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, type: String(res.headers['content-type']) }));
    }).on('error', reject);
  });
}

// Hang guards: a wrapper and a Python instance that start in about a second on a quiet machine took over 10 s on one
// with load 20 (two CPU hogs beside the CI's two test files): the default is generous, not a measure of speed.
async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) { lastErr = err; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await sleep(everyMs);
  }
}

const texts = (r: DgramReceiver) => r.received.map((d) => d.text);
const datagram = (r: DgramReceiver, re: RegExp, timeoutMs = 30_000) =>
  waitFor(`a datagram matching ${re}`, () => r.received.find((d) => re.test(d.text))?.text, timeoutMs);
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

interface Setup {
  dir: string;
  port: number;
  agentPort: number;
  httpPort: number;
  config: string;
}

async function setup(yaml: (s: Omit<Setup, 'config' | 'dir'>) => string): Promise<Setup> {
  const dir = tmp();
  const s = { port: await freePort(), agentPort: await freePort(), httpPort: await freePort() };
  const config = path.join(dir, 'client1.yaml');
  writeFileSync(config, yaml(s));
  return { ...s, dir, config };
}

function znotify(t: TestContext, args: string[], env: NodeJS.ProcessEnv): Promise<Peer> {
  return usePeer(t, [process.execPath, CLI, 'run', ...args], { name: 'znotify', env, stopTimeoutMs: 15_000 });
}

test('warm-up gates READY=1; STATUS shows progress; agent and HTTP health follow; SIGTERM drains, then stops the instance', { skip: skipSample }, async (t) => {
  const r = await receiver(t);
  const s = await setup((p) => `
name: client1
http: 127.0.0.1:${p.port}
warmup:
  interval: 200ms
  urls:
    - /
    - { path: /Plone, text: "</html>", timeout: 10s }
health: { agent: 127.0.0.1:${p.agentPort}, http: 127.0.0.1:${p.httpPort} }
checks:
  - { name: root, type: http, path: /, interval: 300ms, timeout: 1s }
stop: { drain: 3s, timeout: 5s }
`);
  const zn = await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port, warmupSeconds: 2 })], r.env(peerEnv()));
  await waitForTcp(s.agentPort);
  // During the cold /Plone: down with progress.
  const warming = await waitFor('agent: warming up 1/2', async () => { const a = await agent(s.agentPort); return a === 'down #warming up 1/2\n' ? a : undefined; });
  assert.equal(warming, 'down #warming up 1/2\n');
  const h0 = await get(s.httpPort, '/health');
  assert.equal(h0.status, 503);
  assert.equal(JSON.parse(h0.body).state, 'starting');
  assert.equal(JSON.parse(h0.body).phase, 'warming', 'the instance runs and warms up');
  assert.ok(!texts(r).some((x) => x.includes('READY=1')), 'no READY=1 while /Plone is cold');

  const ready = await datagram(r, /READY=1/);
  assert.match(ready, /^READY=1\nSTATUS=ready: warm-up 2\/2 in \d/);
  const all = texts(r);
  const iReady = all.findIndex((x) => x.includes('READY=1'));
  const before = all.slice(0, iReady);
  assert.match(before[0]!, /^STATUS=starting \/usr\/bin\/python3$/);
  assert.ok(before.some((x) => /^EXTEND_TIMEOUT_USEC=\d+\nSTATUS=warm-up 0\/2: requesting \/$/.test(x)), before.join(' | '));
  assert.ok(before.some((x) => /^STATUS=warm-up 1\/2: \/ 200 in \d+ ms$/.test(x)), before.join(' | '));
  assert.ok(before.some((x) => /^EXTEND_TIMEOUT_USEC=2\d{7}\nSTATUS=warm-up 1\/2: requesting \/Plone$/.test(x)), 'extension covers timeout 10s + interval + slack');
  // At least the sample's 2 s cache load; a loaded machine only adds to it.
  assert.ok(before.some((x) => /^STATUS=warm-up 2\/2: \/Plone 200 in (?:[2-9]|\d{2,})\.\d s$/.test(x)), before.join(' | '));

  // Ready for HAProxy once systemd (here the receiver) has processed READY=1: the BARRIER=1 right after it.
  assert.equal(await waitFor('agent up', async () => { const a = await agent(s.agentPort); return a.startsWith('up') ? a : undefined; }), 'up ready 100%\n');
  const h = await get(s.httpPort, '/health');
  assert.equal(h.status, 200);
  assert.equal(h.type, 'application/json');
  const body = JSON.parse(h.body);
  assert.equal(body.ready, true);
  assert.equal(body.name, 'client1');
  assert.deepEqual([body.state, body.phase], ['running', 'running']);
  const childPid = body.pid as number;
  assert.ok(alive(childPid));
  // The instance's memory, when asked for: read by the wrapper from the instance's smaps_rollup (its own process
  // not counted).
  assert.equal(body.memory, undefined, 'plain /health does not read it');
  const withMemory = JSON.parse((await get(s.httpPort, '/health?memory')).body);
  assert.deepEqual(withMemory.memory.pids, [childPid]);
  assert.ok(withMemory.memory.rssBytes > 0 && withMemory.memory.pssBytes > 0 && withMemory.memory.pssBytes <= withMemory.memory.rssBytes, JSON.stringify(withMemory.memory));
  assert.ok(!withMemory.memory.pids.includes(zn.pid), 'the wrapper is not counted');
  assert.equal((await get(s.httpPort, '/health/live')).status, 200);
  assert.equal((await get(s.httpPort, '/health/ready')).status, 200);
  const m = await get(s.httpPort, '/metrics');
  assert.match(m.type, /^text\/plain; version=0\.0\.4/);
  assert.match(m.body, /\nznotify_ready\{name="client1"\} 1\n/);
  assert.equal((await get(s.httpPort, '/nope')).status, 404);

  // Nothing is forwarded unless configured: the instance, like Zope 5, would die of SIGHUP, SIGUSR1, SIGUSR2.
  for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) {
    const mark = zn.output().length;
    zn.signal(sig);
    await zn.waitForOutput(new RegExp(`${sig} not forwarded: Zope 4\\+ has no ${sig} handler`), { from: mark, timeoutMs: 30_000 });
  }
  assert.ok(alive(childPid));
  assert.equal((await get(s.port, '/')).status, 200, 'the instance still serves');

  // Graceful stop.
  const n = r.received.length;
  const stopAt = Date.now();
  zn.signal('SIGTERM');
  const stopping = await waitFor('STOPPING=1', () => r.received.slice(n).find((d) => d.text.includes('STOPPING=1'))?.text);
  // The drain (3 s) leaves a loaded machine room to ask the agent and /health while it lasts.
  assert.match(stopping, /^STOPPING=1\nSTATUS=stopping: draining for 3\.0 s\nEXTEND_TIMEOUT_USEC=18000000$/);
  assert.equal(await agent(s.agentPort), 'drain\n');
  const draining = await get(s.httpPort, '/health');
  assert.equal(draining.status, 503);
  assert.deepEqual([JSON.parse(draining.body).state, JSON.parse(draining.body).phase], ['stopping', 'draining'], 'the drain is a phase of its own');
  assert.ok(alive(childPid), 'the instance keeps serving while draining');
  const exit = await zn.exited;
  assert.ok(Date.now() - stopAt >= 2900, 'drain period honoured');
  assert.deepEqual(exit, { code: 0, signal: null }, 'the instance died of its stop signal (no handler, as Zope 5): a clean stop');
  assert.ok(!alive(childPid));
  assert.ok(texts(r).slice(n).some((x) => /^STATUS=stopping: sent SIGTERM, waiting up to 5\.0 s$/.test(x)));
});

test('watchdog: WATCHDOG=1 while live; busy is not dead; a hung instance dumps its stacks (SIGABRT, faulthandler from outside), then WATCHDOG=trigger', { skip: skipSample }, async (t) => {
  const r = await receiver(t);
  const s = await setup((p) => `
name: client1
http: 127.0.0.1:${p.port}
warmup: { urls: [/] }
health: { http: 127.0.0.1:${p.httpPort} }
checks:
  - { name: root, type: http, path: /, interval: 250ms, timeout: 300ms, failure-threshold: 1 }
watchdog: { hang-timeout: 3s, dump-stacks: true }
stop: { drain: 0, timeout: 1s }
`);
  const zn = await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port })], r.env({ ...peerEnv(), WATCHDOG_USEC: '600000' }));
  await datagram(r, /READY=1/);
  await waitFor('3 pings', () => (texts(r).filter((x) => x === 'WATCHDOG=1').length >= 3 ? true : undefined));

  // A 1 s request occupies the only thread: busy, still ready, still pinging. It ends 2 s before hang-timeout, room
  // for a loaded machine: the probe that waited behind it is answered well before it could count as hung.
  const slow = get(s.port, '/slow?seconds=1');
  const busy = await waitFor('busy STATUS', () => texts(r).find((x) => /^STATUS=ready, busy: root unanswered for/.test(x)));
  assert.ok(busy);
  const pingsAtBusy = texts(r).filter((x) => x === 'WATCHDOG=1').length;
  await slow;
  await waitFor('back to plain ready', () => texts(r).slice(-3).includes('STATUS=ready') || undefined);
  assert.ok(texts(r).filter((x) => x === 'WATCHDOG=1').length > pingsAtBusy, 'pings went on while busy');
  assert.ok(!texts(r).includes('WATCHDOG=trigger'));

  // Now hang every worker for good: after hang-timeout liveness is lost; stacks first, then the trigger.
  const mark = zn.output().length;
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, path: '/hang', method: 'POST', agent: false }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', reject);
    req.end();
  });
  const trigger = await datagram(r, /^WATCHDOG=trigger$/);
  assert.ok(trigger);
  // The instance registers nothing itself: PYTHONFAULTHANDLER=1, put in its environment by the wrapper, makes
  // SIGABRT write every thread's stack, the hung worker's included.
  await zn.waitForOutput(/Current thread[^\n]*\n(?:\s+File[^\n]*\n)+/, { from: mark, timeoutMs: 30_000 });
  assert.match(zn.output().slice(mark), /in hang_forever/);
  assert.match(zn.output().slice(mark), /sent SIGABRT: the instance writes every thread's stack/);
  const all = texts(r);
  // Not before hang-timeout (3 s); a loaded machine only adds to it.
  const iLost = all.findIndex((x) => /^STATUS=liveness lost: root: hung, \/ unanswered for (?:[3-9]|\d{2,})\.\d s while TCP connects$/.test(x));
  const iTrig = all.indexOf('WATCHDOG=trigger');
  assert.ok(iLost >= 0 && iLost < iTrig, all.join(' | '));
  assert.ok(!all.slice(iLost).includes('WATCHDOG=1'), 'no ping after liveness was lost');
  // systemd's WatchdogSignal= (SIGABRT) ends the wait: the wrapper leaves with the instance's status (it aborted: 134).
  zn.signal('SIGABRT');
  const exit = await zn.exited;
  assert.deepEqual(exit, { code: 134, signal: null }, zn.output().slice(-400));
});

test('ZEO outage: down in the agent at once, watchdog fed within database-grace, trigger after it', { skip: skipSample }, async (t) => {
  const r = await receiver(t);
  const zeoPort = await freePort();
  let zeo = await startZeoServer({ port: zeoPort });
  t.after(() => zeo.stop());
  const s = await setup((p) => `
name: client1
http: 127.0.0.1:${p.port}
warmup: { urls: [/Plone] }
health: { agent: 127.0.0.1:${p.agentPort} }
checks:
  - { name: root, type: http, path: /, interval: 300ms }
  - { name: zeo, type: zeo, address: 127.0.0.1:${zeoPort}, interval: 200ms, timeout: 500ms, failure-threshold: 1, roles: [readiness, liveness] }
watchdog: { database-grace: 5s, dump-stacks: false }
stop: { drain: 0 }
`);
  await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port, zeo: `127.0.0.1:${zeoPort}` })], r.env({ ...peerEnv(), WATCHDOG_USEC: '400000' }));
  await datagram(r, /READY=1/);
  await waitFor('up', async () => ((await agent(s.agentPort)) === 'up ready 100%\n' ? true : undefined));

  await zeo.stop();
  const down = await waitFor('down #zeo', async () => { const a = await agent(s.agentPort); return a.startsWith('down #zeo') ? a : undefined; });
  // refused, or (while the stub shuts down) accepted and closed before answering
  assert.match(down, /^down #zeo: (connection refused|closed before the ZEO greeting|ZEO Z5: closed without a ruok reply)\n$/);
  // Still pinging within the grace; then the server is back before the grace is over (5 s leave room for the
  // ZEO stub's start on a loaded machine).
  const pings = texts(r).filter((x) => x === 'WATCHDOG=1').length;
  await waitFor('two more pings within the grace', () => (texts(r).filter((x) => x === 'WATCHDOG=1').length >= pings + 2 ? true : undefined));
  zeo = await startZeoServer({ port: zeoPort });
  await waitFor('up again', async () => ((await agent(s.agentPort)) === 'up ready 100%\n' ? true : undefined));
  assert.ok(!texts(r).includes('WATCHDOG=trigger'), 'no restart for a short outage');

  await zeo.stop();
  const t0 = Date.now();
  await datagram(r, /^WATCHDOG=trigger$/, 20_000);
  // The grace runs from the first failed check, which may come a little before zeo.stop() has seen the stub exit.
  assert.ok(Date.now() - t0 >= 4000, 'only after database-grace');
  assert.ok(texts(r).some((x) => /^STATUS=liveness lost: zeo: (connection refused|closed before the ZEO greeting|ZEO Z5: closed without a ruok reply)$/.test(x)), texts(r).join(' | '));
});

test('start failures: the instance exits during warm-up; the warm-up budget runs out', { skip: skipSample }, async (t) => {
  const r = await receiver(t);
  // The instance exits 1.5 s after its start, halfway between the first warm-up attempt and the second (interval
  // 3 s): on a loaded machine the first may come late and the exit be seen late, the exit still falls in between.
  const early = await setup((p) => `name: c1\nhttp: 127.0.0.1:${p.port}\nwarmup: { interval: 3s, urls: [/] }\n`);
  const a = await znotify(t, ['--config', early.config, '--', '/bin/sh', '-c', 'sleep 1.5; exit 3'], r.env(peerEnv()));
  const ea = await a.exited;
  assert.deepEqual(ea, { code: 3, signal: null }, 'the exit status of the instance');
  assert.match(a.output(), /instance exited with status 3 during warm-up: warm-up 0\/1: \/ connection refused, retrying in 3\.0 s/);
  assert.ok(texts(r).some((x) => /^STATUS=instance exited with status 3 during warm-up/.test(x)));
  assert.ok(!texts(r).some((x) => x.includes('READY=1')));

  const s = await setup((p) => `
name: client1
http: 127.0.0.1:${p.port}
warmup: { budget: 4s, interval: 200ms, urls: [/, { path: /nope, status: 200 }, /Plone] }
watchdog: { dump-stacks: true }
stop: { timeout: 3s }
`);
  const b = await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port })], r.env(peerEnv()));
  const eb = await b.exited;
  assert.deepEqual(eb, { code: 1, signal: null });
  // The budget leaves room for the instance's start on a loaded machine: / must have passed before it ran out.
  const cause = /start failed: warm-up budget of 4\.0 s exhausted: \/nope answered 404 \(expected 200\) in \d+ ms \(\d+ attempts\); passed: \/ 200 in \d+ ms; not tried: \/Plone/;
  assert.match(b.output(), cause);
  const childGone = /"childPid":(\d+),"command"/.exec(b.output());
  assert.ok(childGone && !alive(Number(childGone[1])), 'the instance was stopped');
  // It answered (a 404): stopped with stop.signal, without SIGABRT and a thread dump, although dump-stacks is on;
  // the cause is the wrapper's last line and the last STATUS=, so a journal tail ends with it.
  assert.doesNotMatch(b.output(), /SIGABRT|Fatal Python error|Current thread/);
  assert.match(b.output(), /the instance answers, so no stack dump: stopping it with SIGTERM/);
  assert.match(lastWrapperLine(b.output()), cause);
  assert.match(lastWrapperLine(b.output()), /"instance":"was killed by SIGTERM"/);
  assert.match(texts(r).filter((x) => x.includes('STATUS=')).at(-1)!, new RegExp(`STATUS=${cause.source}`));

  // It did not answer (the warm-up request timed out): SIGABRT, every thread's stack, and still the cause last.
  const c = await setup((p) => `
name: client1
http: 127.0.0.1:${p.port}
warmup: { budget: 4s, interval: 100ms, urls: [{ path: "/slow?seconds=30", timeout: 400ms }] }
watchdog: { dump-stacks: true }
stop: { timeout: 3s }
`);
  const h = await znotify(t, ['--config', c.config, '--', ...instanceArgv({ port: c.port })], r.env(peerEnv()));
  assert.deepEqual(await h.exited, { code: 1, signal: null });
  assert.match(h.output(), /sent SIGABRT: the instance writes every thread's stack/);
  assert.match(h.output(), /Current thread|Thread 0x/);
  assert.match(lastWrapperLine(h.output()), /start failed: warm-up budget of 4\.0 s exhausted: \/slow\?seconds=30 failed: /);
});

/** The wrapper's last log line (its lines are JSON; the instance's own output is not). */
function lastWrapperLine(output: string): string {
  return output.split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '';
}

test('bad input: one clear line and a non-zero exit (missing command, port in use, malformed NOTIFY_SOCKET, bad config)', async (t) => {
  const run = (args: string[], env: NodeJS.ProcessEnv = peerEnv()) => spawnSync(process.execPath, [CLI, 'run', ...args], { encoding: 'utf8', env, timeout: 10_000 });
  const a = run(['--name', 'c1', '--', '/nonexistent/bin/client1', 'console']);
  assert.equal(a.status, 1);
  assert.equal(a.stderr, 'znotify: command not found: /nonexistent/bin/client1 (no such file)\n');

  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => { busy.close(); });
  const port = (busy.address() as net.AddressInfo).port;
  const dir = tmp();
  const marker = path.join(dir, 'started');
  const b = run(['--name', 'c1', '--health-agent', `127.0.0.1:${port}`, '--', '/bin/sh', '-c', `touch ${marker}`]);
  assert.equal(b.status, 1);
  assert.match(b.stderr.split('\n').filter((l) => l.startsWith('znotify:')).join('\n'),
    new RegExp(`^znotify: health agent 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\): stop what listens there or choose another port$`));
  assert.throws(() => readFileSync(marker), /ENOENT/, 'the instance was never started');

  const c = run(['--name', 'c1', '--', '/bin/true'], { ...peerEnv(), NOTIFY_SOCKET: 'relative/notify.sock' });
  assert.equal(c.status, 1);
  assert.equal(c.stderr.split('\n').filter(Boolean).length, 1, c.stderr);
  assert.match(c.stderr, /^znotify: .*NOTIFY_SOCKET.*"relative\/notify\.sock"/);

  const d = run(['--name', 'c1', '--http', 'not-an-address', '--', '/bin/true']);
  assert.equal(d.status, 78);
  assert.equal(d.stderr, 'znotify: --http: http: "not-an-address" is not an address; write host:port such as 127.0.0.1:8080 or [::1]:8080, or a bare port for 127.0.0.1\n');
  // A config file that cannot be read: 66 (EX_NOINPUT), which generated units also list in RestartPreventExitStatus=.
  const e = run(['--config', path.join(dir, 'missing.yaml'), '--', '/bin/true']);
  assert.equal(e.status, 66);
});

test('a config error that quotes a DSN prints it redacted', () => {
  const dir = tmp();
  const config = path.join(dir, 'leak.yaml');
  writeFileSync(config, 'name: c1\ncommand: "/srv/bin/client1 --dsn postgresql://zope:s3cret@db/plone"\nhttp: 127.0.0.1:8080\n');
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', config], { encoding: 'utf8', env: peerEnv(), timeout: 10_000 });
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /leak\.yaml:2:\d+: command: .*postgresql:\/\/zope:\*\*\*@db\/plone/);
  assert.doesNotMatch(r.stderr + r.stdout, /s3cret/);
});

test('kill -9 of the wrapper leaves no orphan; kill -9 of the instance ends the wrapper with 137', { skip: skipSample }, async (t) => {
  const r = await receiver(t);
  const s = await setup((p) => `name: client1\nhttp: 127.0.0.1:${p.port}\nhealth: { http: 127.0.0.1:${p.httpPort} }\n`);
  const a = await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port })], r.env(peerEnv()));
  await datagram(r, /READY=1/);
  const pid = JSON.parse((await get(s.httpPort, '/health')).body).pid as number;
  a.signal('SIGKILL');
  await a.exited;
  await waitFor('the orphan to die (PR_SET_PDEATHSIG)', () => (!alive(pid) ? true : undefined));

  r.reset();
  const b = await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port })], r.env(peerEnv()));
  await datagram(r, /READY=1/);
  const pid2 = JSON.parse((await get(s.httpPort, '/health')).body).pid as number;
  process.kill(pid2, 'SIGKILL');
  assert.deepEqual(await b.exited, { code: 137, signal: null });
  assert.ok(texts(r).includes('STATUS=instance was killed by SIGKILL'));
});

test('kill -9 of the wrapper the moment its instance process appears leaves no orphan (the fork-to-prctl window)', { skip: findSetpriv() ? undefined : 'setpriv with --pdeathsig not available' }, async (t) => {
  const s = await setup((p) => `name: c1\nhttp: 127.0.0.1:${p.port}\nwarmup: { budget: 60s, urls: [/] }\n`);
  const gone = (pid: number) => {
    try { return /^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return true; }
  };
  for (let i = 0; i < 8; i++) {
    const zn = await znotify(t, ['--config', s.config, '--', '/bin/sleep', '1000'], peerEnv());
    // The wrapper's first child, as early as /proc shows it (a synchronous busy loop: the window is a few
    // hundred microseconds), killed at once: setpriv before its prctl, the parent check, or the command.
    let kid = 0;
    for (const until = Date.now() + 15_000; !kid && Date.now() < until;) {
      try { kid = Number(readFileSync(`/proc/${zn.pid}/task/${zn.pid}/children`, 'utf8').split(' ')[0]) || 0; } catch { /* not yet */ }
    }
    assert.ok(kid, `try ${i + 1}: the wrapper started no instance within 15 s: ${zn.output().slice(-400)}`);
    process.kill(zn.pid, 'SIGKILL');
    await zn.exited;
    await waitFor(`try ${i + 1}: process ${kid} (the instance) to end with the wrapper`, () => (gone(kid) ? true : undefined))
      .catch((err: Error) => { try { process.kill(kid, 'SIGKILL'); } catch { /* gone */ } throw err; });
  }
});

test('socket activation: sockets by FileDescriptorName answer agent and HTTP; the instance sees no NOTIFY_SOCKET, WATCHDOG_* or LISTEN_*', { skip: skipSample }, async (t) => {
  const r = await receiver(t);
  const agentPort = await freePort();
  const httpPort = await freePort();
  const port = await freePort();
  // The wrapper gets listening sockets it did not create: made by a helper that binds and hands them over.
  const helper = `
    const net = require('node:net'); const { spawn } = require('node:child_process');
    const a = net.createServer(); const h = net.createServer();
    a.listen(${agentPort}, '127.0.0.1', () => h.listen(${httpPort}, '127.0.0.1', () => {
      const c = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', ...JSON.parse(process.argv[1])],
        { stdio: ['ignore', 'inherit', 'inherit', a._handle.fd, h._handle.fd], env: process.env });
      a.close(); h.close();
      c.on('exit', (code) => process.exit(code ?? 1));
      process.on('SIGTERM', () => c.kill('SIGTERM'));
    }));`;
  const dir = tmp();
  const envFile = path.join(dir, 'env');
  const config = path.join(dir, 'c1.yaml');
  writeFileSync(config, 'name: c1\nstop: { drain: 0 }\n');
  const inst = instanceArgv({ port });
  const argv = [process.execPath, CLI, 'run', '--config', config, '--http', `127.0.0.1:${port}`, '--',
    '/bin/sh', '-c', `env > ${envFile}; exec "$0" "$@"`, ...inst];
  const peer = await usePeer(t, [process.execPath, '-e', helper, JSON.stringify(argv)], {
    name: 'activator', env: r.env({ ...peerEnv(), LISTEN_FDS: '2', LISTEN_FDNAMES: 'agent:http', WATCHDOG_USEC: '10000000' }), stopTimeoutMs: 10_000,
  });
  await datagram(r, /READY=1/);
  const env = readFileSync(envFile, 'utf8');
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) {
    assert.ok(!new RegExp(`^${k}=`, 'm').test(env), `${k} leaked into the instance's environment`);
  }
  assert.match(peer.output(), /health agent listening on the socket systemd passed \(agent\)/);
  assert.match(peer.output(), /health http listening on the socket systemd passed \(http\)/);
  assert.equal(await waitFor('agent up (after the BARRIER=1 that follows READY=1)', async () => { const a = await agent(agentPort); return a.startsWith('up') ? a : undefined; }), 'up ready 100%\n');
  const h = await get(httpPort, '/health/ready');
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.body).ready, true);
  assert.deepEqual(await peer.stop(), { code: 0, signal: null });
});

test('HAProxy: agent-check DOWN while warming, UP after READY, DRAIN (agent + Runtime API) before the stop signal', { skip: skipSample ?? haproxySkipReason() }, async (t) => {
  const r = await receiver(t);
  const port = await freePort();
  const agentPort = await freePort();
  const hx = await useHaproxy(t, { backends: [{ name: 'plone', servers: [{ name: 'client1', port, agentPort, agentInterMs: 100, agentSend: 'client1' }] }] });
  const dir = tmp();
  const config = path.join(dir, 'c.yaml');
  writeFileSync(config, `
name: client1
http: 127.0.0.1:${port}
warmup: { interval: 100ms, urls: [/Plone] }
health: { agent: 127.0.0.1:${agentPort} }
haproxy: { stats-socket: ${hx.statsSocket}, backend: plone }
stop: { drain: 1500ms, timeout: 5s }
`);
  const zn = await znotify(t, ['--config', config, '--', ...instanceArgv({ port, warmupSeconds: 1.5 })], r.env(peerEnv()));
  await hx.waitForState('plone', 'client1', 'DOWN', { timeoutMs: 30_000 });
  await datagram(r, /READY=1/);
  await hx.waitForState('plone', 'client1', 'UP', { timeoutMs: 30_000 });
  const mark = zn.output().length;
  zn.signal('SIGTERM');
  assert.deepEqual(await zn.exited, { code: 0, signal: null });
  // HAProxy took the drain, reported no session on the server (nothing in flight), and only then the stop signal
  // went out: drain to zero, not the whole stop.drain.
  const out = zn.output().slice(mark);
  const at = (re: RegExp) => out.search(re);
  const [iDrain, iZero, iStop] = [at(/HAProxy server set to drain/), at(/plone\/client1: no session left after/), at(/sending the stop signal/)];
  assert.ok(iDrain >= 0 && iDrain < iZero && iZero < iStop, out);
});

test('startup checks gate READY=1 too (Kubernetes order), then keep running as readiness checks', { skip: skipSample }, async (t) => {
  const r = await receiver(t);
  const zeoPort = await freePort();
  const s = await setup((p) => `
name: client1
http: 127.0.0.1:${p.port}
warmup: { interval: 100ms, urls: [/] }
health: { agent: 127.0.0.1:${p.agentPort} }
checks:
  - { name: zeo, type: tcp, address: 127.0.0.1:${zeoPort}, interval: 200ms, timeout: 500ms, failure-threshold: 1, roles: [startup, readiness] }
stop: { drain: 0 }
`);
  // A tcp check, so it runs after the warm-up: startup checks of type zeo and postgresql pass before the instance
  // is even started (znotify-database-wait.test.ts).
  await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port })], r.env(peerEnv()));
  await datagram(r, /^EXTEND_TIMEOUT_USEC=\d+\nSTATUS=warm-up 1\/1: waiting for startup check zeo$/);
  const waitSeen = Date.now();
  await sleep(500);
  assert.ok(!texts(r).some((x) => x.includes('READY=1')), 'no READY=1 before the startup check passed');
  // While it waits, the same STATUS= goes out about once a second (it polled every 50 ms and sent each time): at
  // most one a second since the first was seen, one more for the second it was sent in.
  const waiting = texts(r).filter((x) => x.includes('waiting for startup check zeo')).length;
  const waited = Date.now() - waitSeen;
  assert.ok(waiting <= 2 + Math.floor(waited / 1000), `${waiting} datagrams saying the same within ${waited} ms`);
  assert.equal(await agent(s.agentPort), 'down #warming up 1/1\n');
  const zeo = await startZeoServer({ port: zeoPort });
  t.after(() => zeo.stop());
  // Counted from the moment the ZEO stub listens (its Python start is not the wrapper's): the check runs every
  // 200 ms, so READY=1 follows within a few of them; the bound is 25 times that, room for a loaded machine.
  const listening = Date.now();
  await datagram(r, /READY=1/);
  assert.ok(Date.now() - listening < 5000, `READY=1 ${Date.now() - listening} ms after the ZEO server listened`);
  await waitFor('agent up (after the BARRIER=1 that follows READY=1)', async () => ((await agent(s.agentPort)) === 'up ready 100%\n' ? true : undefined));
  await zeo.stop();
  await waitFor('down #zeo', async () => ((await agent(s.agentPort)).startsWith('down #zeo') ? true : undefined));
});

test('exit status after a stop: dying of the stop signal is clean (0); ignoring it ends in SIGKILL (137)', { skip: skipSample }, async (t) => {
  // python's http.server has no SIGTERM handler: it dies of the stop signal, which systemd itself would count as
  // a clean stop. With SIGTERM ignored (inherited SIG_IGN), only the SIGKILL after stop.timeout ends it.
  const r = await receiver(t);
  for (const [label, prefix, want] of [
    ['dies of SIGTERM', [] as string[], 0],
    ['ignores SIGTERM', ['/bin/sh', '-c', 'trap "" TERM; exec "$@"', 'sh'], 137],
  ] as const) {
    const s = await setup((p) => `
name: c1
http: 127.0.0.1:${p.port}
warmup: { urls: [/] }
health: { agent: 127.0.0.1:${p.agentPort} }
stop: { drain: 0, timeout: 1s }
`);
    const zn = await znotify(t, ['--config', s.config, '--', ...prefix, '/usr/bin/python3', '-m', 'http.server', '--bind', '127.0.0.1', String(s.port)], r.env(peerEnv()));
    await waitFor(`${label}: READY`, () => (zn.output().includes('READY') || texts(r).some((x) => x.includes('READY=1')) ? true : undefined));
    await waitFor(`${label}: agent up`, async () => ((await agent(s.agentPort)) === 'up ready 100%\n' ? true : undefined));
    const t0 = Date.now();
    zn.signal('SIGTERM');
    const exit = await zn.exited;
    assert.deepEqual(exit, { code: want, signal: null }, `${label}: ${zn.output().slice(-600)}`);
    if (want === 137) assert.ok(Date.now() - t0 >= 1000, `${label}: SIGKILL only after stop.timeout`);
    assert.match(zn.output(), want === 0 ? /instance was killed by SIGTERM after stop/ : /SIGKILL/);
  }
});

test('signals during start-up: SIGTERM before the instance runs is a graceful stop; SIGUSR1 opens no inspector and does not kill the new instance', { skip: skipSample }, async (t) => {
  // Both are sent the moment the wrapper logs its health listener, i.e. before it has spawned the instance and
  // registered its handlers. Without the early inbox (signals.ts) SIGTERM killed the wrapper by its default
  // action and SIGUSR1 opened Node's inspector on 127.0.0.1:9229.
  const r = await receiver(t);
  const s = await setup((p) => `
name: c1
http: 127.0.0.1:${p.port}
warmup: { urls: [/Plone] }
health: { agent: 127.0.0.1:${p.agentPort} }
stop: { drain: 0, timeout: 5s }
signals: { stack-dump: hook }
log: { level: info }
`);
  // A 3 s cold start: /Plone answers nothing before, so however late this test sees the log line (a loaded
  // machine), the signal still lands before READY=1 and before the instance has answered HTTP.
  const instance = instanceArgv({ port: s.port, threads: 1, warmupSeconds: 3 });
  {
    const zn = await znotify(t, ['--config', s.config, '--', ...instance], r.env(peerEnv()));
    await waitFor('the health listener log line', () => (zn.output().includes('health agent listening') ? true : undefined), 15_000, 1);
    zn.signal('SIGTERM');
    const exit = await zn.exited;
    assert.equal(exit.signal, null, `the wrapper died of ${exit.signal}: ${zn.output().slice(-600)}`);
    assert.ok(exit.code === 0 || exit.code === 143, `exit ${exit.code}: ${zn.output().slice(-600)}`);
    assert.match(zn.output(), /SIGTERM: stopping/);
    assert.ok(texts(r).some((x) => x.includes('STOPPING=1')), `no STOPPING=1 in ${JSON.stringify(texts(r))}`);
    assert.ok(!texts(r).some((x) => x.includes('READY=1')), 'READY=1 after a stop during start-up');
  }
  r.received.length = 0;
  {
    const zn = await znotify(t, ['--config', s.config, '--', ...instance], r.env(peerEnv()));
    await waitFor('the health listener log line', () => (zn.output().includes('health agent listening') ? true : undefined), 15_000, 1);
    zn.signal('SIGUSR1');
    // Sent to an instance that has no handler (yet), SIGUSR1 would kill it (its default action): dropped, logged.
    // On a loaded machine the instance may already have run its startup hook when the signal comes: then it dumps
    // and lives on. Either way the instance is not killed (READY=1 below, exit 0 at the end).
    await waitFor('SIGUSR1 dropped or dumped', () => (/SIGUSR1 arrived before the instance was running: not forwarded|SIGUSR1: no process of the instance has registered the stack dump|SIGUSR1: asked the instance for a stack dump \(startup hook\)/.test(zn.output()) ? true : undefined)).catch((err: Error) => { throw new Error(`${err.message}: ${zn.output().slice(-1500)}`); });
    await datagram(r, /READY=1/);
    assert.doesNotMatch(zn.output(), /Debugger listening/);
    const inspector = await new Promise<boolean>((resolve) => {
      const c = net.connect(9229, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    assert.equal(inspector, false, 'something listens on 127.0.0.1:9229');
    // Once the instance runs, the startup hook has registered the dump: SIGUSR1 dumps, the instance lives on.
    // The wrapper's line and the instance's dump reach the output by two writers (the wrapper's log is buffered, the
    // instance writes to the shared stderr itself): either may come first, so the test waits for both.
    const count = (re: RegExp): number => zn.output().match(re)?.length ?? 0;
    const askedRe = /SIGUSR1: asked the instance for a stack dump \(startup hook\)/g;
    const dumpRe = /Thread 0x|Current thread/g;
    // A first SIGUSR1 that found the hook registered dumps too: its dump may still be on its way. Counted after it.
    if (count(askedRe) > 0) await waitFor('the dump the first SIGUSR1 asked for', () => (count(dumpRe) > 0 ? true : undefined));
    const dumps = count(dumpRe), asked = count(askedRe);
    zn.signal('SIGUSR1');
    await waitFor('the wrapper to ask for a stack dump, and the instance\'s dump', () => (count(askedRe) > asked && count(dumpRe) > dumps ? true : undefined));
    assert.equal(count(askedRe), asked + 1);
    assert.equal(await agent(s.agentPort), 'up ready 100%\n');
    zn.signal('SIGTERM');
    const exit = await zn.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, zn.output().slice(-600));
  }
});

test('the agent and /health/ready say ready only once systemd has processed READY=1 (BARRIER=1)', { skip: skipSample }, async (t) => {
  // A receiver that holds the barrier fd, as a manager that has not got to the READY=1 datagram yet.
  const r = await startDgramReceiver({ barrier: 'hold' });
  t.after(() => r.close());
  const s = await setup((p) => `
name: client1
http: 127.0.0.1:${p.port}
warmup: { urls: [/] }
health: { agent: 127.0.0.1:${p.agentPort}, http: 127.0.0.1:${p.httpPort} }
checks: []
stop: { drain: 0, timeout: 5s }
`);
  await znotify(t, ['--config', s.config, '--', ...instanceArgv({ port: s.port })], r.env(peerEnv()));
  await datagram(r, /READY=1/);
  const b = await waitFor('BARRIER=1 after READY=1', () => r.received.find((d) => d.text === 'BARRIER=1'));
  assert.equal(b.fds.length, 1);
  assert.ok(r.received.findIndex((d) => d.text === 'BARRIER=1') > r.received.findIndex((d) => d.text.includes('READY=1')));
  // Until the manager closes its copy of the fd, HAProxy is told what it was told during the warm-up.
  for (let i = 0; i < 5; i++) {
    assert.equal(await agent(s.agentPort), 'down #warming up 1/1\n');
    assert.equal((await get(s.httpPort, '/health/ready')).status, 503);
    await sleep(50);
  }
  r.closeFd(b.fds[0]!);
  assert.equal(await waitFor('up after the barrier', async () => { const a = await agent(s.agentPort); return a.startsWith('up') ? a : undefined; }), 'up ready 100%\n');
  assert.equal((await get(s.httpPort, '/health/ready')).status, 200);
});
