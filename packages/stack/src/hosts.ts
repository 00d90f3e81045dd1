// A stack over several hosts, as zstack drives it: every unit belongs to one host and is reached there through
// `systemctl -H <ssh destination>` (systemd's own remote control: ssh to the host, systemd-stdio-bridge there).
// One SystemdHost for the whole stack, so status, rollout, recycle and stop work unchanged: each call is split by
// host and the hosts are asked in parallel.
//
// - strict (rollout, recycle, stop): an unreachable host is an error naming it (EUNAVAILABLE) before anything is
//   touched, so a rollout stops with the rest untouched;
// - lenient (status): the units of an unreachable host read LoadState=unreachable with the reason in StatusText,
//   and unreachable() names the hosts, so status still shows every other host.
// The stack's target exists on every host: status shows the one of the database host; stop stops it everywhere.
import { spawn, type ChildProcess } from 'node:child_process';
import type { StackModel } from '@zope-systemd/unitgen';
import { StackError } from './errors.js';
import { LocalSystemd, UNIT_PROPS, type SystemdHost, type UnitProps } from './systemd.js';

export interface HostRef { name: string; ssh: string }

/** unit -> host: clients where they run, ZEO/PostgreSQL where they run, the target on the database host. */
export function unitHosts(m: StackModel): Map<string, string> {
  const hosts = m.hosts ?? [];
  const dbHost = m.zeo?.host ?? m.postgresql?.host ?? hosts[0]?.name;
  const out = new Map<string, string>();
  if (dbHost) out.set(m.target, dbHost);
  if (m.zeo?.host) out.set(m.zeo.unit, m.zeo.host);
  for (const c of m.clients) if (c.host) out.set(c.unit, c.host);
  return out;
}

function unreachableProps(unit: string, why: string): UnitProps {
  const p = Object.fromEntries(UNIT_PROPS.map((k) => [k, ''])) as UnitProps;
  return { ...p, Id: unit, LoadState: 'unreachable', ActiveState: 'unknown', SubState: 'unknown', StatusText: why };
}

export class HostsSystemd implements SystemdHost {
  readonly name: string;
  private readonly byHost: Map<string, SystemdHost>;
  private readonly unitHost: Map<string, string>;
  private readonly lost = new Map<string, string>();

  /** `connect` makes the SystemdHost of one host (default: systemctl -H <ssh>); `lenient` as described above. */
  constructor(private readonly model: StackModel, private readonly opts: { lenient?: boolean; connect?: (h: HostRef) => SystemdHost } = {}) {
    const hosts = model.hosts ?? [];
    this.name = hosts.map((h) => h.name).join(', ');
    const connect = opts.connect ?? ((h: HostRef) => new LocalSystemd(['systemctl', '-H', h.ssh], `${h.name} (${h.ssh})`));
    this.byHost = new Map(hosts.map((h) => [h.name, connect(h)]));
    this.unitHost = unitHosts(model);
  }

  /** The same hosts, reading unreachable ones as such instead of failing (for status). */
  lenient(): HostsSystemd { return new HostsSystemd(this.model, { ...this.opts, lenient: true }); }

  /** Hosts the last calls could not reach, with why (lenient mode). */
  unreachable(): Array<{ host: string; error: string }> { return [...this.lost].map(([host, error]) => ({ host, error })); }

  hostOf(unit: string): string | undefined { return this.unitHost.get(unit); }

  private host(unit: string): SystemdHost {
    const h = this.unitHost.get(unit);
    const s = h === undefined ? undefined : this.byHost.get(h);
    if (!s) throw new StackError('EINTERNAL', `no host runs ${unit} in stack ${this.model.stack}`);
    return s;
  }

