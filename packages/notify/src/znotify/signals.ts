// The signals `znotify run` acts on, caught from its first moments to its exit.
//
// Until a listener exists, a signal has its default action: SIGTERM or SIGHUP during start-up would kill the
// wrapper outright (no STOPPING=1, no graceful stop of the instance, and an exit systemd counts as clean, so
// Restart=on-failure does not fire), and SIGUSR1 would open Node's inspector on 127.0.0.1:9229 for the rest of
// the wrapper's life. main.ts creates the inbox before it loads anything else; run.ts registers its handlers
// on it once the instance runs, and gets what arrived meanwhile: a stop (SIGTERM, SIGINT, SIGABRT) is carried
// out then. SIGHUP, SIGUSR1 and SIGUSR2 are meant for the instance; forwarded to an instance that has only just
// been spawned they would kill it (their default action, before Zope installs its handlers), so those that
// came before it ran are dropped, each with a log line (onDrop). The process listeners stay until exit, so no
// signal ever meets the default action again (handlers removed at the end only stop acting).
// What remains: the few milliseconds in which node starts and parses the executable.

import type { Logger } from './log.js';
import { IGNORED_HINT, signalAction, type SignalPolicyConfig } from './signal-policy.js';

/** Where run.ts registers its signal handlers: this inbox, the process itself, or an EventEmitter in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, handler: () => void): unknown;
  off(signal: NodeJS.Signals, handler: () => void): unknown;
}

const WRAPPER_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGABRT'];

/** Signals kept for the handler that comes later; the others are dropped while nobody handles them. */
const KEPT_UNTIL_HANDLED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGABRT'];

export class SignalInbox implements SignalSource {
  private readonly handlers = new Map<NodeJS.Signals, Set<() => void>>();
  private readonly waiting: NodeJS.Signals[] = [];
  /** Told of every signal dropped because nobody handled it (main.ts logs it once the logger exists). */
  onDrop: (signal: NodeJS.Signals) => void = () => {};
  private readonly kept: ReadonlySet<NodeJS.Signals>;

  constructor(signals: readonly NodeJS.Signals[] = WRAPPER_SIGNALS, source: SignalSource = process, kept: readonly NodeJS.Signals[] = KEPT_UNTIL_HANDLED) {
    this.kept = new Set(kept);
    for (const sig of signals) source.on(sig, () => this.deliver(sig));
  }

  /** Signals that arrived while no handler was registered for them (and were not replayed since). */
  get pending(): readonly NodeJS.Signals[] { return [...this.waiting]; }

  on(signal: NodeJS.Signals, handler: () => void): this {
    let set = this.handlers.get(signal);
    if (!set) this.handlers.set(signal, (set = new Set()));
    set.add(handler);
    // Replay what waited for this signal, on the next turn of the event loop: the registering code finishes
    // setting itself up first.
    let count = 0;
    for (let i = this.waiting.indexOf(signal); i !== -1; i = this.waiting.indexOf(signal)) { this.waiting.splice(i, 1); count++; }
    if (count) setImmediate(() => { for (let i = 0; i < count; i++) handler(); });
    return this;
  }

  off(signal: NodeJS.Signals, handler: () => void): this {
    this.handlers.get(signal)?.delete(handler);
    return this;
  }

  private deliver(signal: NodeJS.Signals): void {
    const set = this.handlers.get(signal);
    if (set?.size) for (const h of [...set]) h();
    else if (this.kept.has(signal)) this.waiting.push(signal);
    else this.onDrop(signal);
  }
}

export interface SignalTarget {
  readonly pid: number;
  signal(sig: NodeJS.Signals): boolean;
}

export interface SignalHandlerOptions {
  child: SignalTarget;
  /** What is forwarded, and what SIGUSR1 means (signal-policy.ts). */
  policy: SignalPolicyConfig;
  /** True once the instance has answered HTTP (any status) or is READY: its handlers exist by then. */
  answered(): boolean;
  /** SIGTERM (and SIGINT unless forwarded): the graceful stop. */
  stop(): void;
  /** SIGUSR1 with signals.stack-dump: hook. */
  dumpStacks(): void;
  /** SIGABRT: systemd's WatchdogSignal= after a watchdog timeout. */
  watchdogSignal(): void;
  log: Pick<Logger, 'info' | 'warn'>;
}

/**
 * Registers what the running wrapper does with each signal (signal-policy.ts decides); returns the function that
 * removes the handlers (with the process as the source, that gives the signals back their default action).
 * A forwarded signal other than SIGINT that comes before the instance has answered HTTP is logged and dropped:
 * an instance that installs its handler while it starts would die of it.
 */
export function installSignalHandlers(source: SignalSource, o: SignalHandlerOptions): () => void {
  const handlers = new Map<NodeJS.Signals, () => void>();
  const on = (sig: NodeJS.Signals, fn: () => void) => { handlers.set(sig, fn); source.on(sig, fn); };
  for (const sig of WRAPPER_SIGNALS) {
    on(sig, () => {
      const action = signalAction(sig, o.policy);
      switch (action) {
        case 'stop': o.log.info({ signal: sig }, `${sig}: stopping`); o.stop(); return;
        case 'watchdog-abort': o.watchdogSignal(); return;
        case 'dump-stacks': o.dumpStacks(); return;
        case 'ignore':
          o.log.warn({ signal: sig, childPid: o.child.pid }, `${sig} not forwarded: ${IGNORED_HINT[sig] ?? 'the instance has no handler for it'}; list it in signals.forward if the instance handles it`);
          return;
        case 'forward':
          if (sig !== 'SIGINT' && !o.answered()) {
            o.log.warn({ signal: sig, childPid: o.child.pid }, `${sig} before the instance answered HTTP: not forwarded (it may not handle ${sig} yet, and would die of it)`);
            return;
          }
          o.log.info({ signal: sig, childPid: o.child.pid }, 'forwarding signal to the instance');
          o.child.signal(sig);
      }
    });
  }
  return () => { for (const [sig, fn] of handlers) source.off(sig, fn); };
}
