// The disposable-systemd harness's own tests: it boots a real systemd, runs units as root and as the
// unprivileged box user, and its teardown leaves no process, mount, cgroup or directory behind: after down(),
// after a failing test, after an exception during boot, and when the test process gets SIGTERM or SIGKILL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BOX_USER, BoxError, bootBox, boxSkipReason, useBox, type Box } from './harness/box.js';

const skip = boxSkipReason();
const BOX_TS = fileURLToPath(new URL('./harness/box.ts', import.meta.url));

interface Trace { id: string; pid: number; dir: string; cgroups: readonly string[]; pidns: string }
const trace = (b: Box): Trace => ({ id: b.id, pid: b.pid, dir: b.dir, cgroups: b.cgroups, pidns: fs.readlinkSync(`/proc/${b.pid}/ns/pid`) });

/** What a box left behind on the host; [] when nothing. */
function leftovers(t: Trace): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let ns: string | undefined;
    let zombie = false;
    try {
      ns = fs.readlinkSync(`/proc/${p}/ns/pid`);
      // A zombie is dead: it waits for the host's init (here a slow reaper) and holds nothing but its pid.
      zombie = /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8'));
    } catch { /* exited meanwhile */ }
    if (ns === t.pidns && !zombie) out.push(`process ${p} (${fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim()}) in the box's pid namespace`);
  }
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(`zsd-box-${t.id}`)) out.push(`mount: ${line}`);
  }
  for (const d of t.cgroups) if (fs.existsSync(d)) out.push(`cgroup ${d}`);
  if (fs.existsSync(t.dir)) out.push(`directory ${t.dir}`);
  return out;
}

async function waitGone(t: Trace, ms = 5_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = leftovers(t);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(20);
  }
}

test('boots systemd as PID 1, with the repository, the shared dir and the box user', { skip }, async (t) => {
  const box = await useBox(t);
  t.diagnostic(`boot: ${box.bootMs.toFixed(0)} ms`);
  assert.ok(box.bootMs < 10_000, `boot took ${box.bootMs} ms`);
  assert.equal((await box.exec(['cat', '/proc/1/comm'])).stdout.trim(), 'systemd');
  assert.equal((await box.exec(['systemctl', 'is-system-running'])).stdout.trim(), 'running');
  assert.equal((await box.exec(['hostname'])).stdout.trim(), box.id);
  assert.equal(fs.readFileSync(box.hostPath('/etc/hostname'), 'utf8').trim(), box.id);
  // The unprivileged user reads the repository (whatever the host path's permissions) and writes the shared dir.
  const asUser = ['setpriv', `--reuid=${BOX_USER}`, `--regid=${BOX_USER}`, '--clear-groups', '--'];
  const pkg = await box.exec([...asUser, 'cat', `${box.repo}/package.json`]);
  assert.match(pkg.stdout, /"name": "zope-systemd"/);
  await box.exec([...asUser, 'sh', '-c', `echo hi > ${box.shared}/from-user`]);
  const st = fs.statSync(path.join(box.shared, 'from-user'));
  assert.equal(st.uid, box.user.uid);
  assert.equal(fs.readFileSync(path.join(box.shared, 'from-user'), 'utf8'), 'hi\n');
  // The repository is read-only inside; the overlay root is writable and throw-away.
  const w = await box.exec(['sh', '-c', `touch ${box.repo}/x`], { allowFail: true });
  assert.notEqual(w.code, 0);
  await box.exec(['sh', '-c', 'echo scratch > /etc/zsd-box-scratch']);
  assert.equal(fs.existsSync('/etc/zsd-box-scratch'), false);
  // No host generator ran: Debian's postgresql-generator would have made postgresql@.service instances.
  const units = await box.systemctl('list-units', '--all', '--no-legend', '--plain');
  assert.doesNotMatch(units.stdout, /postgresql@/);
});

