// `zstack status`: one row per unit, gathered with one `systemctl show` for every unit, one Runtime API
// exchange for every server, and the wrappers' /health and the instances' memory in parallel.
import type { ClientRef, StackRef } from './stack.js';
import type { LoadBalancer, ServerView } from './haproxy.js';
import { timeSpan, unixTimestamp, type SystemdHost, type UnitProps } from './systemd.js';
import type { InstanceMemory, WrapperHealth } from './health.js';
import { readHealth } from './reach.js';
import { unitHosts, type HostsSystemd } from './hosts.js';
import { resultText, startLimitHint, startLimitText } from './start-limit.js';

export interface UnitStatus {
  unit: string;
  /** The host that runs it, in a stack with hosts. */
  host?: string;
  load: string;
  active: string;
  sub: string;
  /** Result= of the last run (`success`, `exit-code`, `watchdog`, `oom-kill`, ...). */
  result: string;
  /**
   * systemd refused to start it again (its start limit: more than StartLimitBurst= starts within
   * StartLimitIntervalSec=): `result` then says which failure came last. Absent when it did not or cannot be told.
   */
  startLimitHit?: { limit: string };
  /** Automatic restarts since the unit was started by hand (NRestarts=). */
  restarts: number;
  mainPid: number;
  /** Seconds since the unit became active; undefined when it is not. */
  uptimeSeconds?: number;
  statusText: string;
  /** `off`, or the interval and how long ago the last ping came. */
  watchdog: { enabled: boolean; intervalSeconds?: number; lastPingSecondsAgo?: number };
  invocation: string;
}

export interface ClientStatus extends UnitStatus {
  client: string;
  health: WrapperHealth;
  haproxy?: ServerView;
  /** RSS and PSS of the instance (its processes, not the wrapper), as its wrapper reports them in /health. */
  memory?: InstanceMemory;
  /** The unit's cgroup memory (MemoryCurrent=: wrapper, instance and page cache), when systemd accounts it. */
  cgroupMemoryBytes?: number;
  /** Active, ready in the wrapper and UP in HAProxy (when the stack names HAProxy; false when it does not answer). */
  serving: boolean;
}

export interface StackStatus {
  stack: string;
  file: string;
  at: string;
  target: UnitStatus;
  servers: UnitStatus[];
  clients: ClientStatus[];
  haproxy: { address?: string; backend: string; error?: string };
  /** Hosts systemd could not be reached on (a stack with hosts), with why. */
  unreachableHosts?: Array<{ host: string; error: string }>;
}

export function unitStatus(unit: string, p: UnitProps, now: number): UnitStatus {
  const active = unixTimestamp(p.ActiveEnterTimestamp);
  const wd = timeSpan(p.WatchdogUSec) ?? 0;
  const wdLast = unixTimestamp(p.WatchdogTimestamp);
  return {
    unit, load: p.LoadState, active: p.ActiveState, sub: p.SubState, result: p.Result,
    restarts: Number(p.NRestarts) || 0, mainPid: Number(p.MainPID) || 0,
    ...(p.ActiveState === 'active' && active !== undefined ? { uptimeSeconds: Math.max(0, now - active) } : {}),
    statusText: p.StatusText,
    watchdog: wd > 0
      ? { enabled: true, intervalSeconds: wd, ...(wdLast !== undefined && p.ActiveState === 'active' ? { lastPingSecondsAgo: Math.max(0, now - wdLast) } : {}) }
      : { enabled: false },
    invocation: p.InvocationID,
  };
}

export interface StatusDeps { stack: StackRef; systemd: SystemdHost; lb?: LoadBalancer }

