// A disposable, real systemd for tests: systemd 252 as PID 1 of fresh pid/mount/uts/ipc/cgroup namespaces,
// over a throw-away overlay of the host's /. Plain util-linux (unshare, nsenter, setpriv); no
// systemd-container package. The mounts below are the set systemd needs to boot there, proven on Debian 12
// (systemd 252, hybrid cgroup v1 + v2).
//
// What a box is:
// - Root: overlay, lowerdir=/ (the host's root file system: Node (BOX_NODE) and the system packages are
//   visible), upper layer on a tmpfs: writes inside the box vanish with it.
// - Private /run, /tmp, /dev (null, zero, full, random, urandom, tty; console -> null; own devpts), /proc, /sys
//   read-only; cgroup v1 hierarchies memory/cpu/cpuacct/pids/name=systemd and the cgroup2 "unified" one are
//   writable and rooted at a per-box cgroup (zsd-box-ID/payload) through a cgroup namespace; the other v1
//   controllers are mounted read-only.
// - /etc/systemd/system is a per-box host directory (empty but for the boot target): the host's enabled units
//   do not start; boot goes to zsd-box.target = basic.target. The host's unit generators are hidden, systemd's
//   own too (Debian's postgresql-generator would start the host's cluster; fstab, crypttab and the kernel command
//   line are the host's; and systemd runs every generator again at each daemon-reload, half of its time here);
//   tests install their own after boot. Boot units that would act on the host's kernel
//   (sysctl, modules) or that tests do not need are masked (MASKED). DefaultStartLimitIntervalSec=0
//   (system.conf.d), so restart loops in tests never hit the start limit; other defaults are systemd's.
// - The repository is bind-mounted read-only at REPO_IN_BOX (/srv/zope-systemd), readable by unprivileged
//   users wherever CI cloned it (the box hides /tmp and /root is 0700); also at its host path, so absolute
//   paths and symlinks keep working for root.
// - box.shared: a per-box host directory (mode 1777), bind-mounted at the same path inside.
// - BOX_USER (zsdtest): an unprivileged user and group created in each box's /etc/passwd and /etc/group (the
//   overlay is throw-away), for `User=`. Its uid/gid are picked free on the host, so files it writes into
//   box.shared do not belong to any host account. Not `nobody`: systemd warns that running services as nobody
//   is unsafe, and nobody's files are everyone's.
// - The network namespace is the host's: services listen on 127.0.0.1 ports that host-side tests reach.
//
// Teardown always runs: down() (SIGRTMIN+4 = orderly poweroff, then SIGKILL; useBox's teardown: SIGKILL alone), on
// test failure (useBox), on an exception during boot, on SIGINT/SIGTERM of the test process and at process exit
// (synchronous SIGKILL path).
// If the test process is SIGKILLed, setpriv --pdeathsig + unshare --kill-child take PID 1 and with it the whole
// pid namespace; all mounts live only in the box's own mount namespace, so none are left on the host; a later
// boot sweeps the leftover empty directories of boxes whose owner process is gone.
//
// Usage (see test/box.test.ts; test/notify-systemd.test.ts boots one box with bootBox() for all its tests):
//   import { BOX_NODE, boxSkipReason, useBox } from './harness/box.js';
//   test('...', { skip: boxSkipReason() }, async (t) => {
//     const box = await useBox(t);                   // ~0.3-0.8 s; torn down by t.after, journal printed on failure
//     await box.writeUnit('x.service', `[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=notify\nUser=${box.user.name}\n` +
//       `ExecStart=${BOX_NODE} ${box.repo}/path/to/service.mjs\n`);
//     await box.systemctl('start', 'x.service');     // throws BoxError (code, result) on failure
//     const { ActiveState } = await box.show('x.service', ['ActiveState']);
//   });
// exec() runs as root in all the box's namespaces with a clean environment (PATH, LANG=C.UTF-8, SYSTEMD_PAGER=cat,
// SYSTEMD_COLORS=0, plus opts.env). Files a service writes into box.shared are readable on the host at the same
// path; any other file of the box is readable through box.hostPath('/run/...').
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { isPathWithin } from '@zope-systemd/common';
import { onProcessEnd } from './teardown.js';

/** Where the repository is visible inside every box (read-only bind mount). */
export const REPO_IN_BOX = '/srv/zope-systemd';
/** Unprivileged user (and group) that exists inside every box, for `User=`. */
export const BOX_USER = 'zsdtest';
/** Node inside the box: the very binary running the tests (here /usr/bin/node), seen through the overlay. It must
 * be executable by BOX_USER: a Node under /root (nvm) is not. */
