// Waiting for the databases before the instance starts. A Zope started while its ZEO server (or its PostgreSQL)
// does not answer blocks in ClientStorage's wait for about 30 s and exits 1, so starting it early only buys a
// restart loop. The wrapper therefore runs the startup-role checks of type zeo and postgresql first, until all
// pass, reporting in STATUS= what it waits for, and spawns the instance only then. The other startup checks (and
// the warm-up) need the instance and run after it started, as before.
//
// Bounded by warmup.budget: past it the start fails with the last answer of the database that did not pass. A
// stop (SIGTERM) during the wait ends it at once; there is no instance to stop yet.
import { formatAddress } from './address.js';
import { runCheck, type CheckDeps } from './checks.js';
import type { CheckSpec } from './config.js';
import { formatDuration, msToUsec } from './duration.js';
import type { Logger } from './log.js';
import type { Notifier } from './notifier.js';
import type { Clock } from './probe.js';

/** The checks the instance is not started without. */
export function databaseGate(checks: readonly CheckSpec[]): CheckSpec[] {
  return checks.filter((c) => (c.type === 'zeo' || c.type === 'postgresql') && c.roles.includes('startup'));
}

export type DatabaseWait = { ok: true; waitedMs: number } | { ok: false; reason: string; stopped: boolean };

export interface DatabaseWaitInput {
  checks: readonly CheckSpec[];
  deps: CheckDeps;
  budgetMs: number;
  notifier: Notifier;
  log: Logger;
  clock: Clock;
  /** What HAProxy and /health are told meanwhile (the agent's `down #reason`). */
  onWaiting: (reason: string | undefined) => void;
}

/** Slack on top of one round (check timeout + pause) in EXTEND_TIMEOUT_USEC=, so the next message is always in time. */
const EXTEND_SLACK_MS = 10_000;

/** Runs `checks` in rounds until every one passes; `signal` is the stop. */
export async function waitForDatabases(w: DatabaseWaitInput, signal: AbortSignal): Promise<DatabaseWait> {
  const t0 = w.clock.now();
  let announced = false;
  for (let round = 1; ; round++) {
    const failing: Array<{ spec: CheckSpec; detail: string }> = [];
    for (const spec of w.checks) {
      const r = await runCheck(spec, w.deps, signal);
      if (!r.ok) failing.push({ spec, detail: r.detail });
    }
    if (signal.aborted) return { ok: false, reason: 'stopped while waiting for the database', stopped: true };
    const waitedMs = w.clock.now() - t0;
    if (failing.length === 0) {
      if (announced) w.log.info({ waitedMs: Math.round(waitedMs) }, `database answers after ${formatDuration(waitedMs)}: starting the instance`);
      w.onWaiting(undefined);
      return { ok: true, waitedMs };
    }
    const first = failing[0]!;
    const what = `${first.spec.name} (${describeAddress(first.spec)})`;
    if (waitedMs >= w.budgetMs) {
      return { ok: false, reason: `${what} did not answer within the warm-up budget of ${formatDuration(w.budgetMs)}: ${first.detail}`, stopped: false };
    }
    const pauseMs = Math.min(first.spec.intervalMs, Math.max(1, w.budgetMs - waitedMs));
    const text = `waiting for ${what} before starting the instance: ${first.detail}`;
    if (!announced) w.log.warn({ check: first.spec.name, result: first.detail }, text);
    announced = true;
    w.onWaiting(`waiting for ${first.spec.name}`);
    w.notifier.status(text, [{ type: 'extend-timeout', usec: msToUsec(pauseMs + maxTimeout(w.checks) + EXTEND_SLACK_MS) }]);
    await w.clock.sleep(pauseMs, signal);
  }
}

function maxTimeout(checks: readonly CheckSpec[]): number {
  return checks.reduce((m, c) => Math.max(m, c.timeoutMs), 0) * checks.length;
}

function describeAddress(spec: CheckSpec): string {
  return 'address' in spec && spec.address ? formatAddress(spec.address) : spec.type;
}
