// The supervised instance. The wrapper stays MainPID (systemd only credits notifications from a process it
// can attribute; docs/dev/FACTS.md, systemd), so the instance is a child, never exec'd into.
//
// No orphans: on Linux the child is started through `setpriv --pdeathsig KILL --` (util-linux, setpriv(1)),
// which sets PR_SET_PDEATHSIG (prctl(2)) and then execs the command: if the wrapper dies, even by SIGKILL,
// the kernel kills the instance. Node cannot run code between fork and exec, hence the tiny prefix. The
// death signal fires when the *thread* that forked exits; libuv forks from the main thread, which lives as
// long as the wrapper. A wrapper killed between the fork and setpriv's prctl would leave the child running
// (measured: 1 run in 10 when killed the moment the child appears), so after the prctl a shell checks that
// its parent is still the wrapper, and only then execs the command: died before, the child was reparented
// and exits 1; died after, the death signal comes. Without setpriv (not Linux, or util-linux < 2.33) the
// wrapper still kills the child on every exit path it controls, and systemd's KillMode=control-group cleans
// up the rest. The death signal reaches the child only: a command that runs Python as a child of its own
// instead of exec'ing it leaves that Python to systemd's clean-up (KillMode=mixed/control-group) after a
// kill -9 of the wrapper.
//
// The child gets its own process group (detached) so that a terminal's Ctrl-C reaches it once, through the
// wrapper's forwarding, and so that SIGKILL can take its whole group (a `bin/instance` script and its
// Python). Stop and forwarded signals go to the child's PID only, as a shell would deliver them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { findCommand } from '@zope-systemd/common';
import { StartError } from './errors.js';

/** Run by /bin/sh after setpriv's prctl: go on only if the wrapper ($1) is still the parent. No user text in
 *  it: the command comes as positional parameters and is exec'd as "$@". */
const PARENT_CHECK = '[ "$PPID" = "$1" ] || exit 1; shift; exec "$@"';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The wrapper's exit status for a child's end: its code, or 128 + signal number as a shell reports it. */
export function exitStatusOf(e: ChildExit): number {
  if (e.code !== null) return e.code;
  if (e.signal) return 128 + (osConstants.signals[e.signal] ?? 0);
  return 1;
}

export function describeExit(e: ChildExit): string {
  return e.code !== null ? `exited with status ${e.code}` : `was killed by ${e.signal}`;
}

/** Resolves argv[0] like execvp(3) would (`findCommand`); throws a one-line StartError when it cannot be run. */
export function resolveCommand(cmd: string, env: NodeJS.ProcessEnv): string {
  const r = findCommand(cmd, env);
  if (!r.ok) throw new StartError('ERR_ZNOTIFY_COMMAND_NOT_FOUND', r.message);
  return r.value;
}

let setprivCache: string | null | undefined;
/** Path of a setpriv that knows --pdeathsig, or null. Asked once per process (one `setpriv --help`, ~2 ms). */
export function findSetpriv(env: NodeJS.ProcessEnv = process.env): string | null {
  if (setprivCache !== undefined) return setprivCache;
  setprivCache = null;
  if (process.platform !== 'linux') return null;
  let p: string;
  try { p = resolveCommand('setpriv', { PATH: `${env.PATH ?? ''}:/usr/bin:/bin` }); } catch { return null; }
  const r = spawnSync(p, ['--help'], { encoding: 'utf8', timeout: 2000 });
  if (r.status === 0 && r.stdout.includes('--pdeathsig')) setprivCache = p;
  return setprivCache;
}

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  /** Use the setpriv prefix when available (default true). */
  pdeathsig?: boolean;
}

/**
 * What the supervisor's parts (the liveness guard, the stop sequence) need of the instance: its pid, whether it
 * runs, its end, a signal to its pid, SIGKILL to its group. `Child` is it; a part's tests may hand in another.
 */
export interface SupervisedChild {
  readonly pid: number;
  readonly alive: boolean;
  readonly exited: Promise<ChildExit>;
  signal(sig: NodeJS.Signals): boolean;
  killGroup(): void;
}

export class Child implements SupervisedChild {
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  readonly pdeathsig: boolean;
  private exit: ChildExit | undefined;

  private constructor(cp: ChildProcess, pdeathsig: boolean) {
    this.pid = cp.pid!;
    this.pdeathsig = pdeathsig;
    this.exited = new Promise((resolve) => {
      cp.once('exit', (code, signal) => { this.exit = { code, signal }; resolve(this.exit); });
    });
  }

  /** Starts argv with inherited stdio. Resolves once the process exists (spawn errors reject with a StartError). */
  static async spawn(argv: readonly string[], opts: SpawnOptions): Promise<Child> {
    resolveCommand(argv[0]!, opts.env);
    const setpriv = opts.pdeathsig === false ? null : findSetpriv(opts.env);
    const [file, args] = setpriv
      ? [setpriv, ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', PARENT_CHECK, 'znotify-instance', String(process.pid), ...argv]]
      : [argv[0]!, argv.slice(1)];
    const cp = spawn(file, args, { stdio: 'inherit', env: opts.env, detached: true });
    await new Promise<void>((resolve, reject) => {
      cp.once('spawn', () => resolve());
      cp.once('error', (err: NodeJS.ErrnoException) => reject(new StartError('ERR_ZNOTIFY_SPAWN_FAILED', `cannot start ${argv[0]}: ${err.code ?? err.message}`, 1, { cause: err })));
    });
    return new Child(cp, setpriv !== null);
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Sends a signal to the child's PID. Returns false when it is gone. */
  signal(sig: NodeJS.Signals): boolean {
    if (!this.alive) return false;
    try { process.kill(this.pid, sig); return true; } catch { return false; }
  }

  /** SIGKILL to the child's whole process group (the instance and anything it started). */
  killGroup(): void {
    if (!this.alive) return;
    try { process.kill(-this.pid, 'SIGKILL'); } catch { try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ } }
  }
}
