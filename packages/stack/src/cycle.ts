// One client out of service and back, the careful way (the path both rollout and recycle take):
//   drain in HAProxy (its agent disabled, so it cannot undo the drain) -> wait until HAProxy shows no
//   session and nothing queued on it (bounded) -> systemctl restart, which returns at READY=1, i.e. warm
//   (the wrapper's own stop drain is cut short by a second SIGTERM: HAProxy has already drained it) ->
//   give it back (agent on, state ready) -> wait until HAProxy shows it UP (not only systemd: HAProxy
//   sees a restarted client UP 0.3-1 s after `systemctl restart` returns).
// `track.phase` says at every moment what putBack() has to undo if the operation is interrupted.
import { setTimeout as sleep } from 'node:timers/promises';
import { StackError } from './errors.js';
import { resultText, startLimitHint, startLimitText } from './start-limit.js';
import type { LoadBalancer, ServerView } from './haproxy.js';
import type { Progress } from './progress.js';
import type { ClientRef, StackRef } from './stack.js';
import { wrapperDraining } from './health.js';
import { healthUnreadable } from './reach.js';
import { ZSTACK_DRAIN_TIMEOUT_MS, ZSTACK_UP_TIMEOUT_MS } from '@zope-systemd/common';
import type { SystemdHost, UnitProps } from './systemd.js';

export interface Timing {
  /** Longest wait for a drained client's sessions to end; then it is restarted anyway, with a warning. */
  drainTimeoutMs: number;
  /** Longest wait for HAProxy to show a READY client UP. */
  upTimeoutMs: number;
  pollMs: number;
}

export const DEFAULT_TIMING: Timing = { drainTimeoutMs: ZSTACK_DRAIN_TIMEOUT_MS, upTimeoutMs: ZSTACK_UP_TIMEOUT_MS, pollMs: 100 };

export interface OpContext {
  stack: StackRef;
  systemd: SystemdHost;
  lb: LoadBalancer;
  progress: Progress;
  signal: AbortSignal;
  timing: Timing;
}

export type CyclePhase = 'idle' | 'drained' | 'restarting' | 'started' | 'done';
export interface CycleTrack {
  client: ClientRef;
  phase: CyclePhase;
  /**
   * The unit's InvocationID when its restart was issued (empty when systemd gave none). A restart that was
   * interrupted is judged by it: systemd gives every start a new one, so a different one means the old instance was
   * stopped and a new one started, whether or not it is READY yet.
   */
  invocationBefore?: string;
}

const pause = (ms: number, signal: AbortSignal): Promise<void> => sleep(ms, undefined, { signal }).catch(() => {
  throw new StackError('EINTERRUPTED', 'interrupted');
});

async function serverOf(ctx: OpContext, c: ClientRef): Promise<ServerView> {
  const v = (await ctx.lb.servers(c.backend)).get(c.server);
  if (!v) throw new StackError('ECONFIG', `HAProxy has no server ${c.backend}/${c.server}`, { hint: 'the HAProxy configuration does not match the stack file: include the backend zunitgen generated and reload HAProxy' });
  return v;
}

/** Drains the client and waits until nothing is in flight on it (bounded by timing.drainTimeoutMs). */
export async function drainClient(ctx: OpContext, t: CycleTrack): Promise<void> {
  const c = t.client;
  ctx.progress.step(c.name, 'draining');
  await ctx.lb.drain(c.backend, c.server);
  t.phase = 'drained';
  const deadline = Date.now() + ctx.timing.drainTimeoutMs;
  for (;;) {
    const v = await serverOf(ctx, c);
    if (v.sessions === 0) return;
    if (Date.now() >= deadline) {
      ctx.progress.line(`warning: ${c.name} still has ${v.sessions} session(s) after ${ctx.timing.drainTimeoutMs / 1000} s of drain; restarting it anyway (raise --drain-timeout for longer requests)`);
      return;
    }
    ctx.progress.step(c.name, 'draining', `${v.sessions} session(s) left`);
    await pause(ctx.timing.pollMs, ctx.signal);
  }
}

/**
 * `systemctl restart`; resolves at READY=1. Cuts the wrapper's own drain short (already drained above). The unit's
 * start limit count is forgotten first (reset-failed): a restart asked for on purpose (a rollout, a recycle, a
 * resumed rollout at a client systemd gave up on) is never refused for restarts systemd made on its own, and counts
 * as the first start of a fresh span. A manual restart sets NRestarts= back to 0 anyway, so nothing else is lost.
 */
