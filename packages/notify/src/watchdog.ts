// sd_watchdog_enabled(3) and a pinger that only pings while the service is really healthy: a bare
// setInterval keeps sending WATCHDOG=1 while the application is wedged, which defeats WatchdogSec=.
import { NotifyError, NotifyErrorCode, quote } from './errors.js';
import { notify } from './notify.js';

export interface WatchdogOptions {
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Our pid, compared with WATCHDOG_PID. Default: process.pid. */
  pid?: number;
  /** Delete WATCHDOG_USEC and WATCHDOG_PID from env afterwards (always, as sd_watchdog_enabled does). */
  unsetEnvironment?: boolean;
}

export interface WatchdogInfo {
  /** WATCHDOG_USEC: the manager kills/restarts us when no WATCHDOG=1 arrives within this many microseconds. */
  usec: bigint;
  /** Half the timeout in whole milliseconds (at least 1): sd_watchdog_enabled(3) recommends pinging at half. */
  intervalMs: number;
}

const POSITIVE_INT = /^[1-9][0-9]*$/;
const USEC_INFINITY = (1n << 64n) - 1n;

function malformed(message: string): NotifyError {
  return new NotifyError(NotifyErrorCode.WATCHDOG_MALFORMED, message);
}

/**
 * Whether the manager expects watchdog pings from this process.
 *
 * Outcomes:
 * - `undefined`: WATCHDOG_USEC unset, or WATCHDOG_PID names another process (inherited, not for us).
 * - `{ usec, intervalMs }`: ping every intervalMs (half the timeout).
 * - throws NotifyError ERR_WATCHDOG_MALFORMED: WATCHDOG_USEC not a positive integer below 2^64-1
 *   (USEC_INFINITY), or WATCHDOG_PID not a positive integer.
 */
export function watchdogEnabled(options: WatchdogOptions = {}): WatchdogInfo | undefined {
  const env = options.env ?? process.env;
  try {
    const usecValue = env.WATCHDOG_USEC;
    if (usecValue === undefined) return undefined;
    if (!POSITIVE_INT.test(usecValue) || BigInt(usecValue) >= USEC_INFINITY) {
      throw malformed(`WATCHDOG_USEC=${quote(usecValue)} is not a watchdog timeout: expected a positive decimal integer of microseconds below 2^64-1`);
    }
    const pidValue = env.WATCHDOG_PID;
    if (pidValue !== undefined) {
      if (!POSITIVE_INT.test(pidValue)) throw malformed(`WATCHDOG_PID=${quote(pidValue)} is not a process id (a positive decimal integer)`);
      if (Number(pidValue) !== (options.pid ?? process.pid)) return undefined;
    }
    const usec = BigInt(usecValue);
    const halfMs = usec / 2000n;
    const intervalMs = halfMs < 1n ? 1 : halfMs > BigInt(2 ** 31 - 1) ? 2 ** 31 - 1 : Number(halfMs);
    return { usec, intervalMs };
  } finally {
    if (options.unsetEnvironment) {
      delete env.WATCHDOG_USEC;
      delete env.WATCHDOG_PID;
    }
  }
}

export type HealthVerdict = boolean | Promise<boolean>;

export interface WatchdogPingerOptions {
  /** Time between checks (and pings). Usually watchdogEnabled().intervalMs. */
  intervalMs: number;
  /**
   * The predicate: WATCHDOG=1 is sent only when it returns (or resolves) true within healthTimeoutMs.
   * false, a throw, a rejection or a timeout skip the ping. The signal aborts when the check times out or
   * the pinger stops: pass it on to fetch() and friends.
   */
  healthy: (signal: AbortSignal) => HealthVerdict;
  /** How long one check may take before it counts as unhealthy. Default: intervalMs. */
  healthTimeoutMs?: number;
  /** Where NOTIFY_SOCKET is read for the pings. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Stops the pinger for good. */
  signal?: AbortSignal;
  /** Sends one ping. Default: notify({ type: 'watchdog' }, { env }). */
  send?: () => void;
  /** Called after each ping sent. */
  onPing?: () => void;
  /** Called when a ping is withheld: reason is 'unhealthy', 'threw' or 'timeout'; error for 'threw'. */
  onSkip?: (reason: 'unhealthy' | 'threw' | 'timeout', error?: unknown) => void;
  /** Called when sending a ping fails (the pinger keeps going). Default: ignore. */
  onError?: (error: unknown) => void;
  /** Keep the event loop alive while running. Default false (the pinger never holds a process up by itself). */
  ref?: boolean;
}

