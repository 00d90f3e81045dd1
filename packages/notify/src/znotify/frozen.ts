// Frozen is hung, not busy. A process stopped by SIGSTOP, held by a tracer, left a zombie, or in a cgroup the
// freezer holds still has its listening socket, and the kernel completes TCP handshakes for it: "TCP connects"
// proves nothing then, and the busy rule (an http check that times out while TCP connects) would keep such an
// instance in rotation until hang-timeout. The kernel says it directly, so the wrapper asks:
//
// - /proc/PID/stat, field 3 (proc(5)): `T` stopped (by a signal), `t` tracing stop, `Z` zombie, `X` dead.
//   (`D`, uninterruptible sleep, is left alone: every process passes through it on disk I/O.)
// - the cgroup freezer: cgroup v2 `cgroup.events` has `frozen 1` once the group is frozen (cgroup.freeze
//   asks for it); cgroup v1 `freezer.state` reads FROZEN or FREEZING (Documentation/admin-guide/cgroup-v1/
//   freezer-subsystem.rst). The process's own groups come from /proc/PID/cgroup.
//
// Reading these costs a few microseconds; nothing here throws: a process that is gone is not "frozen" (its
// exit is reported elsewhere), and a file that cannot be read says nothing.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface FrozenOptions {
  /** Where procfs and cgroupfs are mounted (tests may point elsewhere). */
  proc?: string;
  cgroup?: string;
  /** The wrapper itself did not run for this long (its own look came this late): see FrozenWatch. */
  onPause?: (pausedMs: number) => void;
  /** Monotonic milliseconds; default performance.now(). */
  now?: () => number;
}

/** A look this much later than due means the wrapper itself was held, not merely busy. */
export const PAUSE_REPORT_MS = 2000;

const STATES: Record<string, string> = {
  T: 'stopped (SIGSTOP or a job-control signal)',
  t: 'stopped by a tracer (a debugger?)',
  Z: 'a zombie (exited, not reaped)',
  X: 'dead',
};

function read(file: string): string | undefined {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
}

/** The state letter of /proc/PID/stat (the field after the command name, which may hold spaces and parens). */
export function processState(pid: number, o: FrozenOptions = {}): string | undefined {
  const stat = read(path.join(o.proc ?? '/proc', String(pid), 'stat'));
  if (!stat) return undefined;
  const end = stat.lastIndexOf(')');
  return end < 0 ? undefined : stat.slice(end + 2, end + 3) || undefined;
}

/** Why the cgroup of `pid` is frozen, or undefined when it is not (or no freezer says so). */
function cgroupFrozen(pid: number, o: FrozenOptions = {}): string | undefined {
  const groups = read(path.join(o.proc ?? '/proc', String(pid), 'cgroup'));
  if (!groups) return undefined;
  const root = o.cgroup ?? '/sys/fs/cgroup';
  for (const line of groups.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, id, controllers, group] = m as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') {
      // v2: the unified hierarchy is at the root itself, or at <root>/unified on a hybrid system.
      for (const base of [root, path.join(root, 'unified')]) {
        const events = read(path.join(base, group, 'cgroup.events'));
        if (events !== undefined) {
          if (/^frozen 1$/m.test(events)) return `its cgroup ${group} is frozen (cgroup.freeze)`;
          break;
        }
      }
    } else if (controllers.split(',').includes('freezer')) {
      const state = read(path.join(root, 'freezer', group, 'freezer.state'))?.trim();
      if (state === 'FROZEN' || state === 'FREEZING') return `its cgroup ${group} is ${state} (freezer)`;
    }
  }
  return undefined;
}

/**
 * Why the process `pid` cannot run, in words for STATUS= and the agent's `#reason`, or undefined while it can.
 * A process that no longer exists gives undefined.
 */
export function frozenReason(pid: number, o: FrozenOptions = {}): string | undefined {
  const st = processState(pid, o);
  if (st === undefined) return undefined;
  const why = STATES[st];
  if (why) return `instance ${why}`;
  const cg = cgroupFrozen(pid, o);
  return cg ? `instance frozen: ${cg}` : undefined;
}

/** The process group of `pid` (/proc/PID/stat field 5), or undefined when it is gone. */
export function processGroup(pid: number, o: FrozenOptions = {}): number | undefined {
  const stat = read(path.join(o.proc ?? '/proc', String(pid), 'stat'));
  const end = stat?.lastIndexOf(')') ?? -1;
  if (!stat || end < 0) return undefined;
  const pgrp = Number(stat.slice(end + 2).split(' ')[2]);
  return Number.isInteger(pgrp) ? pgrp : undefined;
}

/**
 * Looks at the instance every `everyMs` and reports each change (frozen, or able to run again). The timer does
 * not hold the event loop; stop() ends it.
 *
 * It also notices when the wrapper itself did not run: `systemctl freeze` freezes the unit's whole cgroup, the
 * wrapper with the instance, so nothing can be seen while it lasts; after the thaw the next look comes late by
 * the length of the freeze (CLOCK_MONOTONIC runs on meanwhile). A look more than PAUSE_REPORT_MS late is
 * reported through onPause, so the journal explains the checks and pings that were missed (also after a
 * SIGSTOP of the wrapper, or a host so loaded that it got no CPU).
 */
export class FrozenWatch {
  private timer: NodeJS.Timeout | undefined;
  private last: string | undefined;
  private lastTick = 0;

  constructor(private readonly pid: () => number | undefined, private readonly onChange: (reason: string | undefined) => void,
    private readonly o: FrozenOptions = {}) {}

  start(everyMs: number): void {
    if (this.timer) return;
    const now = this.o.now ?? (() => performance.now());
    this.lastTick = now();
    this.timer = setInterval(() => {
      const t = now();
      const late = t - this.lastTick - everyMs;
      this.lastTick = t;
      if (late > PAUSE_REPORT_MS) this.o.onPause?.(late + everyMs);
      this.look();
    }, everyMs);
    this.timer.unref();
    this.look();
  }

  /** Looks now (also called right before a watchdog ping); reports a change at once. */
  look(): string | undefined {
    const pid = this.pid();
    const reason = pid === undefined ? undefined : frozenReason(pid, this.o);
    if (reason !== this.last) {
      this.last = reason;
      this.onChange(reason);
    }
    return reason;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