export async function restartClient(ctx: OpContext, t: CycleTrack): Promise<void> {
  const c = t.client;
  ctx.progress.step(c.name, 'restarting');
  t.invocationBefore = (await ctx.systemd.show([c.unit]).catch(() => undefined))?.get(c.unit)?.InvocationID ?? '';
  t.phase = 'restarting';
  await ctx.systemd.resetFailed(c.unit);
  let finished = false;
  const restart = ctx.systemd.restart(c.unit).finally(() => { finished = true; });
  restart.catch(() => { /* reported below */ });
  let cut = false;
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new StackError('EINTERRUPTED', 'interrupted'));
    if (ctx.signal.aborted) onAbort(); else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => { /* raced below */ });
  // While the job runs: show the wrapper's STATUS= (stopping, warm-up progress) and cut its own drain short.
  const watch = (async () => {
    while (!finished && !ctx.signal.aborted) {
      const p = (await ctx.systemd.show([c.unit]).catch(() => undefined))?.get(c.unit);
      if (p) {
        if (!cut) cut = await cutWrapperDrain(ctx.systemd, c, p, (line) => ctx.progress.line(line));
        ctx.progress.step(c.name, 'restarting', `${p.ActiveState}${p.StatusText ? `, ${p.StatusText}` : ''}`);
      }
      await sleep(250);
    }
  })();
  try {
    await Promise.race([restart, aborted]);
  } catch (e) {
    if (e instanceof StackError && e.code === 'EINTERRUPTED') throw e;
    throw await startFailure(ctx, c, e);
  } finally {
    finished = true;
    await watch.catch(() => {});
  }
  t.phase = 'started';
}

/**
 * Why a client's restart failed, as systemd has it now: still restarting by itself (within its start limit), given
 * up on (the start limit hit), or failed for good (an exit status that Restart= does not retry, e.g. 78).
 */
async function startFailure(ctx: OpContext, c: ClientRef, cause: unknown): Promise<StackError> {
  const p = (await ctx.systemd.show([c.unit]).catch(() => undefined))?.get(c.unit);
  const hit = p ? await ctx.systemd.startLimitHit(c.unit, p).catch(() => undefined) : undefined;
  const limit = p ? startLimitText(p) : '';
  const state = `${c.unit} is ${p?.ActiveState ?? '?'}/${p?.SubState ?? '?'}, Result=${hit ? resultText(p!.Result, true) : p?.Result ?? '?'}${p?.StatusText ? `, "${p.StatusText}"` : ''}`;
  const hint = hit
    ? startLimitHint(c.unit, limit)
    : p?.SubState === 'auto-restart' || p?.ActiveState === 'activating'
      ? `see journalctl -u ${c.unit}; systemd retries it by itself (Restart=on-failure${limit ? `, at most ${limit}, then it gives up and leaves it failed` : ''}), and HAProxy takes it back when its agent says ready`
      : `see journalctl -u ${c.unit}; systemd does not retry this failure: fix the cause`;
  return new StackError('EUNAVAILABLE', `${c.name} did not start: ${state}`, { cause, hint });
}

/**
 * A client drained in HAProxy already needs no second drain from its wrapper: while systemd stops the unit
 * (deactivating) and the wrapper's /health says `draining`, a second SIGTERM ends that drain (the wrapper's
 * documented answer to it). Sent to that wrapper by pid: by the time it goes out a restart may have started a
 * new one. True once the wrapper was seen draining (and the signal tried). A signal that cannot be sent is told
 * to `warn` with why: the wrapper then drains for its whole stop.drain, which is slow, not wrong.
 */
export async function cutWrapperDrain(systemd: Pick<SystemdHost, 'signalProcess'>, c: ClientRef, p: UnitProps, warn: (line: string) => void = () => {}): Promise<boolean> {
  // A wrapper whose health is on another machine's loopback cannot be asked from here: its drain runs its course.
  if (p.ActiveState !== 'deactivating' || healthUnreadable(c) || !(await wrapperDraining(c.health))) return false;
  await systemd.signalProcess(c.unit, p, 'SIGTERM').catch((e: unknown) => {
    warn(`warning: cannot cut ${c.name}'s own drain short (${(e as Error).message}); its wrapper drains for its whole stop.drain before it stops`);
  });
  return true;
}

