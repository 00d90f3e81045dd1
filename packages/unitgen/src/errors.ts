// Errors of the generator. One class per failure, each with a stable `code`; a CLI maps them to exit
// codes in one place (cli.ts). 78 = EX_CONFIG: the systemd convention for "bad configuration", which
// RestartPreventExitStatus= and operators recognise.

/** One problem in a config file, located at file:line:col (1-based), with an optional hint. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  message: string;
  hint?: string;
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: error: ${i.message}${i.hint ? `\n  hint: ${i.hint}` : ''}`;
}

/** Every problem found in one or more config files (never only the first). Exit status 78. */
export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  readonly exitCode = 78;
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`${issues.length} configuration error${issues.length === 1 ? '' : 's'}:\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A template (built-in or from --templates) failed to compile or rendered something that is not a unit file. */
export class TemplateError extends Error {
  readonly code = 'ETEMPLATE';
  readonly exitCode = 78;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TemplateError';
  }
}

/** The output directory holds a file zunitgen did not generate (or one edited since): nothing was written. */
export class OutputConflictError extends Error {
  readonly code = 'ECONFLICT';
  readonly exitCode = 73; // EX_CANTCREAT
  constructor(readonly paths: readonly string[], reason: string) {
    super(`refusing to overwrite ${paths.length === 1 ? 'a file' : 'files'} zunitgen did not generate (${reason}):\n${paths.map((p) => `  ${p}`).join('\n')}\n  hint: move ${paths.length === 1 ? 'it' : 'them'} away, or pass --force to take ${paths.length === 1 ? 'it' : 'them'} over`);
    this.name = 'OutputConflictError';
  }
}

/** `systemd-analyze verify` reported errors or warnings (systemd #23860: it exits 0 on warnings). */
export class VerifyError extends Error {
  readonly code = 'EVERIFY';
  readonly exitCode = 1;
  constructor(message: string, readonly output: string) {
    super(message);
    this.name = 'VerifyError';
  }
}

/** A config file cannot be read (missing, unreadable). Exit 66 (EX_NOINPUT). */
export class InputError extends Error {
  readonly code = 'EINPUT';
  readonly exitCode = 66;
  constructor(readonly path: string, what: string, fix: string, options?: { cause?: unknown }) {
    super(`cannot read ${path}: ${what}\n  hint: ${fix}`, options);
    this.name = 'InputError';
  }
}

/**
 * The output directory cannot be written, or what zunitgen keeps there (its manifest) is not what it wrote.
 * Exit 73 (EX_CANTCREAT). The message names the path and the fix; it never echoes file contents.
 */
export class OutputError extends Error {
  readonly code = 'EOUTPUT';
  readonly exitCode = 73;
  constructor(readonly path: string, what: string, fix: string, options?: { cause?: unknown }) {
    super(`${path}: ${what}\n  hint: ${fix}`, options);
    this.name = 'OutputError';
  }
}

/** Another zunitgen holds the output directory's lock. Exit 75 (EX_TEMPFAIL): try again. */
export class LockBusyError extends Error {
  readonly code = 'ELOCKED';
  readonly exitCode = 75;
  constructor(readonly path: string, readonly holder: number) {
    super(`${path}: another zunitgen (pid ${holder}) is writing this directory\n  hint: wait for it to finish and run again`);
    this.name = 'LockBusyError';
  }
}

/** Why an I/O error happened, in words, with what to do; for OutputError/InputError messages. */
export function describeErrno(e: unknown): { what: string; fix: string } {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT': return { what: 'does not exist (ENOENT)', fix: 'check the path; create the parent directory first' };
    case 'ENOTDIR': return { what: 'a component of the path is not a directory (ENOTDIR)', fix: 'point --out at a directory' };
    case 'EROFS': return { what: 'the file system is read-only (EROFS)', fix: 'choose a writable --out, or remount it read-write' };
    case 'EACCES': case 'EPERM': return { what: `permission denied (${code})`, fix: 'run as a user who may write there (root for /etc/systemd/system)' };
    case 'ENOSPC': case 'EDQUOT': return { what: `no space left (${code})`, fix: 'free space on that file system' };
    case 'ELOOP': return { what: 'too many symbolic links, or a dangling one (ELOOP)', fix: 'point --out at a real directory' };
    case 'EISDIR': return { what: 'is a directory (EISDIR)', fix: 'give the path of a file' };
    default: return { what: code ? `${code}: ${(e as Error).message}` : String((e as Error)?.message ?? e), fix: 'check the path and its permissions' };
  }
}
