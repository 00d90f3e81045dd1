// How zstack talks to systemd on a host: one small interface, so a remote host (`systemctl -H`) is another
// implementation of it. The local one runs `systemctl`: one `show` call reads every unit at once
// (a few ms, against one call per unit), and restart/stop block until systemd's job is done. On this machine
// as root, `show` asks systemd directly over its private socket instead (./systemd-bus.ts: the same answer
// without a systemctl process per call) and runs systemctl only when that socket cannot answer.
import fs from 'node:fs';
import { StackError } from './errors.js';
import { run } from './exec.js';
import { readUnitsOverBus, SystemdBusError, type BusReadOptions } from './systemd-bus.js';
import { startLimitFromProps, startLimitJournalArgv } from './start-limit.js';

/** The properties zstack reads (systemd.exec(5), org.freedesktop.systemd1(5)). */
export const UNIT_PROPS = [
  'Id', 'LoadState', 'ActiveState', 'SubState', 'Result', 'MainPID', 'NRestarts', 'StatusText',
  'ActiveEnterTimestamp', 'ExecMainStartTimestamp', 'InvocationID', 'ControlGroup',
  'WatchdogUSec', 'WatchdogTimestamp', 'MemoryCurrent', 'StartLimitBurst', 'StartLimitIntervalUSec',
] as const;
export type UnitProps = Record<(typeof UNIT_PROPS)[number], string>;

export interface SystemdHost {
  /** `local`, or the host's name. */
  readonly name: string;
  /** Every unit's properties, in one call; a unit systemd does not know has LoadState=not-found. */
  show(units: readonly string[]): Promise<Map<string, UnitProps>>;
  /**
   * The same answer as show(), always from `systemctl show` (one GetAll per unit): the cheaper way to look at units
   * that are likely stopped. systemd unloads an inactive unit nothing refers to, and loads it again (its unit file
   * and drop-ins) for every call that names it: once per unit here, once per property over the private socket
   * (measured with five inactive units under load: 1.2-1.5 s over the socket).
   */
  showUnloaded(units: readonly string[]): Promise<Map<string, UnitProps>>;
  /** `systemctl restart`: resolves when the start job is done (Type=notify: READY=1); rejects when it failed. */
  restart(unit: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** `systemctl reset-failed`: forgets the unit's failed state and its start limit count (start-limit.ts). */
  resetFailed(unit: string): Promise<void>;
  /** `systemctl stop` of all units in one transaction (systemd orders the stop jobs by After=); resolves when done. */
  stop(units: readonly string[]): Promise<void>;
  /**
   * Sends a signal to one process of the unit, by pid, and only while that pid still belongs to the unit's
   * cgroup: never to a main process started after the caller looked (`systemctl kill --kill-whom=main` would
   * hit a restart's new main process). false when the process is gone; a StackError when it is there and the
   * signal cannot be sent (EPERM: another user's process, and no CAP_KILL).
   */
  signalProcess(unit: string, p: UnitProps, signal: NodeJS.Signals): Promise<boolean>;
  /** Seconds since the epoch on that host (unit timestamps are compared with it). */
  now(): Promise<number>;
  /**
   * Whether systemd refused to start the unit again because of its start limit (start-limit.ts), in the run `p`
   * describes; undefined when that cannot be told from here (another host's journal).
   */
  startLimitHit(unit: string, p: UnitProps): Promise<boolean | undefined>;
}

/**
 * Parses `systemctl show` output for several units: one block per unit, separated by blank lines, in the order
 * asked (systemctl prints a block for an unknown unit too, with LoadState=not-found).
 */
export function parseShow(text: string, units: readonly string[]): Map<string, UnitProps> {
  const blocks = text.split(/\n\n/).map((b) => b.trim()).filter(Boolean);
  if (blocks.length !== units.length) {
    throw new StackError('EINTERNAL', `systemctl show printed ${blocks.length} blocks for ${units.length} units`);
  }
  const out = new Map<string, UnitProps>();
  blocks.forEach((block, i) => {
    const p = Object.fromEntries(UNIT_PROPS.map((k) => [k, ''])) as UnitProps;
    for (const line of block.split('\n')) {
      const j = line.indexOf('=');
      if (j > 0 && (UNIT_PROPS as readonly string[]).includes(line.slice(0, j))) p[line.slice(0, j) as keyof UnitProps] = line.slice(j + 1);
    }
    out.set(units[i]!, p);
  });
  return out;
}

/** How the last `show` got its answer: over systemd's private socket, or from systemctl (with why not the socket). */
export type ShowSource = { via: 'private-bus' } | { via: 'systemctl'; busError?: string };

/**
 * The host zstack runs on, through `systemctl` (argv prefix; `['systemctl', '-H', 'root@host']` is a remote one).
 * `show` reads over systemd's private socket when the argv is the plain `['systemctl']` and the process is root
 * (what systemctl itself does as root), unless `bus` is false; given `bus` options, it tries the socket whoever
 * runs it (tests point the reader elsewhere with them).
 * Once the socket fails, this instance asks systemctl from then on (a --watch loop does not retry a socket that
 * stalls on every refresh).
 */
export class LocalSystemd implements SystemdHost {
  readonly name: string;
  private bus: BusReadOptions | undefined;
  /** How the last show() was answered (undefined before the first). */
  lastShow: ShowSource | undefined;
  constructor(private readonly systemctl: readonly string[] = ['systemctl'], name = 'this machine', bus?: BusReadOptions | false) {
    this.name = name;
    const plain = systemctl.length === 1 && systemctl[0] === 'systemctl';
    this.bus = bus === false || !plain ? undefined : (bus ?? (process.geteuid?.() === 0 ? {} : undefined));
  }