export const BOX_NODE = process.execPath;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SYSTEMD = '/lib/systemd/systemd';
const PREFIX = 'zsd-box-';
// systemd(1), SIGNALS: SIGRTMIN+4 = "poweroff.target"; in a container it then exits, which ends the pid
// namespace. glibc's SIGRTMIN is 34 (the kernel's 32 + 2 reserved by NPTL); Node has no name for it.
const SIGRTMIN_PLUS_4 = 38;
const BOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// v1 hierarchies the box may write (the reference's set); the others are mounted read-only inside.
const WRITABLE_V1 = new Set(['memory', 'cpu', 'cpuacct', 'pids', 'name=systemd']);
// Boot units a box has no use for (a third of the boot time) or that must not act on the host's kernel: sysctl
// and kernel modules are not namespaced; the root is an overlay, not the fstab's; debugfs, tracefs, configfs,
// hugetlbfs, fusectl and binfmt_misc are nothing tests need. Nor, in a throw-away root whose /etc/passwd is the
// host's, are the system users sysusers would create, the journal's move from /run to /var (journalctl reads
// both; the flush sits on the boot's critical chain) or the utmp boot record: together a third of what is left of
// the boot. Masked in the box's /etc/systemd/system.
const MASKED = [
  'modprobe@.service', 'systemd-modules-load.service', 'systemd-sysctl.service', 'systemd-remount-fs.service',
  'systemd-binfmt.service', 'proc-sys-fs-binfmt_misc.automount', 'sys-kernel-debug.mount', 'sys-kernel-tracing.mount',
  'sys-kernel-config.mount', 'sys-fs-fuse-connections.mount', 'dev-hugepages.mount',
  'systemd-sysusers.service', 'systemd-journal-flush.service', 'systemd-update-utmp.service',
  'systemd-update-utmp-runlevel.service',
];
// The device nodes a box gets, each a bind mount of the host's (console: of /dev/null).
const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console'];
const NON_CONTROLLER_OPTS = /^(rw|ro|noprefix|clone_children|xattr|cpuset_v2_mode|favordynmods|nsdelegate|memory_localevents|memory_recursiveprot|release_agent=.*)$/;

export interface ExecResult { code: number; stdout: string; stderr: string }
export interface ExecOptions {
  timeoutMs?: number;          // default 30 s; the command (and what it forked inside the box) is SIGKILLed
  allowFail?: boolean;         // do not throw on a non-zero exit
  input?: string;              // stdin
  env?: Record<string, string>; // added to the clean environment (PATH, LANG, SYSTEMD_PAGER=cat, SYSTEMD_COLORS=0)
}

export interface Box {
  readonly id: string;
  /** Where the repository is visible INSIDE the box (a read-only bind mount, readable by unprivileged users). */
  readonly repo: string;
  /** Host dir, bind-mounted at the same path inside the box, world-writable (1777), for files both sides see. */
  readonly shared: string;
  /** Unprivileged user/group inside the box (BOX_USER), with its numeric ids. */
  readonly user: { name: string; uid: number; gid: number };
  /** Host pid of the box's PID 1 (systemd). */
  readonly pid: number;
  /** The box's directory on the host (units, shared, init.log); removed by down(). */
  readonly dir: string;
  /** The box's cgroups on the host (one per writable hierarchy); removed by down(). */
  readonly cgroups: readonly string[];
  /** Milliseconds from the start of bootBox() until `systemctl is-system-running --wait` returned. */
  readonly bootMs: number;
  /** When (ms into the boot) systemd was PID 1, and when its private socket appeared. */
  readonly bootPhases: { readonly pid1: number; readonly manager: number };
  /** Host path of a path inside the box (through /proc/PID/root), for reading files the box wrote. */
  hostPath(pathInBox: string): string;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** systemctl inside the box; throws on non-zero exit (use exec(['systemctl', ...], { allowFail }) instead). */
  systemctl(...args: string[]): Promise<ExecResult>;
  /** Writes /etc/systemd/system/NAME of the box (NAME may be a drop-in "x.service.d/y.conf"), then daemon-reload. */
  writeUnit(name: string, text: string): Promise<void>;
  /** `systemctl show -p ...`; every asked property is in the result ('' when systemd has no value). */
  show(unit: string, props: string[]): Promise<Record<string, string>>;
  /** The journal (short-precise), of one unit or all; '' once the box is down. */
  journal(unit?: string): Promise<string>;
  /** Powers off, kills what is left, removes cgroups and temp dirs. Idempotent; never throws.
   *  `{ poweroff: false }`: no orderly poweroff (which stops every unit, drains included, for seconds); SIGKILL
   *  at once, which ends the whole pid namespace. For a test's teardown, when nothing in the box is watched any
   *  more: useBox() tears down this way. */
  down(opts?: { poweroff?: boolean }): Promise<void>;
}

