// `zstack recycle`: drain-first recycling, for a timer. At most one client per run in the whole stack, only
// while every client is serving, and only one whose instance memory (RSS of the instance's processes, as its
// wrapper reports them; the unit's cgroup memory from a wrapper without a health HTTP listener) is over the
// threshold, or whose age is over the maximum. The most over its memory
// threshold goes first; without one, the oldest over its age. It is restarted through the rollout path.
import { StackError } from './errors.js';
import { cycleClient, putBack, type CycleTrack, type OpContext } from './cycle.js';
import { readableHint } from './reach.js';
import { clientMemory, gatherStatus, formatAge, formatBytes, type ClientStatus } from './status.js';

export interface RecycleOptions { memoryBytes?: bigint; maxAgeMs?: number; dryRun: boolean }

export interface RecycleDecision {
  /** The client restarted (or that would be, with dryRun). */
  client?: string;
  reason: string;
  /** Each client's figures as judged. */
  clients: Array<{ client: string; memoryBytes?: number; memorySource?: 'rss' | 'cgroup'; ageSeconds?: number; overMemory: boolean; overAge: boolean }>;
}

export function chooseClient(rows: readonly ClientStatus[], o: { memoryBytes?: bigint; maxAgeMs?: number }): RecycleDecision {
  const judged = rows.map((r) => {
    const m = clientMemory(r);
    return {
      client: r.client,
      ...(m ? { memoryBytes: m.bytes, memorySource: m.source } : {}),
      ...(r.uptimeSeconds !== undefined ? { ageSeconds: r.uptimeSeconds } : {}),
      overMemory: o.memoryBytes !== undefined && m !== undefined && BigInt(m.bytes) > o.memoryBytes,
      overAge: o.maxAgeMs !== undefined && r.uptimeSeconds !== undefined && r.uptimeSeconds * 1000 > o.maxAgeMs,
    };
  });
  const notServing = rows.filter((r) => !r.serving);
  if (notServing.length) {
    return { reason: `not now: ${notServing.map((r) => `${r.client} is not serving (${r.active}, ${r.haproxy?.status ?? 'HAProxy ?'})`).join('; ')}`, clients: judged };
  }
  const byMemory = judged.filter((j) => j.overMemory).sort((a, b) => (b.memoryBytes ?? 0) - (a.memoryBytes ?? 0));
  const top = byMemory[0];
  if (top) {
    const what = top.memorySource === 'cgroup' ? 'cgroup memory' : 'instance RSS';
    return { client: top.client, reason: `${top.client}: ${what} ${formatBytes(top.memoryBytes)} is over ${formatBytes(Number(o.memoryBytes))}`, clients: judged };
  }
  const byAge = judged.filter((j) => j.overAge).sort((a, b) => (b.ageSeconds ?? 0) - (a.ageSeconds ?? 0));
  if (byAge[0]) {
    return { client: byAge[0].client, reason: `${byAge[0].client}: up for ${formatAge(byAge[0].ageSeconds)}, over ${formatAge((o.maxAgeMs ?? 0) / 1000)}`, clients: judged };
  }
  return { reason: 'nothing to do: every client is under its thresholds', clients: judged };
}

export async function recycle(ctx: OpContext, o: RecycleOptions): Promise<RecycleDecision> {
  if (o.memoryBytes === undefined && o.maxAgeMs === undefined) {
    throw new StackError('EUSAGE', `no recycle thresholds for stack ${ctx.stack.stack}`, { hint: 'set clients.recycle (memory, max-age) in the stack file, or pass --memory / --max-age' });
  }
  const status = await gatherStatus({ stack: ctx.stack, systemd: ctx.systemd, lb: ctx.lb });
  // Memory judged by what the wrapper of another machine's loopback says would be another process's: refused.
  const blind = o.memoryBytes === undefined ? [] : status.clients.filter((c) => c.health.state === 'not-readable');
  if (blind.length) {
    throw new StackError('EUNAVAILABLE', `recycle by memory needs each instance's memory, and ${blind.map((c) => `${c.client}'s wrapper is ${c.health.summary}`).join('; ')}; nothing was recycled`,
      { hint: readableHint([...new Set(blind.map((c) => c.host ?? '?'))]) });
  }
  if (status.haproxy.error) {
    throw new StackError('EUNAVAILABLE', status.haproxy.error,
      { hint: 'nothing was recycled; check haproxy runs and its `stats socket ... level admin` line matches haproxy.stats-socket (or --haproxy-socket)' });
  }
  const d = chooseClient(status.clients, o);
  if (!d.client || o.dryRun) return d;
  const client = ctx.stack.clients.find((c) => c.name === d.client)!;
  const t: CycleTrack = { client, phase: 'idle' };
  ctx.progress.line(`recycling ${d.reason}`);
  try {
    await cycleClient(ctx, t);
  } catch (e) {
    const note = await putBack(ctx, t).catch(() => undefined);
    if (note) ctx.progress.line(note);
    throw e;
  }
  return d;
}
