// The run directory (--run-dir, default /run/zope-systemd) holds the per-stack lock, the rollout journal and root's
// model cache: zstack, usually as root, creates, truncates, writes and renames files there. Another user who may
// add or rename entries in it, or in a directory above it, could put a symbolic link (or their own file, or their
// own directory) where root is about to write, and have root truncate or replace a file of their choosing.
// So a run directory is used only when nobody else can change what it holds:
//  - it is this user's (for reading only, root's will do: status of a non-root user reads root's lock) and nobody
//    else may write it;
//  - every directory above it belongs to root or this user and nobody else may write it, unless it has the sticky
//    bit (like /tmp: others may add entries, but not rename or remove ours);
//  - a symbolic link on the way is followed and its target checked the same way.
// Anything else is refused (ECONFIG, 78) naming the directory, why, and the fix. Inside, files are still opened with
// O_NOFOLLOW (a link is never followed), checked after opening (fstat: a regular file of this user's), and written
// whole under a new name (O_EXCL) and renamed into place.
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from './errors.js';

const S_ISVTX = 0o1000;
/** Symbolic links followed while checking one path, as the kernel's own limit. */
const MAX_LINKS = 40;

const euid = (): number => process.geteuid?.() ?? -1;
const modeText = (st: fs.Stats): string => `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;

/** What `dir` as a run directory is: fine, missing, or unsafe for the reason given. */
type Verdict = { ok: true } | { ok: false; missing: true } | { ok: false; missing: false; why: string; fix: string };

/**
 * The verdict on `dir` (absolute or relative to the working directory) for `use`: `write` wants it this user's,
 * `read` takes root's too; `above` is a directory above a run directory (a symbolic link's target on the way).
 * `links` counts the symbolic links followed so far.
 */
export function runDirVerdict(dir: string, use: 'read' | 'write' | 'above', uid: number = euid(), links = 0): Verdict {
  const parts = path.resolve(dir).split('/').filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const p = `/${parts.slice(0, i).join('/')}`;
    const last = i === parts.length;
    let st: fs.Stats;
    try { st = fs.lstatSync(p); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, missing: true };
      return { ok: false, missing: false, why: `${p} cannot be examined (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, fix: 'pass --run-dir a directory this user can reach' };
    }
    if (st.isSymbolicLink()) {
      // Its parent was found safe, so the link stays; where it leads is checked as a path of its own.
      if (links >= MAX_LINKS) return { ok: false, missing: false, why: `${p}: too many symbolic links`, fix: 'pass --run-dir the directory itself' };
      const target = path.resolve(path.dirname(p), fs.readlinkSync(p));
      const v = runDirVerdict(target, last ? use : 'above', uid, links + 1);
      if (!v.ok) return v;
      if (last) return v;
      continue;
    }
    const why = last && use !== 'above' ? runDirItself(p, st, use, uid) : aboveRunDir(p, st, uid);
    if (why) return { ok: false, missing: false, ...why };
  }
  return { ok: true };
}

/** Why the run directory itself is unsafe, with the fix; undefined when it is fine. */
function runDirItself(p: string, st: fs.Stats, use: 'read' | 'write', uid: number): { why: string; fix: string } | undefined {
  if (!st.isDirectory()) return { why: `${p} is not a directory`, fix: 'pass --run-dir a directory (or a path where one can be created)' };
  const owners = use === 'write' ? [uid] : [uid, 0];
  const fix = `${uid === 0 ? 'chown root:root' : `chown ${uid}`} ${p} && chmod go-w ${p}, or pass --run-dir a directory only this user can write (the default /run/zope-systemd for root)`;
  if (!owners.includes(st.uid)) return { why: `it belongs to uid ${st.uid}, not to this user (uid ${uid}): its owner could put a link where zstack writes`, fix };
  if (st.mode & 0o022) return { why: `others may write it (${modeText(st)}): they could put a link where zstack writes`, fix };
  return undefined;
}