  private group(units: readonly string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const u of units) {
      const h = this.unitHost.get(u);
      if (h === undefined) throw new StackError('EINTERNAL', `no host runs ${u} in stack ${this.model.stack}`);
      out.set(h, [...(out.get(h) ?? []), u]);
    }
    return out;
  }

  async show(units: readonly string[]): Promise<Map<string, UnitProps>> {
    const groups = [...this.group(units)];
    const answers = await Promise.all(groups.map(async ([h, us]) => {
      try {
        const r = await this.byHost.get(h)!.show(us);
        this.lost.delete(h);
        return r;
      } catch (e) {
        const msg = (e as Error).message;
        if (!this.opts.lenient) throw e;
        this.lost.set(h, msg);
        return new Map(us.map((u) => [u, unreachableProps(u, `host ${h} unreachable: ${msg}`)]));
      }
    }));
    const merged = new Map<string, UnitProps>();
    for (const a of answers) for (const [u, p] of a) merged.set(u, p);
    return new Map(units.map((u) => [u, merged.get(u)!]));
  }

  restart(unit: string, opts?: { signal?: AbortSignal }): Promise<void> { return this.host(unit).restart(unit, opts); }

  /** Clients first (every host in parallel), then the rest: ZEO where it runs, and the target on every host. */
  async stop(units: readonly string[]): Promise<void> {
    const clientUnits = new Set(this.model.clients.map((c) => c.unit));
    const target = this.model.target;
    await Promise.all([...this.group(units.filter((u) => clientUnits.has(u)))].map(([h, us]) => this.byHost.get(h)!.stop(us)));
    const rest = this.group(units.filter((u) => !clientUnits.has(u) && u !== target));
    await Promise.all([...this.byHost].map(async ([h, s]) => {
      const us = [...(rest.get(h) ?? []), ...(units.includes(target) ? [target] : [])];
      if (us.length) await s.stop(us);
    }));
  }

  /**
   * A pid of another machine cannot be signalled from here without the race signalProcess exists to avoid (a
   * restart's new main process): false, so a wrapper's own drain on another host just runs its course.
   */
  async signalProcess(unit: string, p: UnitProps, signal: NodeJS.Signals): Promise<boolean> { void unit; void p; void signal; return false; }

  now(): Promise<number> { return Promise.resolve(Date.now() / 1000); }
}

/**
 * The stack-wide lock on a host: `flock` on /run/lock/zstack-<stack>.lock held by an ssh session for as long as
 * the operation runs. It goes when zstack ends, however it ends (the session closes, `cat` reads EOF, flock
 * releases), so a crash never leaves the stack locked. Operators on other machines meet it there.
 */
export async function acquireHostLock(h: HostRef, stack: string, operation: string, opts: { ssh?: string; timeoutMs?: number } = {}): Promise<{ release(): void }> {
  const file = `/run/lock/zstack-${stack.replace(/[^A-Za-z0-9_.@-]/g, '_')}.lock`;
  // flock(1): -n fails at once when held, -E is that exit status. The holder line goes into the file for others.
  const remote = `mkdir -p /run/lock && exec flock -n -E 75 ${file} sh -c 'printf "%s\\n" "$1" > ${file}.holder; echo locked; exec cat >/dev/null' zstack ${shq(operation)}`;
  const child: ChildProcess = spawn(opts.ssh ?? 'ssh', ['-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '--', h.ssh, remote], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const code = await new Promise<number | 'locked'>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(-1); }, opts.timeoutMs ?? 30_000);
    child.stdout!.on('data', () => { if (out.includes('locked\n')) { clearTimeout(timer); resolve('locked'); } });
    child.once('close', (c) => { clearTimeout(timer); resolve(c ?? -1); });
    child.once('error', () => { clearTimeout(timer); resolve(127); });
  });
  if (code === 'locked') {
    return { release: () => { child.stdin!.end(); child.unref(); } };
  }
  if (code === 75) {
    const holder = await hostLockHolder(h, file, opts.ssh).catch(() => '');
    throw new StackError('EBUSY', `stack ${stack} is busy: ${holder || 'another zstack operation'} holds its lock on host ${h.name}`,
      { hint: 'wait for it to finish; one operation per stack at a time, from any machine (the lock goes with the operator\'s ssh session)' });
  }
  throw new StackError('EUNAVAILABLE', `cannot take the stack's lock on host ${h.name} (${h.ssh}): ${err.trim().split('\n').at(-1) || `ssh exited ${code}`}`,
    { hint: `check that ${h.ssh} is reachable: ssh ${h.ssh} true` });
}

async function hostLockHolder(h: HostRef, file: string, ssh = 'ssh'): Promise<string> {
  return await new Promise((resolve) => {
    const c = spawn(ssh, ['-T', '-o', 'BatchMode=yes', '--', h.ssh, `cat ${file}.holder`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.once('close', () => resolve(out.trim()));
    c.once('error', () => resolve(''));
  });
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
