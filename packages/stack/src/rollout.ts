// `zstack rollout`: every client (or those named) restarted in turn through the careful path (cycle.ts),
// never with fewer than all-but-the-batch clients UP in HAProxy, stopping at the first client that fails
// to start with the rest untouched; resumable from its journal.
import { setTimeout as sleep } from 'node:timers/promises';
import { StackError } from './errors.js';
import { awaitUp, cycleClient, putBack, restartedSince, type CycleTrack, type OpContext } from './cycle.js';
import { resolveAfter, showCommand, type AfterCommand } from './after-command.js';
import { readJournal, removeJournal, writeJournal, type RolloutJournal } from './journal.js';
import { selectClients, type ClientRef } from './stack.js';

export interface RolloutOptions {
  clients: readonly string[];
  parallel: number;
  pauseMs: number;
  resume: boolean;
  runDir: string;
  /** The command given after `--` (empty or absent: none); on --resume, it replaces the one the journal recorded. */
  after?: readonly string[];
}

export interface RolloutResult {
  restarted: string[];
  elapsedMs: number;
  /** The command to run now that every client is UP again: the one given, or on --resume the one recorded. */
  after?: AfterCommand;
}

/** Checks the whole stack before anything is touched: units installed, every client serving but `allowDown`. */
export async function checkServing(ctx: OpContext, allowDown: ReadonlySet<string> = new Set()): Promise<void> {
  const { stack } = ctx;
  const props = await ctx.systemd.show(stack.clients.map((c) => c.unit));
  const missing = stack.clients.filter((c) => props.get(c.unit)?.LoadState !== 'loaded');
  if (missing.length) {
    throw new StackError('EUNAVAILABLE', `units not installed on ${ctx.systemd.name}: ${missing.map((c) => c.unit).join(', ')}`,
      { hint: `zunitgen generate ${stack.file} --out /etc/systemd/system && systemctl daemon-reload` });
  }
  const servers = await ctx.lb.servers(stack.model.haproxy.backend);
  for (const c of stack.clients) {
    if (allowDown.has(c.name)) continue;
    const p = props.get(c.unit)!;
    const v = servers.get(c.server);
    if (!v) throw new StackError('ECONFIG', `HAProxy has no server ${c.backend}/${c.server}`, { hint: 'include the backend zunitgen generated for this stack and reload HAProxy' });
    if (p.ActiveState !== 'active' || v.state !== 'UP') {
      throw new StackError('EUNAVAILABLE', `${c.name} is not serving (systemd: ${p.ActiveState}/${p.SubState}, HAProxy: ${v.status}${v.agent === 'off' ? ', agent off' : ''}); nothing was changed`,
        { hint: `bring it back first (systemctl start ${c.unit}; zstack status ${stack.file}), or --resume the rollout that left it` });
    }
  }
}

/** Waits (bounded) until every client outside `batch` is UP in HAProxy: the N-1 rule, checked before each drain. */
async function othersUp(ctx: OpContext, batch: readonly ClientRef[]): Promise<void> {
  const others = ctx.stack.clients.filter((c) => !batch.includes(c));
  if (others.length === 0) {
    throw new StackError('EUSAGE', `restarting ${batch.map((c) => c.name).join(', ')} together would take out every client of stack ${ctx.stack.stack}`,
      { hint: 'a rollout never takes out the last serving client: use a smaller --parallel, or systemctl restart for a one-client stack' });
  }
  const down = await awaitUp(ctx, ctx.stack.model.haproxy.backend, others,
    (d) => ctx.progress.step(batch[0]!.name, 'waiting for the others to be UP', d.map((x) => x.client.name).join(', ')));
  if (down.length) {
    throw new StackError('EUNAVAILABLE', `${down.map((d) => `${d.client.name} (${d.status})`).join(', ')} not UP in HAProxy: not taking ${batch.map((c) => c.name).join(', ')} out`,
      { hint: `find out why (zstack status ${ctx.stack.file}), then zstack rollout --resume ${ctx.stack.file}` });
  }
}

/**
 * A client an interrupted rollout left `restarting` (its restart issued, still its old instance then): systemd went on
 * with the restart job, so one whose InvocationID has changed since is done, not restarted a second time.
 */