export class BoxError extends Error {
  readonly code: string;
  readonly result: ExecResult | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; result?: ExecResult }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BoxError';
    this.code = code;
    this.result = options?.result;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Can boxes run here?

let skipReasonCache: { reason: string | undefined } | undefined;

/** Why boxes cannot run on this machine (one line), or undefined when they can. ZSD_NO_BOX=1 forces a skip. */
export function boxSkipReason(): string | undefined {
  skipReasonCache ??= { reason: computeSkipReason() };
  return skipReasonCache.reason;
}

function computeSkipReason(): string | undefined {
  if (process.env.ZSD_NO_BOX) return 'ZSD_NO_BOX is set';
  if (process.platform !== 'linux') return `systemd boxes need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `systemd boxes need root (uid ${process.getuid?.()}); CI runs them as root`;
  for (const tool of ['unshare', 'nsenter', 'setpriv']) {
    const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (r.error || r.status !== 0) return `systemd boxes need util-linux \`${tool}\` (not found on PATH)`;
  }
  // Root in a container without CAP_SYS_ADMIN cannot make namespaces: ask the kernel (a few ms).
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount', '--uts', '--ipc', '--cgroup', '--', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) return `systemd boxes need to create namespaces, and unshare cannot here: ${(probe.stderr || String(probe.error ?? probe.signal)).trim().split('\n')[0]}`;
  if (!fs.existsSync(SYSTEMD)) return `systemd boxes need systemd (${SYSTEMD} is missing)`;
  if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('\toverlay')) return 'systemd boxes need overlayfs (not in /proc/filesystems)';
  try {
    const h = cgroupHierarchies();
    if (!h.some((x) => x.controllers.includes('name=systemd'))) {
      return 'systemd boxes need the hybrid cgroup layout (a cgroup v1 name=systemd hierarchy); pure cgroup v2 is not supported';
    }
  } catch (err) {
    return `systemd boxes: cannot read the cgroup layout (${(err as Error).message})`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// cgroups: the host's hierarchies, from /proc/self/mountinfo and /proc/self/cgroup.

interface Hierarchy {
  type: 'cgroup' | 'cgroup2';
  mountPoint: string;     // host, e.g. /sys/fs/cgroup/memory
  name: string;           // basename, also used inside the box under /sys/fs/cgroup
  controllers: string[];  // v1: e.g. ['memory'] or ['name=systemd']; v2: []
  ownPath: string;        // our cgroup in it, e.g. /process_api/57b3...
  writable: boolean;
}

function cgroupHierarchies(): Hierarchy[] {
  const own = new Map<string, string>(); // controllers key -> path
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[2]!, m[3]!);
  }
  const out: Hierarchy[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4]!;
    const [fstype, , superOpts = ''] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    if (path.dirname(mountPoint) !== '/sys/fs/cgroup') continue;
    const controllers = fstype === 'cgroup2' ? [] : superOpts.split(',').filter((o) => !NON_CONTROLLER_OPTS.test(o));
    const key = fstype === 'cgroup2' ? '' : controllers.join(',');
    const ownPath = own.get(key);
    if (ownPath === undefined) continue;
    out.push({
      type: fstype, mountPoint, name: path.basename(mountPoint), controllers, ownPath,
      writable: fstype === 'cgroup2' || controllers.some((c) => WRITABLE_V1.has(c)),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Live boxes and process-level teardown.

/** Unregisters a box's process-end cleanup (./teardown.ts) once it is down. */
const unregister = new WeakMap<BoxImpl, () => void>();

// ---------------------------------------------------------------------------------------------------------

const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
const sleepSync = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };
/** Alive and not a zombie: a killed box's processes may wait a while for the host's init to reap them. */
const running = (pid: number): boolean => {
  try { return !/^\d+ \(.*\) [ZX]/s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
};
const comm = (pid: number): string | undefined => {
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return undefined; }
};
let counter = 0;

function freeId(file: string, start: number): number {
  const used = new Set(fs.readFileSync(file, 'utf8').split('\n').map((l) => Number(l.split(':')[2])));
  for (let id = start; id < start + 1000; id++) if (!used.has(id)) return id;
  throw new BoxError('BOX_NO_FREE_ID', `no free id in ${file} between ${start} and ${start + 999}`);
}

/**
 * Timeout of an exec: SIGKILL what nsenter started inside the box (its process group: exec spawns nsenter
 * detached), but not nsenter itself, so that nsenter reaps its child. Were nsenter killed first, its child would
 * become a zombie of the host's init, and a pid namespace cannot end while it holds a zombie: down() would wait
 * for whenever the host's init reaps it (seconds here).
 */
function killInBox(nsenter: ChildProcess): void {
  const nsenterPid = nsenter.pid!;
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === nsenterPid) continue;
    let pgrp: number | undefined;
    try { pgrp = Number(/\) \S+ \d+ (\d+)/s.exec(fs.readFileSync(`/proc/${p}/stat`, 'utf8'))?.[1]); } catch { continue; }
    if (pgrp === nsenterPid) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  }
  // Should nsenter not exit by itself (it waits for its child), end it too.
  setTimeout(() => { if (nsenter.exitCode === null && nsenter.signalCode === null) nsenter.kill('SIGKILL'); }, 2_000).unref();
}

