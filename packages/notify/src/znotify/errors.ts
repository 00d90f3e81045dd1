// Errors of the znotify wrapper: one base class, ZnotifyError, with a stable `code` in the library's form
// (ERR_ZNOTIFY_*, beside the library's ERR_NOTIFY_*) and the exit status it maps to. main.ts turns any error
// into one line and an exit status in one place (exitFor). The exit statuses follow sysexits(3), the same
// in znotify, zunitgen and zstack; docs/exit-codes.md has the table. 64 (EX_USAGE), 66 (EX_NOINPUT) and 78
// (EX_CONFIG) are what generated units name in `RestartPreventExitStatus=`, so a bad command line, a config file
// that cannot be read and a bad configuration end the restart loop instead of feeding it.

import { problem, problemPlace, type Problem } from '@zope-systemd/common';

/** Exit statuses (sysexits(3)); the instance's own status is passed through as it is. */
export const EXIT = {
  /** A start failure that is not the configuration's: port in use, command missing, bad NOTIFY_SOCKET. */
  FAILURE: 1,
  /** EX_USAGE: the command line is wrong (unknown option or command, missing argument). */
  USAGE: 64,
  /** EX_NOINPUT: the configuration file named cannot be read (missing, unreadable). */
  NOINPUT: 66,
  /** EX_UNAVAILABLE: a database the instance needs did not answer within the warm-up budget. */
  UNAVAILABLE: 69,
  /** EX_CANTCREAT: an output the wrapper must create (the stack-dump hook's directory) cannot be. */
  CANTCREAT: 73,
  /** EX_SOFTWARE: an internal error of the wrapper. */
  SOFTWARE: 70,
  /** EX_CONFIG: the configuration (file or flags) is invalid. */
  CONFIG: 78,
} as const;

/** Every code a ZnotifyError can carry. Stable: only ever added to. */
export type ZnotifyErrorCode =
  | 'ERR_ZNOTIFY_CONFIG'
  | 'ERR_ZNOTIFY_INPUT'
  | 'ERR_ZNOTIFY_ADDRESS_IN_USE'
  | 'ERR_ZNOTIFY_LISTEN_FAILED'
  | 'ERR_ZNOTIFY_COMMAND_NOT_FOUND'
  | 'ERR_ZNOTIFY_SPAWN_FAILED'
  | 'ERR_ZNOTIFY_NOTIFY_SOCKET'
  | 'ERR_ZNOTIFY_LISTEN_FDS'
  | 'ERR_ZNOTIFY_DATABASE_UNAVAILABLE'
  | 'ERR_ZNOTIFY_STOPPED'
  | 'ERR_ZNOTIFY_STACK_HOOK'
  | 'ERR_ZNOTIFY_CONNECT_TIMEOUT';

export class ZnotifyError extends Error {
  constructor(
    readonly code: ZnotifyErrorCode,
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ZnotifyError';
  }
}

/**
 * One problem found in a configuration file or on the command line: the shared Problem (file, line, col, key,
 * message, fix), with `where` (`file:line:col`, or `--flag` for a value from the command line) beside it.
 */
export interface ConfigProblem extends Problem {
  where: string;
}

export function configProblem(p: Problem): ConfigProblem {
  return { ...problem(p), where: problemPlace(p) };
}

function formatProblem(p: ConfigProblem, severity = ''): string {
  const head = `${p.where}: ${severity}${p.key ? `${p.key}: ` : ''}${p.message}`;
  return p.fix ? `${head}; ${p.fix}` : head;
}

/** A value that is valid but likely not what was meant, as one line (the config is still used). */
export function formatWarning(p: ConfigProblem): string {
  return formatProblem(p, 'warning: ');
}

/** The configuration (file and flags) is invalid. Carries every problem found, not just the first. */
export class ConfigError extends ZnotifyError {
  constructor(readonly problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super('ERR_ZNOTIFY_CONFIG', problems.map((p) => formatProblem(p)).join('\n'), EXIT.CONFIG, options);
    this.name = 'ConfigError';
  }
}

/** The configuration file named cannot be read (missing, unreadable, a directory). Exit 66 (EX_NOINPUT). */
export class InputError extends ZnotifyError {
  constructor(readonly problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super('ERR_ZNOTIFY_INPUT', problems.map((p) => formatProblem(p)).join('\n'), EXIT.NOINPUT, options);
    this.name = 'InputError';
  }
}

export type StartErrorCode = Exclude<ZnotifyErrorCode, 'ERR_ZNOTIFY_CONFIG' | 'ERR_ZNOTIFY_INPUT' | 'ERR_ZNOTIFY_CONNECT_TIMEOUT'>;

/** The wrapper could not start the service. The message is one line meant for the journal. */
export class StartError extends ZnotifyError {
  constructor(code: StartErrorCode, message: string, exitCode: number = EXIT.FAILURE, options?: { cause?: unknown }) {
    super(code, message, exitCode, options);
    this.name = 'StartError';
  }
}
