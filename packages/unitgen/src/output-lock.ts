// One writer per output directory: `.zunitgen.lock`, holding "pid starttime" of its holder. A run writes that line
// into a file of its own (`.zunitgen.lock.new-<pid>`) and hard-links it into place: link(2) fails when a lock is
// there, and a lock that is there has its line, so a run reading it never sees one half made.
// A lock whose holder is gone (killed with -9, say) is broken by the next run: the holder is checked by pid and by
// its start time in /proc, so a recycled pid does not keep a dead lock alive. A run killed between writing its
// own file and linking it (or while breaking a stale lock) leaves that file behind: the next run removes those
// whose pid is not running, never a live run's. Synchronous, like the rest of the IO layer.

import * as fs from 'node:fs';
import { join } from 'node:path';
import { describeErrno, LockBusyError, OutputError } from './errors.js';

export const LOCK_NAME = '.zunitgen.lock';

/** A run's own files beside the lock: the lock it is about to link, a stale lock it moved aside to check. */
const SCRATCH = /^\.zunitgen\.lock\.(?:new|stale)-(\d+)$/;

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
 * Removes the scratch files of runs that are gone. One named with this process's pid is a leftover too: taking
 * the lock is synchronous, so no other take of this process is half done.
 */
function sweepScratch(dir: string): void {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const name of names) {
    const pid = Number(SCRATCH.exec(name)?.[1] ?? 0);
    if (pid > 0 && (pid === process.pid || identity(pid) === undefined)) fs.rmSync(join(dir, name), { force: true });
  }
}

/** Writes the whole of `text` into `path` (replacing what is there); OutputError naming the lock when it cannot. */
function writeWhole(path: string, text: string, lockPath: string): void {
  try {
    const fd = fs.openSync(path, 'w', 0o644);
    try { fs.writeSync(fd, text); } finally { fs.closeSync(fd); }
  } catch (e) {
    const d = describeErrno(e);
    throw new OutputError(lockPath, `cannot create the lock: ${d.what}`, d.fix, { cause: e });
  }
}

/** link(2) `mine` to the lock: true when this run holds it now, false when a lock is there. */
function linkLock(mine: string, path: string): boolean {
  try {
    fs.linkSync(mine, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    const d = describeErrno(e);
    throw new OutputError(path, `cannot create the lock: ${d.what}`, d.fix, { cause: e });
  }
}

/**
 * Breaks the stale lock `held`: moved aside and checked. If what was moved is not the stale lock read before
 * (another run broke it first and took the lock), it is put back.
 */
function breakStale(path: string, held: string): void {
  const aside = `${path}.stale-${process.pid}`;
  try { fs.renameSync(path, aside); } catch { return; }
  if (readIfExists(aside) !== held) { try { fs.linkSync(aside, path); } catch { /* a third run holds it now */ } }
  fs.rmSync(aside, { force: true });
}

export interface OutputLock { release(): void }

/** Takes the lock of `dir`, waiting up to `timeoutMs` for a live holder (LockBusyError, exit 75, after that). */
export function lockOutput(dir: string, opts: { timeoutMs?: number } = {}): OutputLock {
  const path = join(dir, LOCK_NAME);
  const me = identity(process.pid) ?? `${process.pid} 0`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  sweepScratch(dir);
  const mine = `${path}.new-${process.pid}`;
  writeWhole(mine, `${me}\n`, path);
  try {
    for (;;) {
      if (linkLock(mine, path)) return { release: () => { if (readIfExists(path)?.trim() === me) fs.rmSync(path, { force: true }); } };
      const held = readIfExists(path);
      if (held !== undefined && !holderAlive(held)) { breakStale(path, held); continue; }
      if (Date.now() >= deadline) throw new LockBusyError(dir, Number(held?.split(' ')[0] ?? 0));
      sleepMs(50);
    }
  } finally {
    fs.rmSync(mine, { force: true });
  }
}
