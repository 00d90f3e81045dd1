// One operation per stack at a time (rollout, recycle, stop), with a kernel lock: flock(2) on
// <run-dir>/<stack>.lock. The kernel drops it when the holder's process dies (even of SIGKILL), so a crash
// can never leave the stack locked; no pid files to judge stale. The file itself is never removed (removing
// a flock'd file lets two processes hold "the" lock on different inodes); it holds a line about the holder.
// The run directory is checked first and the file opened as ./run-dir.ts says: never through a link, and only
// when it is this user's regular file, so nobody else can make root truncate or write another file.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { StackError } from './errors.js';
import { openInRunDir, prepareRunDir, readInRunDir, runDirError } from './run-dir.js';

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;

type FlockFn = (fd: number, op: number) => number;
let flockFn: { call: FlockFn; errno: () => number } | undefined;

function flock(): { call: FlockFn; errno: () => number } {
  if (flockFn) return flockFn;
  const require = createRequire(import.meta.url);
  // By its real path: koffi finds its prebuilt addon relative to its own directory in the pnpm store.
  const koffi = require(fs.realpathSync(require.resolve('koffi'))) as {
    load(name: string): { func(decl: string): (...a: unknown[]) => unknown }; errno(): number;
  };
  const fn = koffi.load('libc.so.6').func('int flock(int fd, int operation)') as FlockFn;
  flockFn = { call: fn, errno: () => koffi.errno() };
  return flockFn;
}

export interface LockHolder { pid: number; operation: string; since: string }

export interface StackLock {
  readonly file: string;
  /** Rewrites the holder line (e.g. `rollout: client2`). */
  describe(operation: string): void;
  release(): void;
}

export function lockFile(runDir: string, stack: string): string {
  return path.join(runDir, `${stack.replace(/[^A-Za-z0-9_.@-]/g, '_')}.lock`);
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readInRunDir(file) ?? '') as LockHolder;
    return typeof h.pid === 'number' ? h : undefined;
  } catch { return undefined; }
}

/** Takes the stack's lock or throws EBUSY naming the holder. Never waits. */
export function acquireLock(runDir: string, stack: string, operation: string): StackLock {
  prepareRunDir(runDir);
  const file = lockFile(runDir, stack);
  let fd: number;
  try {
    fd = openInRunDir(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  } catch (e) {
    if (e instanceof StackError) throw e;
    throw runDirError(e, `cannot open the lock file ${file}`);
  }
  const f = flock();
  if (f.call(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = f.errno();
    fs.closeSync(fd);
    if (errno !== EWOULDBLOCK) throw new StackError('EUNAVAILABLE', `flock(${file}) failed with errno ${errno}`);
    const h = readHolder(file);
    throw new StackError('EBUSY', `stack ${stack} is busy: ${h ? `${h.operation} (pid ${h.pid}, since ${h.since})` : 'another zstack operation holds its lock'}`,
      { hint: 'wait for it to finish; one operation per stack at a time (the lock goes with the process, also if it crashes)' });
  }
  const since = new Date().toISOString();
  const describe = (operation: string): void => {
    const text = `${JSON.stringify({ pid: process.pid, operation, since })}\n`;
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, text, 0);
  };
  describe(operation);
  let released = false;
  return {
    file,
    describe,
    release() {
      if (released) return;
      released = true;
      try { fs.ftruncateSync(fd, 0); } catch { /* best effort */ }
      f.call(fd, LOCK_UN);
      fs.closeSync(fd);
    },
  };
}

/**
 * Who holds the lock now, or undefined when nobody does (a shared probe: it never blocks a holder). A holder
 * writes its line as soon as it has the lock and empties the file before it lets go, so an empty file means
 * free without asking the kernel (status then never loads the native flock binding); a line left behind is
 * either a holder or one that died, and flock(2) tells which.
 */
export function lockHeld(runDir: string, stack: string): LockHolder | undefined {
  const file = lockFile(runDir, stack);
  let fd: number;
  try { fd = openInRunDir(file, fs.constants.O_RDONLY); } catch { return undefined; }
  try {
    if (fs.fstatSync(fd).size === 0) return undefined;
    const f = flock();
    if (f.call(fd, LOCK_SH | LOCK_NB) === 0) { f.call(fd, LOCK_UN); return undefined; }
    return readHolder(file) ?? { pid: 0, operation: 'unknown', since: '' };
  } finally {
    fs.closeSync(fd);
  }
}
