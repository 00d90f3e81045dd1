// frozen.ts against real processes: one stopped by SIGSTOP, a real zombie, and one in a real cgroup the freezer
// holds (v1 freezer or v2 cgroup.freeze, whichever this machine has; root only).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrozenWatch, frozenReason, PAUSE_REPORT_MS, processState } from '../src/znotify/frozen.js';

function start(t: TestContext, argv: string[]): ChildProcess {
  const cp = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { try { process.kill(cp.pid!, 'SIGCONT'); cp.kill('SIGKILL'); } catch { /* gone */ } });
  return cp;
}

async function until<T>(what: string, fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('a running process is not frozen; SIGSTOP makes it so at once; SIGCONT undoes it', async (t) => {
  const cp = start(t, ['sleep', '30']);
  await until('sleep to run', () => (processState(cp.pid!) === 'S' ? true : undefined));
  assert.equal(frozenReason(cp.pid!), undefined);
  process.kill(cp.pid!, 'SIGSTOP');
  const why = await until('T', () => frozenReason(cp.pid!));
  assert.equal(why, 'instance stopped (SIGSTOP or a job-control signal)');
  process.kill(cp.pid!, 'SIGCONT');
  await until('running again', () => (frozenReason(cp.pid!) === undefined ? true : undefined));
});

test('a zombie is frozen; a process that is gone is not (its exit is reported elsewhere)', async (t) => {
  // `sleep 0` becomes a zombie: its parent execs into `sleep 30`, which never reaps it.
  const cp = start(t, ['/bin/sh', '-c', 'sleep 0 & echo $!; exec sleep 30']);
  const zpid = Number(await new Promise<string>((resolve) => cp.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
  const why = await until('Z', () => frozenReason(zpid));
  assert.equal(why, 'instance a zombie (exited, not reaped)');
  cp.kill('SIGKILL');
  await until('both gone', () => (processState(zpid) === undefined && processState(cp.pid!) === undefined ? true : undefined));
  assert.equal(frozenReason(zpid), undefined);
});

test('a process whose cgroup is frozen is frozen', { skip: freezerSkip() }, async (t) => {
  const cp = start(t, ['sleep', '30']);
  const fz = makeFreezer(t);
  fz.add(cp.pid!);
  assert.equal(frozenReason(cp.pid!), undefined);
  fz.freeze(true);
  const why = await until('frozen', () => frozenReason(cp.pid!));
  assert.match(why, /^instance frozen: its cgroup \/znotify-test-\d+ is (FROZEN|FREEZING) \(freezer\)$|^instance frozen: its cgroup \/znotify-test-\d+ is frozen \(cgroup\.freeze\)$/);
  fz.freeze(false);
  await until('thawed', () => (frozenReason(cp.pid!) === undefined ? true : undefined));
});

function freezerSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a cgroup';
  if (fs.existsSync('/sys/fs/cgroup/freezer/tasks')) return undefined;
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return undefined;
  return 'no cgroup freezer here';
}

function makeFreezer(t: TestContext): { add(pid: number): void; freeze(on: boolean): void } {
  const name = `znotify-test-${process.pid}`;
  const v1 = fs.existsSync('/sys/fs/cgroup/freezer/tasks');
  const dir = v1 ? path.join('/sys/fs/cgroup/freezer', name) : path.join('/sys/fs/cgroup', name);
  fs.mkdirSync(dir);
  t.after(async () => {
    try { fs.writeFileSync(path.join(dir, v1 ? 'freezer.state' : 'cgroup.freeze'), v1 ? 'THAWED' : '0'); } catch { /* */ }
    // Move what is left back to the root group, then the directory can go.
    for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try { fs.writeFileSync(path.join(dir, '..', 'cgroup.procs'), p); } catch { /* gone */ }
    }
    for (let i = 0; i < 50; i++) { try { fs.rmdirSync(dir); return; } catch { await sleep(20); } }
  });
  return {
    add: (pid) => fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid)),
    freeze: (on) => fs.writeFileSync(path.join(dir, v1 ? 'freezer.state' : 'cgroup.freeze'), v1 ? (on ? 'FROZEN' : 'THAWED') : (on ? '1' : '0')),
  };
}

test('the watch reports when the wrapper itself did not run (a look that comes late), and not otherwise', async (t) => {
  // The clock is the one thing faked: it stands still between looks, then jumps as a thaw would make it.
  let clock = 0;
  const pauses: number[] = [];
  const w = new FrozenWatch(() => undefined, () => {}, { now: () => clock, onPause: (ms) => pauses.push(ms) });
  t.after(() => w.stop());
  let ticks = 0;
  const tick = () => { clock += 20; ticks++; };
  const timer = setInterval(tick, 20);
  t.after(() => clearInterval(timer));
  w.start(20);
  await until('ten looks on time', () => (ticks >= 10 ? true : undefined));
  assert.deepEqual(pauses, []);
  clock += PAUSE_REPORT_MS + 3000;
  const got = await until<number>('the pause reported', () => (pauses.length ? pauses[0]! : undefined));
  assert.ok(got >= PAUSE_REPORT_MS + 3000, `reported ${got} ms`);
  await sleep(100);
  assert.equal(pauses.length, 1, 'reported once');
});
