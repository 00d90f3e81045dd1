// `znotify run`: the whole life of one supervised instance.
//
//   start:    validate NOTIFY_SOCKET / WATCHDOG_* / LISTEN_*, bind the health sockets (before the child
//             exists, so a port in use fails without anything to clean up), spawn the child.
//   warm-up:  warm-up URLs in order + startup-role checks; STATUS= progress, EXTEND_TIMEOUT_USEC= while
//             progressing; then READY=1 (and `set server B/S state ready` when a stats socket is configured).
//   running:  readiness and liveness probes; WATCHDOG=1 at half WATCHDOG_USEC while liveness holds. When it
//             is lost: SIGUSR1 to the child (Zope dumps its thread stacks), a short pause for the dump to
//             reach the journal, then WATCHDOG=trigger, so systemd applies the unit's watchdog policy at once
//             (sd_notify(3): "the same behaviour as if WatchdogSec= is enabled and the service did not send
//             WATCHDOG=1 in time") instead of after a silent WatchdogSec.
//   stopping: on SIGTERM: STOPPING=1, agent says `drain` (+ Runtime API drain), wait `stop.drain`, send the
//             stop signal, SIGKILL the child's group after `stop.timeout`; exit with the child's status.
//
// The wrapper exits with the child's status (128+signal when it died of one). If the wrapper itself fails,
// the child is killed first (and the kernel kills it through PR_SET_PDEATHSIG if the wrapper is SIGKILLed).
import type net from 'node:net';
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  childEnv, listenFds, listenServer, notify, NotifyError, watchdogEnabled, WatchdogPinger,
  type NotifyState, type WatchdogInfo,
} from '../index.js';
import { formatAddress, type Address } from './address.js';
import type { CheckSpec, Config } from './config.js';
import { HttpProber, runCheck, type CheckDeps } from './checks.js';
import { Child, describeExit, exitStatusOf, findSetpriv } from './child.js';
import { formatDuration, msToUsec } from './duration.js';
import { StartError } from './errors.js';
import { setServerState } from './haproxy.js';
import type { SignalSource } from './signals.js';
import { agentServer, bind, closeServer, httpServer } from './health.js';
import { redact, type Logger } from './log.js';
import { newProbeState, realClock, runProbe, type Clock, type ProbeState } from './probe.js';
import { ServiceState } from './state.js';
import { warmUp, warmupStatus } from './warmup.js';

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

/** Slack added to EXTEND_TIMEOUT_USEC= so that the next message always arrives before systemd gives up. */
const EXTEND_SLACK_MS = 10_000;
/** Pause between SIGUSR1 (stack dump) and WATCHDOG=trigger, at most; never more than half a watchdog interval. */
const DUMP_PAUSE_MS = 2000;
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGUSR1', 'SIGUSR2'];

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

