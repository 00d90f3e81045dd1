// A stack over several hosts, as zstack drives it: every unit belongs to one host and is reached there through
// `systemctl -H <ssh destination>` (systemd's own remote control: ssh to the host, systemd-stdio-bridge there).
// One SystemdHost for the whole stack, so status, rollout, recycle and stop work unchanged: each call is split by
// host and the hosts are asked at once (up to HOST_CONCURRENCY ssh sessions at a time), answers and failures
// kept in the stack's host order whatever order they arrive in.
//
// - strict (rollout, recycle, stop): an unreachable host is an error naming it (EUNAVAILABLE) before anything is
//   touched, so a rollout stops with the rest untouched; several unreachable hosts are one error naming each;
// - lenient (status): the units of an unreachable host read LoadState=unreachable with the reason in StatusText,
//   and unreachable() names the hosts, so status still shows every other host.
// The stack's target exists on every host: status shows the one of the database host; stop stops it everywhere.
import { spawn, type ChildProcess } from 'node:child_process';
import type { StackModel } from '@zope-systemd/unitgen';
import { StackError } from './errors.js';
import { LocalSystemd, UNIT_PROPS, type SystemdHost, type UnitProps } from './systemd.js';

export interface HostRef { name: string; ssh: string }

/** Most hosts asked at once: each is an ssh session (a key exchange: CPU here and there). */
const HOST_CONCURRENCY = 8;

/**
 * fn for every item, at most `limit` at a time; the outcomes in the items' order, like Promise.allSettled (one
 * item failing neither stops nor hides the others).
 */
export async function settleBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try { out[i] = { status: 'fulfilled', value: await fn(items[i]!) }; } catch (e) { out[i] = { status: 'rejected', reason: e }; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

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

  /** Hosts the last calls could not reach, with why (lenient mode), in the stack's host order. */
  unreachable(): Array<{ host: string; error: string }> {
    return [...this.byHost.keys()].filter((h) => this.lost.has(h)).map((host) => ({ host, error: this.lost.get(host)! }));
  }

  hostOf(unit: string): string | undefined { return this.unitHost.get(unit); }

  private host(unit: string): SystemdHost {
    const h = this.unitHost.get(unit);
    const s = h === undefined ? undefined : this.byHost.get(h);
    if (!s) throw new StackError('EINTERNAL', `no host runs ${unit} in stack ${this.model.stack}`);
    return s;
  }

  /** The units by host, in the stack's host order. */
  private group(units: readonly string[]): Map<string, string[]> {
    const out = new Map<string, string[]>([...this.byHost.keys()].map((h) => [h, []]));
    for (const u of units) {
      const h = this.unitHost.get(u);
      if (h === undefined) throw new StackError('EINTERNAL', `no host runs ${u} in stack ${this.model.stack}`);
      out.get(h)!.push(u);
    }
    for (const [h, us] of out) if (us.length === 0) out.delete(h);
    return out;
  }

  /** fn on every host of `groups` at once (bounded); throws, strict, when any failed: naming each that did. */
  private async eachHost<R>(groups: Map<string, string[]>, fn: (host: SystemdHost, units: string[]) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
    const entries = [...groups];
    const results = await settleBounded(entries, HOST_CONCURRENCY, ([h, us]) => fn(this.byHost.get(h)!, us));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ host: entries[i]![0], error: r.reason as Error }] : []));
    if (failed.length && !this.opts.lenient) throw hostsFailed(failed, this.model);
    return results;
  }

  async show(units: readonly string[]): Promise<Map<string, UnitProps>> {
    const groups = this.group(units);
    const results = await this.eachHost(groups, (s, us) => s.show(us));
    const merged = new Map<string, UnitProps>();
    [...groups].forEach(([h, us], i) => {
      const r = results[i]!;
      if (r.status === 'fulfilled') {
        this.lost.delete(h);
        for (const [u, p] of r.value) merged.set(u, p);
        return;
      }
      const msg = (r.reason as Error).message;
      this.lost.set(h, msg);
      for (const u of us) merged.set(u, unreachableProps(u, `host ${h} unreachable: ${msg}`));
    });
    return new Map(units.map((u) => [u, merged.get(u)!]));
  }

  /** Each host's units through its `systemctl -H` already (show()), one call per host. */
  showUnloaded(units: readonly string[]): Promise<Map<string, UnitProps>> { return this.show(units); }

  restart(unit: string, opts?: { signal?: AbortSignal }): Promise<void> { return this.host(unit).restart(unit, opts); }

  resetFailed(unit: string): Promise<void> { return this.host(unit).resetFailed(unit); }

  /** Clients first (every host in parallel), then the rest: ZEO where it runs, and the target on every host. */
  async stop(units: readonly string[]): Promise<void> {
    const clientUnits = new Set(this.model.clients.map((c) => c.unit));
    const target = this.model.target;
    await this.eachHost(this.group(units.filter((u) => clientUnits.has(u))), (s, us) => s.stop(us));
    const rest = this.group(units.filter((u) => !clientUnits.has(u) && u !== target));
    if (units.includes(target)) for (const h of this.byHost.keys()) rest.set(h, [...(rest.get(h) ?? []), target]);
    await this.eachHost(new Map([...this.byHost.keys()].filter((h) => rest.has(h)).map((h) => [h, rest.get(h)!])), (s, us) => s.stop(us));
  }

  /**
   * A pid of another machine cannot be signalled from here without the race signalProcess exists to avoid (a
   * restart's new main process): false, so a wrapper's own drain on another host just runs its course.
   */
  async signalProcess(unit: string, p: UnitProps, signal: NodeJS.Signals): Promise<boolean> { void unit; void p; void signal; return false; }

  now(): Promise<number> { return Promise.resolve(Date.now() / 1000); }

  startLimitHit(unit: string, p: UnitProps): Promise<boolean | undefined> { return this.host(unit).startLimitHit(unit, p); }
}

/**
 * What strict calls throw when hosts failed: a single host's own error as it is; several as one error naming each
 * host and its reason, in the stack's host order, with how to check each.
 */
function hostsFailed(failed: ReadonlyArray<{ host: string; error: Error }>, model: StackModel): Error {
  if (failed.length === 1) return failed[0]!.error;
  const ssh = (h: string): string => model.hosts?.find((x) => x.name === h)?.ssh ?? h;
  return new StackError('EUNAVAILABLE', `${failed.length} hosts of stack ${model.stack} failed:\n${failed.map((f) => `  ${f.host}: ${f.error.message}`).join('\n')}`,
    { hint: `check that each is reachable: ${failed.map((f) => `ssh ${ssh(f.host)} true`).join('; ')}` });
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
