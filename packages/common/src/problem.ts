// One problem with a configuration, as every zope-systemd tool reports it: where it is (file, line, column),
// which key, what is wrong and the fix. znotify's and zunitgen's validators collect these, their messages are
// formatted from them, and `check --json` prints them (docs/exit-codes.md, "Configuration problems").

export interface Problem {
  /** The file the value came from; for a value given on the command line, the flag (`--http`). */
  file: string;
  /** 1-based line and column of the value; 0 when the problem has no place in the file (a flag, an unreadable file). */
  line: number;
  col: number;
  /** Dotted path of the key, e.g. `checks[0].interval`; empty when the problem is not one key's (YAML syntax). */
  key: string;
  /** What is wrong, quoting the bad value. */
  message: string;
  /** How to fix it. */
  fix?: string;
}

/** The record `--json` prints: the problem, and the names scripts read before it had one shape. */
export interface ProblemRecord extends Problem {
  /** `file:line:col`, or `file` alone when there is no position (znotify's former field). */
  where: string;
  /** The same as `fix` (zunitgen's former field). */
  hint?: string;
}

/** `file:line:col`, or the file (or flag) alone when there is no position. */
export function problemPlace(p: Pick<Problem, 'file' | 'line' | 'col'>): string {
  return p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
}

/** A problem, without a `fix` that is undefined. */
export function problem(p: Problem): Problem {
  const { fix, ...rest } = p;
  return fix === undefined ? rest : { ...rest, fix };
}

/** The record of a problem as `--json` prints it, with the aliases `where` and `hint`. */
export function problemRecord(p: Problem): ProblemRecord {
  const out: ProblemRecord = { file: p.file, line: p.line, col: p.col, key: p.key, message: p.message, where: problemPlace(p) };
  if (p.fix !== undefined) { out.fix = p.fix; out.hint = p.fix; }
  return out;
}