test('runs units: Type=notify as root, Node as the box user, and their output reaches the journal', { skip }, async (t) => {
  const box = await useBox(t);
  await box.writeUnit('ready.service', [
    '[Unit]', 'StartLimitIntervalSec=0',
    '[Service]', 'Type=notify',
    // systemd-notify is a short-lived sender; systemd attributes it only because it runs as root here.
    "ExecStart=/bin/sh -c 'echo started-ready; systemd-notify --ready; exec sleep infinity'", '',
  ].join('\n'));
  await box.systemctl('start', 'ready.service');
  assert.deepEqual(await box.show('ready.service', ['ActiveState', 'SubState', 'Type']),
    { ActiveState: 'active', SubState: 'running', Type: 'notify' });

  await box.writeUnit('node-user.service', [
    '[Unit]', 'StartLimitIntervalSec=0',
    '[Service]', 'Type=oneshot', `User=${BOX_USER}`, `WorkingDirectory=${box.repo}`,
    `ExecStart=${process.execPath} -e "require('fs').writeFileSync('${box.shared}/who', process.getuid() + ' ' + require('./package.json').name); console.log('node-says-hi')"`, '',
  ].join('\n'));
  await box.systemctl('start', 'node-user.service');
  assert.equal(fs.readFileSync(path.join(box.shared, 'who'), 'utf8'), `${box.user.uid} zope-systemd`);
  assert.match(await box.journal('node-user.service'), /node-says-hi/);
  assert.match(await box.journal(), /started-ready/);

  // A failing command rejects with the exit code and output; allowFail returns them instead.
  await assert.rejects(box.systemctl('start', 'no-such.service'), (e: unknown) => e instanceof BoxError && e.code === 'BOX_EXEC_FAILED' && e.result?.code !== 0);
  assert.notEqual((await box.exec(['false'], { allowFail: true })).code, 0);
  await assert.rejects(box.exec(['sleep', '10'], { timeoutMs: 200 }), (e: unknown) => e instanceof BoxError && e.code === 'BOX_EXEC_TIMEOUT');
  assert.equal((await box.exec(['cat'], { input: 'through stdin' })).stdout, 'through stdin');
  await assert.rejects(box.writeUnit('../evil.service', ''), (e: unknown) => e instanceof BoxError && e.code === 'BOX_BAD_UNIT_NAME');
});

test('two boxes coexist, apart', { skip }, async (t) => {
  const [a, b] = await Promise.all([useBox(t), useBox(t)]);
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.pid, b.pid);
  await a.writeUnit('only-a.service', '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n');
  await a.systemctl('start', 'only-a.service');
  assert.equal((await a.show('only-a.service', ['ActiveState'])).ActiveState, 'active');
  assert.equal((await b.show('only-a.service', ['LoadState'])).LoadState, 'not-found');
  assert.equal((await b.exec(['hostname'])).stdout.trim(), b.id);
});

// Both ways down: the orderly poweroff (bootBox's callers), and SIGKILL alone (useBox's teardown of every test).
for (const poweroff of [true, false]) {
  test(`down(${poweroff ? '' : '{ poweroff: false }'}) leaves no process, mount, cgroup or directory, and is idempotent`, { skip }, async () => {
    const box = await bootBox();
    let tr: Trace | undefined;
    try {
      await box.writeUnit('busy.service', '[Service]\nExecStart=/bin/sleep infinity\n');
      await box.systemctl('start', 'busy.service');
      // A stray process started by exec, outside any unit, must go too.
      await box.exec(['sh', '-c', 'setsid sleep 1000 >/dev/null 2>&1 < /dev/null &']);
      tr = trace(box);
      assert.ok(fs.existsSync(tr.dir));
      assert.ok(tr.cgroups.length >= 2 && tr.cgroups.every((d) => fs.existsSync(d)));
    } finally {
      const t0 = performance.now();
      await box.down({ poweroff });
      const ms = performance.now() - t0;
      assert.ok(ms < 6_000, `down took ${ms} ms`);
    }
    assert.deepEqual(leftovers(tr), []);
    await box.down(); // again: resolves, nothing to do
    await assert.rejects(box.exec(['true']), (e: unknown) => e instanceof BoxError && e.code === 'BOX_DOWN');
    assert.equal(await box.journal(), '');
  });
}

test('an exception during boot tears down what was started', { skip }, async () => {
  const mine = `zsd-box-${process.pid}-`; // other test processes may boot boxes meanwhile
  const before = new Set(fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith(mine)));
  await assert.rejects(bootBox({ init: '/bin/false' }), (e: unknown) => e instanceof BoxError && e.code === 'BOX_BOOT_FAILED');
  const after = fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith(mine) && !before.has(e));
  assert.deepEqual(after, []);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) assert.equal(line.includes(mine), false, line);
});

// The remaining tests run a small program in a child process, because what they check is what happens to the
// boxes when that process fails or dies.

