// The startup gate: what must hold before READY=1. Every warm-up URL answered as expected, in order (warmup.ts),
// then every startup-role check passed, all within one budget (`warmup.budget`). While it waits, STATUS= tells
// the progress and EXTEND_TIMEOUT_USEC= keeps systemd's start timeout ahead of the next step.
import type { Config } from './config.js';
import type { HttpProber } from './checks.js';
import { msToUsec } from './duration.js';
import type { Logger } from './log.js';
import type { Notifier } from './notifier.js';
import type { Clock, ProbeState } from './probe.js';
import { EXTEND_SLACK_MS } from './stop-sequence.js';
import type { ServiceState } from './state.js';
import { warmUp, warmupStatus, type WarmupEvent } from './warmup.js';

/** While a startup check is awaited: how often its state is looked at, and how often STATUS= is repeated. */
const STARTUP_POLL_MS = 50;
const STARTUP_STATUS_EVERY_MS = 1000;

export type GateOutcome =
  | { ok: true; elapsedMs: number; summary: string }
  /** `silent`: the instance did not answer the warm-up request that failed (timeout, refused): worth a stack dump. */
  | { ok: false; elapsedMs: number; reason: string; silent: boolean };

export interface StartupGateOptions {
  warmup: Config['warmup'];
  /** The instance's own HTTP address, through the wrapper's prober for it. */
  prober: Pick<HttpProber, 'get' | 'unanswered'>;
  /** The startup-role probes, already running. */
  startupProbes: readonly ProbeState[];
  state: ServiceState;
  notifier: Pick<Notifier, 'status' | 'lastStatus'>;
  log: Pick<Logger, 'info' | 'debug'>;
  clock: Clock;
}

/** Runs the gate until it passes, fails, or `signal` aborts (then the outcome does not matter). */
export async function passStartupGate(o: StartupGateOptions, signal: AbortSignal): Promise<GateOutcome> {
  o.state.warmingUp();
  const outcome = await warmUp({
    urls: o.warmup.urls,
    budgetMs: o.warmup.budgetMs,
    intervalMs: o.warmup.intervalMs,
    prober: o.prober,
    clock: o.clock,
    onEvent: (e) => onWarmupEvent(o, e),
  }, signal);
  if (!outcome.ok || o.startupProbes.length === 0) return outcome;
  const failure = await awaitStartupChecks(o, o.clock.now() + Math.max(0, o.warmup.budgetMs - outcome.elapsedMs), signal);
  // A startup check that does not pass is the check's target's doing (a database), not the instance's.
  return failure ? { ok: false, elapsedMs: outcome.elapsedMs, reason: failure, silent: false } : outcome;
}

function onWarmupEvent(o: StartupGateOptions, e: WarmupEvent): void {
  if (e.result?.info?.status !== undefined) o.state.instanceAnswered();
  o.state.warmupProgressed({ done: e.done, total: e.total, last: e.result ? `${e.url.path} ${e.result.detail}` : o.state.warmup.last });
  const text = warmupStatus(e);
  if (e.kind === 'attempt') {
    // Everything until the next message fits in this step: request timeout + pause + slack.
    o.notifier.status(text, [{ type: 'extend-timeout', usec: msToUsec(e.nextStepMs + o.warmup.intervalMs + EXTEND_SLACK_MS) }]);
  } else {
    o.notifier.status(text);
    // A retry after an error is routine (debug: a starting Zope refuses connections hundreds of times); one after a
    // timeout is rare (at most one per request timeout) and says the instance is still working on the request.
    const level = e.kind === 'pass' || e.result?.timedOut ? 'info' : 'debug';
    o.log[level]({ url: e.url.path, host: e.url.host, attempt: e.attempt, result: e.result?.detail }, text);
  }
}

/**
 * Waits until every startup probe has passed; returns why not when `deadline` comes first. The same STATUS=
 * and a fresh EXTEND_TIMEOUT_USEC= go out about once a second, not on every poll.
 */
async function awaitStartupChecks(o: StartupGateOptions, deadline: number, signal: AbortSignal): Promise<string | undefined> {
  const { clock, state, notifier } = o;
  let extendedAt = -Infinity;
  for (;;) {
    const pending = o.startupProbes.find((p) => p.status !== 'pass');
    if (signal.aborted || !pending) return undefined;
    if (clock.now() >= deadline) {
      return `startup check ${pending.spec.name} did not pass within the warm-up budget: ${pending.last?.detail ?? 'no result'}`;
    }
    const waiting = `warm-up ${state.warmup.done}/${state.warmup.total}: waiting for startup check ${pending.spec.name}`;
    if (waiting !== notifier.lastStatus || clock.now() - extendedAt >= STARTUP_STATUS_EVERY_MS) {
      extendedAt = clock.now();
      notifier.status(waiting, [{ type: 'extend-timeout', usec: msToUsec(o.warmup.intervalMs + EXTEND_SLACK_MS + 5000) }]);
    }
    await clock.sleep(Math.min(STARTUP_POLL_MS, Math.max(1, deadline - clock.now())), signal);
  }
}
