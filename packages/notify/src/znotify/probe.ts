// A probe is one configured check, run periodically, with Kubernetes-style thresholds: `failure-threshold`
// consecutive failures turn it failing, `success-threshold` consecutive successes turn it passing again.
//
// Two refinements for Zope (docs/dev/FACTS.md, "Zope and Plone in production"):
// - Busy is not dead. An http check that times out while a fresh TCP connection to the same address is
//   accepted and the child is alive means every worker thread is occupied (a long request on a one-thread
//   instance), not that the instance is broken. That neither counts as a failure nor flips the state, until
//   `watchdog.hang-timeout` has passed since the first such timeout: then the probe fails as hung.
// - Grace for liveness. A database outage that restarts every ZEO client at once helps nobody (they reconnect
//   by themselves within ~2 s of the server's return). A failing probe still counts as live for `grace`
//   (watchdog.database-grace for zeo/postgresql checks), measured from its first failed run.
//
// The state is a plain object updated by a pure function of (result, now): tests drive time explicitly.
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckSpec } from './config.js';
import type { CheckResult } from './checks.js';
import { formatDuration } from './duration.js';
import { redact } from './log.js';

export interface ProbeState {
  readonly spec: CheckSpec;
  /** pending: no result yet. */
  status: 'pending' | 'pass' | 'fail';
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  /** Start of the current streak of failed runs (not counting busy runs before a hang); kept until the probe passes again. */
  failingSince?: number;
  /** First run of the current streak of busy runs (timeout while TCP connects and the child lives). */
  busySince?: number;
  /** Why the probe fails, when it does: `root: 500 (expected 200) in 12 ms`. */
  reason?: string;
  last?: CheckResult;
  lastAt?: number;
  runs: { pass: number; fail: number; busy: number };
}

export function newProbeState(spec: CheckSpec): ProbeState {
  return { spec, status: 'pending', consecutiveSuccesses: 0, consecutiveFailures: 0, runs: { pass: 0, fail: 0, busy: 0 } };
}

export interface UpdateContext {
  now: number;
  childAlive: boolean;
  hangTimeoutMs: number;
}

export type Transition = 'pass' | 'fail' | undefined;

/**
 * Applies one result. Returns the new status when it changed. The first result of a pending probe decides
 * its status at once (no threshold), so a probe is never "unknown" longer than one run.
 */
export function applyResult(p: ProbeState, r: CheckResult, ctx: UpdateContext): Transition {
  const before = p.status;
  p.last = r;
  p.lastAt = ctx.now;
  if (r.ok) {
    p.runs.pass++;
    p.consecutiveSuccesses++;
    p.consecutiveFailures = 0;
    p.busySince = undefined;
    if (p.status === 'pending' || (p.status === 'fail' && p.consecutiveSuccesses >= p.spec.successThreshold)) {
      p.status = 'pass';
      p.reason = undefined;
    }
    // Only a probe that passes again leaves its failing streak. A failing one still short of success-threshold
    // keeps failingSince, so it stays within its grace: clearing it on the first success made isLive() false
    // the moment the database came back, and the watchdog restarted every instance at once.
    if (p.status !== 'fail') p.failingSince = undefined;
  } else if (p.spec.type === 'http' && r.timedOut && r.tcpConnects && ctx.childAlive) {
    // A busy run tells nothing about health, so it leaves both streaks as they are: fail, busy, fail, busy,
    // fail is three failures in a row. Resetting the failure streak instead would keep an instance that
    // alternates errors and timeouts in rotation for ever (each failure also resets busySince, so it never
    // reaches hang-timeout either). Kubernetes and HAProxy count such a timeout as a failure outright.
    p.runs.busy++;
    p.busySince ??= ctx.now - r.durationMs;
    const busyFor = ctx.now - p.busySince;
    if (busyFor >= ctx.hangTimeoutMs) {
      p.consecutiveSuccesses = 0;
      p.failingSince ??= p.busySince;
      p.status = 'fail';
      p.reason = `${p.spec.name}: hung, ${p.spec.path} unanswered for ${formatDuration(busyFor)} while TCP connects`;
    }
    // Busy before any answer leaves the probe pending: readiness and liveness count pending as passing,
    // a startup gate does not.
  } else {
    p.runs.fail++;
    p.consecutiveFailures++;
    p.consecutiveSuccesses = 0;
    p.busySince = undefined;
    p.failingSince ??= ctx.now - r.durationMs;
    if (p.status === 'fail' || p.status === 'pending' || p.consecutiveFailures >= p.spec.failureThreshold) {
      p.status = 'fail';
      p.reason = `${p.spec.name}: ${r.detail}`;
    }
  }
  if (p.status !== before) {
    return p.status === 'pending' ? undefined : p.status;
  }
  return undefined;
}

/** Passing for readiness (and for startup once it has passed): pending and busy-but-not-hung count. */
export function isPassing(p: ProbeState): boolean {
  return p.status !== 'fail';
}

/** Live: passing, or failing for less than its grace. */
export function isLive(p: ProbeState, now: number): boolean {
  if (p.status !== 'fail') return true;
  return p.failingSince !== undefined && p.spec.graceMs > 0 && now - p.failingSince < p.spec.graceMs;
}

export function isBusy(p: ProbeState): boolean {
  return p.busySince !== undefined && p.status !== 'fail';
}

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: async (ms, signal) => { await sleep(ms, undefined, { signal }).catch(() => {}); },
};

export interface ProbeRunnerOptions {
  state: ProbeState;
  run(signal: AbortSignal): Promise<CheckResult>;
  context(): Omit<UpdateContext, 'now'>;
  onResult(state: ProbeState, result: CheckResult, transition: Transition): void;
  clock?: Clock;
  /** Stop after the probe has passed (startup-only probes). */
  untilPass?: boolean;
}

/**
 * Runs a probe every `interval` (start to start; a run longer than the interval is followed at once by the
 * next) until the signal aborts. The first run starts immediately.
 */
export async function runProbe(o: ProbeRunnerOptions, signal: AbortSignal): Promise<void> {
  const clock = o.clock ?? realClock;
  while (!signal.aborted) {
    const t0 = clock.now();
    let r: CheckResult;
    try {
      r = await o.run(signal);
    } catch (err) {
      // A check that throws (e.g. http.request's ERR_UNESCAPED_CHARACTERS) is a failed run: letting it end the
      // loop would leave the probe pending, which counts as passing for ever.
      r = { ok: false, timedOut: false, detail: redact(`check threw ${describeThrown(err)}`), durationMs: clock.now() - t0 };
    }
    if (signal.aborted) return;
    const tr = applyResult(o.state, r, { ...o.context(), now: clock.now() });
    o.onResult(o.state, r, tr);
    if (o.untilPass && o.state.status === 'pass') return;
    const wait = o.state.spec.intervalMs - (clock.now() - t0);
    if (wait > 0) await clock.sleep(wait, signal);
  }
}

/** `ERR_X: message` of anything thrown, on one line. */
function describeThrown(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return (typeof e?.code === 'string' ? `${e.code}: ${message}` : message).replace(/\s+/g, ' ');
}
