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
 * that fails later does so by running out a wait (a client waiting a whole warm-up budget for its database, a ZEO
 * server for its port): those attempts come minutes apart, and are retried every time, so that the unit comes up by
 * itself once what it waited for is there, and a database outage longer than a few budgets needs no operator.
 */
const PROMPT_FAILURE_MS = 60_000;

/**
 * From one start of a unit to the next when every start fails promptly, at the longest: the start and RestartSec=.
 * The start limit is sized to catch these loops (a port taken, a storage that cannot be opened, a crash at import)
 * and nothing slower: a span sized to the slowest failure (two warm-up budgets for a client) would be hours long,
 * and a sixth `systemctl restart` by hand within it would stop a healthy client and leave it failed.
 */
export function restartCycleMs(m: Pick<StackModel, 'restart'>): number {
  return PROMPT_FAILURE_MS + m.restart.delayMs;
}

/**
 * StartLimitIntervalSec= and StartLimitBurst= of one unit, and `spacingMs`, the span divided by the burst: starts
 * that come more than that apart are never refused, burst+1 starts each within it of the one before are.
 */
export interface StartLimit { intervalMs: number; burst: number; spacingMs: number }

/**
 * The start limit of ZEO and the clients: restart.burst starts within burst times the prompt failure's cycle (unless
 * restart.interval gives the span). The (burst+1)th start of a unit that fails promptly every time comes at most
 * burst x cycle after the first counted one, inside the span: refused, and the unit ends `failed` after `burst`
 * attempts. A unit whose starts come more than one cycle apart (a watchdog kill an hour after a good start, a
 * recycle, a client that waited a whole budget for its database) never has burst+1 of them in one span: it is
 * restarted every time.
 */
export function startLimit(m: Pick<StackModel, 'restart'>): StartLimit {
  const intervalMs = m.restart.intervalMs ?? m.restart.burst * restartCycleMs(m);
  return { intervalMs, burst: m.restart.burst, spacingMs: Math.floor(intervalMs / m.restart.burst) };
}
