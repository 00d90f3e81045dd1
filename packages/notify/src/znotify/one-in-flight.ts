// At most one request of the wrapper's inside an instance at a time (checks and warm-up alike).
//
// A Zope instance with one worker thread (many run so: each thread holds a ZODB cache of hundreds of MiB) serves
// one request and queues the rest in waitress's task queue. A probe that times out there is not gone: closing or
// resetting its connection leaves its task queued (waitress reads no more from a connection whose request waits,
// and the worker skips a dead one only when it reaches it), so a new probe every interval of a hang stacks one
// more task per interval (measured with waitress 2.1.2: "Task queue depth is 1, 2, 3, ..." one line per probe).
// The same holds for a warm-up request that times out while a cold instance loads its cache. So a request that
// timed out is kept waiting for its answer, and holds this gate until it is answered or its connection ends; later
// requests wait for the gate within their own timeout and, when it stays held, report a timeout without sending
// anything.

export interface Held {
  /** When the current holder took the gate (performance.now()). */
  readonly since: number;
  /** What the holder sent, for messages (`GET /Plone`). */
  readonly what: string;
}

export class OneInFlight {
  private holder: { since: number; what: string; waiters: Set<() => void> } | undefined;

  /** The current holder, if any. */
  get held(): Held | undefined {
    return this.holder;
  }

  /**
   * Takes the gate, waiting up to `timeoutMs` for the holder to let go. Returns the function that lets go (call it
   * once the request has ended; later calls do nothing), or undefined when the gate stayed held or `signal`
   * aborted. Waiters are served in the order they came. `what` names the request for messages while it holds the gate.
   */
  async acquire(what: string, timeoutMs: number, signal?: AbortSignal): Promise<(() => void) | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (this.holder) {
      const left = deadline - performance.now();
      if (left <= 0 || signal?.aborted) return undefined;
      await freedWithin(this.holder.waiters, left, signal);
    }
    if (signal?.aborted) return undefined;
    const holder = { since: performance.now(), what, waiters: new Set<() => void>() };
    this.holder = holder;
    return () => {
      if (this.holder !== holder) return;
      this.holder = undefined;
      for (const w of holder.waiters) w();
    };
  }
}

/**
 * Resolves when the holder lets go (it calls every function in `waiters`), `ms` pass or `signal` aborts, whichever
 * comes first. Leaves no timer, listener or waiter behind: a hang that lasts for days costs nothing per probe.
 */
function freedWithin(waiters: Set<() => void>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const end = () => { clearTimeout(timer); signal?.removeEventListener('abort', end); waiters.delete(end); resolve(); };
    const timer = setTimeout(end, Math.max(1, Math.ceil(ms)));
    signal?.addEventListener('abort', end, { once: true });
    waiters.add(end);
  });
}