/** Why a directory above the run directory is unsafe, with the fix; undefined when it is fine. */
function aboveRunDir(p: string, st: fs.Stats, uid: number): { why: string; fix: string } | undefined {
  const fix = 'pass --run-dir a directory whose parents only root can write (the default /run/zope-systemd), or one directly in /tmp';
  if (st.uid !== 0 && st.uid !== uid) return { why: `${p}, above it, belongs to uid ${st.uid}, who could replace the run directory`, fix };
  if (st.mode & 0o022 && !(st.mode & S_ISVTX)) return { why: `${p}, above it, may be written by others without the sticky bit (${modeText(st)}): they could rename the run directory and put their own in its place`, fix };
  return undefined;
}

function refusal(dir: string, v: { why: string; fix: string }): StackError {
  return new StackError('ECONFIG', `the run directory ${dir} is not safe for the stack's lock, journal and cache: ${v.why}`, { hint: v.fix });
}

/**
 * Makes the run directory (mode 0755 where missing) and checks it for writing: throws ECONFIG (78) when others could
 * change what it holds, EUNAVAILABLE or ENOPERM when it cannot be made. `what` names it in those errors.
 */
export function prepareRunDir(dir: string, what = `cannot create the lock directory ${dir}`): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw runDirError(e, what);
  }
  const v = runDirVerdict(dir, 'write');
  if (!v.ok) throw v.missing ? runDirError(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }), what) : refusal(dir, v);
}

/** For reading (status): false when the run directory does not exist (nothing to read); throws ECONFIG when unsafe. */
export function runDirReadable(dir: string): boolean {
  const v = runDirVerdict(dir, 'read');
  if (v.ok) return true;
  if (v.missing) return false;
  throw refusal(dir, v);
}

/** Why the run directory (--run-dir) or a file in it cannot be made, in words, with the fix. */
export function runDirError(e: unknown, what: string): StackError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new StackError('ENOPERM', `${what}: permission denied (${code})`, { hint: 'run zstack as root, or pass --run-dir DIR where this user may write' });
  const why = code === 'ENOTDIR' ? 'a component of the path is a file, not a directory (ENOTDIR)'
    : code === 'EEXIST' ? 'a file is in the way of the directory (EEXIST)'
      : code === 'EROFS' ? 'the file system is read-only (EROFS)'
        : code === 'ELOOP' ? 'it is a symbolic link, which zstack never follows there (ELOOP)' : `${code ?? (e as Error).message}`;
  return new StackError('EUNAVAILABLE', `${what}: ${why}`, { hint: code === 'ELOOP' ? 'remove the link; zstack makes the file itself' : 'pass --run-dir a directory (or a path where one can be created) on a writable file system' });
}

/**
 * Opens `file` in a checked run directory without following a link (ELOOP), and checks what was opened: a regular
 * file of this user's (for reading, root's will do), never blocking on a FIFO. Throws the open's error, or ECONFIG
 * naming the file.
 */
export function openInRunDir(file: string, flags: number, mode = 0o644): number {
  const fd = fs.openSync(file, flags | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, mode);
  const st = fs.fstatSync(fd);
  const writing = (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0;
  if (st.isFile() && (st.uid === euid() || (!writing && st.uid === 0))) return fd;
  fs.closeSync(fd);
  throw new StackError('ECONFIG', `${file} is not a regular file of this user's (${st.isFile() ? 'a file' : 'not a regular file'} of uid ${st.uid}): zstack does not use it`,
    { hint: `remove it (rm ${file}); zstack makes the file itself` });
}

/** The text of a regular file in a checked run directory, or undefined (missing, a link, not this user's or root's). */
export function readInRunDir(file: string): string | undefined {
  let fd: number;
  try { fd = openInRunDir(file, fs.constants.O_RDONLY); } catch { return undefined; }
  try { return fs.readFileSync(fd, 'utf8'); } finally { fs.closeSync(fd); }
}

/** Writes `text` to `file` in a checked run directory whole: under a new name (O_EXCL, mode 0644), then renamed. */
export function replaceInRunDir(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, text, { flag: 'wx', mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
