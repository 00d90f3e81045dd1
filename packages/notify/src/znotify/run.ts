// `znotify run`: the composition root of one supervised instance. Each concern lives in a part of its own;
// this file reads the systemd environment, builds the parts, wires them, and decides the exit status.
//
//   start:    NOTIFY_SOCKET / WATCHDOG_* / LISTEN_* validated; health listeners opened (health.ts) before the
//             instance exists, so a port in use fails with nothing to clean up; the databases waited for
//             (database-wait.ts), the warm-up slot taken (warmup-slot.ts); the instance spawned (child.ts).
//   warm-up:  the startup gate (startup-gate.ts): warm-up URLs in order, then startup-role checks; then READY=1,
//             the other probes (probe-scheduler.ts), the watchdog (liveness-guard.ts), and `set server B/S
//             state ready` through the Runtime API when a stats socket is configured (haproxy.ts).
//   running:  probe results and the frozen watch (frozen.ts) -> ServiceState (state.ts) -> STATUS= (notifier.ts),
//             agent and /health replies, and the liveness guard's WATCHDOG=1 or stack dump + WATCHDOG=trigger.
//   signals:  what each does is the signal policy's (signal-policy.ts, signals.ts): nothing reaches the instance
//             unless configured; SIGUSR1 may ask for a stack dump through the startup hook (stack-dump.ts).
//   stopping: SIGTERM -> the stop sequence (stop-sequence.ts): drain (to zero, with HAProxy's Runtime API),
//             stop signal, SIGKILL.
//
// The wrapper exits with the instance's status (128+signal when it died of one; 0 when it died of the stop
// signal during a stop, as systemd counts it), or 1 when the start failed. If the wrapper itself fails, the
// instance is killed first (and the kernel kills it through PR_SET_PDEATHSIG if the wrapper is SIGKILLed).
import { serverStat } from '@zope-systemd/common';
import { childEnv, listenFds, watchdogEnabled, type WatchdogInfo } from '../index.js';
import type { Address } from './address.js';
import type { Config } from './config.js';
import { Child, describeExit, exitStatusOf, type ChildExit } from './child.js';
import { formatDuration } from './duration.js';
import { databaseGate, waitForDatabases } from './database-wait.js';
import { EXIT, StartError } from './errors.js';
import { ServerStateQueue, type HaproxyServer } from './haproxy.js';
import { drainInEffect, type ServerSessions } from './drain.js';
import { openHealthListeners, type HealthListeners } from './health.js';
import { FrozenWatch, processGroup } from './frozen.js';
import { DUMP_PAUSE_MS, dumpStacksBeforeKill, LivenessGuard, passWatchdogSignal } from './liveness-guard.js';
import type { Logger } from './log.js';
import { Notifier } from './notifier.js';
import { newProbeState, realClock, type Clock, type ProbeState } from './probe.js';
import { ProberPool, ProbeScheduler } from './probe-scheduler.js';
import { installSignalHandlers, type SignalSource } from './signals.js';
import { createStackHook, signalRegistered, stackDumpEnv, type StackHook } from './stack-dump.js';
import { passStartupGate, type GateOutcome } from './startup-gate.js';
import { ServiceState } from './state.js';
import { StopSequence } from './stop-sequence.js';
import { takeWarmupSlot, WarmupSlot } from './warmup-slot.js';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  pid?: number;
  clock?: Clock;
  /** Where signal handlers go (default: process). main.ts passes the SignalInbox it created at start-up, so
   *  signals that came before the instance ran are acted on now; tests may pass an EventEmitter. */
  signals?: SignalSource;
  /** Use `setpriv --pdeathsig KILL` when available (default true). */
  pdeathsig?: boolean;
}

/** A handle on a running wrapper, also what the CLI uses to kill the child when the wrapper fails. */
export interface Running {
  /** Resolves with the exit status once the child is gone. */
  readonly done: Promise<number>;
  readonly child: Child;
  readonly state: ServiceState;
  /** Addresses actually bound (port 0 resolved), for tests and logs. */
  readonly bound: { agent?: Address; http?: Address };
  /** Begins the graceful stop (as SIGTERM does). */
  stop(): void;
  /** Emergency: SIGKILL the child's group now. */
  kill(): void;
}

