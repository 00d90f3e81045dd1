// Errors of zunitgen: one base class, UnitgenError, with a stable `code` (E*, the same names zstack uses)
// and the exit status it maps to. cli.ts turns any error into its message and exit status in one place
// (exitCodeOf). The exit statuses follow sysexits(3), the same in zunitgen and znotify; docs/exit-codes.md
// has the table. 78 = EX_CONFIG: the systemd convention for "bad configuration", which
// RestartPreventExitStatus= and operators recognise.

import { problem, type Problem } from '@zope-systemd/common';

/** Exit statuses (sysexits(3)). */
export const EXIT = {
  /** Something failed that is none of the below: verify found problems, wait-tcp gave up, a stack in generator mode. */
  FAILURE: 1,
  /** EX_USAGE: the command line is wrong. */
  USAGE: 64,
  /** EX_DATAERR: the unit set deploy sent to a host is not one. */
  DATAERR: 65,
  /** EX_UNAVAILABLE: a service the command needs did not do its part (HAProxy's reload after install-haproxy). */
  UNAVAILABLE: 69,
  /** EX_NOINPUT: a config file cannot be read. */
  NOINPUT: 66,
  /** EX_CANTCREAT: the output cannot be written (a file zunitgen did not generate is in the way, or the directory refuses). */
  CANTCREAT: 73,
  /** EX_SOFTWARE: an internal error (a bug, not the operator's input). */
  SOFTWARE: 70,
  /** EX_TEMPFAIL: another zunitgen is writing the directory; try again. */
  TEMPFAIL: 75,
  /** EX_CONFIG: a stack config or a template is invalid. */
  CONFIG: 78,
} as const;

/** Every code a UnitgenError can carry. Stable: only ever added to. */
export type UnitgenErrorCode = 'EUSAGE' | 'ECONFIG' | 'ETEMPLATE' | 'ECONFLICT' | 'EINPUT' | 'EOUTPUT' | 'ELOCKED' | 'EVERIFY' | 'EHOSTSET' | 'EHAPROXY' | 'EUNAVAILABLE' | 'EACTIVE';

export class UnitgenError extends Error {
  constructor(readonly code: UnitgenErrorCode, message: string, readonly exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnitgenError';
  }
}

/** The command line is wrong (a bad value for an option or argument). Exit 64 (EX_USAGE). */
export class UsageError extends UnitgenError {
  constructor(message: string) {
    super('EUSAGE', message, EXIT.USAGE);
    this.name = 'UsageError';
  }
}

/**
 * One problem in a config file: the shared Problem (file, line:col 1-based, key, message, fix), with `hint`, the
 * same as `fix`, kept for readers of the former shape.
 */
export interface ConfigIssue extends Problem {
  hint?: string;
}

/** An issue from a problem: `hint` set with `fix`; `key` from the message's `key.path: ` prefix when not given. */
export function configIssue(p: Omit<Problem, 'key'> & { key?: string }): ConfigIssue {
  const out: ConfigIssue = problem({ ...p, key: p.key ?? keyOfMessage(p.message) });
  if (out.fix !== undefined) out.hint = out.fix;
  return out;
}

/**
 * The key a message names: every message about one key starts with its dotted path (`clients.checks[0].address: `,
 * `clients.http (client2): `). Empty for the rest (YAML syntax, the file as a whole).
 */
function keyOfMessage(message: string): string {
  const m = /^([a-z][a-z0-9-]*(?:\[\d*\])?(?:\.[a-z][a-z0-9-]*(?:\[\d*\])?)*)(?: \([^)]*\))?: /.exec(message);
  return m && m[1] !== 'config' ? m[1]! : '';
}

export function formatIssue(i: ConfigIssue): string {
  return formatAs(i, 'error');
}

/** A warning (a valid value that is likely not what was meant) as stderr and the journal show it. */
export function formatWarning(i: ConfigIssue): string {
  return formatAs(i, 'warning');
}

function formatAs(i: ConfigIssue, severity: 'error' | 'warning'): string {
  // A problem of the file as a whole (it cannot be read) has no position to show.
  return `${i.file}${i.line ? `:${i.line}:${i.col}` : ''}: ${severity}: ${i.message}${i.fix ? `\n  hint: ${i.fix}` : ''}`;
}

/**
 * Every problem found in one or more config files (never only the first). Exit status 78; 66 (`unreadable`)
 * when one of the files could not be read at all, which outranks "invalid" (docs/exit-codes.md).
 */
export class ConfigError extends UnitgenError {
  constructor(readonly issues: readonly ConfigIssue[], unreadable = false) {
    super(unreadable ? 'EINPUT' : 'ECONFIG', `${issues.length} configuration error${issues.length === 1 ? '' : 's'}:\n${issues.map(formatIssue).join('\n')}`, unreadable ? EXIT.NOINPUT : EXIT.CONFIG);
    this.name = 'ConfigError';
  }
}

/** A template (built-in or from --templates) failed to compile or rendered something that is not a unit file. */
export class TemplateError extends UnitgenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ETEMPLATE', message, EXIT.CONFIG, options);
    this.name = 'TemplateError';
  }
}

/** The output directory holds a file zunitgen did not generate (or one edited since): nothing was written. */
export class OutputConflictError extends UnitgenError {
  constructor(readonly paths: readonly string[], reason: string) {
    super('ECONFLICT', `refusing to overwrite ${paths.length === 1 ? 'a file' : 'files'} zunitgen did not generate (${reason}):\n${paths.map((p) => `  ${p}`).join('\n')}\n  hint: move ${paths.length === 1 ? 'it' : 'them'} away, or pass --force to take ${paths.length === 1 ? 'it' : 'them'} over`, EXIT.CANTCREAT);
    this.name = 'OutputConflictError';
  }
}