async function restartedAfterInterrupt(ctx: OpContext, prev: RolloutJournal): Promise<void> {
  for (const [name, phase] of Object.entries(prev.current)) {
    const before = prev.invocationBefore?.[name];
    const client = ctx.stack.clients.find((c) => c.name === name);
    if (phase !== 'restarting' || !before || !client || prev.done.includes(name)) continue;
    const { restarted, state } = await restartedSince(ctx.systemd, client.unit, before);
    if (!restarted) continue;
    prev.done.push(name);
    ctx.progress.line(`${name} was restarted after the rollout was interrupted (a new instance, ${state}): not restarting it again`);
  }
}

/** What a rollout is to do: its clients in order, its journal, the clients allowed down at its start, its command. */
interface Plan { list: ClientRef[]; journal: RolloutJournal; allowDown: Set<string>; after?: AfterCommand }

async function plan(ctx: OpContext, o: RolloutOptions): Promise<Plan> {
  const prev = readJournal(o.runDir, ctx.stack.stack);
  const given = o.after?.length ? [...o.after] : undefined;
  if (o.resume) {
    if (!prev) throw new StackError('EUSAGE', `no unfinished rollout of stack ${ctx.stack.stack} to resume (${o.runDir})`, { hint: `start one: zstack rollout ${ctx.stack.file}` });
    const after = afterOnResume(ctx, prev, given);
    await restartedAfterInterrupt(ctx, prev);
    const list = selectClients(ctx.stack, prev.clients.filter((n) => !prev.done.includes(n)));
    // The client the last run stopped at may be down (it failed to start), one it restarted may still be warming
    // up: the first is restarted first, and each must be UP before the next drain (othersUp).
    const allowDown = new Set([...Object.keys(prev.current), ...(prev.stopped?.client ? [prev.stopped.client] : [])]);
    const journal: RolloutJournal = { ...prev, pid: process.pid, current: {}, stopped: undefined, invocationBefore: undefined, after: after?.argv as string[] | undefined };
    return { list, allowDown, journal, ...(after ? { after } : {}) };
  }
  if (prev && prev.done.length < prev.clients.length) {
    const dropped = prev.after ? ` (its command ${showCommand(prev.after)} is not run unless given again after \`--\`)` : '';
    ctx.progress.line(`note: an earlier rollout (started ${prev.startedAt}) stopped at ${prev.stopped?.client ?? Object.keys(prev.current).join(', ') ?? '?'}; starting a new one${dropped}`);
  }
  const list = selectClients(ctx.stack, o.clients);
  const after = resolveAfter(given);
  return {
    list, allowDown: new Set(), ...(after ? { after } : {}),
    journal: { stack: ctx.stack.stack, file: ctx.stack.file, startedAt: new Date().toISOString(), pid: process.pid, clients: list.map((c) => c.name), done: [], current: {}, ...(given ? { after: given } : {}) },
  };
}

/**
 * The command a resumed rollout runs at its end, resolved before anything is drained: the one given now (said so when
 * it replaces the recorded one), else the one the stopped rollout was given, from its journal (said so).
 */
function afterOnResume(ctx: OpContext, prev: RolloutJournal, given: string[] | undefined): AfterCommand | undefined {
  const recorded = prev.after;
  if (given) {
    const after = resolveAfter(given);
    if (recorded && JSON.stringify(recorded) !== JSON.stringify(given)) {
      ctx.progress.line(`once every client is UP, runs the command given now, ${showCommand(given)}, instead of the one the stopped rollout was given, ${showCommand(recorded)}`);
    }
    return after;
  }
  const after = resolveAfter(recorded, 'the command the stopped rollout was given (kept in its journal; give another after `--`)');
  if (after) ctx.progress.line(`once every client is UP, runs the command the stopped rollout was given: ${showCommand(after.argv)} (give another after \`--\` to run that instead)`);
  return after;
}

