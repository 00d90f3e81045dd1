// The liveness guard: feeds systemd's watchdog while liveness holds, and acts at once when it is lost.
//
// WATCHDOG=1 goes out at half WATCHDOG_USEC while the instance runs and every liveness probe passes (or fails
// within its grace). When liveness is lost: SIGUSR1 to the instance (Zope dumps its thread stacks), a short
// pause for the dump to reach the journal, then WATCHDOG=trigger, so systemd applies the unit's watchdog policy
// now (sd_notify(3): "the same behaviour as if WatchdogSec= is enabled and the service did not send
// WATCHDOG=1 in time") instead of after a silent WatchdogSec.
import { setTimeout as sleep } from 'node:timers/promises';
import { WatchdogPinger, type WatchdogInfo } from '../index.js';
import type { Logger } from './log.js';
import type { Notifier } from './notifier.js';
import type { ServiceState } from './state.js';

/** Pause between SIGUSR1 (stack dump) and what follows it, at most. */
export const DUMP_PAUSE_MS = 2000;

/** The part of the instance the guard needs. */
export interface GuardedChild {
  readonly pid: number;
  readonly alive: boolean;
  signal(sig: NodeJS.Signals): boolean;
}

/** SIGUSR1 so the instance logs its thread stacks, then a pause of `pauseMs` for the dump to be written. */
export async function dumpStacks(child: GuardedChild, log: Pick<Logger, 'warn'>, pauseMs: number): Promise<void> {
  if (!child.signal('SIGUSR1')) return;
  log.warn({ childPid: child.pid }, 'sent SIGUSR1 so the instance logs its thread stacks');
  await sleep(pauseMs);
}

export interface LivenessGuardOptions {
  /** From WATCHDOG_USEC; without it the guard does nothing. */
  watchdog: WatchdogInfo | undefined;
  state: ServiceState;
  child: GuardedChild;
  notifier: Pick<Notifier, 'send' | 'status'>;
  log: Pick<Logger, 'error' | 'warn'>;
  /** Ask for a stack dump before the trigger (watchdog.dump-stacks). */
  dumpStacks: boolean;
  now(): number;
}

export class LivenessGuard {
  private pinger: WatchdogPinger | undefined;

  constructor(private readonly o: LivenessGuardOptions) {}

  /** Starts feeding the watchdog (at READY). */
  start(): void {
    const { watchdog, state, notifier, now } = this.o;
    if (!watchdog || this.pinger) return;
    this.pinger = new WatchdogPinger({
      intervalMs: watchdog.intervalMs,
      healthy: () => state.phase === 'running' && state.live(now()),
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
    void this.trigger(watchdog);
  }

  private async trigger(watchdog: WatchdogInfo): Promise<void> {
    const { state, child, notifier, log } = this.o;
    // Never more than half a watchdog interval: the trigger must still come before systemd's own timeout.
    if (this.o.dumpStacks) await dumpStacks(child, log, Math.min(DUMP_PAUSE_MS, watchdog.intervalMs / 2));
    if (state.phase === 'running' && child.alive) notifier.send([{ type: 'watchdog-trigger' }]);
  }
}
