// znotify end to end under abuse, in a real systemd 252 (where the journal is the wrapper's and the instance's
// stderr, one stream) behind a real HAProxy 2.6:
// - the journal stalls (journald SIGSTOPped) while the instance floods the shared stream and the wrapper keeps
//   logging: for three WatchdogSec the pings go on (systemd's own WatchdogTimestamp moves, and systemd never
//   fires the watchdog), the agent and /health answer, and what the wrapper logged meanwhile reaches the
//   journal once it reads again;
// - 300 reconnecting connections on the agent port and 300 idle ones on the health HTTP port: every legitimate
//   check is answered, and a stop under that flood is still seen by HAProxy as DRAIN.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { instanceArgv } from './harness/proc.js';
import { agentLine } from './harness/net.js';
import { BACKEND, e2eSkipReason, recordStates, SERVER, setUp, sleep, until, type E2E } from './fixtures/znotify/e2e.js';

const skip = e2eSkipReason();
const WATCHDOG_SEC = 2;
const STALL_MS = 3 * WATCHDOG_SEC * 1000;

/** Resolves to 'timeout' when p has not settled within ms: a guard against a hang, not a speed measurement. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let h: NodeJS.Timeout | undefined;
  const guard = new Promise<'timeout'>((r) => { h = setTimeout(() => r('timeout'), ms); });
  try { return await Promise.race([p, guard]); } finally { clearTimeout(h); }
}

async function healthStatus(e: E2E, path = '/health/ready'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${e.healthPort}${path}`, { signal: AbortSignal.timeout(3000) });
  await res.arrayBuffer();
  return res.status;
}

test('a stalled journal: pings stay on time for 3x WatchdogSec, checks are answered, held lines arrive later', { skip }, async (t) => {
  // The instance command: the sample instance, plus a writer in its process group that, once told to (a file
  // appears), pours 32 MB into the stream it shares with the wrapper (systemd gives that stream an 8 MB send
  // buffer). With journald stopped, that fills the stream and the writer blocks in write(2), as a chatty Zope
  // would.
  const e = await setUp(t, {
    watchdogSec: WATCHDOG_SEC,
    rootInterval: '200ms',
    command: ['/bin/sh', '{shared}/instance.sh', '{port}'],
  });
  const trigger = path.join(e.box.shared, 'flood-now');
  fs.writeFileSync(path.join(e.box.shared, 'instance.sh'), [
    `( while [ ! -e ${trigger} ]; do sleep 0.05; done; head -c 32000000 /dev/zero | tr '\\0' x | fold -w 199 >&2 ) &`,
    `exec ${instanceArgv({ port: e.port, threads: 1, repo: e.box.repo }).join(' ')}`,
    '',
  ].join('\n'), { mode: 0o755 });
  // Debug level: the wrapper logs every check run (5 a second), so it writes throughout the stall.
  fs.writeFileSync(e.configFile, fs.readFileSync(e.configFile, 'utf8').replace('level: info', 'level: debug'));
  await e.start();
  const before = await e.show(['MainPID', 'NRestarts']);
  const journald = (await e.box.show('systemd-journald.service', ['MainPID'])).MainPID!;
  assert.ok(Number(journald) > 0);

  await e.box.exec(['kill', '-STOP', journald]);
  t.after(() => e.box.exec(['kill', '-CONT', journald], { allowFail: true }).catch(() => { /* the box is gone already */ }));
  fs.writeFileSync(trigger, '');
  const pings = new Set<string>();
  let agentAnswers = 0;
  let healthAnswers = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < STALL_MS) {
    pings.add((await e.show(['WatchdogTimestampMonotonic'])).WatchdogTimestampMonotonic!);
    const [agent, health] = await Promise.all([within(agentLine(e.agentPort, 3000), 5000), within(healthStatus(e), 5000)]);
    assert.equal(agent, 'up ready 100%\n', 'the agent did not answer during the stall');
    assert.equal(health, 200, '/health/ready did not answer during the stall');
    agentAnswers++;
    healthAnswers++;
    await sleep(200);
  }
  // The stream really was full: the writer is still blocked in write(2) (its pipeline has not finished).
  const writer = await e.box.exec(['pgrep', '-f', 'fold -w 199'], { allowFail: true });
  assert.equal(writer.code, 0, 'the flood writer already finished: the stream never filled');
  const during = await e.show(['MainPID', 'NRestarts', 'ActiveState']);
  await e.box.exec(['kill', '-CONT', journald]);
  t.diagnostic(`stall of ${STALL_MS} ms: ${pings.size} distinct WatchdogTimestamps seen, ${agentAnswers} agent and ${healthAnswers} /health answers`);

  // systemd is the judge of "on time": it never fired the watchdog, and it saw pings throughout.
  assert.deepEqual(during, { MainPID: before.MainPID, NRestarts: before.NRestarts, ActiveState: 'active' });
  assert.ok(pings.size >= STALL_MS / (WATCHDOG_SEC * 1000), `only ${pings.size} pings seen in ${STALL_MS} ms`);
  // What the wrapper logged during the stall was held and reaches the journal now, in order.
  const lines = await until('the held check-run lines in the journal', async () => {
    const ls = (await e.journal()).filter((l) => l.pid === Number(before.MainPID) && /check run/.test(l.message));
    return ls.some((l) => l.us / 1000 > t0 + STALL_MS / 2) ? ls : undefined;
  }, 30_000, 500);
  assert.ok(lines.length > 0);
  const journal = (await e.journal()).map((l) => l.message).join('\n');
  assert.doesNotMatch(journal, /[Ww]atchdog timeout/);
});