/** The parts of one running wrapper, as the composition root wires them. */
interface Parts {
  config: Config;
  log: Logger;
  clock: Clock;
  state: ServiceState;
  child: Child;
  notifier: Notifier;
  listeners: HealthListeners;
  pool: ProberPool;
  /** Aborted when the wrapper stops probing (stop or exit): ends probes and the startup gate. */
  probing: AbortController;
  probes: ProbeScheduler;
  guard: LivenessGuard;
  stop: StopSequence;
  haproxy: ServerStateQueue | undefined;
  frozen: FrozenWatch;
  hook: StackHook | undefined;
  /** Held from before the spawn until systemd has READY=1, the start failed, or the wrapper ends. */
  slot: WarmupSlot | undefined;
  watchdog: WatchdogInfo | undefined;
  removeSignalHandlers: () => void;
}

export async function start(config: Config, log: Logger, opts: RunOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? realClock;
  if (config.command.length === 0) {
    throw new StartError('ERR_ZNOTIFY_COMMAND_NOT_FOUND', 'no command to run: give it after `--` or as `command:` in the config', EXIT.CONFIG);
  }
  const notifier = new Notifier(env, log);
  const { watchdog, fds } = readSystemdEnvironment(config, notifier, env, opts.pid ?? process.pid);
  const state = new ServiceState(config.name, config.warmup.urls.length, clock.now());
  state.addProbes(...config.checks.map(newProbeState));
  const listeners = await openHealthListeners(config.health, fds, state, () => clock.now(), log);
  const cenv = childEnv(env);
  const signals = opts.signals ?? process;
  const slot = await (async () => {
    await databasesFirst({ config, state, notifier, log, clock, env: cenv, signals });
    return await slotFirst({ config, state, notifier, log, clock, signals });
  })().catch(async (err: unknown) => {
    await listeners.close();
    throw err;
  });
  let hook: StackHook | undefined;
  const child = await (async () => {
    hook = config.signals.stackDump === 'hook' ? makeStackHook(env) : undefined;
    const ienv = stackDumpEnv(cenv, { dumpBeforeKill: config.watchdog.dumpStacks, ...(hook ? { hookDir: hook.dir } : {}) });
    return await spawnInstance(config, ienv, opts.pdeathsig !== false, log, watchdog);
  })().catch(async (err: unknown) => {
    hook?.remove();
    slot?.release();
    await listeners.close();
    throw err;
  });
  state.childStarted(child.pid);
  const parts = wire({ config, log, clock, state, child, notifier, listeners, watchdog, hook, slot, env: cenv, signals });
  const done = outcome(parts);
  void openGate(parts);
  return { done, child, state, bound: listeners.bound, stop: () => parts.stop.begin(), kill: () => child.killGroup() };
}

/**
 * The startup checks of the databases pass before the instance is spawned (database-wait.ts). A stop during the
 * wait ends the wrapper with 0 (nothing was started); the budget running out is a failed start (exit 69).
 */
async function databasesFirst(o: BeforeSpawn & { env: NodeJS.ProcessEnv }): Promise<void> {
  const checks = databaseGate(o.config.checks);
  if (checks.length === 0) return;
  const pool = new ProberPool();
  try {
    const r = await untilStopped(o.signals, (signal) => waitForDatabases({
      checks, deps: { http: (a) => pool.http(a), env: o.env }, budgetMs: o.config.warmup.budgetMs,
      notifier: o.notifier, log: o.log, clock: o.clock, onWaiting: (reason) => o.state.waitingBeforeStart(reason),
    }, signal));
    if (r.ok) return;
    o.notifier.send([{ type: 'status', text: r.stopped ? 'stopped before the instance was started' : `start failed: ${r.reason}` }]);
    throw new StartError(r.stopped ? 'ERR_ZNOTIFY_STOPPED' : 'ERR_ZNOTIFY_DATABASE_UNAVAILABLE', r.reason, r.stopped ? 0 : EXIT.UNAVAILABLE);
  } finally {
    await pool.close();
  }
}

/**
 * With `warmup.slot`, the slot is taken before the instance is spawned (warmup-slot.ts); returns it, held (or not,
 * when the wrapper goes on without it). A stop during the wait ends the wrapper with 0 (nothing was started).
 */
async function slotFirst(o: BeforeSpawn): Promise<WarmupSlot | undefined> {
  if (!o.config.warmup.slot) return undefined;
  const slot = new WarmupSlot(o.config.warmup.slot);
  const r = await untilStopped(o.signals, (signal) => takeWarmupSlot({
    slot, holderName: `${o.config.name} (pid ${process.pid})`, budgetMs: o.config.warmup.budgetMs,
    notifier: o.notifier, log: o.log, clock: o.clock, onWaiting: (reason) => o.state.waitingBeforeStart(reason),
  }, signal));
  if (r.ok) return slot;
  o.notifier.send([{ type: 'status', text: 'stopped before the instance was started' }]);
  throw new StartError('ERR_ZNOTIFY_STOPPED', 'stopped while waiting for the warm-up slot', 0);
}