export async function rollout(ctx: OpContext, o: RolloutOptions): Promise<RolloutResult> {
  const t0 = Date.now();
  if (!Number.isInteger(o.parallel) || o.parallel < 1) throw new StackError('EUSAGE', `--parallel must be a whole number >= 1, got ${o.parallel}`);
  if (o.parallel >= ctx.stack.clients.length) {
    throw new StackError('EUSAGE', `--parallel ${o.parallel} would take out all ${ctx.stack.clients.length} clients of stack ${ctx.stack.stack} at once`,
      { hint: `use at most --parallel ${Math.max(1, ctx.stack.clients.length - 1)}; a rollout never takes out the last serving client` });
  }
  const { list, journal, allowDown, after } = await plan(ctx, o);
  await checkServing(ctx, allowDown);
  writeJournal(o.runDir, journal);
  const restarted: string[] = [];
  for (let i = 0; i < list.length; i += o.parallel) {
    const batch = list.slice(i, i + o.parallel);
    await othersUp(ctx, batch);
    const tracks: CycleTrack[] = batch.map((client) => ({ client, phase: 'idle' }));
    for (const t of tracks) journal.current[t.client.name] = 'draining';
    writeJournal(o.runDir, journal);
    const results = await Promise.allSettled(tracks.map((t) => cycleClient(ctx, t)));
    const failed = results.flatMap((r, k) => (r.status === 'rejected' ? [{ t: tracks[k]!, e: r.reason as unknown }] : []));
    for (const [k, r] of results.entries()) {
      if (r.status === 'fulfilled') { journal.done.push(tracks[k]!.client.name); restarted.push(tracks[k]!.client.name); delete journal.current[tracks[k]!.client.name]; }
    }
    if (failed.length) {
      for (const t of tracks) {
        const note = await putBack(ctx, t).catch((e: Error) => `could not put ${t.client.name} back: ${e.message}`);
        if (note) ctx.progress.line(note);
        journal.current[t.client.name] = t.phase;
      }
      const first = failed[0]!;
      if (isInterrupt(first.e)) await settleInterrupted(ctx, tracks, journal, restarted);
      journal.stopped = { client: first.t.client.name, reason: (first.e as Error).message };
      writeJournal(o.runDir, journal);
      throw withRolloutHint(first.e, ctx, list, journal);
    }
    writeJournal(o.runDir, journal);
    if (o.pauseMs > 0 && i + o.parallel < list.length) {
      ctx.progress.step(batch[batch.length - 1]!.name, 'pause', `${o.pauseMs / 1000} s`);
      await sleep(o.pauseMs, undefined, { signal: ctx.signal }).catch(() => { throw new StackError('EINTERRUPTED', 'interrupted'); });
    }
  }
  removeJournal(o.runDir, ctx.stack.stack);
  return { restarted, elapsedMs: Date.now() - t0, ...(after ? { after } : {}) };
}

const isInterrupt = (e: unknown): boolean => e instanceof StackError && e.code === 'EINTERRUPTED';

/**
 * An interrupted batch, told as it is: a client restarted and READY (not yet seen UP), or whose unit has a new
 * InvocationID (its new instance started, READY or not), was restarted and is done; one whose restart was issued
 * while it was still its old instance is left `restarting` with that InvocationID, for --resume to judge.
 */
async function settleInterrupted(ctx: OpContext, tracks: readonly CycleTrack[], journal: RolloutJournal, restarted: string[]): Promise<void> {
  for (const t of tracks) {
    const name = t.client.name;
    if (t.phase !== 'started' && t.phase !== 'restarting') continue;
    const seen = t.phase === 'started' ? { restarted: true, state: 'active' } : await restartedSince(ctx.systemd, t.client.unit, t.invocationBefore).catch(() => ({ restarted: false, state: '?' }));
    if (seen.restarted) {
      journal.done.push(name); restarted.push(name); journal.current[name] = 'restarted';
      if (t.phase === 'restarting') ctx.progress.line(`${name} was restarted (a new instance, ${seen.state}) when the rollout was interrupted`);
    } else if (t.invocationBefore) {
      (journal.invocationBefore ??= {})[name] = t.invocationBefore;
      ctx.progress.line(`${name} was not restarted yet (still its old instance, ${seen.state}); systemd goes on with its restart job`);
    }
  }
}

function withRolloutHint(e: unknown, ctx: OpContext, list: readonly ClientRef[], j: RolloutJournal): unknown {
  if (!(e instanceof StackError)) return e;
  const left = list.filter((c) => !j.done.includes(c.name) && !(c.name in j.current)).map((c) => c.name);
  const pending = Object.entries(j.current).filter(([n, phase]) => phase === 'restarting' && !j.done.includes(n)).map(([n]) => n);
  const what = e.code === 'EINTERRUPTED' ? 'rollout interrupted' : `rollout stopped: ${e.message}`;
  const under = e.code === 'EINTERRUPTED' && pending.length ? `; restart issued, not done yet: ${pending.join(', ')}` : '';
  const msg = `${what}. Restarted: ${j.done.join(', ') || 'none'}${under}; untouched: ${left.join(', ') || 'none'}`;
  const then = j.after ? `, which runs ${showCommand(j.after)} once every client is UP (as this one would have)` : '';
  const hint = `${e.hint ? `${e.hint}; then ` : ''}continue with: zstack rollout --resume ${ctx.stack.file}${then}`;
  return new StackError(e.code, msg, { hint, cause: e, exitCode: e.exitCode });
}
