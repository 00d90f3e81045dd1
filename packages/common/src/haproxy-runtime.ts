// HAProxy's Runtime API (management.txt, "stats socket ... level admin"), the one client every tool uses: the
// wrapper (its server's state, its sessions while it drains) and zstack (drains, agents, status).
//
// Non-interactive mode: one connection per exchange; the commands go out as one line, separated by `;`, and
// HAProxy answers each in turn, every answer ending with an empty line, then closes. An action such as
// `set server B/S state drain` answers nothing on success and an error text otherwise ("No such server.").
// node:net only: the wrapper that uses it stays resident next to its instance.
import net from 'node:net';
import { parseAddress } from './address.js';

/** Where the Runtime API listens: a unix socket path, or TCP (`stats socket ipv4@127.0.0.1:9999 level admin`). */
export type RuntimeApiTarget = { path: string } | { host: string; port: number };

/**
 * `/run/haproxy/admin.sock` (a unix socket path), or `host:port` / `[v6]:port`. Undefined when it is neither:
 * the config parsers of both tools refuse such a value before it gets here.
 */
export function runtimeApiTarget(value: string): RuntimeApiTarget | undefined {
  if (value.startsWith('/')) return { path: value };
  // The shared address rules, with names: `stats socket ipv4@...` is an IP, a name is resolved when connecting.
  const a = parseAddress(value, { names: true });
  return a.ok ? { host: a.value.host, port: a.value.port } : undefined;
}

/** Every code a RuntimeApiError can carry. Stable: only ever added to. */
export type RuntimeApiErrorCode =
  /** A command that would be several (a newline or `;` in it): never sent. */
  | 'ERR_RUNTIME_API_COMMAND'
  /** The socket is not a path or host:port, or it cannot be reached (ENOENT, ECONNREFUSED, a reset...). */
  | 'ERR_RUNTIME_API_UNREACHABLE'
  /** No complete answer within the time allowed. */
  | 'ERR_RUNTIME_API_TIMEOUT'
  /** The caller's AbortSignal ended the exchange. */
  | 'ERR_RUNTIME_API_ABORTED'
  /** HAProxy answered something else than the command's answer (not `show stat` CSV, too few answers). */
  | 'ERR_RUNTIME_API_ANSWER'
  /** `show stat` has no row for the backend/server asked for. */
  | 'ERR_RUNTIME_API_UNKNOWN_SERVER';

export class RuntimeApiError extends Error {
  constructor(readonly code: RuntimeApiErrorCode, readonly address: string, message: string, options?: { cause?: unknown }) {
    super(`HAProxy stats socket ${address}: ${message}`, options);
    this.name = 'RuntimeApiError';
  }
}

