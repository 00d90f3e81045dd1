// How zstack talks to HAProxy: one small interface (LoadBalancer), implemented over the Runtime API
// (`stats socket ... level admin`, a unix path or host:port, management.txt). Two facts shape it (checked
// against HAProxy 2.6 in the tests):
// - An agent reply containing `ready` (znotify's `up ready 100%`) clears a drain or maint set over the Runtime
//   API within one agent-inter. So draining a server whose agent is on means `disable agent` first, then
//   `set server B/S state drain`; giving it back means `enable agent` (and `state ready`).
// - A server is out of traffic for good only when it has neither sessions (scur) nor requests waiting in
//   its own queue (qcur).
import { parseServersState, parseShowStat, RuntimeApiError, runtimeExchange, showStatCommand } from '@zope-systemd/common';
import { StackError } from './errors.js';

export type ServerState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOLB';

export interface ServerView {
  backend: string;
  server: string;
  /** What traffic it gets: UP serves; DRAIN/MAINT are admin states (ours or the agent's); DOWN failed its checks. */
  state: ServerState;
  /** `show stat` status as HAProxy prints it ("UP", "DOWN (agent)", "DRAIN", "UP 1/3"...). */
  status: string;
  /** Current sessions plus requests queued on this server. */
  sessions: number;
  /** The agent-check: on, off (disabled over the Runtime API), none (not configured). */
  agent: 'on' | 'off' | 'none';
  /** Admin drain or maint set over the Runtime API (not by the agent). */
  adminDrain: boolean;
  weight: number;
}

export interface LoadBalancer {
  readonly address: string;
  /** Every server of the backend, by server name. */
  servers(backend: string): Promise<Map<string, ServerView>>;
  /** No new sessions for this server, and its agent cannot undo that: disable agent, then state drain. */
  drain(backend: string, server: string): Promise<void>;
  /** Gives a drained server back: enable its agent (which says `up ready` only when the instance is), and
   *  with `ready` (or without an agent) set its admin state to ready at once. */
  release(backend: string, server: string, opts: { ready: boolean }): Promise<void>;
}

const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20;
const ADMIN_DRAIN = 0x08 | 0x10;
const CHK_CONFIGURED = 0x02;
const CHK_ENABLED = 0x04;

/** Joins the answers of `show servers state B` and `show stat B 4 -1` into ServerViews. */
export function parseServers(serversState: string, stat: string, backend: string, address?: string): Map<string, ServerView> {
  const out = new Map<string, ServerView>();
  const admin = new Map(parseServersState(serversState).filter((l) => l.backend === backend).map((l) => [l.server, l]));
  for (const row of parseShowStat(stat, address)) {
    if (row.backend !== backend) continue;
    const a = admin.get(row.server);
    out.set(row.server, {
      backend, server: row.server, status: row.status,
      state: serverState(row.status, a?.adminState ?? 0, a?.opState ?? 0),
      sessions: row.current + row.queued,
      agent: !a || !(a.agentState & CHK_CONFIGURED) ? 'none' : a.agentState & CHK_ENABLED ? 'on' : 'off',
      adminDrain: !!a && (a.adminState & (ADMIN_DRAIN | ADMIN_MAINT)) !== 0,
      weight: row.weight,
    });
  }
  return out;
}

function serverState(status: string, adminState: number, op: number): ServerState {
  if (adminState & ADMIN_MAINT || status.startsWith('MAINT')) return 'MAINT';
  if (status.startsWith('DOWN') || op === 0 && !status.startsWith('no check')) return 'DOWN';
  if (adminState & ADMIN_DRAIN || status.startsWith('DRAIN')) return 'DRAIN';
  if (status.startsWith('NOLB') || op === 3) return 'NOLB';
  return 'UP';
}

export class RuntimeApi implements LoadBalancer {
  constructor(readonly address: string, private readonly timeoutMs = 3000) {}

  /** The shared client's errors as zstack's: HAProxy's socket not there is EUNAVAILABLE (69), with the fix. */
  private async exchange(commands: readonly string[]): Promise<string[]> {
    try {
      return await runtimeExchange(this.address, commands, { timeoutMs: this.timeoutMs });
    } catch (e) {
      throw unavailable(e);
    }
  }

  private async command(cmd: string): Promise<string> {
    return (await this.exchange([cmd]))[0]!;
  }

  /** A command that answers nothing on success; anything else is HAProxy's error message. */
  private async action(cmd: string): Promise<void> {
    const reply = await this.command(cmd);
    if (reply !== '') throw new StackError('EUNAVAILABLE', `HAProxy refused "${cmd}": ${reply.split('\n')[0]}`,
      { hint: reply.includes('No such') ? 'the backend/server names in the stack file must match HAProxy\'s configuration (zunitgen generates both)' : 'the stats socket needs `level admin`' });
  }

  async servers(backend: string): Promise<Map<string, ServerView>> {
    const [state, stat] = await this.exchange([`show servers state ${backend}`, showStatCommand(backend)]);
    if (/Can't find backend|No such backend|Unknown backend|No such proxy/i.test(`${state}\n${stat}`)) {
      throw new StackError('ECONFIG', `HAProxy at ${this.address} has no backend "${backend}"`, { hint: 'include the backend zunitgen generated (haproxy-<stack>.cfg) and reload HAProxy' });
    }
    try {
      return parseServers(state!, stat!, backend, this.address);
    } catch (e) {
      throw unavailable(e);
    }
  }

  async drain(backend: string, server: string): Promise<void> {
    const v = (await this.servers(backend)).get(server);
    if (!v) throw new StackError('ECONFIG', `HAProxy has no server ${backend}/${server}`, { hint: 'the HAProxy configuration does not match the stack file: regenerate and reload it' });
    if (v.agent === 'on') await this.action(`disable agent ${backend}/${server}`);
    await this.action(`set server ${backend}/${server} state drain`);
  }

  async release(backend: string, server: string, opts: { ready: boolean }): Promise<void> {
    const v = (await this.servers(backend)).get(server);
    if (!v) throw new StackError('ECONFIG', `HAProxy has no server ${backend}/${server}`);
    if (v.agent === 'off') await this.action(`enable agent ${backend}/${server}`);
    if (opts.ready || v.agent === 'none') await this.action(`set server ${backend}/${server} state ready`);
  }
}

/** A RuntimeApiError as a StackError naming the fix; anything else as it is. */
function unavailable(e: unknown): unknown {
  if (!(e instanceof RuntimeApiError)) return e;
  return new StackError(e.code === 'ERR_RUNTIME_API_COMMAND' ? 'EINTERNAL' : 'EUNAVAILABLE', e.message,
    { hint: 'check haproxy runs and its `stats socket ... level admin` line matches haproxy.stats-socket (or --haproxy-socket)', cause: e });
}

