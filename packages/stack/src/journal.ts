// What a rollout has done so far, in <run-dir>/<stack>.rollout.json, so an interrupted or failed rollout can
// be resumed (`zstack rollout --resume`) and `status` can say that one was left unfinished. Written
// atomically (temp file + rename) at each phase change; removed when the rollout completes.
import fs from 'node:fs';
import path from 'node:path';

export interface RolloutJournal {
  stack: string;
  file: string;
  startedAt: string;
  pid: number;
  /** Clients of this rollout, in order. */
  clients: string[];
  done: string[];
  /** The clients being cycled now and their phase. */
  current: Record<string, string>;
  /** Why it stopped, once it did. */
  stopped?: { client?: string; reason: string };
}

export function journalFile(runDir: string, stack: string): string {
  return path.join(runDir, `${stack.replace(/[^A-Za-z0-9_.@-]/g, '_')}.rollout.json`);
}

export function readJournal(runDir: string, stack: string): RolloutJournal | undefined {
  try {
    const j = JSON.parse(fs.readFileSync(journalFile(runDir, stack), 'utf8')) as RolloutJournal;
    return Array.isArray(j.clients) && Array.isArray(j.done) ? j : undefined;
  } catch { return undefined; }
}

export function writeJournal(runDir: string, j: RolloutJournal): void {
  const file = journalFile(runDir, j.stack);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(j, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

export function removeJournal(runDir: string, stack: string): void {
  fs.rmSync(journalFile(runDir, stack), { force: true });
}