export async function gatherStatus({ stack, systemd, lb }: StatusDeps, clients: readonly ClientRef[] = stack.clients): Promise<StackStatus> {
  const units = [stack.target, ...stack.servers, ...clients.map((c) => c.unit)];
  const backend = stack.model.haproxy.backend;
  const [props, servers, health, now] = await Promise.all([
    systemd.show(units),
    lb ? lb.servers(backend).catch((e: Error) => e) : Promise.resolve(undefined),
    Promise.all(clients.map((c) => readHealth(c))),
    systemd.now(),
  ]);
  const hostOf = stack.model.hosts ? unitHosts(stack.model) : undefined;
  // Only a failed unit is asked (its journal, locally): a healthy stack costs nothing more.
  const hit = new Map(await Promise.all(units.map(async (u) => [u, await systemd.startLimitHit(u, props.get(u)!).catch(() => undefined)] as const)));
  const onHost = (u: UnitStatus): UnitStatus => ({
    ...u, ...(hostOf?.get(u.unit) ? { host: hostOf.get(u.unit)! } : {}),
    ...(hit.get(u.unit) ? { startLimitHit: { limit: startLimitText(props.get(u.unit)!) } } : {}),
  });
  const lost = (systemd as Partial<Pick<HostsSystemd, 'unreachable'>>).unreachable?.() ?? [];
  const rows = clients.map((c, i): ClientStatus => {
    const u = onHost(unitStatus(c.unit, props.get(c.unit)!, now));
    const hv = servers instanceof Map ? servers.get(c.server) : undefined;
    const h = health[i]!;
    const cg = cgroupBytes(props.get(c.unit)!.MemoryCurrent);
    return {
      client: c.name, ...u, health: h, ...(hv ? { haproxy: hv } : {}), ...(h.memory ? { memory: h.memory } : {}),
      ...(cg !== undefined ? { cgroupMemoryBytes: cg } : {}),
      // HAProxy named but not answering: nobody can say the client serves.
      // A wrapper not readable from here (loopback of another host): HAProxy's agent check reads it there.
      serving: u.active === 'active' && (h.ready || h.state === 'not-readable') && (servers instanceof Map ? hv?.state === 'UP' : !(servers instanceof Error)),
    };
  });
  return {
    stack: stack.stack, file: stack.file, at: new Date(now * 1000).toISOString(),
    target: onHost(unitStatus(stack.target, props.get(stack.target)!, now)),
    servers: stack.servers.map((s) => onHost(unitStatus(s, props.get(s)!, now))),
    clients: rows,
    haproxy: {
      backend,
      ...(lb ? { address: lb.address } : {}),
      ...(servers instanceof Error ? { error: servers.message } : !lb ? { error: 'no stats socket (set haproxy.stats-socket or pass --haproxy-socket)' } : {}),
    },
    ...(lost.length ? { unreachableHosts: lost } : {}),
  };
}

/** MemoryCurrent= in bytes; undefined when systemd does not account it (`[not set]`, or 2^64-1 for "infinity"). */
export function cgroupBytes(v: string | undefined): number | undefined {
  if (!/^\d+$/.test(v ?? '')) return undefined;
  const n = Number(v);
  return n < 2 ** 63 ? n : undefined;
}

/**
 * The memory a client is judged and shown by: the instance's RSS from its wrapper, or, from a wrapper that
 * reports none (no health HTTP listener), the unit's cgroup memory, marked as such.
 */
export function clientMemory(c: ClientStatus): { bytes: number; source: 'rss' | 'cgroup' } | undefined {
  if (c.memory) return { bytes: c.memory.rssBytes, source: 'rss' };
  return c.cgroupMemoryBytes !== undefined ? { bytes: c.cgroupMemoryBytes, source: 'cgroup' } : undefined;
}

// ------------------------------------------------------------------------------------------ rendering

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)}G`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)}M`;
  return `${Math.round(n / 1024)}K`;
}

