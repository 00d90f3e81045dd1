// What a rollout has done so far, in <run-dir>/<stack>.rollout.json, so an interrupted or failed rollout can
// be resumed (`zstack rollout --resume`) and `status` can say that one was left unfinished. Written
// atomically (temp file + rename) at each phase change; removed when the rollout completes. Written under the
// stack's lock, in the run directory it checked; read without following a link (./run-dir.ts).
import fs from 'node:fs';
import path from 'node:path';
import { readInRunDir, replaceInRunDir } from './run-dir.js';

export interface RolloutJournal {
  stack: string;
  file: string;
  startedAt: string;
  pid: number;
  /** Clients of this rollout, in order. */
  clients: string[];
  done: string[];
  /**
   * The clients being cycled now and their phase; after an interruption, `restarted` for one whose new instance had
   * started (it is in `done` too) and `restarting` for one whose restart was issued while it was still its old instance.
   */
  current: Record<string, string>;
  /**
   * For a client left `restarting`: its InvocationID when the restart was issued. systemd goes on with the restart
   * job after zstack ends, so --resume skips the client when its InvocationID has changed since.
   */
  invocationBefore?: Record<string, string>;
  /**
   * The command given after `--` (argv, run without a shell once every client is UP), which --resume runs unless it is
   * given another. Absent when none was given (and in journals written before it was kept).
   */
  after?: string[];
  /** Why it stopped, once it did. */
  stopped?: { client?: string; reason: string };
}

export function journalFile(runDir: string, stack: string): string {
  return path.join(runDir, `${stack.replace(/[^A-Za-z0-9_.@-]/g, '_')}.rollout.json`);
}

export function readJournal(runDir: string, stack: string): RolloutJournal | undefined {
  try {
    const j = JSON.parse(readInRunDir(journalFile(runDir, stack)) ?? '') as RolloutJournal;
    return Array.isArray(j.clients) && Array.isArray(j.done) && validAfter(j.after) ? j : undefined;
  } catch { return undefined; }
}

/** A recorded command is run as it stands: anything but a non-empty list of strings is not one zstack wrote. */
const validAfter = (a: unknown): boolean => a === undefined || (Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string'));

export function writeJournal(runDir: string, j: RolloutJournal): void {
  replaceInRunDir(journalFile(runDir, j.stack), `${JSON.stringify(j, null, 2)}\n`);
}

export function removeJournal(runDir: string, stack: string): void {
  fs.rmSync(journalFile(runDir, stack), { force: true });
}
