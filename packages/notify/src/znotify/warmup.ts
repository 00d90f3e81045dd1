// Warm-up gating: READY=1 only once every configured URL answered as expected, in order (a cold Zope answers
// `/` at once but needs seconds to minutes for `/Plone` while objects load from the ZODB; docs/dev/FACTS.md).
// A URL that fails is retried after `interval` until the whole warm-up runs out of `budget`. A request that times out
// is not sent again while the instance still has it: it stays open (checks.ts, one request in flight per instance),
// the next attempt waits for its answer within its own timeout and only then asks anew. A one-thread Zope would
// otherwise queue one more copy of the request per retry (closing a connection does not take its task out of
// waitress's queue) and work through all of them before anything else.
import type { WarmupUrl } from './config.js';
import type { CheckResult, HttpProber } from './checks.js';
import { formatDuration } from './duration.js';
import type { Clock } from './probe.js';
import { realClock } from './probe.js';

/** Below this much budget no new attempt starts (unless none was made yet). */
const MIN_ATTEMPT_MS = 20;

export interface WarmupEvent {
  /** URLs passed so far. */
  done: number;
  total: number;
  url: WarmupUrl;
  attempt: number;
  /** Absent for 'attempt' events (a request is about to go out). */
  result?: CheckResult;
  kind: 'attempt' | 'pass' | 'retry';
  /** Milliseconds of budget left. */
  remainingMs: number;
  /** Longest the next step can take (request timeout + pause), for EXTEND_TIMEOUT_USEC. */
  nextStepMs: number;
  /** 'attempt' events: the earlier request the instance is still answering, which this attempt waits for first. */
  waitingFor?: { what: string; forMs: number };
}

export type WarmupOutcome =
  | { ok: true; elapsedMs: number; summary: string }
  | { ok: false; elapsedMs: number; reason: string; cancelled: boolean; silent: boolean };

export interface WarmupOptions {
  urls: readonly WarmupUrl[];
  budgetMs: number;
  intervalMs: number;
  prober: Pick<HttpProber, 'get' | 'unanswered'>;
  onEvent?(e: WarmupEvent): void;
  clock?: Clock;
}

/** "/Plone" or "/Plone (Host: www.example.org)". */
function describeUrl(u: WarmupUrl): string {
  return u.host ? `${u.path} (Host: ${u.host})` : u.path;
}

/** STATUS= text for a warm-up event: "warm-up 2/3: /Plone 200 in 4.1 s". */
export function warmupStatus(e: WarmupEvent): string {
  const u = describeUrl(e.url);
  const nth = e.attempt > 1 ? ` (attempt ${e.attempt})` : '';
  if (e.kind === 'attempt') {
    if (e.waitingFor) return `warm-up ${e.done}/${e.total}: waiting for the answer to ${e.waitingFor.what}, sent ${formatDuration(e.waitingFor.forMs)} ago, before requesting ${u}${nth}`;
    return `warm-up ${e.done}/${e.total}: requesting ${u}${nth}`;
  }
  if (e.kind === 'pass') return `warm-up ${e.done}/${e.total}: ${u} ${e.result!.detail}`;
  const open = e.result!.kept ? ', still being answered (the request stays open and is waited for)' : '';
  return `warm-up ${e.done}/${e.total}: ${u} ${e.result!.detail}${open}, retrying in ${formatDuration(e.nextStepMs)}`;
}

export async function warmUp(o: WarmupOptions, signal: AbortSignal): Promise<WarmupOutcome> {
  const clock = o.clock ?? realClock;
  const t0 = clock.now();
  const deadline = t0 + o.budgetMs;
  const passed: string[] = [];
  let done = 0;
  for (const url of o.urls) {
    let attempt = 0;
    let last: CheckResult | undefined;
    for (;;) {
      if (signal.aborted) {
        return { ok: false, elapsedMs: clock.now() - t0, cancelled: true, silent: silent(last), reason: failureText(url, last, attempt, passed, o.urls, done) };
      }
      const remaining = deadline - clock.now();
      // A last attempt with a few milliseconds left could only time out and hide the real last answer.
      if (remaining <= 0 || (remaining < MIN_ATTEMPT_MS && attempt > 0)) {
        return {
          ok: false, elapsedMs: clock.now() - t0, cancelled: false, silent: silent(last),
          reason: `warm-up budget of ${formatDuration(o.budgetMs)} exhausted: ${failureText(url, last, attempt, passed, o.urls, done)}`,
        };
      }
      attempt++;
      const timeoutMs = Math.min(url.timeoutMs, remaining);
      const waitingFor = o.prober.unanswered();
      o.onEvent?.({ done, total: o.urls.length, url, attempt, kind: 'attempt', remainingMs: remaining, nextStepMs: timeoutMs, ...(waitingFor ? { waitingFor } : {}) });
      const r = await o.prober.get({ ...url, timeoutMs }, signal);
      if (signal.aborted) continue;
      // Cut short by the budget: keep the previous, informative answer for the failure message.
      if (!(r.timedOut && timeoutMs < url.timeoutMs && last)) last = r;
      if (last.ok) {
        done++;
        passed.push(`${describeUrl(url)} ${last.detail}`);
        o.onEvent?.({ done, total: o.urls.length, url, attempt, result: last, kind: 'pass', remainingMs: deadline - clock.now(), nextStepMs: 0 });
        break;
      }
      const pause = Math.max(0, Math.min(o.intervalMs, deadline - clock.now()));
      o.onEvent?.({ done, total: o.urls.length, url, attempt, result: last, kind: 'retry', remainingMs: deadline - clock.now(), nextStepMs: pause });
      if (pause > 0) await clock.sleep(pause, signal);
    }
  }
  return { ok: true, elapsedMs: clock.now() - t0, summary: passed.join('; ') };
}

/**
 * The instance gave no HTTP answer to the last request (timed out, refused, reset): what its thread stacks can
 * explain. An answer, even a wrong one (404, 500, a missing text), means it serves and a stack dump says nothing.
 */
function silent(last: CheckResult | undefined): boolean {
  return last !== undefined && last.info?.status === undefined;
}

/** "/Plone answered 500 (expected 200) in 30 ms (attempt 12); passed: / 200 in 3 ms; not tried: /news". */
function failureText(url: WarmupUrl, last: CheckResult | undefined, attempts: number, passed: string[], all: readonly WarmupUrl[], done: number): string {
  const what = last
    ? `${describeUrl(url)} ${last.info?.status !== undefined ? 'answered' : 'failed:'} ${last.detail}${attempts > 1 ? ` (${attempts} attempts)` : ''}`
    : `${describeUrl(url)} was not requested yet`;
  const rest = all.slice(done + 1).map(describeUrl);
  return [what, passed.length ? `passed: ${passed.join(', ')}` : '', rest.length ? `not tried: ${rest.join(', ')}` : '']
    .filter(Boolean).join('; ');
}
