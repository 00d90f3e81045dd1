// Thread stacks of an unmodified Zope 5, arranged from outside. Zope 4+ on WSGI registers no signal handler
// (SIGUSR1, the old Zope 2 dump, kills it), so the wrapper uses what CPython itself offers:
//
// - Before a watchdog-driven kill (`watchdog.dump-stacks`): PYTHONFAULTHANDLER=1 in the instance's environment
//   makes Python enable faulthandler at start-up, for SIGSEGV, SIGFPE, SIGABRT, SIGBUS and SIGILL. SIGABRT then
//   writes every thread's traceback to stderr (the journal) from C, which works even when every Python thread
//   is deadlocked, and the process aborts (134). The instance is about to be killed anyway: that is the kill.
// - On demand, without stopping (`signals.stack-dump: hook`, opt-in): a directory the wrapper creates holds a
//   `sitecustomize.py` and goes first on the instance's PYTHONPATH. Python's `site` imports it at start-up; it
//   registers faulthandler for SIGUSR1 (all threads, to stderr), leaves a `registered-<pid>` file in that
//   directory, and then imports the next `sitecustomize` on the path, so a project's own is never shadowed.
//   SIGUSR1 to the wrapper is passed on only to processes that left such a file: a Python that did not load
//   the hook would die of SIGUSR1.
//
// Both need a CPython that reads its environment: `-E` and `-I` ignore PYTHON* variables, `-S` skips `site`
// (hence sitecustomize). pythonFlagProblem() finds those flags on the command line or in a script's `#!` line.
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The hook. Python 2 and 3 syntax; a Python without faulthandler (2.x) just does not register. */
const HOOK_SOURCE = `# Written by znotify (signals.stack-dump: hook): SIGUSR1 makes this Python process write every thread's
# stack to stderr, without stopping. znotify put this directory first on PYTHONPATH; the next sitecustomize on
# the path (the project's own, if any) is imported right after, so nothing is shadowed.
import os
import sys


def _znotify_register():
    marks = os.environ.get("ZNOTIFY_STACK_DUMP_DIR")
    if not marks:
        return
    try:
        import faulthandler
        import signal
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    except Exception:
        return
    try:
        with open(os.path.join(marks, "registered-%d" % os.getpid()), "w") as f:
            f.write(sys.version.split()[0])
    except (IOError, OSError):
        pass


def _znotify_chain():
    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        try:
            import sitecustomize  # noqa: F401 - the next one on the path
        except ImportError as exc:
            if getattr(exc, "name", "sitecustomize") != "sitecustomize":
                raise
            if ours is not None:
                sys.modules["sitecustomize"] = ours
    finally:
        sys.path[:] = saved


_znotify_register()
_znotify_chain()
`;

export type StackDumpMode = 'hook' | 'off';

export interface StackHook {
  readonly dir: string;
  /** Pids of the processes that registered the SIGUSR1 dump (most recent first is not guaranteed). */
  registeredPids(): number[];
  /** Removes the directory; idempotent. */
  remove(): void;
}

