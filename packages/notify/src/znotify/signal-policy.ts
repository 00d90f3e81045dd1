// What the wrapper does with each signal it receives. The instance is assumed to be Zope 4+ on WSGI: it has NO
// handler of its own (SIGHUP, SIGUSR1, SIGUSR2 and SIGTERM kill it at once; waitress turns SIGINT into its stop).
// So nothing is passed on unless `signals.forward` lists it, for an instance that does handle it. One table,
// used by run.ts and printed in docs/znotify.md.
import { FORWARDABLE_SIGNALS } from '@zope-systemd/common';
import type { StackDumpMode } from './stack-dump.js';

export type SignalAction =
  /** Graceful stop: drain, then stop.signal (SIGTERM; SIGINT when not forwarded, e.g. Ctrl-C in a terminal). */
  | 'stop'
  /** Passed on to the instance (listed in signals.forward). */
  | 'forward'
  /** SIGUSR1 with signals.stack-dump: hook: passed on to the processes that registered the dump. */
  | 'dump-stacks'
  /** systemd's WatchdogSignal= (SIGABRT): passed on (faulthandler dumps, the instance aborts), then the group goes. */
  | 'watchdog-abort'
  /** Logged and dropped. */
  | 'ignore';

/** The signals the wrapper catches from its first moments (signals.ts): the only ones it can forward. */
const FORWARDABLE: readonly NodeJS.Signals[] = FORWARDABLE_SIGNALS;

export interface SignalPolicyConfig {
  forward: readonly NodeJS.Signals[];
  stackDump: StackDumpMode;
}

export function signalAction(sig: NodeJS.Signals, c: SignalPolicyConfig): SignalAction {
  if (sig === 'SIGTERM') return 'stop';
  if (sig === 'SIGABRT') return 'watchdog-abort';
  if (c.forward.includes(sig)) return 'forward';
  if (sig === 'SIGINT') return 'stop';
  if (sig === 'SIGUSR1' && c.stackDump === 'hook') return 'dump-stacks';
  return 'ignore';
}

/** Why `sig` cannot be listed in signals.forward, with the fix, or undefined when it can. */
export function forwardProblem(sig: NodeJS.Signals, c: { stackDump: StackDumpMode }): [string, string] | undefined {
  if (sig === 'SIGTERM') return ['SIGTERM starts the wrapper\'s graceful stop', 'remove it; set stop.signal to choose what the instance gets when it stops'];
  if (sig === 'SIGABRT') return ['SIGABRT is systemd\'s watchdog signal, which the wrapper always passes on', 'remove it'];
  if (sig === 'SIGKILL' || sig === 'SIGSTOP') return [`${sig} cannot be caught, so it cannot be forwarded`, 'remove it'];
  if (!FORWARDABLE.includes(sig)) return [`the wrapper does not catch ${sig}`, `forward one of ${FORWARDABLE.join(', ')}`];
  if (sig === 'SIGUSR1' && c.stackDump === 'hook') return ['SIGUSR1 already asks for a stack dump (signals.stack-dump: hook)', 'forward SIGUSR1 or use the hook, not both'];
  return undefined;
}

/** What each action means, for logs: the instance's side of it. */
export const IGNORED_HINT: Readonly<Record<string, string>> = {
  SIGHUP: 'Zope 4+ has no SIGHUP handler and would die of it',
  SIGUSR1: 'Zope 4+ has no SIGUSR1 handler and would die of it; signals.stack-dump: hook makes it a stack dump',
  SIGUSR2: 'Zope 4+ has no SIGUSR2 handler and would die of it (its logs are reopened by logrotate\'s copytruncate or the journal)',
};
