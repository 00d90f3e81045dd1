// The warm-up slot (`warmup.slot`): the wrappers that name the same lock file start and warm up their instances one
// at a time, whatever brought them up together. A cold start of a stack is ordered by the units' After= already,
// but After= only orders jobs that are queued together: restarts that Restart= (or the watchdog) queues a little
// apart start at once whenever a later client in the order comes back first, and every cold ZODB cache then loads
// at the same time, each warm-up slowing the others.
//
// The slot is an exclusive flock(2) on the file, taken right before the instance is spawned and given back once
// systemd has processed READY=1 (or the start failed, or the wrapper exits). The kernel drops it when the wrapper's
// descriptor closes, however the wrapper ends (a crash, SIGKILL, the unit's cgroup killed): a dead holder never
// keeps the others waiting, and there is no stale lock to clean up. The descriptor is close-on-exec (Node opens
// every file so), so the instance never inherits the lock. The holder writes its name into the file, so waiters
// (and `cat`) can tell who warms up.
//
// While it waits: STATUS= names the file and the holder, EXTEND_TIMEOUT_USEC= keeps TimeoutStartSec= ahead, and the
// agent says `down #waiting for warm-up slot`. A stop ends the wait at once. Bounded by warmup.budget: a holder
// cannot keep the slot longer than its own budget (then its start fails and it exits), so a slot still taken after
// that means something else holds the file; the wrapper then warms up without it, with a warning, rather than not
// at all. A file it cannot open or lock is one warning naming warmup.slot, and the same.
import fs from 'node:fs';
import util from 'node:util';
import { EINTR, EWOULDBLOCK, LOCK_EX, LOCK_NB, libc } from '../libc.js';
import { formatDuration, msToUsec } from './duration.js';
import type { Logger } from './log.js';
import type { Notifier } from './notifier.js';
import type { Clock } from './probe.js';
import { EXTEND_SLACK_MS } from './stop-sequence.js';

/** How often a waiter tries the lock again, and how often it repeats STATUS= with a fresh EXTEND_TIMEOUT_USEC=. */
const SLOT_POLL_MS = 200;
const SLOT_STATUS_EVERY_MS = 1000;
/** What a holder's name may take of the file (it is read by every waiter, every poll). */
const HOLDER_MAX = 200;

/** The slot's lock file; one per wrapper. */
export class WarmupSlot {
  private fd: number | undefined;

  constructor(readonly file: string) {}

  get held(): boolean { return this.fd !== undefined; }

  /**
   * One attempt: true when this wrapper holds the slot now, false while another does. Throws an Error with the
   * errno's code when the file cannot be opened or locked at all.
   */
  tryTake(holder: string): boolean {
    if (this.fd !== undefined) return true;
    const fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o660);
    const c = libc();
    if (c.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const errno = c.errno();
      fs.closeSync(fd);
      if (errno === EWOULDBLOCK || errno === EINTR) return false;
      throw Object.assign(new Error(`flock ${this.file}: ${util.getSystemErrorName(-errno)}`), { code: util.getSystemErrorName(-errno) });
    }
    this.fd = fd;
    try {
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, `${holder}\n`, 0);
    } catch { /* the name is for people; the lock is what counts */ }
    return true;
  }

  /** Who holds the slot, as the holder wrote it (best effort: undefined when unreadable or empty). */
  holder(): string | undefined {
    try {
      const text = fs.readFileSync(this.file, 'utf8').slice(0, HOLDER_MAX).split('\n')[0]!.replace(/[\u0000-\u001f\u007f]/g, '').trim();
      return text || undefined;
    } catch {
      return undefined;
    }
  }

  /** Gives the slot back (closing the descriptor drops the lock). Idempotent. */
  release(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try { fs.closeSync(fd); } catch { /* already closed: the lock went with it */ }
  }
}

export type SlotWait = { ok: true; taken: boolean; waitedMs: number } | { ok: false };

export interface SlotWaitInput {
  slot: WarmupSlot;
  /** What the holder writes into the file, e.g. `client2 (pid 1234)`. */
  holderName: string;
  budgetMs: number;
  notifier: Pick<Notifier, 'status'>;
  log: Pick<Logger, 'info' | 'warn'>;
  clock: Clock;
  /** What HAProxy and /health are told meanwhile (the agent's `down #reason`). */
  onWaiting: (reason: string | undefined) => void;
}

/** Waits until the slot is this wrapper's, the budget runs out, or `signal` (the stop) aborts: then `{ ok: false }`. */
export async function takeWarmupSlot(w: SlotWaitInput, signal: AbortSignal): Promise<SlotWait> {
  const t0 = w.clock.now();
  let announced = false;
  let statusAt = -Infinity;
  let lastText = '';
  const done = (taken: boolean): SlotWait => {
    w.onWaiting(undefined);
    return { ok: true, taken, waitedMs: w.clock.now() - t0 };
  };
  for (;;) {
    if (signal.aborted) return { ok: false };
    let taken: boolean;
    try {
      taken = w.slot.tryTake(w.holderName);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      w.log.warn({ slot: w.slot.file, code }, `warmup.slot: cannot lock ${w.slot.file} (${code}): starting without the warm-up slot; make its directory writable for the service's user`);
      return done(false);
    }
    const waitedMs = w.clock.now() - t0;
    if (taken) {
      if (announced) w.log.info({ slot: w.slot.file, waitedMs: Math.round(waitedMs) }, `took the warm-up slot after ${formatDuration(waitedMs)}: starting the instance`);
      return done(true);
    }
    const holder = w.slot.holder() ?? 'another instance';
    if (waitedMs >= w.budgetMs) {
      w.log.warn({ slot: w.slot.file, holder }, `the warm-up slot ${w.slot.file} is still taken (${holder}) after the warm-up budget of ${formatDuration(w.budgetMs)}: starting without it`);
      return done(false);
    }
    const text = `waiting for the warm-up slot (${w.slot.file}): ${holder} is warming up`;
    if (!announced) w.log.warn({ slot: w.slot.file, holder }, text);
    announced = true;
    w.onWaiting('waiting for warm-up slot');
    if (text !== lastText || w.clock.now() - statusAt >= SLOT_STATUS_EVERY_MS) {
      statusAt = w.clock.now();
      lastText = text;
      w.notifier.status(text, [{ type: 'extend-timeout', usec: msToUsec(SLOT_POLL_MS + EXTEND_SLACK_MS) }]);
    }
    await w.clock.sleep(Math.min(SLOT_POLL_MS, Math.max(1, w.budgetMs - waitedMs)), signal);
  }
}
