// The stack config's own durations (the wrapper's keys under clients: are described in @zope-systemd/common
// wrapper-config.ts), each written once with its least value and why a shorter one can only be a mistake, and
// its greatest, set by what consumes it: a Node timer holds at most 2^31-1 ms (about 24.8 days), a systemd
// setting or a comparison far more. zunitgen's parser (parse.ts) refuses a value outside them, and the stack
// config's JSON Schema (stack-schema.ts) says the same, from here.

import type { DurationCeiling } from '@zope-systemd/common';

export interface StackDuration {
  /** The least value (ms). */
  min: number;
  /** What zunitgen uses when the key is left out (ms); absent: the feature is off. */
  default?: number;
  /** What the key is, for an editor. */
  doc: string;
  /** Why a value below `min` is a mistake: the fix of the error says it. */
  why: string;
  /** What consumes the value, which sets its greatest: `timer` (a Node timer's) or `span` (systemd's, a comparison's). */
  max: DurationCeiling;
}

export const STACK_DURATIONS = {
  watchdog: {
    // The wrapper pings at half of it with a timer.
    min: 1000, default: 60_000, max: 'timer', doc: 'WatchdogSec= of the clients',
    why: 'the wrapper pings at half of it, and a shorter one lets a pause of its event loop under load get a healthy instance killed',
  },
  'zeo.ready-timeout': {
    // zunitgen wait-tcp --timeout: a timer.
    min: 1000, default: 300_000, max: 'timer', doc: 'how long the ZEO unit\'s start waits for ZEO to accept connections',
    why: 'ZEO is a Python process that opens its storage before it listens: less fails starts that were about to succeed',
  },
  'clients.recycle.max-age': {
    // zstack recycle compares each client's uptime with it: no timer waits for it.
    min: 60_000, max: 'span', doc: 'uptime above which a client is recycled',
    why: 'a client younger than that is still warming up: every run of the timer would restart one',
  },
  'clients.recycle.every': {
    // OnUnitInactiveSec= of the recycle timer: systemd's timer, not Node's.
    min: 10_000, default: 600_000, max: 'span', doc: 'how often the timer runs zstack recycle',
    why: 'a run that recycles a client drains, stops and warms it up, which takes longer than that, and a run that finds the stack busy only skips: shorter adds load and journal lines, not recycling',
  },
  'restart.delay': {
    // RestartSec= of ZEO and the clients: systemd's timer.
    min: 100, default: 5000, max: 'span', doc: 'RestartSec= of ZEO and the clients: the pause before systemd restarts a failed one',
    why: 'systemd\'s own least (100ms): a failing start comes round again at once, and its restarts use up the start limit (restart.burst) faster than an operator can read the journal',
  },
  'restart.interval': {
    // StartLimitIntervalSec= of ZEO and the clients: systemd's span. Shorter than restart.burst failing starts is
    // a warning (parse.ts), not an error: an operator may know that the unit's failures are fast.
    min: 1000, max: 'span', doc: 'StartLimitIntervalSec= of ZEO and the clients (default: restart.burst times a start that fails at once (1 minute) and restart.delay)',
    why: 'systemd counts the starts of this span: a shorter one lets restarts that come a second apart go on for ever',
  },
  'haproxy.check-interval': {
    // HAProxy keeps its timers in 32-bit milliseconds as Node does.
    min: 100, default: 2000, max: 'timer', doc: 'HAProxy\'s inter: how often it asks each wrapper\'s agent',
    why: 'HAProxy would connect to every wrapper more than ten times a second for an answer that changes far less often',
  },
  'haproxy.queue-timeout': {
    // HAProxy's `timeout queue`, a timer in 32-bit milliseconds.
    min: 1000, default: 5000, max: 'timer', doc: 'HAProxy\'s timeout queue: how long a request waits for a free server slot (maxconn) before a 503',
    why: 'a moment in which every instance is busy would already answer 503 instead of waiting for the next free slot',
  },
} as const satisfies Record<string, StackDuration>;

export type StackDurationKey = keyof typeof STACK_DURATIONS;

/**
 * restart.burst (StartLimitBurst= of ZEO and the clients): the starts systemd allows within restart.interval. 1 would
 * allow the first start only: a client that fails once, an hour after it started, would not be restarted.
 */
export const RESTART_BURST = { min: 2, max: 1000, default: 5 } as const;