/**
 * Waits (bounded by timing.upTimeoutMs) until HAProxy shows every one of `clients` UP: the one wait of a rollout
 * (the others before a drain, a restarted client after its restart) and of `zstack try` after the start (a client
 * is READY 0.3-1 s before HAProxy's agent check sees it UP). Returns the clients still not UP when time ran out,
 * each with its HAProxy status, for the caller's message (empty: all UP). `onWait` hears each round's stragglers.
 */
export async function awaitUp(ctx: Pick<OpContext, 'lb' | 'timing' | 'signal'>, backend: string, clients: readonly ClientRef[],
  onWait: (down: ReadonlyArray<{ client: ClientRef; status: string }>) => void = () => {}): Promise<Array<{ client: ClientRef; status: string }>> {
  const deadline = Date.now() + ctx.timing.upTimeoutMs;
  for (;;) {
    const servers = await ctx.lb.servers(backend);
    const missing = clients.find((c) => !servers.has(c.server));
    if (missing) throw new StackError('ECONFIG', `HAProxy has no server ${backend}/${missing.server}`, { hint: 'the HAProxy configuration does not match the stack file: include the backend zunitgen generated and reload HAProxy' });
    const down = clients.filter((c) => servers.get(c.server)!.state !== 'UP').map((c) => ({ client: c, status: servers.get(c.server)!.status }));
    if (down.length === 0 || Date.now() >= deadline) return down;
    onWait(down);
    await pause(ctx.timing.pollMs, ctx.signal);
  }
}

/** Gives the client back to HAProxy and waits until HAProxy shows it UP (bounded by timing.upTimeoutMs). */
export async function waitUp(ctx: OpContext, t: CycleTrack): Promise<void> {
  const c = t.client;
  ctx.progress.step(c.name, 'waiting for HAProxy');
  await ctx.lb.release(c.backend, c.server, { ready: true });
  const down = await awaitUp(ctx, c.backend, [c], ([d]) => ctx.progress.step(c.name, 'waiting for HAProxy', d!.status));
  if (down.length) {
    throw new StackError('ETIMEOUT', `${c.name} is READY but HAProxy shows it ${down[0]!.status} after ${ctx.timing.upTimeoutMs / 1000} s`,
      { hint: `check HAProxy's checks of ${c.backend}/${c.server} (agent port ${c.health.agent.port}); zstack status ${ctx.stack.file}` });
  }
  t.phase = 'done';
  ctx.progress.step(c.name, 'UP');
}

export async function cycleClient(ctx: OpContext, t: CycleTrack): Promise<void> {
  await drainClient(ctx, t);
  await restartClient(ctx, t);
  await waitUp(ctx, t);
}

/**
 * Whether a client interrupted in its restart was restarted: its unit has another InvocationID than when the
 * restart was issued (a new instance, READY or still starting). False while systemd still stops the old one (the
 * restart job goes on in systemd without zstack) and when no InvocationID was known.
 */
export async function restartedSince(systemd: Pick<SystemdHost, 'show'>, unit: string, invocationBefore: string | undefined): Promise<{ restarted: boolean; state: string }> {
  const p = (await systemd.show([unit])).get(unit);
  const state = p ? `${p.ActiveState}/${p.SubState}` : '?';
  return { restarted: !!invocationBefore && !!p?.InvocationID && p.InvocationID !== invocationBefore, state };
}

/**
 * After an interruption or a failure: a client that was drained but not restarted is healthy, so it goes
 * straight back into service; one whose restart began gets its agent back, which says `up ready` (and so
 * ends the drain) only once the instance is READY. Returns what was done, for the report.
 */
export async function putBack(ctx: Pick<OpContext, 'lb'>, t: CycleTrack): Promise<string | undefined> {
  const c = t.client;
  if (t.phase === 'idle' || t.phase === 'done') return undefined;
  if (t.phase === 'drained' || t.phase === 'started') {
    await ctx.lb.release(c.backend, c.server, { ready: true });
    return t.phase === 'drained' ? `${c.name} was put back in service (drained, not restarted)` : `${c.name} was put back in service (restarted and READY)`;
  }
  await ctx.lb.release(c.backend, c.server, { ready: false });
  return `${c.name} was restarting: its HAProxy agent is back on, so HAProxy takes it back once it is READY`;
}
