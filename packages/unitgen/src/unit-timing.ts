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
 * The longest one failing start of a client can last. TimeoutStartSec= alone does not bound it: the wrapper keeps
 * systemd's start timeout ahead of each of its waits (EXTEND_TIMEOUT_USEC=). It waits for its databases within the
 * warm-up budget, and fails past it; or for the warm-up slot within the budget (then goes on without it) and then for
 * the warm-up within the budget, and fails past that. Two budgets and the 30 s of its own start.
 */
function clientLongestStartMs(m: Pick<StackModel, 'warmup'>): number { return 2 * m.warmup.budgetMs + CLIENT_START_SLACK_MS; }

/**
 * From one start of a client to the next when every start fails, at the longest: the start, systemd stopping what
 * is left of it (TimeoutStopSec=, after a start timeout) and RestartSec=.
 */
export function clientRestartCycleMs(m: Pick<StackModel, 'warmup' | 'stop' | 'restart'>): number {
  return clientLongestStartMs(m) + clientStopTimeoutMs(m) + m.restart.delayMs;
}

/** The same for the ZEO unit: its TimeoutStartSec= (it sends no EXTEND_TIMEOUT_USEC=), TimeoutStopSec= and RestartSec=. */
export function zeoRestartCycleMs(m: Pick<StackModel, 'restart'>, zeo: { readyTimeoutMs: number }): number {
  return zeoStartTimeoutMs(zeo) + ZEO_STOP_TIMEOUT_MS + m.restart.delayMs;
}

/**
 * StartLimitIntervalSec= and StartLimitBurst= of one unit, and `spacingMs`, the span divided by the burst: starts
 * that come more than that apart are never refused, burst+1 starts each within it of the one before are.
 */
export interface StartLimit { intervalMs: number; burst: number; spacingMs: number }

/**
 * The start limit of a unit whose failing start and restart take at most `cycleMs`: restart.burst starts, within
 * burst times that (unless restart.interval gives the span). The (burst+1)th start of a unit that fails every time
 * comes at most burst x cycle after the first counted one, inside the span: refused, and the unit ends `failed`
 * after `burst` attempts. A unit whose starts come more than one cycle apart (a watchdog kill an hour after a good
 * start, a recycle) never has burst+1 of them in one span: it is restarted every time.
 */
function startLimit(m: Pick<StackModel, 'restart'>, cycleMs: number): StartLimit {
  const intervalMs = m.restart.intervalMs ?? m.restart.burst * cycleMs;
  return { intervalMs, burst: m.restart.burst, spacingMs: Math.floor(intervalMs / m.restart.burst) };
}

/** The start limit of the client units (all alike). */
export function clientStartLimit(m: Pick<StackModel, 'warmup' | 'stop' | 'restart'>): StartLimit { return startLimit(m, clientRestartCycleMs(m)); }

/** The start limit of the ZEO unit. */
export function zeoStartLimit(m: Pick<StackModel, 'restart'>, zeo: { readyTimeoutMs: number }): StartLimit { return startLimit(m, zeoRestartCycleMs(m, zeo)); }
