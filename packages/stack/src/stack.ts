// The stack as zstack sees it: read through zunitgen's own parser, so unit names, health addresses, HAProxy
// backend/server names and the stats socket come from the same place as the generated files.
import { readFileSync } from 'node:fs';
import { sizeBytes, type Address, type StackModel } from '@zope-systemd/unitgen';
import { StackError } from './errors.js';
import { cachedModel, storeModel, type ModelCache } from './model-cache.js';
import { parseStackFile } from './stack-parser.js';

export interface ClientRef {
  /** `client1`: the wrapper's name and the HAProxy server name. */
  name: string;
  unit: string;
  /** Socket units that belong to the client (PartOf= it). */
  sockets: string[];
  /** HAProxy backend and server of this client. */
  backend: string;
  server: string;
  /** The host that runs it, in a stack with hosts, and that host's address. */
  host?: string;
  hostAddress?: string;
  health: { agent: Address; http?: Address };
  /** MemoryHigh=/MemoryMax= of the unit, in bytes, when set as sizes. */
  memoryHigh?: bigint;
  memoryMax?: bigint;
}

export interface StackRef {
  file: string;
  stack: string;
  target: string;
  /** Units of the stack that are not clients (ZEO), in start order. */
  servers: string[];
  clients: ClientRef[];
  /** The Runtime API socket from the stack file (haproxy.stats-socket), if any. */
  statsSocket?: string;
  /** The wrapper's own drain on stop (stop.drain). */
  stopDrainMs: number;
  /** Thresholds of `zstack recycle` (clients.recycle), if configured. */
  recycle?: { memoryBytes?: bigint; maxAgeMs?: number };
  model: StackModel;
}

/**
 * Reads and validates a stack file: ENOINPUT (exit 66) when it cannot be read, every config problem as
 * file:line:col (ECONFIG, exit 78). With `cache`, the model of the same text parsed by the same build comes from
 * there, and a model parsed here is stored (./model-cache.ts); errors are never cached.
 */
export function loadStack(file: string, opts: { cache?: ModelCache } = {}): StackRef {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new StackError('ENOINPUT', `cannot read stack file ${file}: ${err.code ?? err.message}`,
      { hint: 'give the YAML file zunitgen generated the units from, e.g. /etc/zope-systemd/plone.yaml' });
  }
  const cached = opts.cache ? cachedModel(opts.cache, file, text) : undefined;
  if (cached) return stackRef(cached, file);
  const model = parseModel(text, file);
  if (opts.cache) storeModel(opts.cache, file, text, model);
  return stackRef(model, file);
}

function parseModel(text: string, file: string): StackModel {
  const r = parseStackFile(text, file);
  if ('problems' in r) throw new StackError('ECONFIG', r.problems, { hint: `check it with: zunitgen check ${file}` });
  return r.model;
}

export function stackRef(model: StackModel, file: string): StackRef {
  const bytes = (s: Parameters<typeof sizeBytes>[0] | undefined): bigint | undefined => (s === undefined ? undefined : sizeBytes(s));
  const clients = model.clients.map((c): ClientRef => ({
    name: c.name,
    unit: c.unit,
    sockets: [c.agentSocket, ...(c.healthSocket ? [c.healthSocket] : [])],
    backend: model.haproxy.backend,
    server: c.server,
    ...(c.host ? { host: c.host } : {}),
    ...(c.host && model.hosts?.find((h) => h.name === c.host) ? { hostAddress: model.hosts.find((h) => h.name === c.host)!.address } : {}),
    health: c.health,
    ...(bytes(c.memory.high) !== undefined ? { memoryHigh: bytes(c.memory.high)! } : {}),
    ...(bytes(c.memory.max) !== undefined ? { memoryMax: bytes(c.memory.max)! } : {}),
  }));
  const rc = model.recycle;
  return {
    file,
    stack: model.stack,
    target: model.target,
    servers: model.zeo ? [model.zeo.unit] : [],
    clients,
    ...(model.haproxy.statsSocket ? { statsSocket: model.haproxy.statsSocket } : {}),
    stopDrainMs: model.stop.drainMs,
    ...(rc ? { recycle: { ...(bytes(rc.memory) !== undefined ? { memoryBytes: bytes(rc.memory)! } : {}), ...(rc.maxAgeMs !== undefined ? { maxAgeMs: rc.maxAgeMs } : {}) } } : {}),
    model,
  };
}

/** The clients named on the command line (`client2` or `2`), in stack order; all when none is named. */
export function selectClients(stack: StackRef, names: readonly string[]): ClientRef[] {
  if (names.length === 0) return stack.clients;
  const want = new Set<string>();
  for (const n of names) {
    const c = stack.clients.find((x) => x.name === n || String(Number(n)) === n && x.name === `client${n}` || x.unit === n);
    if (!c) {
      throw new StackError('EUSAGE', `stack ${stack.stack} has no client ${JSON.stringify(n)}`,
        { hint: `its clients are ${stack.clients.map((x) => x.name).join(', ')} (from ${stack.file})` });
    }
    want.add(c.name);
  }
  return stack.clients.filter((c) => want.has(c.name));
}
