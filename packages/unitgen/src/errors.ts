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
