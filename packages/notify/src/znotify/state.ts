// The wrapper's view of the service, and the three ways it is told to the outside: HAProxy's agent-check
// line, the JSON of GET /health, and Prometheus text for GET /metrics. Pure: everything is derived from the
// fields below and an explicit `now`.
import type { Role } from './config.js';
import { isBusy, isLive, isPassing, type ProbeState } from './probe.js';

export type Phase = 'starting' | 'running' | 'stopping' | 'failed';

export interface WarmupProgress {
  done: number;
  total: number;
  /** Last answer, for STATUS= and /health: "/Plone 200 in 4.1 s". */
  last?: string;
}

export class ServiceState {
  phase: Phase = 'starting';
  warmup: WarmupProgress;
  readonly probes: ProbeState[] = [];
  childPid: number | undefined;
  childAlive = false;
  /** Set when liveness was lost for good (a watchdog-driven kill is under way). */
  livenessLost: string | undefined;
  /** Why the start failed, while the wrapper is on its way out. */
  failure: string | undefined;
  readonly startedAt: number;
  readyAt: number | undefined;
  readonly counters = { agentRequests: 0, httpRequests: 0, watchdogPings: 0 };

  constructor(readonly name: string, warmupTotal: number, now: number, readonly wallStart = Date.now()) {
    this.warmup = { done: 0, total: warmupTotal };
    this.startedAt = now;
  }

  /** Probes that take part in `role` now: before READY only startup probes run, after READY the others. */
  probesFor(role: Role): ProbeState[] {
    return this.probes.filter((p) => p.spec.roles.includes(role));
  }

  ready(): boolean {
    return this.phase === 'running' && this.childAlive && this.livenessLost === undefined
      && this.probesFor('readiness').every(isPassing);
  }

  /** Why not ready, in a few words (the agent's `#reason`, /health's `reason`). */
  notReadyReason(): string | undefined {
    switch (this.phase) {
      case 'starting': return `warming up ${this.warmup.done}/${this.warmup.total}`;
      case 'stopping': return 'stopping';
      case 'failed': return this.failure ?? 'start failed';
      case 'running':
        if (!this.childAlive) return 'instance exited';
        if (this.livenessLost) return this.livenessLost;
        return this.probesFor('readiness').find((p) => !isPassing(p))?.reason;
    }
  }

  /** Live: the child runs and every liveness probe passes (or fails within its grace). */
  live(now: number): boolean {
    if (!this.childAlive || this.livenessLost !== undefined) return false;
    if (this.phase !== 'running' && this.phase !== 'stopping') return this.phase === 'starting';
    return this.probesFor('liveness').every((p) => isLive(p, now));
  }

  notLiveReason(now: number): string | undefined {
    if (!this.childAlive) return 'instance exited';
    if (this.livenessLost) return this.livenessLost;
    return this.probesFor('liveness').find((p) => !isLive(p, now))?.reason;
  }

  busy(): boolean {
    return this.probes.some(isBusy);
  }

  /**
   * One line for HAProxy's agent-check (configuration.txt, "agent-check"): `up ready 100%` when ready (`ready`
   * also lifts a drain or maint an earlier agent reply left behind, `up` lifts a down), `down #reason`
   * otherwise, `drain` while stopping (new sessions stop, running ones finish).
   */
  agentReply(): string {
    if (this.phase === 'stopping') return 'drain\n';
    if (this.ready()) return 'up ready 100%\n';
    return `down #${sanitize(this.notReadyReason() ?? 'not ready')}\n`;
  }

