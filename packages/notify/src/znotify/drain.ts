// Drain to zero. waitress has no graceful stop: SIGTERM cuts every request in flight, and SIGINT gives one at
// most about 5 s (its task dispatcher's shutdown) and cancels the queued ones. So the stop signal may only go
// out once nothing is in flight. HAProxy knows: its Runtime API's `show stat` has, per server, `scur` (current
// sessions on the server, requests being served or being connected) and `qcur` (requests queued for this very
// server, e.g. by maxconn). After `set server B/S state drain` no new session goes to the server (persistent
// ones aside), so the stop waits until both are 0, polling, bounded by `stop.drain`. A 0 counts only once HAProxy
// reports the drain in effect (status DRAIN, or the server out of the balancing): over a read-only socket the
// drain comes from the agent's answer at HAProxy's next agent check, and until then new requests still arrive.
//
// Without a stats socket there is no one to ask: the fixed drain (the whole `stop.drain`) is all there is.
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from './duration.js';
import { socketProblem } from './haproxy.js';

/** What the drain reads of the server in HAProxy's `show stat` (the shared client's ServerStat has both). */
export interface ServerSessions {
  /** scur: current sessions on the server. */
  current: number;
  /** qcur: requests queued for this server. */
  queued: number;
  /**
   * False while HAProxy still balances new requests to the server (status UP, "no check"): a 0 then means
   * nothing. Undefined: not known, taken as in effect.
   */
  drained?: boolean;
}

/** Whether a `show stat` status means no new (non-persistent) request reaches the server: anything but UP. */
export function drainInEffect(status: string): boolean {
  return !/^(UP|no check)\b/.test(status);
}

export type DrainOutcome =
  | { kind: 'zero'; elapsedMs: number; polls: number; first: ServerSessions }
  | { kind: 'bound'; elapsedMs: number; last?: ServerSessions }
  | { kind: 'cut'; elapsedMs: number }
  | { kind: 'unavailable'; elapsedMs: number; error: string; cause: unknown };

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
      return { kind: 'unavailable', elapsedMs: now() - t0, error: (err as Error).message, cause: err };
    }
    first ??= last;
    if (last.current === 0 && last.queued === 0 && last.drained !== false) return { kind: 'zero', elapsedMs: now() - t0, polls, first };
    const left = o.boundMs - (now() - t0);
    if (left <= 0) return { kind: 'bound', elapsedMs: now() - t0, last };
    await sleep(Math.min(o.pollMs ?? 100, left), undefined, { signal: o.signal }).catch(() => {});
  }
}

/**
 * One line for the log and STATUS=. `socket`, when given, is named with the errno and the fix when it cannot be
 * used (socketProblem).
 */
export function describeDrain(d: DrainOutcome, where: string, socket?: string): string {
  const backend = where.split('/')[0];
  switch (d.kind) {
    case 'zero': return `${where}: no session left after ${formatDuration(d.elapsedMs)} (${d.first.current} in flight and ${d.first.queued} queued when the drain began)`;
    case 'bound': if (d.last?.drained === false) return `${where}: HAProxy still balanced new requests to it after stop.drain (${formatDuration(d.elapsedMs)}): neither \`set server ... state drain\` (a socket of level admin) nor the health agent's drain (agent-check on the server line) took effect`;
      return `${where}: still ${d.last?.current ?? '?'} session(s) and ${d.last?.queued ?? '?'} queued after stop.drain (${formatDuration(d.elapsedMs)})`;
    case 'cut': return `${where}: drain cut short after ${formatDuration(d.elapsedMs)}`;
    case 'unavailable': return `haproxy.stats-socket: cannot read the sessions of ${where} (${socket ? socketProblem(socket, d.cause, backend) : d.error}); waiting out the fixed stop.drain`;
  }
}
