// Whether a path is a directory or lies below it: the one rule for "is this under /tmp", "is this inside the
// installation", "does this sandbox hide it". Paths compare by their components, so /tmpfoo is not under /tmp,
// and a trailing "/" on either side changes nothing. Both are taken as written (absolute, normalized): resolving
// symbolic links is the caller's choice, since some ask about the path as written and some about its target.

/** `path` without trailing slashes (except the root itself). */
function trimmed(path: string): string {
  const t = path.replace(/\/+$/, '');
  return t === '' && path.startsWith('/') ? '/' : t;
}

/** True when `path` is `dir` or below it: isPathWithin('/tmp/a', '/tmp') and ('/tmp', '/tmp'), not ('/tmpfoo', '/tmp'). */
export function isPathWithin(path: string, dir: string): boolean {
  const p = trimmed(path), d = trimmed(dir);
  if (d === '/') return p.startsWith('/');
  return p === d || p.startsWith(`${d}/`);
}

/** The first of `dirs` that `path` is within, or undefined. */
export function firstDirHolding(path: string, dirs: readonly string[]): string | undefined {
  return dirs.find((d) => isPathWithin(path, d));
}
