// `zstack stop`: the whole stack down, and only then return. Every client is drained at once (one HAProxy
// drain each, sessions waited for together), then one `systemctl stop` transaction takes the clients, the
// ZEO server and the target: systemd stops units in the reverse of their start order (clientN first, ZEO
// last), and systemctl returns when every job is done. `systemctl stop <stack>.target` alone would return at
// once and leave the PartOf= stops running behind it.
import { setTimeout as sleep } from 'node:timers/promises';
import { StackError } from './errors.js';
import { cutWrapperDrain, type OpContext } from './cycle.js';
import type { LoadBalancer } from './haproxy.js';
import type { ClientRef } from './stack.js';

export interface StopResult {
  stopped: string[]; drained: string[]; notInactive: string[]; elapsedMs: number;
  /** Every unit (and every client's socket) was inactive or failed already: nothing was drained or stopped. */
  alreadyStopped: boolean;
}

const DOWN = ['inactive', 'failed'];

/**
 * Drains every running client at once and waits (bounded) until HAProxy shows no session on any of them. When
 * HAProxy cannot be asked or the operator interrupts, the clients drained so far go back into service and
 * nothing is stopped: a stop that cannot drain leaves the stack as it found it.
 */
async function drainAll(ctx: Omit<OpContext, 'lb'> & { lb: LoadBalancer }, running: readonly ClientRef[], drained: string[]): Promise<void> {
  const { lb, stack } = ctx;
  const putBack = async (): Promise<void> => { for (const c of running) if (drained.includes(c.name)) await lb.release(c.backend, c.server, { ready: true }).catch(() => {}); };
  try {
    for (const c of running) { await lb.drain(c.backend, c.server); drained.push(c.name); ctx.progress.step(c.name, 'draining'); }
    const deadline = Date.now() + ctx.timing.drainTimeoutMs;
    for (;;) {
      const servers = await lb.servers(stack.model.haproxy.backend);
      const busy = running.filter((c) => (servers.get(c.server)?.sessions ?? 0) > 0);
      for (const c of running) ctx.progress.step(c.name, 'draining', `${servers.get(c.server)?.sessions ?? 0} session(s)`);
      if (busy.length === 0) return;
      if (Date.now() >= deadline) { ctx.progress.line(`warning: ${busy.map((c) => c.name).join(', ')} still busy after ${ctx.timing.drainTimeoutMs / 1000} s; stopping anyway`); return; }
      if (ctx.signal.aborted) throw new StackError('EINTERRUPTED', `stop interrupted while draining: ${drained.join(', ')} put back in service`);
      await sleep(ctx.timing.pollMs);
    }
  } catch (e) {
    await putBack();
    if (e instanceof StackError && e.code === 'EINTERRUPTED') throw e;
    const back = drained.length ? `; ${drained.join(', ')} put back in service` : '';
    throw new StackError('EUNAVAILABLE', `stop cannot drain through HAProxy, nothing was stopped${back}: ${(e as Error).message}`,
      { hint: `${(e as StackError).hint ?? 'check HAProxy\'s Runtime API'}; or stop without the drain: zstack stop --no-drain ${stack.file}`, cause: e });
  }
}

export async function stopStack(ctx: Omit<OpContext, 'lb'> & { lb?: LoadBalancer }, o: { drain: boolean }): Promise<StopResult> {
  const t0 = Date.now();
  const { stack, systemd } = ctx;
  const clients = stack.clients;
  const units = [...clients.map((c) => c.unit).reverse(), ...stack.servers.slice().reverse(), stack.target];
  // The first look asks systemctl: on a stopped stack systemd has unloaded the units, and the private socket would
  // load each once per property (most of the 2.6-4.2 s a stop of a stopped stack took).
  const sockets = clients.flatMap((c) => c.sockets);
  const props = await systemd.showUnloaded([...units, ...sockets]);
  const missing = units.filter((u) => props.get(u)?.LoadState !== 'loaded');
  if (missing.length) {
    throw new StackError('EUNAVAILABLE', `units not installed on ${systemd.name}: ${missing.join(', ')}`, { hint: `zunitgen generate ${stack.file} --out /etc/systemd/system && systemctl daemon-reload` });
  }
  // Nothing to stop: no drain, no stop job, no second look (a socket still listening would start its client, so the
  // stop job, which takes it along, still runs then).
  if ([...units, ...sockets].every((u) => DOWN.includes(props.get(u)!.ActiveState))) {
    return { stopped: [], drained: [], notInactive: [], elapsedMs: Date.now() - t0, alreadyStopped: true };
  }
  const running = clients.filter((c) => ['active', 'activating', 'reloading'].includes(props.get(c.unit)!.ActiveState));
  const drained: string[] = [];
  if (o.drain && running.length) {
    if (!ctx.lb) throw new StackError('EUSAGE', 'stop drains through HAProxy, and the stack file names no stats socket', { hint: 'set haproxy.stats-socket, pass --haproxy-socket, or --no-drain' });
    await drainAll({ ...ctx, lb: ctx.lb }, running, drained);
  }
  for (const c of running) ctx.progress.step(c.name, 'stopping');
  let done = false;
  // Drained already: a second SIGTERM cuts each wrapper's own drain (the same wait again) short.
  const cutter = o.drain && running.length ? (async () => {
    const cut = new Set<string>();
    while (!done) {
      const p = await systemd.show(running.map((c) => c.unit)).catch(() => undefined);
      for (const c of running) {
        const u = p?.get(c.unit);
        if (u && !cut.has(c.unit) && await cutWrapperDrain(systemd, c, u, (line) => ctx.progress.line(line))) cut.add(c.unit);
        if (u) ctx.progress.step(c.name, 'stopping', u.ActiveState);
      }
      await sleep(100);
    }
  })() : Promise.resolve();
  try {
    await systemd.stop(units);
  } finally {
    done = true;
    await cutter;
  }
  // The servers stay drained in HAProxy with their agents on: the agent's `up ready` ends the drain when the
  // client is started again and READY (servers without an agent are set ready; their check keeps them DOWN).
  if (ctx.lb) for (const c of running) await ctx.lb.release(c.backend, c.server, { ready: false }).catch(() => {});
  const after = await systemd.show(units);
  const notInactive = units.filter((u) => !DOWN.includes(after.get(u)!.ActiveState));
  for (const c of running) ctx.progress.step(c.name, after.get(c.unit)!.ActiveState);
  return { stopped: units, drained, notInactive, elapsedMs: Date.now() - t0, alreadyStopped: false };
}