/**
 * The update would remove the unit files of units systemd runs from them (live-units.ts): nothing was written. Exit 73
 * (EX_CANTCREAT), like a file in the way: an operator has to act (stop them) before the same run can succeed.
 */
export class ActiveUnitsError extends UnitgenError {
  constructor(readonly dir: string, readonly units: ReadonlyArray<{ name: string; state: string }>) {
    const one = units.length === 1;
    super('EACTIVE', [
      `refusing to remove the unit file${one ? '' : 's'} of ${one ? 'a unit' : 'units'} systemd is running (nothing was written):`,
      ...units.map((u) => `  ${dir}/${u.name} (${u.state})`),
      `  hint: stop ${one ? 'it' : 'them'} first, then run this again: systemctl stop ${units.map((u) => u.name).join(' ')}`,
      '  (a client\'s wrapper drains it before its instance stops; `zstack stop` stops the whole stack instead).',
      `  Removed while running, ${one ? 'it' : 'they'} would run on without a unit file, outside the stack's target and zstack stop (docs/unitgen.md, "Growing and shrinking a stack").`,
    ].join('\n'), EXIT.CANTCREAT);
    this.name = 'ActiveUnitsError';
  }
}

/** `systemd-analyze verify` reported errors or warnings (systemd #23860: it exits 0 on warnings). */
export class VerifyError extends UnitgenError {
  constructor(message: string, readonly output: string) {
    super('EVERIFY', message, EXIT.FAILURE);
    this.name = 'VerifyError';
  }
}

/** A program the command runs is not there (`verify`'s systemd-analyze). Exit 69 (EX_UNAVAILABLE). */
export class UnavailableError extends UnitgenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EUNAVAILABLE', message, EXIT.UNAVAILABLE, options);
    this.name = 'UnavailableError';
  }
}

/** What the user named to be read cannot be: a config file, a directory to verify, --templates. Exit 66 (EX_NOINPUT). */
export class InputError extends UnitgenError {
  /** The same as one problem with no position, for `check --json`. */
  readonly issues: readonly ConfigIssue[];
  constructor(readonly path: string, what: string, fix: string, options?: { cause?: unknown }) {
    super('EINPUT', `cannot read ${path}: ${what}\n  hint: ${fix}`, EXIT.NOINPUT, options);
    this.name = 'InputError';
    this.issues = [configIssue({ file: path, line: 0, col: 0, key: '', message: `cannot read the file: ${what}`, fix })];
  }
}

/**
 * The output directory cannot be written, or what zunitgen keeps there (its manifest) is not what it wrote.
 * Exit 73 (EX_CANTCREAT). The message names the path and the fix; it never echoes file contents.
 */
export class OutputError extends UnitgenError {
  constructor(readonly path: string, what: string, fix: string, options?: { cause?: unknown }) {
    super('EOUTPUT', `${path}: ${what}\n  hint: ${fix}`, EXIT.CANTCREAT, options);
    this.name = 'OutputError';
  }
}

/** Another zunitgen holds the output directory's lock. Exit 75 (EX_TEMPFAIL): try again. */
export class LockBusyError extends UnitgenError {
  constructor(readonly path: string, readonly holder: number) {
    super('ELOCKED', `${path}: another zunitgen (pid ${holder}) is writing this directory\n  hint: wait for it to finish and run again`, EXIT.TEMPFAIL);
    this.name = 'LockBusyError';
  }
}

/**
 * Why an I/O error happened, in words, with what to do; for OutputError/InputError messages. `side`: whether the
 * path is where zunitgen writes (--out) or what it reads (a config, a directory to verify, --templates).
 */
export function describeErrno(e: unknown, side: 'output' | 'input' = 'output'): { what: string; fix: string } {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (side === 'input') {
    switch (code) {
      case 'ENOENT': return { what: 'does not exist (ENOENT)', fix: 'check the path' };
      case 'ENOTDIR': return { what: 'a component of the path is a file, not a directory (ENOTDIR)', fix: 'check the path' };
      case 'EACCES': case 'EPERM': return { what: `permission denied (${code})`, fix: 'run as a user who may read it (root for /etc/zope-systemd, /etc/systemd/system)' };
      case 'ELOOP': return { what: 'too many symbolic links, or a dangling one (ELOOP)', fix: 'check the path and where its links point' };
      default: break;
    }
  }
  switch (code) {
    case 'ENOENT': return { what: 'does not exist (ENOENT)', fix: 'check the path; create the parent directory first' };
    case 'ENOTDIR': return { what: 'a component of the path is not a directory (ENOTDIR)', fix: 'point --out at a directory' };
    case 'EROFS': return { what: 'the file system is read-only (EROFS)', fix: 'choose a writable --out, or remount it read-write' };
    case 'EACCES': case 'EPERM': return { what: `permission denied (${code})`, fix: 'run as a user who may write there (root for /etc/systemd/system)' };
    case 'ENOSPC': case 'EDQUOT': return { what: `no space left (${code})`, fix: 'free space on that file system' };
    case 'ELOOP': return { what: 'too many symbolic links, or a dangling one (ELOOP)', fix: 'point --out at a real directory' };
    case 'EISDIR': return { what: 'is a directory (EISDIR)', fix: 'give the path of a file' };
    case 'ENOMKDIR': return { what: `${(e as { path?: string }).path ?? 'a directory'} cannot be created: its file system makes no directories (a virtual one such as /proc or /sys)`, fix: 'point --out at a directory on a disk file system' };
    default: return { what: code ? `${code}: ${(e as Error).message}` : String((e as Error)?.message ?? e), fix: 'check the path and its permissions' };
  }
}