interface BeforeSpawn { config: Config; state: ServiceState; notifier: Notifier; log: Logger; clock: Clock; signals: SignalSource }

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** Runs `fn` with a signal that a stop (SIGTERM, SIGINT) aborts: a wait before the instance exists ends at once. */
async function untilStopped<T>(signals: SignalSource, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onStop = () => stop.abort();
  for (const sig of STOP_SIGNALS) signals.on(sig, onStop);
  try {
    return await fn(stop.signal);
  } finally {
    for (const sig of STOP_SIGNALS) signals.off(sig, onStop);
  }
}

/** Malformed NOTIFY_SOCKET / WATCHDOG_* / LISTEN_* values: one clear line and exit 1, before anything starts. */
function readSystemdEnvironment(config: Config, notifier: Notifier, env: NodeJS.ProcessEnv, pid: number): { watchdog: WatchdogInfo | undefined; fds: { fd: number; name: string }[] } {
  let watchdog: WatchdogInfo | undefined;
  try {
    notifier.send([{ type: 'status', text: `starting ${config.command[0]}` }], true);
    watchdog = watchdogEnabled({ env, pid });
  } catch (err) {
    throw new StartError('ERR_ZNOTIFY_NOTIFY_SOCKET', err instanceof Error ? err.message : String(err), 1, { cause: err });
  }
  try {
    return { watchdog, fds: listenFds({ env, pid }) };
  } catch (err) {
    throw new StartError('ERR_ZNOTIFY_LISTEN_FDS', err instanceof Error ? err.message : String(err), 1, { cause: err });
  }
}

/** The startup hook's directory: in the unit's RuntimeDirectory= when it has one, else in the temp dir. */
function makeStackHook(env: NodeJS.ProcessEnv): StackHook {
  const base = env.RUNTIME_DIRECTORY?.split(':')[0] || undefined;
  try {
    return createStackHook(base);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StartError('ERR_ZNOTIFY_STACK_HOOK', `signals.stack-dump: hook: cannot create the hook directory in ${base ?? 'the temp directory'} (${e.code ?? e.message}); give the unit RuntimeDirectory= or set stack-dump: off`, EXIT.CANTCREAT, { cause: err });
  }
}

async function spawnInstance(config: Config, env: NodeJS.ProcessEnv, pdeathsig: boolean, log: Logger, watchdog: WatchdogInfo | undefined): Promise<Child> {
  const child = await Child.spawn(config.command, { env, pdeathsig });
  if (!child.pdeathsig && pdeathsig) {
    log.warn('setpriv --pdeathsig is not available (util-linux): if the wrapper is SIGKILLed, systemd (KillMode=control-group) has to clean up the instance');
  }
  log.info({ childPid: child.pid, command: config.command, pdeathsig: child.pdeathsig, watchdogMs: watchdog ? Number(watchdog.usec / 1000n) : null }, 'instance started');
  return child;
}

interface WireInput {
  config: Config; log: Logger; clock: Clock; state: ServiceState; child: Child; notifier: Notifier;
  listeners: HealthListeners; watchdog: WatchdogInfo | undefined; hook: StackHook | undefined; slot: WarmupSlot | undefined;
  env: NodeJS.ProcessEnv; signals: SignalSource;
}

