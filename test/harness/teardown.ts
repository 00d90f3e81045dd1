// The last line of teardown for everything a test process starts (boxes, peers such as HAProxy, wrk, the ssh kit):
// what t.after() would have done, done synchronously when the process ends without running it. That is the case
// at process exit (an uncaught error, process.exit from a runner) and on SIGINT, SIGTERM and SIGHUP: the test
// runner forwards a SIGTERM it receives to the test file's process, and a signal ends Node without an 'exit'
// event, so an exit hook alone would leave HAProxy and the boxes running.
//
// Each part registers its own synchronous cleanup (kill by pid, remove its directories) and unregisters it once
// its ordinary teardown has run; nothing here kills by name.

type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
let installed = false;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function runAll(): void {
  // Newest first, as t.after() would: what was started last may depend on what was started before it.
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    try { fn(); } catch { /* best effort: the next cleanup still runs */ }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const sig of SIGNALS) {
    const handler = (): void => {
      runAll();
      process.removeListener(sig, handler);
      // Someone else (the test runner) also handles it: let them. Otherwise die of the signal, as we would have.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/**
 * Runs `fn` (synchronous, must not throw) if the process exits or is signalled before the returned function is
 * called; call that once the resource has been torn down the ordinary way.
 */
export function onProcessEnd(fn: Cleanup): () => void {
  install();
  cleanups.add(fn);
  return () => { cleanups.delete(fn); };
}

/** A child the test spawned itself (wrk, a CLI under test): SIGKILLed by pid if the process ends before it does. */
export function killOnProcessEnd<C extends { readonly pid?: number | undefined; once(event: 'exit', fn: () => void): unknown }>(child: C): C {
  const pid = child.pid;
  if (pid === undefined) return child;
  const unregister = onProcessEnd(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } });
  child.once('exit', unregister);
  return child;
}
