// How long each step of a generated service may take, in one place: the start and stop timeouts of ZEO and the
// clients (TimeoutStartSec=, TimeoutStopSec=), and the start limit sized from them (StartLimitIntervalSec=,
// StartLimitBurst=). render.ts writes them into the units, parse.ts warns about a restart.interval too short for
// them, and docs/unitgen.md ("Restarts and the start limit") explains the numbers.
//
// systemd's start limit (systemd.unit(5)): a unit started more than StartLimitBurst= times within
// StartLimitIntervalSec= is not started again. Every start counts, the manual ones and those Restart= makes;
// the span begins at the first start counted and is counted afresh once it has passed; `systemctl reset-failed`
// forgets it. A Restart= that runs into it leaves the unit `failed` (systemd 252 keeps the Result= of the failure
// that led to it, e.g. exit-code, and logs "Start request repeated too quickly"; a manual start refused by it
// says Result=start-limit-hit). systemd's defaults (DefaultStartLimitIntervalSec=10s, DefaultStartLimitBurst=5)
// never stop a unit restarted 5 s apart: it would be restarted for ever.
import type { StackModel } from './model.js';

/** TimeoutStopSec= of the ZEO unit: runzeo closes its storages on SIGTERM within seconds; a minute is ample. */
export const ZEO_STOP_TIMEOUT_MS = 60_000;
/** The wrapper's own start (Node, the instance binding its port) on top of the warm-up budget, in TimeoutStartSec=. */
const CLIENT_START_SLACK_MS = 30_000;
/** The ZEO unit's start: `zunitgen wait-tcp` waits up to zeo.ready-timeout; this much more for the process to start. */
const ZEO_START_SLACK_MS = 10_000;

/** A client unit's TimeoutStartSec=: the warm-up budget and 30 s for the wrapper's own start. */
export function clientStartTimeoutMs(m: Pick<StackModel, 'warmup'>): number { return m.warmup.budgetMs + CLIENT_START_SLACK_MS; }

/** A client unit's TimeoutStopSec=: the drain, the instance's own stop and 15 s for the wrapper. */
export function clientStopTimeoutMs(m: Pick<StackModel, 'stop'>): number { return m.stop.drainMs + m.stop.timeoutMs + 15_000; }

/** The ZEO unit's TimeoutStartSec=. */
export function zeoStartTimeoutMs(zeo: { readyTimeoutMs: number }): number { return zeo.readyTimeoutMs + ZEO_START_SLACK_MS; }

/**
 * How long a start that fails by itself can take: the unit's process starts, and a real Plone imports its packages
 * for tens of seconds before it binds its port or stops on a bad configuration; runzeo opens its storages. A start
 * that fails later does so by running out a wait (a client waiting its warm-up budget for its database, a ZEO server
 * its ready-timeout for its port): those attempts are retried every time, so that the unit comes up by itself once
 * what it waited for is there, and a database outage of any length needs no operator.
 */
const PROMPT_FAILURE_MS = 60_000;

/**
 * A minute, and at most half the wait the unit can run out: a start that fails by running out its wait then always
 * comes more than one cycle after the one before (the wait, the process's own start and RestartSec=), so it is
 * never refused, whatever the budget (a 20 s budget with a fixed minute was given up on after three tries).
 */
function promptFailureMs(waitMs: number): number {
  return Math.min(PROMPT_FAILURE_MS, Math.floor(waitMs / 2));
}

/**
 * From one start of a client to the next when every start fails promptly, at the longest: the start and RestartSec=.
 * The start limit is sized to catch these loops (a port taken, a crash at import) and nothing slower: a span sized to
 * the slowest failure (two warm-up budgets) would be hours long, clients would give up after a long database outage,
 * and a sixth start (a fifth restart) by hand within it would stop a healthy client and leave it failed.
 */
export function clientRestartCycleMs(m: Pick<StackModel, 'restart' | 'warmup'>): number {
  return promptFailureMs(m.warmup.budgetMs) + m.restart.delayMs;
}

/** The same for the ZEO unit, whose wait is zeo.ready-timeout (a storage that cannot be opened fails promptly). */
export function zeoRestartCycleMs(m: Pick<StackModel, 'restart'>, zeo: { readyTimeoutMs: number }): number {
  return promptFailureMs(zeo.readyTimeoutMs) + m.restart.delayMs;
}

/**
 * StartLimitIntervalSec= and StartLimitBurst= of one unit, and `spacingMs`, the span divided by the burst: starts
 * that come more than that apart are never refused, burst+1 starts each within it of the one before are.
 */
export interface StartLimit { intervalMs: number; burst: number; spacingMs: number }

/**
 * The start limit of a unit whose prompt failure and restart take `cycleMs`: restart.burst starts within burst times
 * that (unless restart.interval gives the span). The (burst+1)th start of a unit that fails promptly every time comes
 * at most burst x cycle after the first counted one, inside the span: refused, and the unit ends `failed` after
 * `burst` attempts. A unit whose starts come more than one cycle apart (a watchdog kill an hour after a good start, a
 * recycle, a start that ran out its wait) never has burst+1 of them in one span: it is restarted every time.
 */
function startLimit(m: Pick<StackModel, 'restart'>, cycleMs: number): StartLimit {
  const intervalMs = m.restart.intervalMs ?? m.restart.burst * cycleMs;
  return { intervalMs, burst: m.restart.burst, spacingMs: Math.floor(intervalMs / m.restart.burst) };
}

/** The start limit of the client units (all alike). */
export function clientStartLimit(m: Pick<StackModel, 'restart' | 'warmup'>): StartLimit { return startLimit(m, clientRestartCycleMs(m)); }

/** The start limit of the ZEO unit. */
export function zeoStartLimit(m: Pick<StackModel, 'restart'>, zeo: { readyTimeoutMs: number }): StartLimit { return startLimit(m, zeoRestartCycleMs(m, zeo)); }
