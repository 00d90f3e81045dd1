// When the reader of a command's output goes away (`| head`, `| less` quit, a closed ssh session), writing to
// the pipe fails with EPIPE. Node reports that as an 'error' event on process.stdout/stderr which, unhandled,
// ends the process with a stack trace and exit 1. Unix tools die of SIGPIPE instead: quietly, status 141
// (128 + 13) in the shell. A CLI calls watchBrokenPipe() once, first thing, and then:
// - every later write to the gone stream is dropped quietly (the command does not learn of it through an error);
// - the command's work is NOT cut short: a generate still writes its files whole, a rollout still puts every
//   client back; only what loops for a reader (a --watch) ends, through `signal`;
// - the process exits 141 when it would have exited 0, so `set -o pipefail` sees the output was cut; a failure
//   status of the command's own (78, 1, ...) is kept, it says more.

/** The exit status of a command whose reader went away: what a shell reports for a process killed by SIGPIPE. */
export const EXIT_BROKEN_PIPE = 141;

export interface BrokenPipe {
  /** Aborted when a reader has gone away: loops that only produce output stop on it. */
  readonly signal: AbortSignal;
  /** Whether a reader has gone away. */
  readonly gone: boolean;
}

/** Write errors that mean "nobody reads this any more". */
const GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

export interface BrokenPipeOptions {
  /** Default: process.stdout and process.stderr. */
  streams?: readonly NodeJS.WritableStream[];
  /** false: leave the exit status alone (a wrapper whose status is its child's). Default true. */
  setStatus?: boolean;
  proc?: NodeJS.Process;
}

/**
 * Watches the streams for a reader going away; from then on the process exits with EXIT_BROKEN_PIPE instead
 * of 0. Any other write error is thrown as before.
 */
export function watchBrokenPipe(options: BrokenPipeOptions = {}): BrokenPipe {
  const { streams = [process.stdout, process.stderr] as readonly NodeJS.WritableStream[], setStatus = true, proc = process } = options;
  const ac = new AbortController();
  const onError = (e: NodeJS.ErrnoException): void => {
    if (!GONE.has(e.code ?? '')) throw e;
    ac.abort();
  };
  for (const s of streams) s.on('error', onError);
  // A write to a pipe fails at once but its 'error' event comes a tick later: a process.exit() right after the
  // last write learns of it from the stream's `errored`.
  const failed = () => streams.some((s) => GONE.has(((s as { errored?: NodeJS.ErrnoException | null }).errored?.code) ?? ''));
  proc.on('exit', (code) => {
    if (setStatus && (ac.signal.aborted || failed()) && (code ?? 0) === 0) proc.exitCode = EXIT_BROKEN_PIPE;
  });
  return { signal: ac.signal, get gone() { return ac.signal.aborted; } };
}
