// Which of the YAML reader's errors to show (the `yaml` package's YAMLError, by its `code`). After a syntax error
// (a tab as indentation, a bracket that never closes) the reader goes on with a structure that is not the one
// written and reports what follows from that: one tab-indented line gave nine more errors, none of them real. It
// cannot say which later errors are real, so the first syntax error is shown, with a note on how many later ones
// are not; errors that leave the structure as written (a duplicate key) are each a problem of their own and all
// shown. Used by zunitgen's and znotify's config readers.

/** Reader errors that leave the structure of the document as it was written. */
const STANDALONE_YAML_ERRORS: ReadonlySet<string> = new Set(['DUPLICATE_KEY', 'KEY_OVER_1024_CHARS', 'BAD_DQ_ESCAPE', 'TAG_RESOLVE_FAILED']);

/**
 * The errors to report, in the reader's order: every standalone one before the first syntax error, then that one
 * with `cascade` set (what to tell the user about the later ones) when any follow it.
 */
export function yamlErrorsToReport<E extends { code: string }>(errors: readonly E[]): Array<E & { cascade?: string }> {
  const first = errors.findIndex((e) => !STANDALONE_YAML_ERRORS.has(e.code));
  if (first < 0) return [...errors];
  const later = errors.length - first - 1;
  const cascade = later > 0 ? `fix this first: the ${later} YAML error${later === 1 ? '' : 's'} after it may all follow from it` : undefined;
  return [...errors.slice(0, first), { ...errors[first]!, ...(cascade ? { cascade } : {}) }];
}