/** Mounts (host view) at or under dir, deepest first. */
function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && isPathWithin(mp, dir)) out.push(mp.replace(/\\040/g, ' '));
  }
  return out.sort((a, b) => b.length - a.length);
}

function cgroupProcs(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string): void => {
    try { for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.push(Number(p)); } catch { return; }
    let entries: fs.Dirent[] = [];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(dir);
  return pids;
}

/** rmdir a cgroup tree bottom-up; true when it is gone. */
function rmCgroupTree(dir: string): boolean {
  const walk = (d: string): void => {
    let entries: fs.Dirent[] = [];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    try { fs.rmdirSync(d); } catch { /* busy: retried by the caller */ }
  };
  walk(dir);
  return !fs.existsSync(dir);
}

interface State { dir: string; cgroups: string[]; owner: number }

class BoxImpl implements Box {
  readonly repo = REPO_IN_BOX;
  readonly shared: string;
  readonly user: { name: string; uid: number; gid: number };
  pid = 0;
  bootMs = 0;
  readonly bootPhases = { pid1: 0, manager: 0 };
  private pidns = ''; // identifies PID 1 beyond its pid number, which the kernel may reuse once it is reaped
  private child: ChildProcess | undefined;
  private childExited: Promise<void> | undefined;
  private downPromise: Promise<void> | undefined;
  private isDown = false;
  readonly cgroups: string[] = [];

  constructor(readonly id: string, readonly dir: string, private readonly init = SYSTEMD, private readonly shownRoot = REPO_ROOT,
    private readonly layout: CgroupLayout = 'hybrid') {
    this.shared = path.join(dir, 'shared');
    this.user = { name: BOX_USER, uid: freeId('/etc/passwd', 61_000), gid: freeId('/etc/group', 61_000) };
  }

  hostPath(p: string): string { return `/proc/${this.pid}/root${path.posix.resolve('/', p)}`; }

