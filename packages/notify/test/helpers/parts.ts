// Shared by the unit tests of the wrapper's parts: a logger that keeps its lines, and a real instance process
// (/bin/sh) that records the signals it gets in a file.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Child } from '../../src/znotify/child.js';

export interface LogLine { level: string; msg: string; fields: Record<string, unknown> }

/** A logger with pino's call shapes, (fields, msg) or (msg), that records every line. */
export function recordingLog(): { lines: LogLine[]; info: Fn; warn: Fn; error: Fn; debug: Fn } {
  const lines: LogLine[] = [];
  const at = (level: string): Fn => (a: unknown, b?: unknown) => {
    lines.push(typeof a === 'string' ? { level, msg: a, fields: {} } : { level, msg: String(b), fields: a as Record<string, unknown> });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}
type Fn = (...args: unknown[]) => void;

/**
 * A real child that writes the name of every signal it gets (TERM, USR1, USR2, HUP, INT, ABRT) into a file, and exits 0 on TERM
 * unless `ignoreTerm`. The shell runs its traps between short sleeps.
 */
export async function signalRecorder(opts: { ignoreTerm?: boolean } = {}): Promise<{ child: Child; signals: () => string[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'znotify-part-'));
  const file = path.join(dir, 'signals');
  const term = opts.ignoreTerm ? 'echo TERM >> "$0"' : 'echo TERM >> "$0"; exit 0';
  const traps = ['USR1', 'USR2', 'HUP', 'INT', 'ABRT'].map((sig) => `trap 'echo ${sig} >> "$0"' ${sig};`).join(' ');
  const script = `trap '${term}' TERM; ${traps} : > "$0"; while :; do sleep 0.05; done`;
  const child = await Child.spawn(['/bin/sh', '-c', script, file], { env: process.env, pdeathsig: false });
  // The file appears once the traps are set: only then can a signal be recorded instead of killing the shell.
  await until('the traps of the signal recorder', () => existsSync(file));
  const signals = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  return { child, signals };
}

/** Polls `fn` every 20 ms until it returns true; throws after `guardMs` (a hang guard, not a timing assertion). */
export async function until(what: string, fn: () => boolean, guardMs = 10_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
