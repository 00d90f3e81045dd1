// How zstack talks to HAProxy: one small interface (LoadBalancer), implemented over the Runtime API
// (`stats socket ... level admin`, a unix path or host:port, management.txt). Two facts shape it (checked
// against HAProxy 2.6 in the tests):
// - An agent reply containing `ready` (znotify's `up ready 100%`) clears a drain or maint set over the Runtime
//   API within one agent-inter. So draining a server whose agent is on means `disable agent` first, then
//   `set server B/S state drain`; giving it back means `enable agent` (and `state ready`).
// - A server is out of traffic for good only when it has neither sessions (scur) nor requests waiting in
//   its own queue (qcur).
import net from 'node:net';
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

/** One non-interactive Runtime API exchange: commands joined with `;`, the whole answer when HAProxy closes. */
export async function runtimeCommand(address: string, command: string, timeoutMs = 3000): Promise<string> {
  if (/[\r\n]/.test(command)) throw new StackError('EINTERNAL', `Runtime API command with a newline: ${JSON.stringify(command)}`);
  const target = socketTarget(address);
  return await new Promise((resolve, reject) => {
    const s = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
    let text = '';
    const fail = (why: string, cause?: unknown): void => {
      s.destroy();
      reject(new StackError('EUNAVAILABLE', `HAProxy's Runtime API at ${address}: ${why}`,
        { hint: 'check haproxy runs and its `stats socket ... level admin` line matches haproxy.stats-socket (or --haproxy-socket)', cause }));
    };
    s.setTimeout(timeoutMs, () => fail(`no answer to "${command}" within ${timeoutMs} ms`));
    s.setEncoding('utf8');
    s.on('connect', () => s.end(`${command}\n`));
    s.on('data', (d: string) => { text += d; });
    s.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message, e));
    s.on('close', (hadError) => { if (!hadError) resolve(text); });
  });
}

/** A unix socket path, or host:port / [v6]:port for a TCP stats socket. */
export function socketTarget(address: string): { path: string } | { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^/:[\]]+)):(\d{1,5})$/.exec(address);
  if (m) return { host: m[1] ?? m[2]!, port: Number(m[3]) };
  return { path: address };
}

const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20;
const ADMIN_DRAIN = 0x08 | 0x10;
const CHK_CONFIGURED = 0x02;
const CHK_ENABLED = 0x04;

/** Joins `show servers state B` and `show stat B 4 -1` (one exchange) into ServerViews. */
export function parseServers(text: string, backend: string): Map<string, ServerView> {
  const out = new Map<string, ServerView>();
  const admin = new Map<string, { op: number; admin: number; agentState: number; weight: number }>();
  let statHeader: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('# pxname,')) { statHeader = line.slice(2).split(','); continue; }
    if (line.startsWith('#')) continue;
    if (statHeader) {
      const f = line.split(',');
      const rec = Object.fromEntries(statHeader.map((k, i) => [k, f[i] ?? '']));
      if (rec.pxname !== backend || rec.svname === 'BACKEND' || rec.svname === 'FRONTEND') continue;
      const a = admin.get(rec.svname!);
      const status = rec.status ?? '';
      out.set(rec.svname!, {
        backend, server: rec.svname!, status,
        state: serverState(status, a?.admin ?? 0, a?.op ?? 0),
        sessions: (Number(rec.scur) || 0) + (Number(rec.qcur) || 0),
        agent: !a || !(a.agentState & CHK_CONFIGURED) ? 'none' : a.agentState & CHK_ENABLED ? 'on' : 'off',
        adminDrain: !!a && (a.admin & (ADMIN_DRAIN | ADMIN_MAINT)) !== 0,
        weight: Number(rec.weight) || 0,
      });
      continue;
    }
    // show servers state, format 1: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state
    // srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health
    // srv_check_state srv_agent_state ...
    const f = line.split(/\s+/);
    if (f.length > 14 && f[1] === backend) admin.set(f[3]!, { op: Number(f[5]), admin: Number(f[6]), agentState: Number(f[14]), weight: Number(f[7]) });
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

  private async command(cmd: string): Promise<string> {
    return await runtimeCommand(this.address, cmd, this.timeoutMs);
  }

  /** A command that answers nothing on success; anything else is HAProxy's error message. */
  private async action(cmd: string): Promise<void> {
    const reply = (await this.command(cmd)).trim();
    if (reply !== '') throw new StackError('EUNAVAILABLE', `HAProxy refused "${cmd}": ${reply.split('\n')[0]}`,
      { hint: reply.includes('No such') ? 'the backend/server names in the stack file must match HAProxy\'s configuration (zunitgen generates both)' : 'the stats socket needs `level admin`' });
  }

  async servers(backend: string): Promise<Map<string, ServerView>> {
    const text = await this.command(`show servers state ${backend}; show stat ${backend} 4 -1`);
    if (/Can't find backend|No such backend|Unknown backend/i.test(text)) {
      throw new StackError('ECONFIG', `HAProxy at ${this.address} has no backend "${backend}"`, { hint: 'include the backend zunitgen generated (haproxy-<stack>.cfg) and reload HAProxy' });
    }
    return parseServers(text, backend);
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