export interface ExchangeOptions {
  /** The whole exchange, connect to close, at most this long (default 2000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * One exchange: the commands on one connection, in order; resolves with each command's answer, trimmed ('' for
 * an action that succeeded). Rejects with a RuntimeApiError when it cannot ask or gets no complete answer.
 */
export async function runtimeExchange(address: string, commands: readonly string[], o: ExchangeOptions = {}): Promise<string[]> {
  const text = await exchange(address, commands, o.timeoutMs ?? 2000, o.signal);
  const answers = splitAnswers(text);
  if (answers.length < commands.length) {
    throw new RuntimeApiError('ERR_RUNTIME_API_ANSWER', address, `${answers.length} answer(s) to ${commands.length} command(s): ${JSON.stringify(text.slice(0, 120))}`);
  }
  return answers.slice(0, commands.length - 1).concat(answers.slice(commands.length - 1).join('\n\n'));
}

/** One command; resolves with its answer, trimmed. */
export async function runtimeCommand(address: string, command: string, o: ExchangeOptions = {}): Promise<string> {
  return (await runtimeExchange(address, [command], o))[0]!;
}

/** Each answer ends with an empty line; an action's empty answer is that empty line alone. */
function splitAnswers(text: string): string[] {
  const answers: string[] = [];
  let current: string[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop(); // the split's artefact after the last newline, not a line
  for (const line of lines) {
    if (line.trim() !== '') { current.push(line); continue; }
    answers.push(current.join('\n').trim());
    current = [];
  }
  if (current.length) answers.push(current.join('\n').trim());
  return answers;
}

function exchange(address: string, commands: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const bad = commands.find((c) => /[\r\n;]/.test(c));
  if (bad !== undefined || commands.length === 0) {
    return Promise.reject(new RuntimeApiError('ERR_RUNTIME_API_COMMAND', address, `refusing a command with a newline or ';': ${JSON.stringify(bad ?? '')}`));
  }
  const target = runtimeApiTarget(address);
  if (!target) return Promise.reject(new RuntimeApiError('ERR_RUNTIME_API_UNREACHABLE', address, 'not a unix socket path or host:port'));
  if (signal?.aborted) return Promise.reject(new RuntimeApiError('ERR_RUNTIME_API_ABORTED', address, 'cancelled'));
  return new Promise((resolve, reject) => {
    const sock = net.connect(target);
    let text = '';
    const done = (err?: RuntimeApiError): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) { sock.destroy(); reject(err); } else resolve(text);
    };
    const timer = setTimeout(() => done(new RuntimeApiError('ERR_RUNTIME_API_TIMEOUT', address, `no answer to "${commands.join('; ')}" within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => done(new RuntimeApiError('ERR_RUNTIME_API_ABORTED', address, 'cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.end(`${commands.join('; ')}\n`));
    sock.on('data', (d: string) => { text += d; });
    sock.on('error', (e: NodeJS.ErrnoException) => done(new RuntimeApiError('ERR_RUNTIME_API_UNREACHABLE', address, e.code ?? e.message, { cause: e })));
    sock.on('close', (hadError) => { if (!hadError) done(); });
  });
}

/** `set server B/S state <state>`: resolves with HAProxy's answer, '' when it took it, its refusal otherwise. */
export async function setServerState(address: string, backend: string, server: string, state: 'ready' | 'drain' | 'maint', o?: ExchangeOptions): Promise<string> {
  return await runtimeCommand(address, `set server ${backend}/${server} state ${state}`, o);
}

/** One server's row of `show stat` (management.txt, "9.1. CSV format"). */
export interface ServerStat {
  backend: string;
  server: string;
  /** As HAProxy prints it: "UP", "DOWN (agent)", "DRAIN", "MAINT", "UP 1/3", "no check"... */
  status: string;
  /** scur: current sessions on the server (requests being served or connected). */
  current: number;
  /** qcur: requests queued for this very server (its maxconn reached). */
  queued: number;
  weight: number;
}

/** The `show stat` command for one backend's servers: type 4 = servers, sid -1 = all of them. */
export function showStatCommand(backend: string): string {
  return `show stat ${backend} 4 -1`;
}

/**
 * Parses a `show stat` answer: a `# pxname,svname,...` header, then one line per proxy or server. Returns the
 * servers' rows (the FRONTEND and BACKEND lines are not servers). Throws ERR_RUNTIME_API_ANSWER on anything else
 * ("No such proxy.", a missing column).
 */
export function parseShowStat(answer: string, address = '?'): ServerStat[] {
  const lines = answer.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const header = lines[0]?.startsWith('# pxname,') ? lines[0].slice(2).split(',') : undefined;
  if (!header) throw new RuntimeApiError('ERR_RUNTIME_API_ANSWER', address, `not a show stat answer: ${JSON.stringify(answer.slice(0, 120))}`);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new RuntimeApiError('ERR_RUNTIME_API_ANSWER', address, `show stat has no ${name} column`);
    return i;
  };
  const [px, sv, scur, qcur] = [col('pxname'), col('svname'), col('scur'), col('qcur')];
  const [status, weight] = [header.indexOf('status'), header.indexOf('weight')];
  const rows: ServerStat[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[sv] === 'FRONTEND' || f[sv] === 'BACKEND') continue;
    rows.push({
      backend: f[px] ?? '', server: f[sv] ?? '', status: f[status] ?? '',
      current: Number(f[scur]) || 0, queued: Number(f[qcur]) || 0, weight: Number(f[weight]) || 0,
    });
  }
  return rows;
}

/** The row of backend/server in a `show stat` answer; ERR_RUNTIME_API_UNKNOWN_SERVER when HAProxy has none. */
export function serverStatOf(rows: readonly ServerStat[], backend: string, server: string, address = '?'): ServerStat {
  const row = rows.find((r) => r.backend === backend && r.server === server);
  if (!row) throw new RuntimeApiError('ERR_RUNTIME_API_UNKNOWN_SERVER', address, `HAProxy has no server ${backend}/${server} (show stat)`);
  return row;
}

/** `show stat` of one server, asked now: its sessions and status. */
export async function serverStat(address: string, backend: string, server: string, o?: ExchangeOptions): Promise<ServerStat> {
  return serverStatOf(parseShowStat(await runtimeCommand(address, showStatCommand(backend), o), address), backend, server, address);
}

/** One server's line of `show servers state` (format 1): the states HAProxy keeps as numbers. */
export interface ServerStateLine {
  backend: string;
  server: string;
  /** srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** srv_admin_state, a mask: 0x01/0x02/0x04/0x20 maintenance, 0x08/0x10 drain. */
  adminState: number;
  /** srv_agent_state, a mask: 0x02 configured, 0x04 enabled. */
  agentState: number;
  weight: number;
}

/**
 * Parses a `show servers state` answer (format 1: a version line, a `# be_id be_name srv_id srv_name ...`
 * header, one line per server). Lines of any other shape are skipped.
 */
export function parseServersState(answer: string): ServerStateLine[] {
  const out: ServerStateLine[] = [];
  for (const raw of answer.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
    // srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state ...
    const f = line.split(/\s+/);
    if (f.length <= 14) continue;
    out.push({ backend: f[1]!, server: f[3]!, opState: Number(f[5]), adminState: Number(f[6]), agentState: Number(f[14]), weight: Number(f[7]) });
  }
  return out;
}
