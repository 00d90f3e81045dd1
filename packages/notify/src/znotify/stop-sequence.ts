// The stop sequence, begun by SIGTERM, by a failed start, or by an internal error:
//   STOPPING=1 with a STATUS= and an EXTEND_TIMEOUT_USEC= covering drain + stop timeout + slack;
//   drain (only when the instance was running and the stop asks for it): the agent answers `drain` (through
//   the state's phase) and the Runtime API sets the server to drain; then, with a stats socket, until HAProxy
//   reports no session and no queued request on the server (drain.ts), without one for the whole `stop.drain`;
//   either way at most `stop.drain`, and cut short by the instance's exit or a second SIGTERM;
//   the stop signal to the instance; SIGKILL to its process group after `stop.timeout` if it is still there.
// The drain and stop timers end with the stop, also when the instance exits early: nothing of them holds the
// event loop.
import { setTimeout as sleep } from 'node:timers/promises';
import type { SupervisedChild } from './child.js';
import type { Config } from './config.js';
import { formatDuration, msToUsec } from './duration.js';
import { describeDrain, drainToZero, type ServerSessions } from './drain.js';
import type { ServerStateQueue } from './haproxy.js';
import type { Logger } from './log.js';
import type { Notifier } from './notifier.js';
import type { ServiceState } from './state.js';

/** Slack added to EXTEND_TIMEOUT_USEC= so that the next message always arrives before systemd gives up. */
export const EXTEND_SLACK_MS = 10_000;

export interface StopSequenceOptions {
  stop: Config['stop'];
  child: SupervisedChild;
  state: ServiceState;
  notifier: Pick<Notifier, 'announce' | 'status'>;
  log: Pick<Logger, 'info' | 'warn'>;
  haproxy?: Pick<ServerStateQueue, 'set'>;
  /** The server's sessions in HAProxy (Runtime API), when a stats socket is configured: drain to zero. */
  sessions?: { where: string; socket?: string; read(signal: AbortSignal): Promise<ServerSessions> };
  /** Called first when the stop begins: whatever probes and pings must end. */
  onBegin(): void;
}

export interface StopRequest {
  /** Drain first (default true); a failed start does not. */
  drain?: boolean;
  /** STATUS= text instead of the default "stopping: ...". */
  reason?: string;
}

export class StopSequence {
  private running: Promise<void> | undefined;
  private skipDrain: (() => void) | undefined;

  constructor(private readonly o: StopSequenceOptions) {}

  /** True once a stop has begun. */
  get started(): boolean { return this.running !== undefined; }

  /** Resolves when the stop sequence is over (at once when none began). */
  get finished(): Promise<void> { return this.running ?? Promise.resolve(); }

  /** Begins the stop; asked again while draining (a second SIGTERM), it ends the drain at once. */
  begin(request: StopRequest = {}): void {
    if (this.running) {
      this.skipDrain?.();
      return;
    }
    this.running = this.run(request.drain ?? true, request.reason);
  }

  private async run(drainWanted: boolean, reason?: string): Promise<void> {
    const { stop, state, notifier } = this.o;
    const wasRunning = state.phase === 'running';
    this.o.onBegin();
    const drainMs = wasRunning && drainWanted ? stop.drainMs : 0;
    state.beganStopping(drainMs > 0);
    const budget = drainMs + stop.timeoutMs + EXTEND_SLACK_MS;
    // Draining to zero is not a fixed wait, and says so: `stopping: draining for ...` promises the whole stop.drain.
    const drainText = this.o.sessions && this.o.haproxy
      ? `stopping: waiting until HAProxy reports no session on ${this.o.sessions.where}, at most ${formatDuration(drainMs)}`
      : `stopping: draining for ${formatDuration(drainMs)}`;
    const text = reason ?? (drainMs ? drainText : 'stopping');
    notifier.announce([{ type: 'stopping' }, { type: 'status', text }, { type: 'extend-timeout', usec: msToUsec(budget) }]);
    const timers = new AbortController();
    const wait = (ms: number) => sleep(ms, undefined, { signal: timers.signal }).catch(() => {});
    try {
      if (drainMs) await this.drain(drainMs, wait);
      state.drainEnded();
      await this.signalAndWait(wait);
    } finally {
      timers.abort();
    }
  }

  private async drain(drainMs: number, wait: (ms: number) => Promise<void>): Promise<void> {
    const cut = new AbortController();
    const t0 = performance.now();
    const { sessions, haproxy, log, notifier } = this.o;
    // A fixed drain ended by a second SIGTERM says so: the journal then shows why the stop signal came early.
    let secondTerm = false;
    const saySkipped = (): void => {
      if (secondTerm) log.info({ drain: 'cut', elapsedMs: Math.round(performance.now() - t0) }, `drain cut short by a second SIGTERM after ${formatDuration(performance.now() - t0)}`);
    };
    const cutShort = Promise.race([this.o.child.exited, new Promise<void>((resolve) => { this.skipDrain = () => { secondTerm = true; resolve(); }; })]).then(() => cut.abort());
    if (!sessions || !haproxy) {
      void haproxy?.set('drain');
      await Promise.race([wait(drainMs), cutShort]);
      saySkipped();
      return;
    }
    // The drain must be in effect before counting: after it no new session reaches the server.
    await Promise.race([haproxy.set('drain'), cutShort]);
    const d = await drainToZero({ boundMs: Math.max(0, drainMs - (performance.now() - t0)), signal: cut.signal, sessions: (s) => sessions.read(s) });
    const text = describeDrain(d, sessions.where, sessions.socket);
    if (d.kind === 'zero' || d.kind === 'cut') log.info({ drain: d.kind, elapsedMs: Math.round(d.elapsedMs) }, text);
    else log.warn({ drain: d.kind, elapsedMs: Math.round(d.elapsedMs) }, text);
    if (d.kind === 'zero') notifier.status(`stopping: ${text}`);
    if (d.kind === 'unavailable') {
      await Promise.race([wait(Math.max(0, drainMs - (performance.now() - t0))), cutShort]);
      saySkipped();
    }
  }

  private async signalAndWait(wait: (ms: number) => Promise<void>): Promise<void> {
    const { stop, child, notifier, log } = this.o;
    if (!child.alive) return;
    log.info({ signal: stop.signal, childPid: child.pid, timeoutMs: stop.timeoutMs }, 'sending the stop signal');
    notifier.status(`stopping: sent ${stop.signal}, waiting up to ${formatDuration(stop.timeoutMs)}`);
    child.signal(stop.signal);
    const t = await Promise.race([child.exited.then(() => 'exited' as const), wait(stop.timeoutMs).then(() => 'timeout' as const)]);
    if (t === 'timeout' && child.alive) {
      log.warn({ childPid: child.pid }, `no exit within ${formatDuration(stop.timeoutMs)}: SIGKILL`);
      notifier.status(`stopping: SIGKILL after ${formatDuration(stop.timeoutMs)}`);
      child.killGroup();
    }
  }
}
