// The wrapper's view of the service, and the three ways it is told to the outside: HAProxy's agent-check
// line, the JSON of GET /health, and Prometheus text for GET /metrics. The views are pure: everything is
// derived from the fields below and an explicit `now`.
import type { Role } from './config.js';
import { formatDuration } from './duration.js';
import { redact } from './log.js';
import { isBusy, isLive, isPassing, type ProbeState } from './probe.js';

/**
 * Where the wrapper is in its life, as /health's `phase` tells it to a program (zstack):
 * starting (before the instance runs: waiting for its databases), warming (the instance runs; warm-up URLs and
 * startup checks), running (READY=1 sent; `ready` says whether it takes traffic now), draining (the stop began
 * and waits for the requests in flight: HAProxy's sessions, or the fixed stop.drain), stopping (the stop signal,
 * or a stop without a drain), failed (the start failed).
 */
export type Phase = 'starting' | 'warming' | 'running' | 'draining' | 'stopping' | 'failed';

/** The coarser state /health, /health/ready, /health/live and /metrics report as `state`: warming counts as
 *  starting, draining as stopping. */
export type StateName = 'starting' | 'running' | 'stopping' | 'failed';

const STATE_OF: Readonly<Record<Phase, StateName>> = {
  starting: 'starting', warming: 'starting', running: 'running', draining: 'stopping', stopping: 'stopping', failed: 'failed',
};

export interface WarmupProgress {
  done: number;
  total: number;
  /** Last answer, for STATUS= and /health: "/Plone 200 in 4.1 s". */
  last?: string;
}

/**
 * Changed only through its transition methods below, each named for the event that causes it, so that every
 * writer (supervisor, health listeners) is visible by name and the phase moves one way:
 * starting -> warming -> running -> draining -> stopping (each step but the first may be skipped), or
 * starting/warming -> failed.
 */
export class ServiceState {
  private _phase: Phase = 'starting';
  private _waitingFor: string | undefined;
  private _warmup: WarmupProgress;
  private readonly _probes: ProbeState[] = [];
  private _childPid: number | undefined;
  private _childAlive = false;
  private _livenessLost: string | undefined;
  private _frozen: string | undefined;
  private _failure: string | undefined;
  private _readyAt: number | undefined;
  private _answered = false;
  private readonly _counters = { agentRequests: 0, httpRequests: 0, watchdogPings: 0 };
  private _logOutput: { readonly dropped: number } | undefined;
  private readonly _connections = { agent: { shed: 0, refused: 0 }, http: { shed: 0, refused: 0 } };
  readonly startedAt: number;

  constructor(readonly name: string, warmupTotal: number, now: number, readonly wallStart = Date.now()) {
    this._warmup = { done: 0, total: warmupTotal };
    this.startedAt = now;
  }

  get phase(): Phase { return this._phase; }
  get stateName(): StateName { return STATE_OF[this._phase]; }
  get warmup(): Readonly<WarmupProgress> { return this._warmup; }
  get probes(): readonly ProbeState[] { return this._probes; }
  get childPid(): number | undefined { return this._childPid; }
  get childAlive(): boolean { return this._childAlive; }
  /** Set when liveness was lost for good (a watchdog-driven kill is under way). */
  get livenessLost(): string | undefined { return this._livenessLost; }
  /** Why the instance cannot run (stopped, traced, zombie, frozen cgroup: frozen.ts), while that lasts. */
  get frozen(): string | undefined { return this._frozen; }
  /** Why the start failed (or the wrapper failed), while the wrapper is on its way out. */
  get failure(): string | undefined { return this._failure; }
  get readyAt(): number | undefined { return this._readyAt; }
  /** The instance has answered HTTP once (any status), or reported READY: its signal handlers exist by then. */
  get answered(): boolean { return this._answered; }
  get counters(): Readonly<{ agentRequests: number; httpRequests: number; watchdogPings: number }> { return this._counters; }

  /** The probes the wrapper runs, registered once before they start. */
  addProbes(...probes: ProbeState[]): void { this._probes.push(...probes); }
  childStarted(pid: number): void { this._childPid = pid; this._childAlive = true; }
  childExited(): void { this._childAlive = false; }
  /** The startup gate began: warm-up URLs, then startup checks. */
  warmingUp(): void { if (this._phase === 'starting') this._phase = 'warming'; }
  warmupProgressed(progress: WarmupProgress): void { this._warmup = { ...progress }; }
  /** Before the instance starts: what it waits for ("waiting for zeo"), or undefined once that is over. */
  waitingBeforeStart(reason: string | undefined): void { this._waitingFor = reason; }
  instanceAnswered(): void { this._answered = true; }
  /** READY=1 went out. */
  becameReady(now: number): void {
    this._answered = true;
    this._phase = 'running';
    this._readyAt = now;
  }
  /** The instance stopped being able to run, or could again (undefined): neither ready nor live meanwhile. */
  frozenChanged(reason: string | undefined): void { this._frozen = reason; }
  /** Liveness is gone for good: from now on neither ready nor live. */
  lostLiveness(reason: string): void { this._livenessLost = reason; }
  /** The start failed: the phase says so and the reason is kept for the agent and /health. */
  startFailed(reason: string): void {
    this._failure = reason;
    this._phase = 'failed';
  }
  /** The wrapper itself failed: it exits 1 whatever the instance does; the phase stays as the stop sets it. */
  wrapperFailed(reason: string): void { this._failure = reason; }
  /** The stop sequence began, with a drain first or without (a failed start stays failed). */
  beganStopping(draining = false): void { if (this._phase !== 'failed') this._phase = draining ? 'draining' : 'stopping'; }
  /** The drain is over (nothing in flight, its bound, or cut short): the stop signal is next. */
  drainEnded(): void { if (this._phase === 'draining') this._phase = 'stopping'; }
  /** The log output whose dropped lines /metrics reports (main.ts attaches the wrapper's). */
  attachLogOutput(output: { readonly dropped: number }): void { this._logOutput = output; }
  /** A health listener closed an idle connection to make room (shed), or refused one at its cap. */
  countHealthConnection(listener: 'agent' | 'http', what: 'shed' | 'refused'): void { this._connections[listener][what]++; }
  countAgentRequest(): void { this._counters.agentRequests++; }
  countHttpRequest(): void { this._counters.httpRequests++; }
  countWatchdogPing(): void { this._counters.watchdogPings++; }