/** Builds the parts and connects them: probe results feed STATUS= and the guard; a stop ends probes and pings. */
function wire(w: WireInput): Parts {
  const { config, log, clock, state, child, notifier } = w;
  const now = () => clock.now();
  const probing = new AbortController();
  const pool = new ProberPool();
  const frozen = new FrozenWatch(() => (child.alive ? child.pid : undefined), (reason) => {
    state.frozenChanged(reason);
    if (reason) log.error({ childPid: child.pid, reason }, `${reason}: not ready, not live`);
    else log.info({ childPid: child.pid }, 'instance runs again');
    if (state.phase !== 'running') return;
    notifier.status(state.runningStatus(now()));
    guard.check();
  }, {
    onPause: (ms) => log.warn({ pausedMs: Math.round(ms) }, `the wrapper did not run for ${(ms / 1000).toFixed(1)} s (its cgroup frozen, e.g. systemctl freeze; SIGSTOP; or no CPU for it): health answers and watchdog pings were held meanwhile`),
  });
  const guard: LivenessGuard = new LivenessGuard({ watchdog: w.watchdog, state, child, notifier, log, dumpStacks: config.watchdog.dumpStacks, now, look: () => frozen.look() });
  const probes = new ProbeScheduler({
    // A frozen instance is not busy: its http timeouts count as failures (the kernel still accepts its TCP).
    pool, env: w.env, clock, log, childAlive: () => child.alive && state.frozen === undefined, hangTimeoutMs: config.watchdog.hangTimeoutMs,
    onResult: () => {
      if (state.phase !== 'running') return;
      notifier.status(state.runningStatus(now()));
      guard.check();
    },
  }, probing.signal);
  // A `ready` still queued when the stop begins is not sent: the `drain` is what HAProxy must end up with.
  const haproxy: ServerStateQueue | undefined = config.haproxy ? new ServerStateQueue(config.haproxy, log, (): boolean => !stop.started) : undefined;
  const target = config.haproxy;
  const sessions = target ? { where: `${target.backend}/${target.server}`, socket: target.statsSocket, read: (signal: AbortSignal) => serverSessions(target, signal) } : undefined;
  const stop: StopSequence = new StopSequence({
    stop: config.stop, child, state, notifier, log, haproxy, ...(sessions ? { sessions } : {}),
    onBegin: () => { probing.abort(); guard.stop(); frozen.stop(); },
  });
  const removeSignalHandlers = installSignalHandlers(w.signals, {
    child, policy: config.signals, answered: () => state.answered, stop: () => stop.begin(), log,
    dumpStacks: () => dumpOnDemand(w.hook, child, log),
    watchdogSignal: () => { guard.noteWatchdogSignal(); passWatchdogSignal(child, log); },
  });
  return { config, log, clock, state, child, notifier, listeners: w.listeners, pool, probing, probes, guard, stop, haproxy, frozen, hook: w.hook, slot: w.slot, watchdog: w.watchdog, removeSignalHandlers };
}

/** The server's sessions and whether its drain is in effect, read with `show stat` (level user suffices). */
async function serverSessions(t: HaproxyServer, signal: AbortSignal): Promise<ServerSessions> {
  const s = await serverStat(t.statsSocket, t.backend, t.server, { timeoutMs: 2000, signal });
  return { current: s.current, queued: s.queued, drained: drainInEffect(s.status) };
}

/** SIGUSR1 with signals.stack-dump: hook: the processes that registered the dump get SIGUSR1, nothing else does. */
function dumpOnDemand(hook: StackHook | undefined, child: Child, log: Logger): void {
  const sent = hook ? signalRegistered(hook, child.pid, (pid) => processGroup(pid)) : [];
  if (sent.length) log.info({ pids: sent }, 'SIGUSR1: asked the instance for a stack dump (startup hook)');
  else log.warn({ childPid: child.pid }, 'SIGUSR1: no process of the instance has registered the stack dump (signals.stack-dump: hook); not forwarded, it would kill the instance');
}

/** Startup probes and the startup gate, then READY=1, or a failed start. */
async function openGate(p: Parts): Promise<void> {
  const { config, state, probing } = p;
  try {
    const startupProbes = state.probes.filter((q) => q.spec.roles.includes('startup'));
    for (const q of startupProbes) p.probes.start(q, !q.spec.roles.some((r) => r !== 'startup'));
    const gate = await passStartupGate({
      warmup: config.warmup, prober: p.pool.http(config.http), startupProbes, state, notifier: p.notifier, log: p.log, clock: p.clock,
    }, probing.signal);
    if (probing.signal.aborted || !p.child.alive || p.stop.started) return;
    if (gate.ok) await becomeReady(p, gate, startupProbes);
    else await failStart(p, gate);
  } catch (err) {
    p.log.error({ err }, 'warm-up failed unexpectedly');
    const failure = `internal error: ${(err as Error).message}`;
    state.wrapperFailed(failure);
    p.stop.begin({ drain: false, reason: failure });
  }
}

