// Errors of the znotify wrapper. One class per failure kind with a stable `code`; the CLI maps them to exit
// codes in exactly one place (cli.ts). 78 is EX_CONFIG from sysexits(3), which systemd also uses, so that
// `RestartPreventExitStatus=78` stops a restart loop on a bad configuration.

/** Exit status for configuration errors (EX_CONFIG). */
export const EXIT_CONFIG = 78;
/** Exit status for any other failure to start (port in use, missing command, bad NOTIFY_SOCKET, ...). */
export const EXIT_START = 1;
/** sysexits.h EX_UNAVAILABLE: a database the instance needs did not answer within the warm-up budget. */
export const EXIT_UNAVAILABLE = 69;

/** One problem found in a configuration file or on the command line, with where it is and how to fix it. */
export interface ConfigProblem {
  /** `file:line:col` or `--flag`, whichever the value came from. */
  where: string;
  /** Dotted path of the key, e.g. `checks[0].interval`. */
  key: string;
  /** What is wrong, quoting the bad value. */
  message: string;
  /** How to fix it. */
  fix?: string;
}

export function formatProblem(p: ConfigProblem): string {
  const head = p.key ? `${p.where}: ${p.key}: ${p.message}` : `${p.where}: ${p.message}`;
  return p.fix ? `${head}; ${p.fix}` : head;
}

/** The configuration (file and flags) is invalid. Carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly code = 'ZNOTIFY_CONFIG';
  readonly exitCode = EXIT_CONFIG;
  constructor(readonly problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super(problems.map(formatProblem).join('\n'), options);
    this.name = 'ConfigError';
  }
}

export type StartErrorCode =
  | 'ZNOTIFY_ADDRESS_IN_USE'
  | 'ZNOTIFY_LISTEN_FAILED'
  | 'ZNOTIFY_COMMAND_NOT_FOUND'
  | 'ZNOTIFY_SPAWN_FAILED'
  | 'ZNOTIFY_NOTIFY_SOCKET'
  | 'ZNOTIFY_LISTEN_FDS'
  | 'ZNOTIFY_WARMUP_FAILED'
  | 'ZNOTIFY_CHILD_EXITED'
  | 'ZNOTIFY_DATABASE_UNAVAILABLE'
  | 'ZNOTIFY_STOPPED'
  | 'ZNOTIFY_STACK_HOOK';

/** The wrapper could not start (or finish starting) the service. The message is one line meant for the journal. */
export class StartError extends Error {
  constructor(
    readonly code: StartErrorCode,
    message: string,
    readonly exitCode: number = EXIT_START,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StartError';
  }
}
