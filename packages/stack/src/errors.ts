// Errors of zstack. One class, a stable `code` per failure and the exit status it maps to (sysexits), so
// the CLI turns any of them into one line and an exit code in one place (cli.ts).

export type StackErrorCode =
  | 'EUSAGE'        // 64: bad command line (unknown client, bad duration)
  | 'ENOINPUT'      // 66: the stack file named cannot be read (missing, unreadable)
  | 'ECONFIG'       // 78: the stack file is wrong, or units/HAProxy do not match it
  | 'EUNAVAILABLE'  // 69: a peer is not there: systemd, HAProxy's socket, units not installed, a start failed
  | 'EBUSY'         // 75: another operation holds the stack's lock (try again later)
  | 'ETIMEOUT'      // 75: a bounded wait ran out
  | 'EINTERRUPTED'  // 130/143: Ctrl-C or SIGTERM; what was drained was put back
  | 'ENOPERM'       // 77: needs root
  | 'EINTERNAL';    // 70

const EXIT: Record<StackErrorCode, number> = {
  EUSAGE: 64, ENOINPUT: 66, ECONFIG: 78, EUNAVAILABLE: 69, EBUSY: 75, ETIMEOUT: 75, EINTERRUPTED: 130, ENOPERM: 77, EINTERNAL: 70,
};

export class StackError extends Error {
  readonly code: StackErrorCode;
  readonly exitCode: number;
  /** What the operator should do next (one line), printed after the message. */
  readonly hint: string | undefined;
  constructor(code: StackErrorCode, message: string, options: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StackError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT[code];
  }
}
