// The command given after `--` to `zstack rollout`: run without a shell once every client is UP again (e.g. a Varnish
// ban). Resolved as it will be run before anything is drained, and kept in the rollout's journal so that a rollout
// continued with --resume runs it too (unless the operator gives another one then).
import { spawn } from 'node:child_process';
import { findCommand } from '@zope-systemd/common';
import { StackError } from './errors.js';

export interface AfterCommand {
  /** As given: argv[0] as the operator wrote it, then its arguments. */
  argv: readonly string[];
  /** argv[0] resolved through PATH, as it will be run. */
  file: string;
}

/** How a command is named in zstack's output: its argv joined, quoted. */
export function showCommand(argv: readonly string[]): string {
  return JSON.stringify(argv.join(' '));
}

/**
 * The command, resolved through PATH as it will be run: one that cannot run is refused up front (EUNAVAILABLE, 69: a
 * program it needs is not there), never found missing after every client was restarted. `whose` says where it came
 * from when that is not the command line.
 */
export function resolveAfter(argv: readonly string[] | undefined, whose = 'the command after `--`'): AfterCommand | undefined {
  if (!argv || argv.length === 0) return undefined;
  const r = findCommand(argv[0]!);
  if (r.ok) return { argv, file: r.value };
  throw new StackError('EUNAVAILABLE', `${whose} cannot be run: ${r.message}; nothing was drained or restarted`,
    { hint: `${r.hint ? `${r.hint}; ` : ''}the command after \`--\` runs without a shell once every client is UP again` });
}

/** Runs the command without a shell, its output on zstack's; resolves with its exit status. */
export function runAfter(cmd: AfterCommand): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd.file, cmd.argv.slice(1), { stdio: 'inherit', argv0: cmd.argv[0]! });
    child.once('error', (e) => { process.stderr.write(`zstack: cannot run ${cmd.argv[0]}: ${e.message}\n`); resolve(127); });
    child.once('close', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}
