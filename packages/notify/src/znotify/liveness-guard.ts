// The liveness guard: feeds systemd's watchdog while liveness holds, and acts at once when it is lost.
//
// WATCHDOG=1 goes out at half WATCHDOG_USEC while the instance runs and every liveness probe passes (or fails
// within its grace), and it is not frozen (frozen.ts, looked at right before every ping). When liveness is
// lost: the stack dump (below), then WATCHDOG=trigger, so systemd applies the unit's watchdog policy now
// (sd_notify(3): "the same behaviour as if WatchdogSec= is enabled and the service did not send WATCHDOG=1 in
// time") instead of after a silent WatchdogSec. The wrapper then waits (a few seconds at most) for systemd's
// WatchdogSignal= before it exits, so that the unit ends as a watchdog failure (Restart=on-watchdog works).
//
// The stack dump works on an unmodified Zope 5, which has no handler of its own: the wrapper started it with
// PYTHONFAULTHANDLER=1 (stack-dump.ts), so SIGABRT makes Python write every thread's traceback to stderr (the
// journal) from C, even in a deadlock, and abort. A stopped process gets SIGCONT with it, so that it can.
import { setTimeout as sleep } from 'node:timers/promises';
import { WatchdogPinger, type WatchdogInfo } from '../index.js';
import type { SupervisedChild } from './child.js';
import type { Logger } from './log.js';
import type { Notifier } from './notifier.js';
import type { ServiceState } from './state.js';

/** How long the dump may take before what follows it (the instance's exit ends the wait earlier). */
export const DUMP_PAUSE_MS = 2000;
/** How long the wrapper waits for systemd's WatchdogSignal= after WATCHDOG=trigger before it exits anyway. */
const WATCHDOG_SIGNAL_WAIT_MS = 5000;

/**
 * SIGABRT (+ SIGCONT, for a stopped process) so that faulthandler writes every thread's stack and the instance
 * aborts; waits for its exit, at most `pauseMs`. Used right before a kill: a watchdog-driven one, or a failed start.
 */
export async function dumpStacksBeforeKill(child: SupervisedChild, log: Pick<Logger, 'warn'>, pauseMs: number): Promise<void> {
  if (!child.signal('SIGABRT')) return;
  child.signal('SIGCONT');
  log.warn({ childPid: child.pid }, 'sent SIGABRT: the instance writes every thread\'s stack (faulthandler, PYTHONFAULTHANDLER=1) and aborts');
  const timer = new AbortController();
  await Promise.race([child.exited, sleep(pauseMs, undefined, { signal: timer.signal }).catch(() => {})]);
  timer.abort();
}

/**
 * systemd's WatchdogSignal= (default SIGABRT) reached the wrapper: the instance gets it too (KillMode=mixed or
 * process would not deliver it), with SIGCONT; what is left of its group gets SIGKILL after DUMP_PAUSE_MS.
 */
export function passWatchdogSignal(child: SupervisedChild, log: Pick<Logger, 'warn'>): void {
  log.warn({ childPid: child.pid }, 'SIGABRT (watchdog signal?): passing it on');
  if (!child.signal('SIGABRT')) return;
  child.signal('SIGCONT');
  setTimeout(() => child.killGroup(), DUMP_PAUSE_MS).unref();
}

export interface LivenessGuardOptions {
  /** From WATCHDOG_USEC; without it the guard does nothing. */
  watchdog: WatchdogInfo | undefined;
  state: ServiceState;
  child: SupervisedChild;
  notifier: Pick<Notifier, 'send' | 'status'>;
  log: Pick<Logger, 'error' | 'warn'>;
  /** Ask for a stack dump before the trigger (watchdog.dump-stacks). */
  dumpStacks: boolean;
  now(): number;
  /** Called right before each ping decision: refreshes what the state knows about a frozen instance. */
  look?(): void;
}

export class LivenessGuard {
  private pinger: WatchdogPinger | undefined;
  private triggering: Promise<boolean> | undefined;
  private signalArrived: () => void = () => {};
  private readonly watchdogSignal = new Promise<void>((resolve) => { this.signalArrived = resolve; });

  constructor(private readonly o: LivenessGuardOptions) {}

  /** Starts feeding the watchdog (at READY). */
  start(): void {
    const { watchdog, state, notifier, now } = this.o;
    if (!watchdog || this.pinger) return;
    this.pinger = new WatchdogPinger({
      intervalMs: watchdog.intervalMs,
      healthy: () => { this.o.look?.(); return state.phase === 'running' && state.live(now()); },
      send: () => notifier.send([{ type: 'watchdog' }]),
      onPing: () => state.countWatchdogPing(),
      onSkip: () => this.check(),
      ref: false,
    });
    this.pinger.start();
  }

  /** Stops feeding the watchdog for good. */
  stop(): void {
    this.pinger?.stop();
  }

  /**
   * Looks at liveness now (after every check result, and when a ping is skipped). The first time it is lost
   * while running: no more pings, STATUS= says why, then the stack dump and WATCHDOG=trigger.
   */
  check(): void {
    const { watchdog, state, child, notifier, log, now } = this.o;
    if (!watchdog || state.phase !== 'running' || state.livenessLost !== undefined || !child.alive) return;
    if (state.live(now())) return;
    const reason = state.notLiveReason(now()) ?? 'liveness lost';
    state.lostLiveness(reason);
    this.stop();
    log.error({ reason, dumpStacks: this.o.dumpStacks }, 'liveness lost: asking systemd to apply the watchdog policy');
    notifier.status(`liveness lost: ${reason}`);
    this.triggering = this.trigger(watchdog);
  }

  /** systemd's watchdog signal reached the wrapper (signals.ts). */
  noteWatchdogSignal(): void { this.signalArrived(); }

  /**
   * Resolves when the wrapper may exit: at once when no trigger is under way; otherwise once the trigger went
   * out and systemd's watchdog signal arrived (at most WATCHDOG_SIGNAL_WAIT_MS later), so that systemd sees the
   * watchdog, not merely an instance that died of SIGABRT.
   */
  async settled(): Promise<void> {
    if (!this.triggering || !(await this.triggering)) return;
    const timer = new AbortController();
    await Promise.race([this.watchdogSignal, sleep(WATCHDOG_SIGNAL_WAIT_MS, undefined, { signal: timer.signal }).catch(() => {})]);
    timer.abort();
  }

  private async trigger(watchdog: WatchdogInfo): Promise<boolean> {
    const { state, child, notifier, log } = this.o;
    // Never more than half a watchdog interval: the trigger must still come before systemd's own timeout.
    if (this.o.dumpStacks) await dumpStacksBeforeKill(child, log, Math.min(DUMP_PAUSE_MS, watchdog.intervalMs / 2));
    // Also when the dump ended the instance: the trigger is what makes systemd count a watchdog failure.
    if (state.phase !== 'running') return false;
    notifier.send([{ type: 'watchdog-trigger' }]);
    return true;
  }
}