  async boot(): Promise<void> {
    const t0 = performance.now();
    const { dir, id } = this;
    const root = path.join(dir, 'root');
    const units = path.join(dir, 'units');
    for (const d of [path.join(dir, 'ovl'), root, units, this.shared]) fs.mkdirSync(d, { recursive: true });
    fs.chmodSync(this.shared, 0o1777);
    fs.writeFileSync(path.join(units, 'zsd-box.target'),
      '[Unit]\nDescription=zsd-box boot target\nRequires=basic.target\nAfter=basic.target\n');
    for (const u of MASKED) fs.symlinkSync('/dev/null', path.join(units, u));

    const hier = cgroupHierarchies();
    for (const h of hier.filter((x) => x.writable)) {
      const d = path.join(h.mountPoint, h.ownPath, PREFIX + id);
      fs.mkdirSync(path.join(d, 'supervisor'), { recursive: true });
      fs.mkdirSync(path.join(d, 'payload'));
      this.cgroups.push(d);
      this.saveState();
    }

    // Stage 1 runs as PID 1 of the new pid namespace: it moves itself into payload, then takes its own
    // cgroup namespace there, so systemd sees payload as its root cgroup.
    const stage2 = path.join(dir, 'stage2.sh');
    fs.writeFileSync(path.join(dir, 'stage1.sh'), [
      ...this.cgroups.map((d) => `echo 0 > ${q(path.join(d, 'payload', 'cgroup.procs'))}`),
      `exec unshare --cgroup -- /bin/sh -e ${q(stage2)}`, '',
    ].join('\n'));
    const R = q(root);
    const cg = (sub: string): string => q(path.join(root, 'sys/fs/cgroup', sub));
    const repoReal = fs.realpathSync(this.shownRoot);
    const repoAt = [REPO_IN_BOX, ...(repoReal !== REPO_IN_BOX ? [repoReal] : [])];
    const { uid, gid, name } = this.user;
    fs.writeFileSync(stage2, [
      'set -e',
      `mount -t tmpfs -o mode=755 ${q(PREFIX + id)} ${q(path.join(dir, 'ovl'))}`,
      `mkdir ${q(path.join(dir, 'ovl/u'))} ${q(path.join(dir, 'ovl/w'))}`,
      `mount -t overlay ${q(PREFIX + id)} -o ${q(`lowerdir=/,upperdir=${dir}/ovl/u,workdir=${dir}/ovl/w`)} ${R}`,
      // The throw-away root: identity, our user, no start limits, no host generators.
      `printf '%s\\n' ${randomBytes(16).toString('hex')} > ${R}/etc/machine-id`,
      `echo ${q(id)} > ${R}/etc/hostname`,
      `echo ${q(`${name}:x:${uid}:${gid}:zope-systemd test user:/nonexistent:/usr/sbin/nologin`)} >> ${R}/etc/passwd`,
      `echo ${q(`${name}:x:${gid}:`)} >> ${R}/etc/group`,
      `mkdir -p ${R}/etc/systemd/system.conf.d`,
      `printf '[Manager]\\nDefaultStartLimitIntervalSec=0\\n' > ${R}/etc/systemd/system.conf.d/zsd-box.conf`,
      `for g in ${R}/usr/lib/systemd/system-generators ${R}/usr/local/lib/systemd/system-generators ${R}/etc/systemd/system-generators; do`,
      `  if [ -d "$g" ]; then find "$g" -mindepth 1 -delete; fi`,
      'done',
      // Kernel file systems.
      `mount -t proc proc ${R}/proc`,
      `mount -t sysfs -o ro sysfs ${R}/sys`,
      ...(this.layout === 'unified' ? [
        // The unified hierarchy alone at /sys/fs/cgroup: systemd runs in unified mode (as on a stock Debian 12 host)
        // and offers what only that mode has, e.g. the cgroup v2 freezer (`systemctl freeze`). The v1 controllers
        // stay bound to the host's v1 hierarchies, so no resource controller is available in this layout.
        `mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 ${R}/sys/fs/cgroup`,
      ] : [`mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup ${R}/sys/fs/cgroup`]),
      // Each command below is a process, and under load processes are what the boot costs: directories and
      // nodes are made by one mkdir and one touch each, once the file systems they live on are mounted.
      ...(this.layout === 'unified' ? [] : [`mkdir ${hier.map((h) => cg(h.name)).join(' ')}`, ...hier.flatMap((h) => {
        const opts = h.type === 'cgroup2' ? 'nosuid,nodev,noexec'
          : `${h.writable ? '' : 'ro,'}nosuid,nodev,noexec,${h.controllers.length === 1 && h.controllers[0]!.startsWith('name=') ? 'none,' : ''}${h.controllers.join(',')}`;
        const lines = [`mount -t ${h.type} -o ${opts} ${h.type} ${cg(h.name)}`];
        // cpu,cpuacct style combined hierarchies: systemd looks for each controller's own directory.
        for (const c of h.controllers) if (c !== h.name && !c.startsWith('name=')) lines.push(`ln -s ${q(h.name)} ${cg(c)}`);
        return lines;
      })]),
      `mount -t tmpfs -o mode=755,nosuid dev ${R}/dev`,
      `mount -t tmpfs -o mode=755,nosuid,nodev run ${R}/run`,
      `mount -t tmpfs -o mode=1777 tmp ${R}/tmp`,
      `mkdir -p ${R}/dev/pts ${R}/dev/shm ${R}/.oldroot ${[...repoAt, this.shared].map((p) => q(root + p)).join(' ')}`,
      `touch ${DEV_NODES.map((n) => `${R}/dev/${n}`).join(' ')}`, `ln -s pts/ptmx ${R}/dev/ptmx`,
      ...DEV_NODES.map((n) => `mount --bind /dev/${n === 'console' ? 'null' : n} ${R}/dev/${n}`),
      `mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts ${R}/dev/pts`,
      // Bind mounts: units, the repository (read-only, twice), the shared dir at its host path.
      `mount --bind ${q(units)} ${R}/etc/systemd/system`,
      ...repoAt.flatMap((p) => [`mount --bind ${q(repoReal)} ${q(root + p)}`, `mount -o remount,bind,ro ${q(root + p)}`]),
      `mount --bind ${q(this.shared)} ${q(root + this.shared)}`,
      `cd ${R}`, 'pivot_root . .oldroot', 'umount -l /.oldroot', 'rmdir /.oldroot', `hostname ${q(id)}`,
      `exec env -i container=zsd-box ${q(this.init)} --unit=zsd-box.target`, '',
    ].join('\n'));

    const log = fs.openSync(path.join(dir, 'init.log'), 'w');
    // The outer sh puts itself (it becomes unshare) into the supervisor cgroups, so that payload holds only the
    // box. setpriv --pdeathsig: if the test process dies (even by SIGKILL), unshare is killed, and
    // --kill-child takes PID 1 along: the pid namespace, its mounts and processes all go.
    const outer = [
      ...this.cgroups.map((d) => `echo $$ > ${q(path.join(d, 'supervisor', 'cgroup.procs'))}`),
      `exec setpriv --pdeathsig SIGKILL -- unshare --pid --fork --kill-child --mount --uts --ipc --propagation private -- /bin/sh -e ${q(path.join(dir, 'stage1.sh'))}`,
    ].join('\n');
    const child = spawn('/bin/sh', ['-ec', outer], { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.child = child;
    child.unref(); // a test that forgets down() must not keep the process alive: the exit handler cleans up
    this.childExited = new Promise((resolve) => { child.once('exit', () => resolve()); child.once('error', () => resolve()); });
    let exited = false;
    void this.childExited.then(() => { exited = true; });
    this.saveState();

    // PID 1 = unshare's child, once it has exec'd systemd.
    const unsharePid = child.pid!;
    for (const deadline = Date.now() + 10_000; !this.pid; await sleep(5)) {
      if (exited || Date.now() > deadline) throw new BoxError('BOX_BOOT_FAILED', `box ${id}: systemd did not start as PID 1 (${exited ? 'unshare exited' : 'timeout 10 s'}):\n${this.initLog()}`);
      let kids: string[] = [];
      try { kids = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean); } catch { /* not yet */ }
      const k = kids.map(Number).find((p) => comm(p) === 'systemd');
      if (k) this.pid = k;
    }
    this.pidns = fs.readlinkSync(`/proc/${this.pid}/ns/pid`);
    this.saveState();
    this.bootPhases.pid1 = performance.now() - t0;
    // The manager's private socket appears early; is-system-running --wait then waits for the boot target.
    for (const deadline = Date.now() + 15_000; !fs.existsSync(this.hostPath('/run/systemd/private')); await sleep(5)) {
      if (exited || Date.now() > deadline) throw new BoxError('BOX_BOOT_FAILED', `box ${id}: systemd did not open /run/systemd/private (${exited ? 'it exited' : 'timeout 15 s'}):\n${this.initLog()}`);
    }
    this.bootPhases.manager = performance.now() - t0;
    const st = await this.exec(['systemctl', 'is-system-running', '--wait'], { allowFail: true, timeoutMs: 30_000 });
    const state = st.stdout.trim();
    if (state !== 'running' && state !== 'degraded') {
      throw new BoxError('BOX_BOOT_FAILED', `box ${id}: boot ended in state ${JSON.stringify(state)}: ${st.stderr}\n${this.initLog()}`);
    }
    if (state === 'degraded') {
      const failed = await this.exec(['systemctl', '--failed', '--no-legend'], { allowFail: true });
      process.stderr.write(`box ${id}: booted degraded; failed units:\n${failed.stdout}`);
    }
    this.bootMs = performance.now() - t0;
  }

  /** this.pid is still our box's PID 1, alive. */
  private isLeader(): boolean {
    if (!this.pid || !this.pidns || !running(this.pid)) return false;
    try { return fs.readlinkSync(`/proc/${this.pid}/ns/pid`) === this.pidns; } catch { return false; }
  }

  private initLog(): string {
    try { return fs.readFileSync(path.join(this.dir, 'init.log'), 'utf8'); } catch { return '(no init.log)'; }
  }

  private saveState(): void {
    const s: State = { dir: this.dir, cgroups: this.cgroups, owner: process.pid };
    try { fs.writeFileSync(path.join(this.dir, 'state.json'), JSON.stringify(s)); } catch { /* dir gone */ }
  }

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.isDown || !this.pid) throw new BoxError('BOX_DOWN', `box ${this.id} is not running; cannot run ${JSON.stringify(argv)}`);
    if (argv.length === 0) throw new BoxError('BOX_BAD_ARGV', 'exec needs a command, got an empty argv');
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const env = { PATH: BOX_PATH, LANG: 'C.UTF-8', SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0', ...opts.env };
    const args = ['-t', String(this.pid), '-a', '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
    // detached: own process group, so a timeout can kill nsenter and what it forked inside the box together.
    const child = spawn('nsenter', args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = ''; let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.stdin.on('error', () => { /* command did not read its input */ });
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => { timedOut = true; killInBox(child); }, timeoutMs);
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, sig) => resolve(c ?? 128 + (sig ? os.constants.signals[sig] : 0)));
    }).finally(() => clearTimeout(timer));
    const result = { code, stdout, stderr };
    if (timedOut) throw new BoxError('BOX_EXEC_TIMEOUT', `box ${this.id}: ${JSON.stringify(argv)} timed out after ${timeoutMs} ms`, { result });
    if (code !== 0 && !opts.allowFail) {
      throw new BoxError('BOX_EXEC_FAILED', `box ${this.id}: ${JSON.stringify(argv)} exited ${code}: ${stderr.trim() || stdout.trim()}`, { result });
    }
    return result;
  }

  systemctl(...args: string[]): Promise<ExecResult> { return this.exec(['systemctl', ...args]); }

  async writeUnit(name: string, text: string): Promise<void> {
    // systemd.unit(5): a unit name, or a drop-in "unit.d/file.conf".
    if (!/^[A-Za-z0-9:_.@\\-]+(\.d\/[A-Za-z0-9:_.@\\-]+\.conf)?$/.test(name)) {
      throw new BoxError('BOX_BAD_UNIT_NAME', `not a unit file name: ${JSON.stringify(name)} (expected e.g. "x.service" or "x.service.d/y.conf")`);
    }
    const file = path.join(this.dir, 'units', name);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, text);
    await this.systemctl('daemon-reload');
  }

  async show(unit: string, props: string[]): Promise<Record<string, string>> {
    const r = await this.systemctl('show', `--property=${props.join(',')}`, '--', unit);
    const out: Record<string, string> = Object.fromEntries(props.map((p) => [p, '']));
    for (const line of r.stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  async journal(unit?: string): Promise<string> {
    if (this.isDown || !this.pid) return '';
    const r = await this.exec(['journalctl', '--no-pager', '-o', 'short-precise', ...(unit ? ['-u', unit] : [])], { allowFail: true, timeoutMs: 15_000 });
    return r.stdout + r.stderr;
  }

  down(opts: { poweroff?: boolean } = {}): Promise<void> {
    this.downPromise ??= opts.poweroff === false ? Promise.resolve(this.downSync()) : this.teardown();
    return this.downPromise;
  }

  private async teardown(): Promise<void> {
    this.isDown = true;
    try {
      if (this.isLeader()) {
        try { process.kill(this.pid, SIGRTMIN_PLUS_4); } catch { /* gone */ }
      }
      // unshare exits once PID 1 has; give the orderly poweroff 5 s.
      if (this.childExited) {
        const ac = new AbortController();
        await Promise.race([this.childExited, sleep(5_000, undefined, { signal: ac.signal }).catch(() => undefined)]);
        ac.abort();
      }
    } finally {
      this.downSync();
    }
  }

  /** The synchronous part of teardown (also the whole of it from signal and exit handlers): SIGKILL, clean up. */
  downSync(): void {
    this.isDown = true;
    unregister.get(this)?.();
    const unsharePid = this.child?.pid;
    if (unsharePid && this.child?.exitCode === null && this.child.signalCode === null) {
      try { process.kill(unsharePid, 'SIGKILL'); } catch { /* gone */ }
    }
    if (this.isLeader()) { try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ } }
    cleanupBoxDir(this.dir, this.cgroups);
    this.child?.unref();
  }
}