  /** STATUS= text while running: ready, ready but busy, or why not. */
  runningStatus(now: number): string {
    if (this._livenessLost) return `liveness lost: ${this._livenessLost}`;
    if (this.ready()) {
      const busy = this._probes.find((p) => p.busySince !== undefined && p.status !== 'fail');
      return busy ? `ready, busy: ${busy.spec.name} unanswered for ${formatDuration(now - busy.busySince!)} while TCP connects` : 'ready';
    }
    return `not ready: ${this.notReadyReason() ?? 'unknown'}`;
  }

  /** Probes that take part in `role` now: before READY only startup probes run, after READY the others. */
  probesFor(role: Role): ProbeState[] {
    return this.probes.filter((p) => p.spec.roles.includes(role));
  }

  ready(): boolean {
    return this.phase === 'running' && this.childAlive && this.livenessLost === undefined && this._frozen === undefined
      && this.probesFor('readiness').every(isPassing);
  }

  /** Why not ready, in a few words (the agent's `#reason`, /health's `reason`). */
  notReadyReason(): string | undefined {
    switch (this.phase) {
      case 'starting':
      case 'warming': return this._waitingFor ?? `warming up ${this.warmup.done}/${this.warmup.total}`;
      case 'draining':
      case 'stopping': return 'stopping';
      case 'failed': return this.failure ?? 'start failed';
      case 'running':
        if (!this.childAlive) return 'instance exited';
        if (this.livenessLost) return this.livenessLost;
        if (this._frozen) return this._frozen;
        return this.probesFor('readiness').find((p) => !isPassing(p))?.reason;
    }
  }

  /** Live: the child runs and every liveness probe passes (or fails within its grace). */
  live(now: number): boolean {
    if (!this.childAlive || this.livenessLost !== undefined || this._frozen !== undefined) return false;
    if (this.stateName !== 'running' && this.stateName !== 'stopping') return this.stateName === 'starting';
    return this.probesFor('liveness').every((p) => isLive(p, now));
  }

  notLiveReason(now: number): string | undefined {
    if (!this.childAlive) return 'instance exited';
    if (this.livenessLost) return this.livenessLost;
    if (this._frozen) return this._frozen;
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
    if (this.stateName === 'stopping') return 'drain\n';
    if (this.ready()) return 'up ready 100%\n';
    return `down #${sanitize(this.notReadyReason() ?? 'not ready')}\n`;
  }

  /** GET /health body (HTTP 200 when ready, else 503). */
  toJSON(now: number): Record<string, unknown> {
    const reason = this.ready() ? undefined : this.notReadyReason();
    return {
      name: this.name,
      state: this.stateName,
      phase: this.phase,
      ready: this.ready(),
      live: this.live(now),
      busy: this.busy(),
      ...(reason ? { reason } : {}),
      warmup: { ...this.warmup },
      pid: this.childPid ?? null,
      uptimeSeconds: (now - this.startedAt) / 1000,
      checks: this.probes.map((p) => ({
        name: p.spec.name,
        type: p.spec.type,
        roles: p.spec.roles,
        status: p.status,
        busy: isBusy(p),
        live: isLive(p, now),
        ...(p.reason ? { reason: p.reason } : {}),
        ...(p.last ? { last: p.last.detail, lastDurationMs: p.last.durationMs, lastAgoSeconds: (now - (p.lastAt ?? now)) / 1000 } : {}),
        ...(p.failingSince !== undefined ? { failingForSeconds: (now - p.failingSince) / 1000 } : {}),
        ...(p.busySince !== undefined ? { busyForSeconds: (now - p.busySince) / 1000 } : {}),
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
      (['starting', 'running', 'stopping', 'failed'] as const).map((ph) => [`${n},phase="${ph}"`, this.stateName === ph ? 1 : 0]));
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
    m('znotify_health_connections_closed_total', 'counter', 'Health connections closed by the wrapper under a flood: idle ones shed to make room, new ones refused at the cap.',
      (['agent', 'http'] as const).flatMap((l) => (['shed', 'refused'] as const).map((w) => [`${n},listener="${l}",reason="${w}"`, this._connections[l][w]] as [string, number])));
    m('znotify_log_lines_dropped_total', 'counter', 'Log lines dropped because stderr (the journal) did not take them in time.', [[n, this._logOutput?.dropped ?? 0]]);
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
  // Redacted before it is cut to length: a cut can leave a password without the @ that marks it as one.
  return redact(s).replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

/** A label value: redacted like everything else that leaves the wrapper, then escaped for the exposition format. */
function esc(s: string): string {
  return redact(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
