// One writer per output directory: `.zunitgen.lock`, created exclusively (O_EXCL) and holding "pid starttime".
// A lock whose holder is gone (killed with -9, say) is broken by the next run: the holder is checked by pid
// and by its start time in /proc, so a recycled pid does not keep a dead lock alive. Synchronous, like the rest
// of the IO layer.

import * as fs from 'node:fs';
import { join } from 'node:path';
import { describeErrno, LockBusyError, OutputError } from './errors.js';

export const LOCK_NAME = '.zunitgen.lock';

/** "pid starttime" of a process (field 22 of /proc/PID/stat), or undefined when it does not exist. */
function identity(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${pid} ${fields[19]}`;
  } catch {
    return undefined;
  }
}

function holderAlive(text: string): boolean {
  const pid = Number(text.split(' ')[0]);
  return Number.isInteger(pid) && pid > 0 && identity(pid) === text.trim();
}

function readIfExists(path: string): string | undefined {
  try { return fs.readFileSync(path, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; throw e; }
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * A lock is created empty and its holder's identity written just after: read in between, it is a live run's
 * lock, not a stale one. Empty for longer than a run needs to write one line, its creator died in between.
 */
function beingWritten(path: string, held: string): boolean {
  if (held !== '') return false;
  try { return Date.now() - fs.statSync(path).mtimeMs < 2_000; } catch { return true; }
}

export interface OutputLock { release(): void }

/**
 * Takes the lock of `dir`, waiting up to `timeoutMs` for a live holder (LockBusyError, exit 75, after that).
 * A stale lock is moved aside and checked: if what was moved is not the stale lock read before (another run
 * broke it first and took the lock), it is put back.
 */
export function lockOutput(dir: string, opts: { timeoutMs?: number } = {}): OutputLock {
  const path = join(dir, LOCK_NAME);
  const me = identity(process.pid) ?? `${process.pid} 0`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    try {
      const fd = fs.openSync(path, 'wx', 0o644);
      try { fs.writeSync(fd, `${me}\n`); } finally { fs.closeSync(fd); }
      return { release: () => { if (readIfExists(path)?.trim() === me) fs.rmSync(path, { force: true }); } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') { const d = describeErrno(e); throw new OutputError(path, `cannot create the lock: ${d.what}`, d.fix, { cause: e }); }
    }
    const held = readIfExists(path);
    if (held === undefined || holderAlive(held) || beingWritten(path, held)) {
      if (Date.now() >= deadline) throw new LockBusyError(dir, Number(held?.split(' ')[0] ?? 0));
      sleepMs(50);
      continue;
    }
    const aside = `${path}.stale-${process.pid}`;
    try { fs.renameSync(path, aside); } catch { continue; }
    if (readIfExists(aside) !== held) { try { fs.linkSync(aside, path); } catch { /* a third run holds it now */ } }
    fs.rmSync(aside, { force: true });
  }
}