function child(code: string): { proc: ReturnType<typeof spawn>; trace: Promise<Trace>; out: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-box-test-'));
  const file = path.join(dir, 'child.test.mts');
  fs.writeFileSync(file, code.replaceAll('BOX_TS', JSON.stringify(BOX_TS)));
  const proc = spawn(process.execPath, ['--import', 'tsx', ...(code.includes('node:test') ? ['--test'] : []), file], {
    cwd: path.dirname(BOX_TS), stdio: ['ignore', 'pipe', 'pipe'],
    // Not a subprocess of this test run: a child of the runner would refuse to run its own tests.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')),
  });
  let out = '';
  const trace = new Promise<Trace>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /TRACE (\{.*\})/.exec(out);
      if (m) resolve(JSON.parse(m[1]!) as Trace);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', () => setTimeout(() => reject(new Error(`child exited before booting a box:\n${out}`)), 50));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (c, s) => {
    fs.rmSync(dir, { recursive: true, force: true });
    resolve({ code: c, signal: s });
  }));
  return { proc, trace, out: () => out, exited };
}

const traceLine = `const trace = (b) => ({ id: b.id, pid: b.pid, dir: b.dir, cgroups: b.cgroups, pidns: fs.readlinkSync('/proc/' + b.pid + '/ns/pid') });`;

test('a failing test that uses useBox prints the journal and tears its box down', { skip }, async () => {
  const c = child(`
import fs from 'node:fs';
import { test } from 'node:test';
import { useBox } from BOX_TS;
${traceLine}
test('fails', async (t) => {
  const box = await useBox(t);
  await box.writeUnit('marker.service', '[Service]\\nType=oneshot\\nExecStart=/bin/echo marker-in-journal\\n');
  await box.systemctl('start', 'marker.service');
  console.log('TRACE ' + JSON.stringify(trace(box)));
  throw new Error('deliberate failure');
});
`);
  const tr = await c.trace;
  const { code } = await c.exited;
  assert.equal(code, 1, c.out());
  assert.match(c.out(), /journal of box .* \(test "fails" failed\)/);
  assert.match(c.out(), /marker-in-journal/);
  assert.deepEqual(await waitGone(tr), []);
});

test('SIGTERM to the test process tears its boxes down', { skip }, async () => {
  const c = child(`
import fs from 'node:fs';
import { bootBox } from BOX_TS;
${traceLine}
const boxes = [await bootBox(), await bootBox()];
await boxes[0].writeUnit('busy.service', '[Service]\\nExecStart=/bin/sleep infinity\\n');
await boxes[0].systemctl('start', 'busy.service');
console.log('TRACE ' + JSON.stringify(trace(boxes[0])));
console.log('TRACE2 ' + JSON.stringify(trace(boxes[1])));
setInterval(() => {}, 1000);
`);
  const tr = await c.trace;
  // Printed right after TRACE, but it may come in a later chunk of the child's output.
  for (let i = 0; i < 500 && !/TRACE2 (\{.*\})/.test(c.out()); i++) await sleep(20);
  const tr2 = JSON.parse(/TRACE2 (\{.*\})/.exec(c.out())![1]!) as Trace;
  c.proc.kill('SIGTERM');
  const { signal } = await c.exited;
  assert.equal(signal, 'SIGTERM', c.out());
  assert.deepEqual(await waitGone(tr, 10_000), []);
  assert.deepEqual(await waitGone(tr2, 10_000), []);
});

test('SIGKILL of the test process still ends the box; the next boot sweeps its directories', { skip }, async (t) => {
  const c = child(`
import fs from 'node:fs';
import { bootBox } from BOX_TS;
${traceLine}
const box = await bootBox();
console.log('TRACE ' + JSON.stringify(trace(box)));
setInterval(() => {}, 1000);
`);
  const tr = await c.trace;
  c.proc.kill('SIGKILL');
  await c.exited;
  // pdeathsig -> unshare dies -> --kill-child -> PID 1 dies -> the kernel ends the pid and mount namespaces.
  const deadline = Date.now() + 5_000;
  let left = leftovers(tr);
  while (left.some((l) => l.startsWith('process') || l.startsWith('mount')) && Date.now() < deadline) {
    await sleep(20);
    left = leftovers(tr);
  }
  assert.deepEqual(left.filter((l) => l.startsWith('process') || l.startsWith('mount')), []);
  await useBox(t); // sweeps boxes whose owner process is gone
  assert.deepEqual(await waitGone(tr, 10_000), []);
});