export interface WatchdogCheckResult {
  pinged: boolean;
  reason?: 'unhealthy' | 'threw' | 'timeout' | 'send-failed' | 'stopped';
  error?: unknown;
}

function positiveMs(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `WatchdogPinger: ${name} must be a positive number of milliseconds, got ${quote(value)}`);
  }
  return value;
}

/**
 * Sends WATCHDOG=1 every intervalMs, but only after `healthy()` said yes (sync or async, within
 * healthTimeoutMs). Checks never overlap: the next one starts intervalMs after the previous one started,
 * or right after it finished if it took longer.
 *
 * ```ts
 * const wd = watchdogEnabled();
 * if (wd) new WatchdogPinger({ intervalMs: wd.intervalMs, healthy: async (signal) => appIsAnswering(signal) }).start();
 * ```
 */
export class WatchdogPinger {
  readonly intervalMs: number;
  readonly healthTimeoutMs: number;
  #options: WatchdogPingerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #checking: AbortController | undefined;
  #pings = 0;
  #epoch = 0;
  #lastPingAt: number | undefined;
  #onAbort = () => this.stop();

  constructor(options: WatchdogPingerOptions) {
    if (typeof options?.healthy !== 'function') {
      throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `WatchdogPinger: healthy must be a function returning boolean or Promise<boolean>, got ${quote(options?.healthy)}`);
    }
    this.intervalMs = positiveMs('intervalMs', options.intervalMs);
    this.healthTimeoutMs = options.healthTimeoutMs === undefined ? this.intervalMs : positiveMs('healthTimeoutMs', options.healthTimeoutMs);
    this.#options = options;
  }

  get running(): boolean {
    return this.#running;
  }
  /** Pings sent so far. */
  get pings(): number {
    return this.#pings;
  }
  /** Date.now() of the last ping sent. */
  get lastPingAt(): number | undefined {
    return this.#lastPingAt;
  }

  /** Starts checking (the first check runs at once). No-op when running or when the signal has aborted. */
  start(): this {
    if (this.#running || this.#options.signal?.aborted) return this;
    this.#running = true;
    this.#options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#schedule(0);
    return this;
  }

  /** Stops; a check in flight is aborted and its result ignored. Idempotent. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#epoch++;
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#checking?.abort(new Error('watchdog pinger stopped'));
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    if (!this.#options.ref) this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const started = Date.now();
    await this.check();
    if (!this.#running) return;
    this.#schedule(Math.max(0, started + this.intervalMs - Date.now()));
  }

  /** Runs one check now and pings if healthy. Usable without start() (e.g. right after READY=1). */
  async check(): Promise<WatchdogCheckResult> {
    const epoch = this.#epoch;
    const verdict = await this.#evaluate();
    // A check that finished after stop() (or the signal's abort) must not ping, nor report: the caller has
    // stopped vouching for the service.
    if (epoch !== this.#epoch || this.#options.signal?.aborted) return { pinged: false, reason: 'stopped' };
    if (!verdict.ok) {
      this.#options.onSkip?.(verdict.reason, verdict.error);
      return { pinged: false, reason: verdict.reason, ...(verdict.error === undefined ? {} : { error: verdict.error }) };
    }
    try {
      if (this.#options.send) this.#options.send();
      else notify({ type: 'watchdog' }, this.#options.env ? { env: this.#options.env } : {});
    } catch (error) {
      this.#options.onError?.(error);
      return { pinged: false, reason: 'send-failed', error };
    }
    this.#pings++;
    this.#lastPingAt = Date.now();
    this.#options.onPing?.();
    return { pinged: true };
  }

  async #evaluate(): Promise<{ ok: true } | { ok: false; reason: 'unhealthy' | 'threw' | 'timeout'; error?: unknown }> {
    const controller = new AbortController();
    this.#checking = controller;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.healthTimeoutMs);
      });
      const verdict = await Promise.race([Promise.resolve().then(() => this.#options.healthy(controller.signal)), timeout]);
      if (verdict === 'timeout') {
        controller.abort(new Error(`health check took longer than ${this.healthTimeoutMs} ms`));
        return { ok: false, reason: 'timeout' };
      }
      return verdict === true ? { ok: true } : { ok: false, reason: 'unhealthy' };
    } catch (error) {
      return { ok: false, reason: 'threw', error };
    } finally {
      clearTimeout(timer);
      if (this.#checking === controller) this.#checking = undefined;
    }
  }
}
