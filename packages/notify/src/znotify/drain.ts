// Drain to zero. waitress has no graceful stop: SIGTERM cuts every request in flight, and SIGINT gives one at
// most about 5 s (its task dispatcher's shutdown) and cancels the queued ones. So the stop signal may only go
// out once nothing is in flight. HAProxy knows: its Runtime API's `show stat` has, per server, `scur` (current
// sessions on the server, requests being served or being connected) and `qcur` (requests queued for this very
// server, e.g. by maxconn). After `set server B/S state drain` no new session goes to the server (persistent
// ones aside), so the stop waits until both are 0, polling, bounded by `stop.drain`.
//
// Without a stats socket there is no one to ask: the fixed drain (the whole `stop.drain`) is all there is.
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from './duration.js';

/** What the drain reads of the server in HAProxy's `show stat` (the shared client's ServerStat has both). */
export interface ServerSessions {
  /** scur: current sessions on the server. */
  current: number;
  /** qcur: requests queued for this server. */
  queued: number;
}

export type DrainOutcome =
  | { kind: 'zero'; elapsedMs: number; polls: number; first: ServerSessions }
  | { kind: 'bound'; elapsedMs: number; last?: ServerSessions }
  | { kind: 'cut'; elapsedMs: number }
  | { kind: 'unavailable'; elapsedMs: number; error: string };

export interface DrainOptions {
  boundMs: number;
  /** Default 100 ms: HAProxy answers `show stat` in well under a millisecond. */
  pollMs?: number;
  /** Aborted when the drain is cut short (a second SIGTERM, the instance exiting). */
  signal: AbortSignal;
  sessions(signal: AbortSignal): Promise<ServerSessions>;
  now?: () => number;
}

/**
 * Polls until the server has no session and no queued request (`zero`), the bound passes (`bound`), the
 * signal aborts (`cut`), or HAProxy cannot be asked (`unavailable`, with the error: the caller falls back to the
 * fixed drain for what is left of the bound).
 */
export async function drainToZero(o: DrainOptions): Promise<DrainOutcome> {
  const now = o.now ?? (() => performance.now());
  const t0 = now();
  let last: ServerSessions | undefined;
  let first: ServerSessions | undefined;
  for (let polls = 1; ; polls++) {
    if (o.signal.aborted) return { kind: 'cut', elapsedMs: now() - t0 };
    try {
      last = await o.sessions(o.signal);
    } catch (err) {
      if (o.signal.aborted) return { kind: 'cut', elapsedMs: now() - t0 };
      return { kind: 'unavailable', elapsedMs: now() - t0, error: (err as Error).message };
    }
    first ??= last;
    if (last.current === 0 && last.queued === 0) return { kind: 'zero', elapsedMs: now() - t0, polls, first };
    const left = o.boundMs - (now() - t0);
    if (left <= 0) return { kind: 'bound', elapsedMs: now() - t0, last };
    await sleep(Math.min(o.pollMs ?? 100, left), undefined, { signal: o.signal }).catch(() => {});
  }
}

/** One line for the log and STATUS=. */
export function describeDrain(d: DrainOutcome, where: string): string {
  switch (d.kind) {
    case 'zero': return `${where}: no session left after ${formatDuration(d.elapsedMs)} (${d.first.current} in flight and ${d.first.queued} queued when the drain began)`;
    case 'bound': return `${where}: still ${d.last?.current ?? '?'} session(s) and ${d.last?.queued ?? '?'} queued after stop.drain (${formatDuration(d.elapsedMs)})`;
    case 'cut': return `${where}: drain cut short after ${formatDuration(d.elapsedMs)}`;
    case 'unavailable': return `haproxy.stats-socket: cannot read the sessions of ${where} (${d.error}); waiting out the fixed stop.drain`;
  }
}