  /** GET /health body (HTTP 200 when ready, else 503). */
  toJSON(now: number): Record<string, unknown> {
    const reason = this.ready() ? undefined : this.notReadyReason();
    return {
      name: this.name,
      state: this.phase,
      ready: this.ready(),
      live: this.live(now),
      busy: this.busy(),
      ...(reason ? { reason } : {}),
      warmup: { ...this.warmup },
      pid: this.childPid ?? null,
      uptimeSeconds: round((now - this.startedAt) / 1000),
      checks: this.probes.map((p) => ({
        name: p.spec.name,
        type: p.spec.type,
        roles: p.spec.roles,
        status: p.status,
        busy: isBusy(p),
        live: isLive(p, now),
        ...(p.reason ? { reason: p.reason } : {}),
        ...(p.last ? { last: p.last.detail, lastDurationMs: round(p.last.durationMs), lastAgoSeconds: round((now - (p.lastAt ?? now)) / 1000) } : {}),
        ...(p.failingSince !== undefined ? { failingForSeconds: round((now - p.failingSince) / 1000) } : {}),
        ...(p.busySince !== undefined ? { busyForSeconds: round((now - p.busySince) / 1000) } : {}),
      })),
    };
  }

  /** GET /metrics: Prometheus text exposition format 0.0.4. */
  metrics(now: number, mem: NodeJS.MemoryUsage = process.memoryUsage()): string {
    const n = `name="${esc(this.name)}"`;
    const out: string[] = [];
    const m = (metric: string, type: string, help: string, samples: Array<[string, number]>) => {
      out.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} ${type}`);
      for (const [labels, v] of samples) out.push(`${metric}{${labels}} ${Number.isFinite(v) ? v : 'NaN'}`);
    };
    m('znotify_up', 'gauge', '1 while the wrapper runs.', [[n, 1]]);
    m('znotify_ready', 'gauge', '1 when the instance is ready for traffic.', [[n, this.ready() ? 1 : 0]]);
    m('znotify_live', 'gauge', '1 while liveness holds (the watchdog is fed).', [[n, this.live(now) ? 1 : 0]]);
    m('znotify_busy', 'gauge', '1 while an http check times out but TCP connects (busy, not hung).', [[n, this.busy() ? 1 : 0]]);
    m('znotify_phase', 'gauge', 'The current phase (1 for the current one).',
      (['starting', 'running', 'stopping', 'failed'] as const).map((ph) => [`${n},phase="${ph}"`, this.phase === ph ? 1 : 0]));
    m('znotify_warmup_urls', 'gauge', 'Warm-up URLs that passed, and their total.',
      [[`${n},kind="done"`, this.warmup.done], [`${n},kind="total"`, this.warmup.total]]);
    if (this.readyAt !== undefined) m('znotify_startup_seconds', 'gauge', 'Time from start to READY=1.', [[n, round((this.readyAt - this.startedAt) / 1000)]]);
    const cl = (p: ProbeState) => `${n},check="${esc(p.spec.name)}",type="${p.spec.type}"`;
    m('znotify_check_up', 'gauge', '1 when the check passes (pending and busy count as passing).', this.probes.map((p) => [cl(p), isPassing(p) ? 1 : 0]));
    m('znotify_check_duration_seconds', 'gauge', 'Duration of the last run.', this.probes.filter((p) => p.last).map((p) => [cl(p), round(p.last!.durationMs / 1000, 6)]));
    m('znotify_check_runs_total', 'counter', 'Runs by outcome.', this.probes.flatMap((p) =>
      (['pass', 'fail', 'busy'] as const).map((o) => [`${cl(p)},result="${o}"`, p.runs[o]] as [string, number])));
    m('znotify_agent_requests_total', 'counter', 'Agent-check connections answered.', [[n, this.counters.agentRequests]]);
    m('znotify_http_requests_total', 'counter', 'Health HTTP requests answered.', [[n, this.counters.httpRequests]]);
    m('znotify_watchdog_pings_total', 'counter', 'WATCHDOG=1 sent.', [[n, this.counters.watchdogPings]]);
    m('znotify_child_pid', 'gauge', 'PID of the supervised instance (0 when none).', [[n, this.childPid ?? 0]]);
    m('process_resident_memory_bytes', 'gauge', 'Resident memory of the wrapper.', [[n, mem.rss]]);
    m('process_start_time_seconds', 'gauge', 'Start of the wrapper, seconds since the epoch.', [[n, Math.floor(this.wallStart / 1000)]]);
    return out.join('\n') + '\n';
  }
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Agent replies are one line; HAProxy shows the text after `#` as the reason. */
function sanitize(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

function esc(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