  private async ctl(args: readonly string[], what: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string> {
    let r;
    try {
      r = await run([...this.systemctl, ...args], opts);
    } catch (e) {
      throw new StackError('EUNAVAILABLE', `cannot run ${this.systemctl[0]}: ${(e as Error).message}`, { hint: 'zstack needs systemd\'s systemctl on the PATH' });
    }
    if (r.code !== 0) {
      const msg = (r.stderr.trim() || r.stdout.trim()).split('\n')[0]?.trim() ?? ''; // ssh ends its lines with \r\n
      if (/Failed to connect to bus|not been booted with systemd|Host is down/.test(msg)) {
        throw new StackError('EUNAVAILABLE', `systemd on ${this.name} is not reachable: ${msg}`, { hint: 'run zstack on the host whose systemd runs the stack (as root)' });
      }
      throw new StackError('EUNAVAILABLE', `${what} failed on ${this.name}: ${msg || `systemctl exited ${r.code}`}`);
    }
    return r.stdout;
  }

  async show(units: readonly string[]): Promise<Map<string, UnitProps>> {
    if (units.length === 0) return new Map();
    let busError: string | undefined;
    // A unit that changed while it was read is read again (the socket works); after the third time, or on any
    // other failure, systemctl answers: this once for a changing unit, from then on for a failing socket.
    for (let attempt = 1; this.bus && units.length > 0; attempt++) {
      try {
        const props = await readUnitsOverBus(units, this.bus);
        this.lastShow = { via: 'private-bus' };
        return props;
      } catch (e) {
        busError = (e as Error).message;
        const changed = e instanceof SystemdBusError && e.changed;
        if (changed && attempt < 3) continue;
        if (!changed) this.bus = undefined;
        break;
      }
    }
    const props = await this.showUnloaded(units);
    if (busError !== undefined) this.lastShow = { via: 'systemctl', busError };
    return props;
  }

  async showUnloaded(units: readonly string[]): Promise<Map<string, UnitProps>> {
    if (units.length === 0) return new Map();
    const text = await this.ctl(['show', '--timestamp=unix', `--property=${UNIT_PROPS.join(',')}`, '--', ...units], 'systemctl show');
    this.lastShow = { via: 'systemctl' };
    return parseShow(text, units);
  }

  async restart(unit: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.ctl(['restart', '--', unit], `systemctl restart ${unit}`, opts);
  }

  async resetFailed(unit: string): Promise<void> {
    await this.ctl(['reset-failed', '--', unit], `systemctl reset-failed ${unit}`);
  }

  async stop(units: readonly string[]): Promise<void> {
    await this.ctl(['stop', '--', ...units], `systemctl stop ${units.join(' ')}`);
  }

  async signalProcess(_unit: string, p: UnitProps, signal: NodeJS.Signals): Promise<boolean> {
    const pid = Number(p.MainPID);
    if (!(pid > 1) || !p.ControlGroup) return false;
    let cg: string;
    // /proc/PID/cgroup names the unit's cgroup while the pid is that process (a reused pid would be elsewhere).
    try { cg = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'); } catch { return false; }
    if (!cg.split('\n').some((l) => l.endsWith(`:${p.ControlGroup}`))) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return false;
      // EPERM: the process is another user's and this one may not signal it (no CAP_KILL, e.g. a unit's sandbox).
      throw new StackError('ENOPERM', `kill(${pid}, ${signal}) failed: ${code === 'EPERM' ? 'EPERM: the process runs as another user, and this process lacks CAP_KILL' : code ?? (e as Error).message}`, { cause: e });
    }
  }

  async now(): Promise<number> { return Date.now() / 1000; }

  async startLimitHit(unit: string, p: UnitProps): Promise<boolean | undefined> {
    const known = startLimitFromProps(p);
    if (known !== undefined) return known;
    // The journal is this machine's: a remote host's (systemctl -H) is not read from here.
    if (this.systemctl.length !== 1 || this.systemctl[0] !== 'systemctl') return undefined;
    const r = await run(startLimitJournalArgv(unit, p.InvocationID), { timeoutMs: 10_000 }).catch(() => undefined);
    return r && r.code === 0 ? r.stdout.trim() !== '' : undefined;
  }
}

/** `@1733340000` (--timestamp=unix) -> seconds; undefined when systemd has no value. */
export function unixTimestamp(v: string | undefined): number | undefined {
  const m = /^@(\d+)/.exec(v ?? '');
  return m ? Number(m[1]) : undefined;
}

const SPAN_UNITS: Record<string, number> = { us: 1e-6, usec: 1e-6, ms: 1e-3, msec: 1e-3, s: 1, sec: 1, min: 60, h: 3600, hr: 3600, d: 86400, w: 604800, month: 2629800, y: 31557600 };

/** A time span as `systemctl show` prints it (`20s`, `1min 30s`, `500ms`, `0`, `infinity`) -> seconds. */
export function timeSpan(v: string | undefined): number | undefined {
  const s = (v ?? '').trim();
  if (s === '' || s === 'infinity') return undefined;
  if (/^\d+$/.test(s)) return Number(s) / 1e6; // a bare number is microseconds (the D-Bus value)
  let total = 0;
  for (const part of s.split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)([a-z]+)$/.exec(part);
    const unit = m ? SPAN_UNITS[m[2]!] : undefined;
    if (!m || unit === undefined) return undefined;
    total += Number(m[1]) * unit;
  }
  return total;
}