export async function start(config: Config, log: Logger, opts: RunOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const pid = opts.pid ?? process.pid;
  const clock = opts.clock ?? realClock;
  const signals = opts.signals ?? process;

  if (config.command.length === 0) {
    throw new StartError('ZNOTIFY_COMMAND_NOT_FOUND', 'no command to run: give it after `--` or as `command:` in the config', 78);
  }

  // --- systemd environment: malformed values are one clear line and exit 1, before anything starts.
  const send = makeNotifier(env, log);
  let watchdog: WatchdogInfo | undefined;
  try {
    send([{ type: 'status', text: `starting ${config.command[0]}` }], true);
    watchdog = watchdogEnabled({ env, pid });
  } catch (err) {
    throw new StartError('ZNOTIFY_NOTIFY_SOCKET', err instanceof Error ? err.message : String(err), 1, { cause: err });
  }
  let fds: { fd: number; name: string }[];
  try {
    fds = listenFds({ env, pid });
  } catch (err) {
    throw new StartError('ZNOTIFY_LISTEN_FDS', err instanceof Error ? err.message : String(err), 1, { cause: err });
  }

  const state = new ServiceState(config.name, config.warmup.urls.length, clock.now());
  const now = () => clock.now();

  // --- health sockets: inherited by FileDescriptorName, else bound to the configured address.
  const servers: net.Server[] = [];
  const bound: { agent?: Address; http?: Address } = {};
  const closeAll = async () => { await Promise.all(servers.map((s) => closeServer(s))); };
  try {
    for (const f of fds) {
      if (f.name !== 'agent' && f.name !== 'http') {
        log.warn({ fd: f.fd, fdName: f.name }, 'ignoring a passed socket that is not named agent or http (set FileDescriptorName=)');
      }
    }
    const agentFd = fds.find((f) => f.name === 'agent');
    const httpFd = fds.find((f) => f.name === 'http');
    if (agentFd) {
      servers.push(await listenServer(agentFd.fd, agentServer(state)).catch((err: unknown) => {
        throw new StartError('ZNOTIFY_LISTEN_FAILED', `health agent on passed fd ${agentFd.fd}: ${(err as Error).message}`, 1, { cause: err });
      }));
      log.info({ fd: agentFd.fd }, 'health agent listening on the socket systemd passed (agent)');
    } else if (config.health.agent) {
      const s = agentServer(state);
      bound.agent = await bind(s, config.health.agent, 'health agent');
      servers.push(s);
      log.info({ address: formatAddress(bound.agent) }, 'health agent listening');
    }
    if (httpFd) {
      servers.push(await listenServer(httpFd.fd, httpServer(state, now) as net.Server).catch((err: unknown) => {
        throw new StartError('ZNOTIFY_LISTEN_FAILED', `health http on passed fd ${httpFd.fd}: ${(err as Error).message}`, 1, { cause: err });
      }));
      log.info({ fd: httpFd.fd }, 'health http listening on the socket systemd passed (http)');
    } else if (config.health.http) {
      const s: http.Server = httpServer(state, now);
      bound.http = await bind(s, config.health.http, 'health http');
      servers.push(s);
      log.info({ address: formatAddress(bound.http) }, 'health http listening');
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  // --- the child
  const cenv = childEnv(env);
  let child: Child;
  try {
    child = await Child.spawn(config.command, { env: cenv, pdeathsig: opts.pdeathsig !== false });
  } catch (err) {
    await closeAll();
    throw err;
  }
  state.childPid = child.pid;
  state.childAlive = true;
  if (!child.pdeathsig && opts.pdeathsig !== false) {
    log.warn('setpriv --pdeathsig is not available (util-linux): if the wrapper is SIGKILLed, systemd (KillMode=control-group) has to clean up the instance');
  }
  log.info({ childPid: child.pid, command: config.command, pdeathsig: child.pdeathsig, watchdogMs: watchdog ? Number(watchdog.usec / 1000n) : null }, 'instance started');

  const probers = new Map<string, HttpProber>();
  const deps: CheckDeps = {
    http(address) {
      const key = formatAddress(address);
      let p = probers.get(key);
      if (!p) { p = new HttpProber(address); probers.set(key, p); }
      return p;
    },
    env: cenv,
  };

  const lifetime = new AbortController(); // aborted when the wrapper stops probing (stop or exit)
  const warmupAbort = new AbortController();
  let pinger: WatchdogPinger | undefined;
  let stopRequested = false;
  let skipDrain: (() => void) | undefined;
  let lastStatus = '';

  const status = (text: string, extra: NotifyState[] = []) => {
    if (text === lastStatus && extra.length === 0) return;
    lastStatus = text;
    send([...extra, { type: 'status', text: `${text}` }]);
  };

  // --- probes
  const probeStates = new Map<CheckSpec, ProbeState>();
  for (const spec of config.checks) {
    const p = newProbeState(spec);
    probeStates.set(spec, p);
    state.probes.push(p);
  }
  const describeRunning = (): string => {
    if (state.livenessLost) return `liveness lost: ${state.livenessLost}`;
    if (state.ready()) {
      const busy = state.probes.find((p) => p.busySince !== undefined && p.status !== 'fail');
      return busy ? `ready, busy: ${busy.spec.name} unanswered for ${formatDuration(now() - busy.busySince!)} while TCP connects` : 'ready';
    }
    return `not ready: ${state.notReadyReason() ?? 'unknown'}`;
  };
  const startProbe = (p: ProbeState, untilPass: boolean) => {
    void runProbe({
      state: p,
      untilPass,
      clock,
      run: (signal) => runCheck(p.spec, deps, signal),
      context: () => ({ childAlive: child.alive, hangTimeoutMs: config.watchdog.hangTimeoutMs }),
      onResult: (ps, r, tr) => {
        if (tr) {
          const lvl = tr === 'fail' ? 'warn' : 'info';
          log[lvl]({ check: ps.spec.name, type: ps.spec.type, result: r.detail }, tr === 'fail' ? `check ${ps.spec.name} failing` : `check ${ps.spec.name} passing`);
        } else {
          log.debug({ check: ps.spec.name, ok: r.ok, result: r.detail }, 'check run');
        }
        if (state.phase === 'running') {
          status(describeRunning());
          checkLiveness();
        }
      },
    }, lifetime.signal).catch((err: unknown) => log.error({ err, check: p.spec.name }, 'probe loop failed'));
  };

  // --- liveness loss -> stack dump -> WATCHDOG=trigger
  const checkLiveness = () => {
    if (!watchdog || state.phase !== 'running' || state.livenessLost !== undefined || !child.alive) return;
    if (state.live(now())) return;
    const reason = state.notLiveReason(now()) ?? 'liveness lost';
    state.livenessLost = reason;
    pinger?.stop();
    log.error({ reason, dumpStacks: config.watchdog.dumpStacks }, 'liveness lost: asking systemd to apply the watchdog policy');
    status(`liveness lost: ${reason}`);
    void (async () => {
      if (config.watchdog.dumpStacks && child.signal('SIGUSR1')) {
        log.warn({ childPid: child.pid }, 'sent SIGUSR1 so the instance logs its thread stacks');
        await sleep(Math.min(DUMP_PAUSE_MS, watchdog!.intervalMs / 2));
      }
      if (state.phase === 'running' && child.alive) send([{ type: 'watchdog-trigger' }]);
    })();
  };

  // --- signals
  /** Set once the instance answered a warm-up request (any status), or at READY=1: its handlers exist by then. */
  let instanceAnswered = false;
  const handlers = new Map<NodeJS.Signals, () => void>();
  const on = (sig: NodeJS.Signals, fn: () => void) => { handlers.set(sig, fn); signals.on(sig, fn); };
  // SIGHUP/SIGUSR1/SIGUSR2 kill a process that has no handler for them yet, and Zope installs its handlers
  // before it serves: until the instance has answered HTTP once (any status), they are logged and dropped.
  // SIGINT is a stop either way, so it always goes through.
  for (const sig of FORWARDED) {
    on(sig, () => {
      if (sig !== 'SIGINT' && !instanceAnswered) {
        log.warn({ signal: sig, childPid: child.pid }, `${sig} before the instance answered HTTP: not forwarded (it may not handle ${sig} yet, and would die of it)`);
        return;
      }
      log.info({ signal: sig, childPid: child.pid }, 'forwarding signal to the instance');
      child.signal(sig);
    });
  }
  on('SIGTERM', () => { log.info('SIGTERM: stopping'); beginStop(); });
  // systemd's WatchdogSignal= (default SIGABRT) after a watchdog timeout: make sure the instance gets it
  // too (KillMode=mixed/process would not deliver it), then leave with the instance.
  on('SIGABRT', () => { log.warn('SIGABRT (watchdog signal?): passing it on'); child.signal('SIGABRT'); });

  // --- stop
  let stopping: Promise<void> | undefined;
  function beginStop(opts: { drain?: boolean; reason?: string } = {}): void {
    if (stopping) {
      if (!stopRequested) return;
      skipDrain?.(); // a second SIGTERM: no more draining
      return;
    }
    stopRequested = true;
    stopping = doStop(opts.drain ?? true, opts.reason);
  }

  async function doStop(drainWanted: boolean, reason?: string): Promise<void> {
    const wasRunning = state.phase === 'running';
    warmupAbort.abort();
    pinger?.stop();
    lifetime.abort();
    if (state.phase !== 'failed') state.phase = 'stopping';
    const drainMs = wasRunning && drainWanted ? config.stop.drainMs : 0;
    const budget = drainMs + config.stop.timeoutMs + EXTEND_SLACK_MS;
    const text = reason ?? (drainMs ? `stopping: draining for ${formatDuration(drainMs)}` : 'stopping');
    lastStatus = text;
    send([{ type: 'stopping' }, { type: 'status', text }, { type: 'extend-timeout', usec: msToUsec(budget) }]);
    // The drain and stop timers end with the stop, also when the instance exits early: nothing of them may hold
    // the event loop (start() is also embedded, in tests).
    const timers = new AbortController();
    const wait = (ms: number) => sleep(ms, undefined, { signal: timers.signal }).catch(() => {});
    try {
      if (drainMs) {
        if (config.haproxy) void pushHaproxy('drain');
        await Promise.race([
          wait(drainMs),
          child.exited,
          new Promise<void>((resolve) => { skipDrain = resolve; }),
        ]);
      }
      if (child.alive) {
        log.info({ signal: config.stop.signal, childPid: child.pid, timeoutMs: config.stop.timeoutMs }, 'sending the stop signal');
        status(`stopping: sent ${config.stop.signal}, waiting up to ${formatDuration(config.stop.timeoutMs)}`);
        child.signal(config.stop.signal);
        const t = await Promise.race([child.exited.then(() => 'exited' as const), wait(config.stop.timeoutMs).then(() => 'timeout' as const)]);
        if (t === 'timeout' && child.alive) {
          log.warn({ childPid: child.pid }, `no exit within ${formatDuration(config.stop.timeoutMs)}: SIGKILL`);
          status(`stopping: SIGKILL after ${formatDuration(config.stop.timeoutMs)}`);
          child.killGroup();
        }
      }
    } finally {
      timers.abort();
    }
  }

  // Runtime API commands go out one after the other, in the order decided: each is a connection of its own, and
  // a `ready` overtaken by the `drain` of a stop right after READY would leave the server taking traffic.
  let haproxyQueue: Promise<void> = Promise.resolve();
  function pushHaproxy(s: 'ready' | 'drain'): Promise<void> {
    haproxyQueue = haproxyQueue.then(() => (s === 'ready' && stopRequested ? undefined : sendHaproxy(s)));
    return haproxyQueue;
  }

  async function sendHaproxy(s: 'ready' | 'drain'): Promise<void> {
    const t = config.haproxy!;
    try {
      const answer = await setServerState(t, s);
      if (answer) log.warn({ backend: t.backend, server: t.server, answer }, `HAProxy refused state ${s}`);
      else log.info({ backend: t.backend, server: t.server }, `HAProxy server set to ${s}`);
    } catch (err) {
      log.warn({ err, socket: t.statsSocket }, `could not set the HAProxy server to ${s}`);
    }
  }

  // --- the outcome
  let failure: string | undefined;
  const done = (async (): Promise<number> => {
    const exit = await child.exited;
    state.childAlive = false;
    warmupAbort.abort();
    lifetime.abort();
    pinger?.stop();
    let code = exitStatusOf(exit);
    if (failure) {
      code = 1;
    } else if (stopping) {
      // An instance without a handler for its stop signal dies of it. systemd counts a main process killed by
      // SIGTERM/SIGINT/SIGHUP/SIGPIPE during a stop as a clean exit (systemd.service(5), SuccessExitStatus=);
      // the wrapper's 128+signal would make every such stop leave the unit failed. So: 0, as systemd would.
      if (exit.signal !== null && exit.signal === config.stop.signal && !failure) code = 0;
      log.info({ exitStatus: code, how: describeExit(exit) }, `instance ${describeExit(exit)} after stop`);
    } else if (state.phase === 'starting') {
      failure = `instance ${describeExit(exit)} during warm-up: ${lastStatus}`;
      state.failure = failure;
      state.phase = 'failed';
      log.error({ exitStatus: code }, failure);
      send([{ type: 'status', text: failure }]);
      if (code === 0) code = 1;
    } else {
      log.error({ exitStatus: code }, `instance ${describeExit(exit)}`);
      send([{ type: 'status', text: `instance ${describeExit(exit)}` }]);
    }
    await stopping;
    await closeAll();
    await Promise.all([...probers.values()].map((p) => p.close()));
    // Last: with the process as the source, removing a handler gives the signal back its default action.
    for (const [sig, fn] of handlers) signals.off(sig, fn);
    return code;
  })();

  // --- warm-up, then READY
  const startupProbes = state.probes.filter((p) => p.spec.roles.includes('startup'));
  for (const p of startupProbes) startProbe(p, !p.spec.roles.some((r) => r !== 'startup'));
  void (async () => {
    const prober = deps.http(config.http);
    const outcome = await warmUp({
      urls: config.warmup.urls,
      budgetMs: config.warmup.budgetMs,
      intervalMs: config.warmup.intervalMs,
      prober,
      clock,
      onEvent: (e) => {
        if (e.result?.info?.status !== undefined) instanceAnswered = true;
        state.warmup = { done: e.done, total: e.total, last: e.result ? `${e.url.path} ${e.result.detail}` : state.warmup.last };
        const text = warmupStatus(e);
        if (e.kind === 'attempt') {
          // Everything until the next message fits in this step: request timeout + pause + slack.
          status(text, [{ type: 'extend-timeout', usec: msToUsec(e.nextStepMs + config.warmup.intervalMs + EXTEND_SLACK_MS) }]);
        } else {
          status(text);
          log[e.kind === 'pass' ? 'info' : 'debug']({ url: e.url.path, host: e.url.host, attempt: e.attempt, result: e.result?.detail }, text);
        }
      },
    }, warmupAbort.signal);
    // Startup checks must pass too, within the same budget.
    let startupFailure: string | undefined;
    if (outcome.ok && startupProbes.length) {
      const deadline = now() + Math.max(0, config.warmup.budgetMs - outcome.elapsedMs);
      // The same STATUS= and a fresh EXTEND_TIMEOUT_USEC= about once a second, not on every 50 ms poll (that was
    // 20 datagrams a second to systemd for as long as a startup check took).
    let extendedAt = -Infinity;
    while (!warmupAbort.signal.aborted && startupProbes.some((p) => p.status !== 'pass')) {
        if (now() >= deadline) {
          const p = startupProbes.find((q) => q.status !== 'pass')!;
          startupFailure = `startup check ${p.spec.name} did not pass within the warm-up budget: ${p.last?.detail ?? 'no result'}`;
          break;
        }
        const waiting = `warm-up ${state.warmup.done}/${state.warmup.total}: waiting for startup check ${startupProbes.find((q) => q.status !== 'pass')!.spec.name}`;
        if (waiting !== lastStatus || now() - extendedAt >= 1000) {
          extendedAt = now();
          status(waiting, [{ type: 'extend-timeout', usec: msToUsec(config.warmup.intervalMs + EXTEND_SLACK_MS + 5000) }]);
        }
        await clock.sleep(Math.min(50, Math.max(1, deadline - now())), warmupAbort.signal);
      }
    }
    if (warmupAbort.signal.aborted || !child.alive || stopping) return;
    if (!outcome.ok || startupFailure) {
      failure = outcome.ok ? startupFailure! : outcome.reason;
      state.failure = failure;
      state.phase = 'failed';
      log.error({ elapsedMs: Math.round(outcome.elapsedMs) }, `start failed: ${failure}`);
      send([{ type: 'status', text: `start failed: ${failure}` }]);
      if (config.watchdog.dumpStacks && child.signal('SIGUSR1')) {
        log.warn('sent SIGUSR1 so the instance logs its thread stacks');
        await sleep(DUMP_PAUSE_MS);
      }
      beginStop({ drain: false, reason: `start failed: ${failure}` });
      return;
    }
    // READY
    instanceAnswered = true;
    state.phase = 'running';
    state.readyAt = now();
    lastStatus = `ready: warm-up ${state.warmup.done}/${state.warmup.total} in ${formatDuration(outcome.elapsedMs)}`;
    send([{ type: 'ready' }, { type: 'status', text: lastStatus }]);
    log.info({ elapsedMs: Math.round(outcome.elapsedMs), warmup: outcome.summary }, lastStatus);
    if (config.haproxy) void pushHaproxy('ready');
    // Kubernetes order: readiness and liveness probes start once startup is done (startup probes that
    // also have those roles simply keep running).
    for (const p of state.probes) if (!startupProbes.includes(p)) startProbe(p, false);
    if (watchdog) {
      pinger = new WatchdogPinger({
        intervalMs: watchdog.intervalMs,
        healthy: () => state.phase === 'running' && state.live(now()),
        send: () => send([{ type: 'watchdog' }]),
        onPing: () => { state.counters.watchdogPings++; },
        onSkip: () => checkLiveness(),
        ref: false,
      });
      pinger.start();
    }
  })().catch((err: unknown) => {
    log.error({ err }, 'warm-up failed unexpectedly');
    failure = `internal error: ${(err as Error).message}`;
    beginStop({ drain: false, reason: failure });
  });

  return {
    done,
    child,
    state,
    bound,
    stop: () => beginStop(),
    kill: () => child.killGroup(),
  };
}

/**
 * The one place notifications go out. Errors after start-up are logged once per code and otherwise
 * ignored: losing systemd must not take the instance down. `strict` rethrows (the start-up probe).
 */
function makeNotifier(env: NodeJS.ProcessEnv, log: Logger): (states: NotifyState[], strict?: boolean) => void {
  const reported = new Set<string>();
  return (states, strict = false) => {
    try {
      // STATUS= shows in `systemctl status` to anyone: check details can quote a DSN or a command's output.
      notify(states.map((st) => (st.type === 'status' ? { ...st, text: redact(st.text) } : st)), { env });
    } catch (err) {
      if (strict) throw err;
      const code = err instanceof NotifyError ? err.code : 'unknown';
      if (!reported.has(code)) {
        reported.add(code);
        log.error({ err, states: states.map((s) => s.type) }, 'cannot notify systemd');
      }
    }
  };
}
