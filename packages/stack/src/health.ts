// What the wrapper (znotify) says about its instance: GET /health on the health HTTP listener (state, warm-up
// progress, reason), or, without one, the agent line HAProxy reads. Both on node:net (./http-get.ts says why).
import net from 'node:net';
import type { Address } from '@zope-systemd/unitgen';
import { getJson } from './http-get.js';

export interface WrapperHealth {
  /** starting | running | stopping | failed (from /health), or the agent's first word. */
  state: string;
  ready: boolean;
  /** One line for a table: `ready`, `warm-up 1/2`, `down: zeo: connection refused`, `unreachable (ECONNREFUSED)`. */
  summary: string;
  warmup?: { done: number; total: number };
  busy?: boolean;
  /** The instance's memory as the wrapper reads it (/health `memory`: the instance process and its children). */
  memory?: InstanceMemory;
  /** The raw answer (the /health JSON object, or the agent line). */
  detail?: unknown;
}

/** RSS and PSS of the instance's processes (not the wrapper), in bytes. */
export interface InstanceMemory { pids: number[]; rssBytes: number; pssBytes: number }

interface HealthJson {
  state?: string; phase?: string; ready?: boolean; busy?: boolean; reason?: string;
  warmup?: { done?: number; total?: number; last?: string };
  memory?: { pids?: unknown; rssBytes?: unknown; pssBytes?: unknown };
}

/** /health's `memory`, when it is there and well-formed (a wrapper older than the field has none). */
function memoryOf(body: HealthJson): InstanceMemory | undefined {
  const m = body.memory;
  if (!m || typeof m.rssBytes !== 'number' || typeof m.pssBytes !== 'number' || !Array.isArray(m.pids)) return undefined;
  return { pids: m.pids.filter((p): p is number => typeof p === 'number'), rssBytes: m.rssBytes, pssBytes: m.pssBytes };
}

export async function wrapperHealth(health: { agent: Address; http?: Address }, timeoutMs = 1000): Promise<WrapperHealth> {
  if (health.http) {
    try {
      const body = await getJson(health.http, '/health?memory', timeoutMs) as HealthJson;
      const ready = body.ready === true;
      const state = body.state ?? 'unknown';
      const w = body.warmup && typeof body.warmup.done === 'number' && typeof body.warmup.total === 'number'
        ? { done: body.warmup.done, total: body.warmup.total } : undefined;
      // Before the instance runs (phase starting: the wrapper waits for its database or the warm-up slot) the
      // wrapper's own reason says what it waits for; no warm-up has begun.
      const summary = ready ? (body.busy ? 'ready, busy' : 'ready')
        : state === 'starting' && w && body.phase !== 'starting' ? `warm-up ${w.done}/${w.total}`
          : `${state}${body.reason ? `: ${body.reason}` : ''}`;
      const memory = memoryOf(body);
      return { state, ready, summary, ...(w ? { warmup: w } : {}), ...(body.busy !== undefined ? { busy: body.busy } : {}), ...(memory ? { memory } : {}), detail: body };
    } catch (e) {
      return { state: 'unreachable', ready: false, summary: `unreachable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
    }
  }
  try {
    const line = (await agentLine(health.agent, timeoutMs)).trim();
    const ready = /^up\b/.test(line) && !/\b(drain|maint)\b/.test(line);
    const warm = /warming up (\d+)\/(\d+)/.exec(line);
    return {
      state: line.split(/\s+/)[0] ?? '', ready, summary: ready ? 'ready' : warm ? `warm-up ${warm[1]}/${warm[2]}` : line, detail: line,
      ...(warm ? { warmup: { done: Number(warm[1]), total: Number(warm[2]) } } : {}),
    };
  } catch (e) {
    return { state: 'unreachable', ready: false, summary: `unreachable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
}

/**
 * Whether the wrapper is in its own stop drain: its /health `phase` is `draining` (documented in docs/znotify.md
 * for programs such as this one). A wrapper with only the agent listener answers `drain` for all of its stop, its
 * drain included: that is as close as the agent line gets. False when the wrapper does not answer.
 */
export async function wrapperDraining(health: { agent: Address; http?: Address }, timeoutMs = 1000): Promise<boolean> {
  try {
    if (health.http) return ((await getJson(health.http, '/health', timeoutMs)) as HealthJson).phase === 'draining';
    return (await agentLine(health.agent, timeoutMs)).trim() === 'drain';
  } catch {
    return false;
  }
}

function agentLine(a: Address, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: a.host, port: a.port });
    let data = '';
    s.setTimeout(timeoutMs, () => s.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    s.setEncoding('utf8').on('data', (d: string) => { data += d; });
    s.once('close', (hadError) => { if (!hadError) resolve(data); });
    s.once('error', reject);
  });
}