async function becomeReady(p: Parts, gate: Extract<GateOutcome, { ok: true }>, startupProbes: readonly ProbeState[]): Promise<void> {
  const { state } = p;
  const readyAt = p.clock.now();
  const text = `ready: warm-up ${state.warmup.done}/${state.warmup.total} in ${formatDuration(gate.elapsedMs)}`;
  p.notifier.announce([{ type: 'ready' }, { type: 'status', text }]);
  // The agent and /health/ready say "ready" from the state change below, and HAProxy acts on them: only once
  // systemd has processed READY=1 (BARRIER=1), so the client is never UP in HAProxy while systemd still has it
  // starting (and an `After=` neighbour is not yet started).
  await p.notifier.settled();
  // systemd has the unit active: the next client waiting for the warm-up slot may start (and its After= job too).
  p.slot?.release();
  if (p.probing.signal.aborted || !p.child.alive || p.stop.started) return;
  state.becameReady(readyAt);
  p.log.info({ elapsedMs: Math.round(gate.elapsedMs), warmup: gate.summary }, text);
  void p.haproxy?.set('ready');
  p.frozen.start(Math.min(1000, p.watchdog ? p.watchdog.intervalMs / 2 : 1000));
  if (p.hook && p.hook.registeredPids().length === 0) {
    p.log.warn({ dir: p.hook.dir }, 'signals.stack-dump: hook: the instance\'s Python did not load the startup hook (not CPython 3, run with -E/-I/-S, or PYTHONPATH reset by its start script): SIGUSR1 will not dump its stacks');
  }
  // Kubernetes order: readiness and liveness probes start once startup is done (startup probes that also have
  // those roles simply keep running).
  for (const q of state.probes) if (!startupProbes.includes(q)) p.probes.start(q, false);
  p.guard.start();
}

async function failStart(p: Parts, gate: Extract<GateOutcome, { ok: false }>): Promise<void> {
  const failure = gate.reason;
  p.state.startFailed(failure);
  p.log.error({ elapsedMs: Math.round(gate.elapsedMs) }, `start failed: ${failure}`);
  p.notifier.send([{ type: 'status', text: `start failed: ${failure}` }]);
  p.slot?.release();
  // Stacks explain an instance that did not answer (hung, or not listening); one that answered wrongly (a 404, a
  // 500) is stopped as every stop does it (stop.signal, then SIGKILL after stop.timeout), without a dump that
  // would bury the cause under every thread's traceback.
  if (p.config.watchdog.dumpStacks && gate.silent) await dumpStacksBeforeKill(p.child, p.log, DUMP_PAUSE_MS);
  else if (p.config.watchdog.dumpStacks) p.log.info({ signal: p.config.stop.signal }, `the instance answers, so no stack dump: stopping it with ${p.config.stop.signal}`);
  p.stop.begin({ drain: false, reason: `start failed: ${failure}` });
}

/** Waits for the instance to end, says how it ended, lets the stop finish, closes everything: the exit status. */
async function outcome(p: Parts): Promise<number> {
  const exit = await p.child.exited;
  p.slot?.release();
  p.state.childExited();
  p.probing.abort();
  p.guard.stop();
  p.frozen.stop();
  const code = reportExit(p, exit);
  await p.stop.finished;
  // After WATCHDOG=trigger: stay until systemd's watchdog signal, so the unit ends as a watchdog failure.
  await p.guard.settled();
  await p.listeners.close();
  await p.pool.close();
  p.hook?.remove();
  // Last: with the process as the source, removing a handler gives the signal back its default action.
  p.removeSignalHandlers();
  return code;
}

function reportExit(p: Parts, exit: ChildExit): number {
  const { state, log, notifier } = p;
  const code = exitStatusOf(exit);
  if (state.failure !== undefined) {
    // The cause, once more as the wrapper's last line and STATUS=: after the instance's own output on its way out
    // (a stack dump, waitress's last words), so that `systemctl status` and a 20-line journal tail end with it.
    const text = state.phase === 'failed' ? `start failed: ${state.failure}` : state.failure;
    log.error({ exitStatus: 1, instance: describeExit(exit) }, text);
    notifier.send([{ type: 'status', text }]);
    return 1;
  }
  if (p.stop.started) {
    // An instance without a handler for its stop signal dies of it. systemd counts a main process killed by
    // SIGTERM/SIGINT/SIGHUP/SIGPIPE during a stop as a clean exit (systemd.service(5), SuccessExitStatus=);
    // the wrapper's 128+signal would make every such stop leave the unit failed. So: 0, as systemd would.
    const stopCode = exit.signal !== null && exit.signal === p.config.stop.signal ? 0 : code;
    log.info({ exitStatus: stopCode, how: describeExit(exit) }, `instance ${describeExit(exit)} after stop`);
    return stopCode;
  }
  if (state.stateName === 'starting') {
    const failure = `instance ${describeExit(exit)} during warm-up: ${notifier.lastStatus}`;
    state.startFailed(failure);
    log.error({ exitStatus: code }, failure);
    notifier.send([{ type: 'status', text: failure }]);
    return code === 0 ? 1 : code;
  }
  log.error({ exitStatus: code }, `instance ${describeExit(exit)}`);
  notifier.send([{ type: 'status', text: `instance ${describeExit(exit)}` }]);
  return code;
}