// FLOOD connections per port that never send and never close their side; each is dropped and reopened every
// 2 s (as the flood that locked every check out did). In a process of its own, so the test's own checks do not queue behind the flood's work.
const FLOOD = 300;
const FLOOD_SCRIPT = `
const net = require('node:net');
const n = Number(process.argv[1]);
const ports = process.argv.slice(2).map(Number);
let opened = 0;
const open = (port) => {
  opened++;
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  s.resume();
  // It closes nothing when the wrapper does: it drops its connection and opens a new one every 2 s.
  setTimeout(() => { s.destroy(); open(port); }, 2000);
};
for (const port of ports) for (let i = 0; i < n; i++) open(port);
setInterval(() => process.send(opened), 200);
`;

function flood(t: TestContext, ports: number[]): { opened: () => number; started: Promise<void>; stop: () => void } {
  const child = spawn(process.execPath, ['-e', FLOOD_SCRIPT, String(FLOOD), ...ports.map(String)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let opened = 0;
  const started = new Promise<void>((resolve) => child.on('message', (m) => { opened = m as number; if (opened >= FLOOD * ports.length) resolve(); }));
  const stop = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  t.after(stop);
  return { opened: () => opened, started, stop };
}

test('a flood on both health ports: checks answered, and HAProxy sees DRAIN when the instance stops', { skip }, async (t) => {
  const e = await setUp(t, { drain: '3s', agentInterMs: 100 });
  await e.start();
  await e.hx.waitForState(BACKEND, SERVER, 'UP', { timeoutMs: 5000 });
  const f = flood(t, [e.agentPort, e.healthPort]);
  await f.started;

  const ms: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t1 = performance.now();
    const [agent, health] = await Promise.all([within(agentLine(e.agentPort, 3000).catch((err: Error) => err.message), 5000), within(healthStatus(e).catch((err: Error) => err.message), 5000)]);
    ms.push(performance.now() - t1);
    assert.equal(agent, 'up ready 100%\n', `agent check ${i + 1} under the flood`);
    assert.equal(health, 200, `/health/ready ${i + 1} under the flood`);
    await sleep(100);
  }
  ms.sort((a, b) => a - b);
  const metrics = await (await fetch(`http://127.0.0.1:${e.healthPort}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const shed = Number(/znotify_health_connections_closed_total\{name="client1",listener="http",reason="shed"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(shed > 0, 'no idle HTTP connection was shed');
  assert.equal(await e.state(), 'UP', 'HAProxy lost the server under the flood');

  // Stop under the flood: HAProxy's agent checks still get through, so it sees the drain.
  const rec = recordStates(e.hx, BACKEND, SERVER, 25);
  t.after(() => rec.stop());
  const t0 = Date.now();
  const stopping = e.box.exec(['systemctl', 'stop', 'client1.service'], { timeoutMs: 30_000 });
  const drained = await e.hx.waitForState(BACKEND, SERVER, 'DRAIN', { timeoutMs: 5000, intervalMs: 25 }).catch((err: Error) => err.message);
  await stopping;
  await rec.stop();
  f.stop();
  t.diagnostic(`flood: ${f.opened()} connections opened; checks under it: median ${ms[5]!.toFixed(1)} ms, max ${ms[9]!.toFixed(1)} ms (both ports at once); HAProxy: ${rec.describe(t0)}`);
  assert.equal(drained, 'DRAIN', `HAProxy never saw DRAIN during the stop: ${rec.describe(t0)}`);
  const journal = (await e.journal()).map((l) => l.message).join('\n');
  assert.match(journal, /health http: \d+ connections open \(cap 256\): closed \d+ idle to make room/);
  const p = await e.show(['Result']);
  assert.equal(p.Result, 'success');
});