/** Kill what is left in the box's cgroups, remove them, then the box's directory. Synchronous, never throws. */
function cleanupBoxDir(dir: string, cgroups: string[]): void {
  const deadline = Date.now() + 5_000;
  // PID 1 (which lives in payload) gone = the kernel kills the rest of the pid namespace; anything still in the
  // box's cgroups is ours to SIGKILL by pid. (Zombies are not listed in cgroup.procs.)
  while (Date.now() < deadline) {
    const left = cgroups.flatMap((d) => cgroupProcs(path.join(d, 'payload')));
    if (left.length === 0) break;
    for (const p of left) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    sleepSync(10);
  }
  for (const d of cgroups) {
    while (!rmCgroupTree(d) && Date.now() < deadline) sleepSync(10);
  }
  // Mounts are made in the box's private mount namespace; should one show on the host, unmount it rather than
  // let rm recurse into it (the repository is bind-mounted in there).
  for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  if (mountsUnder(dir).length === 0) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  } else {
    process.stderr.write(`zsd box: ${dir} still has mounts; not removing it\n`);
  }
}

/** Removes the leftovers (directories, empty cgroups) of boxes whose test process died without cleaning up. */
function sweepStale(base: string): void {
  let entries: string[] = [];
  try { entries = fs.readdirSync(base).filter((e) => e.startsWith(PREFIX)); } catch { return; }
  for (const e of entries) {
    const dir = path.join(base, e);
    let s: State;
    try { s = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as State; } catch { continue; }
    if (s.dir !== dir || alive(s.owner)) continue;
    // Only empty cgroups can be removed; a box still running under a dead owner is not ours to kill.
    if (s.cgroups.some((d) => cgroupProcs(d).length > 0)) continue;
    for (const d of s.cgroups) rmCgroupTree(d);
    if (mountsUnder(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * How systemd sees cgroups in a box. `hybrid` (the default): v1 hierarchies (memory, cpu, pids... enforced) plus
 * the unified one for tracking. `unified`: only the unified hierarchy, as on a stock Debian 12 host; systemd offers
 * the v2-only features there (`systemctl freeze`/`thaw`), but no resource controller (MemoryMax= is not enforced).
 */
export type CgroupLayout = 'hybrid' | 'unified';

/** Boots a fresh box. Tears down what it started if booting fails. */
export async function bootBox(opts: {
  id?: string;
  cgroup?: CgroupLayout;
  /** the harness's own tests: a PID 1 that is not systemd */
  init?: string;
  /** the directory made visible (read-only) inside at its own path and at REPO_IN_BOX; default: this repository.
   *  A caller outside the repository (zstack try, bundled) names the directory its own code and modules live in. */
  root?: string;
} = {}): Promise<Box> {
  const reason = boxSkipReason();
  if (reason) throw new BoxError('BOX_UNSUPPORTED', reason);
  const id = opts.id ?? `${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(id)) throw new BoxError('BOX_BAD_ID', `box id must match [A-Za-z0-9_-]{1,40}, got ${JSON.stringify(id)}`);
  const base = fs.realpathSync(os.tmpdir());
  sweepStale(base);
  const dir = path.join(base, PREFIX + id);
  fs.mkdirSync(dir, { mode: 0o700 }); // throws if the id is taken
  const box = new BoxImpl(id, dir, opts.init, opts.root, opts.cgroup);
  // Whatever ends the process (uncaught error, process.exit, SIGINT/SIGTERM/SIGHUP) kills the box and removes its
  // directories, synchronously.
  unregister.set(box, onProcessEnd(() => box.downSync()));
  try {
    await box.boot();
  } catch (err) {
    await box.down();
    throw err;
  }
  return box;
}

/**
 * Boots a box for one test: t.after() tears it down, by SIGKILL (the test is over; an orderly poweroff would only
 * stop its units, drains and all, for seconds per box); when the test failed, the journal is printed first.
 */
export async function useBox(t: TestContext, opts: { cgroup?: CgroupLayout } = {}): Promise<Box> {
  const box = await bootBox(opts);
  t.after(async () => {
    try {
      if ((t as unknown as { passed?: boolean }).passed === false) {
        const j = await box.journal().catch((e: unknown) => `(journal unavailable: ${String(e)})`);
        process.stderr.write(`\n----- journal of box ${box.id} (test "${t.name}" failed) -----\n${j}----- end of journal -----\n`);
      }
    } finally {
      await box.down({ poweroff: false });
    }
  });
  return box;
}