/** Creates the hook directory (mode 0700, in `base` or the temp dir). Throws when it cannot be written. */
export function createStackHook(base?: string): StackHook {
  const dir = mkdtempSync(path.join(base ?? os.tmpdir(), 'znotify-stack-'));
  writeFileSync(path.join(dir, 'sitecustomize.py'), HOOK_SOURCE, { mode: 0o644 });
  let removed = false;
  return {
    dir,
    registeredPids() {
      let names: string[];
      try { names = readdirSync(dir); } catch { return []; }
      return names.map((n) => /^registered-(\d+)$/.exec(n)?.[1]).filter((p): p is string => p !== undefined).map(Number);
    },
    remove() {
      if (removed) return;
      removed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The instance's environment for the configured stack dumps: PYTHONFAULTHANDLER=1 for `dump-stacks` (unless the
 * environment already decides it), the hook directory first on PYTHONPATH for `hook`.
 */
export function stackDumpEnv(env: NodeJS.ProcessEnv, o: { dumpBeforeKill: boolean; hookDir?: string }): NodeJS.ProcessEnv {
  const out = { ...env };
  if (o.dumpBeforeKill && out.PYTHONFAULTHANDLER === undefined) out.PYTHONFAULTHANDLER = '1';
  if (o.hookDir) {
    out.PYTHONPATH = out.PYTHONPATH ? `${o.hookDir}${path.delimiter}${out.PYTHONPATH}` : o.hookDir;
    out.ZNOTIFY_STACK_DUMP_DIR = o.hookDir;
  }
  return out;
}

/** The python flags of argv (or of its script's `#!` line) that make Python ignore the environment or `site`. */
function pythonFlags(argv: readonly string[], readHead: (file: string) => string | undefined = readHead512): { flags: Set<string>; where: string } | undefined {
  const interp = (args: readonly string[], where: string) => {
    if (!/^python[0-9.]*$/.test(path.basename(args[0] ?? ''))) return undefined;
    const flags = new Set<string>();
    for (const a of args.slice(1)) {
      if (!/^-[A-Za-z]+$/.test(a)) break; // the script, -m/-c's argument, or a long option: the rest is not Python's
      for (const c of a.slice(1)) flags.add(c);
      if (/[mcWX]/.test(a)) break;
    }
    return { flags, where };
  };
  const direct = interp(argv, 'the command line');
  if (direct) return direct;
  const head = argv[0] ? readHead(argv[0]) : undefined;
  const shebang = head?.startsWith('#!') ? head.slice(2).split('\n')[0]!.trim().split(/\s+/) : undefined;
  if (!shebang) return undefined;
  // `#!/usr/bin/env python3 -E` (and `env -S ...`): the interpreter is the first word env does not take.
  let words = shebang;
  if (path.basename(words[0] ?? '') === 'env') words = words.slice(1).filter((w) => w !== '-S');
  return interp(words, `the #! line of ${argv[0]}`);
}

/** The first 512 bytes of a file (a `#!` line), without reading a whole binary. */
function readHead512(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(512);
    return buf.subarray(0, readSync(fd, buf, 0, 512, 0)).toString('latin1');
  } catch { return undefined; } finally { if (fd !== undefined) closeSync(fd); }
}

/**
 * Why the configured stack dumps cannot work with this command's Python, or undefined. One message per
 * setting: [key, message, fix].
 */
export function pythonFlagProblems(argv: readonly string[], o: { dumpBeforeKill: boolean; mode: StackDumpMode },
  readHead?: (file: string) => string | undefined): Array<[string, string, string]> {
  const p = pythonFlags(argv, readHead);
  if (!p) return [];
  const out: Array<[string, string, string]> = [];
  const envOff = ['E', 'I'].filter((f) => p.flags.has(f)).map((f) => `-${f}`);
  if (o.dumpBeforeKill && envOff.length) {
    out.push(['watchdog.dump-stacks', `Python runs with ${envOff.join(' ')} (${p.where}), which ignores PYTHONFAULTHANDLER`,
      `drop ${envOff.join(' ')}, or set dump-stacks: false`]);
  }
  const siteOff = [...envOff, ...(p.flags.has('S') ? ['-S'] : [])];
  if (o.mode === 'hook' && siteOff.length) {
    out.push(['signals.stack-dump', `"hook" needs PYTHONPATH and site's sitecustomize, which Python ignores with ${siteOff.join(' ')} (${p.where})`,
      `drop ${siteOff.join(' ')}, or set stack-dump: off`]);
  }
  return out;
}

/**
 * SIGUSR1 to every process that registered the dump (a `registered-<pid>` file) and is still in the instance's
 * process group (`group`, the instance's pid): a pid the kernel gave to another process since is left alone.
 * Returns the pids signalled; none means nothing was sent (a Python without the hook would die of SIGUSR1).
 */
export function signalRegistered(hook: Pick<StackHook, 'registeredPids'>, group: number,
  groupOf: (pid: number) => number | undefined, kill: (pid: number, sig: NodeJS.Signals) => void = process.kill): number[] {
  const sent: number[] = [];
  for (const pid of hook.registeredPids()) {
    if (groupOf(pid) !== group) continue;
    try { kill(pid, 'SIGUSR1'); sent.push(pid); } catch { /* gone meanwhile */ }
  }
  return sent;
}