export function formatAge(s: number | undefined): string {
  if (s === undefined) return '-';
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}min ${Math.floor(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}min`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function watchdogText(w: UnitStatus['watchdog']): string {
  if (!w.enabled) return 'off';
  return `${formatAge(w.intervalSeconds)}${w.lastPingSecondsAgo !== undefined ? `, ping ${formatAge(w.lastPingSecondsAgo)} ago` : ''}`;
}

/** Why the wrapper gave no instance memory, from what it answered. */
function noInstanceMemory(c: ClientStatus): string {
  if (c.health.state === 'unreachable') return 'the wrapper does not answer';
  if (c.health.state === 'not-readable') return 'its health is on another host\'s loopback';
  const body = c.health.detail;
  if (typeof body !== 'object' || body === null) return 'no health HTTP listener';
  if ((body as { phase?: unknown }).phase === 'starting') return 'the instance has not started yet';
  return 'no instance, or this host is not in the wrapper\'s health.detail-from';
}

function rssText(c: ClientStatus): string {
  const m = clientMemory(c);
  return m ? `${formatBytes(m.bytes)}${m.source === 'cgroup' ? ' (cg)' : ''}` : '-';
}

const HEAD = ['UNIT', 'SYSTEMD', 'WRAPPER', 'HAPROXY', 'SESS', 'RSS', 'PSS', 'UPTIME', 'RESTARTS', 'RESULT', 'WATCHDOG'];

/** The table an operator reads: one line per unit, columns aligned. */
export function renderTable(s: StackStatus): string {
  const rows: string[][] = [[...HEAD]];
  const unitRow = (u: UnitStatus): string[] => [
    u.unit, u.load === 'loaded' ? `${u.active}/${u.sub}` : u.load, '-', '-', '-', '-', '-', formatAge(u.uptimeSeconds), String(u.restarts), resultText(u.result, !!u.startLimitHit), watchdogText(u.watchdog),
  ];
  for (const u of s.servers) rows.push(unitRow(u));
  for (const c of s.clients) {
    rows.push([
      c.unit, c.load === 'loaded' ? `${c.active}/${c.sub}` : c.load, c.health.summary,
      c.haproxy ? `${c.haproxy.status}${c.haproxy.agent === 'off' ? ' (agent off)' : ''}` : '?',
      c.haproxy ? String(c.haproxy.sessions) : '-', rssText(c), formatBytes(c.memory?.pssBytes),
      formatAge(c.uptimeSeconds), String(c.restarts), resultText(c.result, !!c.startLimitHit), watchdogText(c.watchdog),
    ]);
  }
  // Over hosts: a HOST column after UNIT.
  if ([...s.servers, ...s.clients].some((u) => u.host)) {
    const hostCol = [s.servers, s.clients].flat().map((u) => u.host ?? '-');
    rows.forEach((r, i) => r.splice(1, 0, i === 0 ? 'HOST' : hostCol[i - 1]!));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd());
  const serving = s.clients.filter((c) => c.serving).length;
  lines.unshift(`stack ${s.stack} (${s.file}): ${s.target.unit} ${s.target.active}, ${serving}/${s.clients.length} clients serving` +
    `${s.haproxy.address ? `, HAProxy ${s.haproxy.address} backend ${s.haproxy.backend}` : ''}`);
  const cgroup = s.clients.filter((c) => clientMemory(c)?.source === 'cgroup');
  if (cgroup.length) {
    const byReason = new Map<string, string[]>();
    for (const c of cgroup) byReason.set(noInstanceMemory(c), [...(byReason.get(noInstanceMemory(c)) ?? []), c.client]);
    lines.push(`(cg): the unit's cgroup memory (MemoryCurrent=, wrapper and page cache included), where the wrapper reports no instance memory: ${[...byReason].map(([why, clients]) => `${clients.join(', ')}: ${why}`).join('; ')}`);
  }
  for (const u of [...s.servers, ...s.clients].filter((x) => x.startLimitHit)) {
    lines.push(`${u.unit}: ${startLimitHint(u.unit, u.startLimitHit!.limit)}`);
  }
  if (s.haproxy.error) lines.push(`HAProxy: ${s.haproxy.error}`);
  for (const h of s.unreachableHosts ?? []) lines.push(`host ${h.host} unreachable: ${h.error}`);
  return `${lines.join('\n')}\n`;
}
