// A real HAProxy (Debian's 2.6) for integration tests: foreground (`-db`), loopback ports only, a Runtime API
// socket at `level admin` in a private temp dir, torn down by pid.
//
// Facts verified against haproxy 2.6.12 here (test/peers.test.ts checks them again):
// - `show servers state`: srv_op_state 0 STOPPED, 1 STARTING, 2 RUNNING, 3 STOPPING; srv_admin_state is a
//   mask: 0x01 FMAINT, 0x02 IMAINT, 0x04 CMAINT, 0x08 FDRAIN, 0x10 IDRAIN, 0x20 RMAINT, 0x40 HMAINT (the
//   last only means "FQDN set over the socket", not maintenance). In MAINT the op state reads 0 too, so
//   MAINT is tested before DOWN.
// - `show stat` status for the same states: "DOWN", "DOWN (agent)", "MAINT", "DRAIN", "DRAIN (agent)",
//   "UP", "UP 1/3" (going down), "DOWN 1/2" (going up), "NOLB", and "no check" for a RUNNING server without
//   `check` (also with agent-check only).
// - An agent reply containing `ready` clears a drain or maint set over the Runtime API within one
//   agent-inter (configuration.txt, agent-check): an agent that keeps saying `up ready 100%` undoes
//   `set server B/S state drain`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPeer, type Peer } from './proc.js';

export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');

/** Why HAProxy cannot run here, or undefined. */
export function haproxySkipReason(): string | undefined {
  try {
    execFileSync(HAPROXY_BIN, ['-v'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `haproxy not found (${HAPROXY_BIN}; apt-get install haproxy)`;
  }
}

/** Operational state of a server as a load balancer user means it. */
export type ServerState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOLB';

export interface HaproxyServer {
  name: string;
  port: number;
  host?: string;            // default 127.0.0.1
  /** agent-check on this port (the wrapper's health agent). */
  agentPort?: number;
  agentHost?: string;       // agent-addr; default: the server's address
  agentInterMs?: number;    // agent-inter; default 200
  agentSend?: string;       // agent-send
  /** Health check (`check`): with the backend's httpCheck an HTTP check, else a TCP connect. */
  check?: boolean;
  interMs?: number;         // inter; default 200
  fall?: number;
  rise?: number;
  /** Appended to the server line verbatim. */
  extra?: string;
}

export interface HaproxyBackend {
  name: string;
  servers: HaproxyServer[];
  /** `option httpchk` + `http-check expect status`; servers need `check: true`. */
  httpCheck?: { path?: string; host?: string; expectStatus?: number };
  /** Adds a frontend on 127.0.0.1:frontendPort whose default_backend is this backend. */
  frontendPort?: number;
  /** Extra backend lines, verbatim. */
  extra?: string[];
}

const NAME = /^[A-Za-z0-9_.:-]+$/;

function checkName(what: string, v: string): void {
  if (!NAME.test(v)) throw new Error(`Expected ${what} to match ${NAME}, got \`${v}\``);
}

/** A complete haproxy.cfg for the given backends; the stats socket line is added by startHaproxy. */
export function haproxyConfig(backends: readonly HaproxyBackend[], opts: { statsSocket?: string } = {}): string {
  const lines = ['global'];
  if (opts.statsSocket) lines.push(`  stats socket ${opts.statsSocket} mode 666 level admin`);
  lines.push(
    '',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 120s',
    '  timeout server 120s', // longer than the 60 s "long request" tests
    '  timeout check 1s',
  );
  for (const b of backends) {
    checkName('backend name', b.name);
    if (b.frontendPort !== undefined) {
      lines.push('', `frontend fe_${b.name}`, `  bind 127.0.0.1:${b.frontendPort}`, `  default_backend ${b.name}`);
    }
    lines.push('', `backend ${b.name}`);
    if (b.httpCheck) {
      const p = b.httpCheck.path ?? '/';
      if (/\s/.test(p)) throw new Error(`Expected httpCheck.path without whitespace, got \`${p}\``);
      if (b.httpCheck.host !== undefined) checkName('httpCheck.host', b.httpCheck.host);
      lines.push('  option httpchk');
      lines.push(`  http-check send meth GET uri ${p} ver HTTP/1.1${b.httpCheck.host ? ` hdr Host ${b.httpCheck.host}` : ''}`);
      lines.push(`  http-check expect status ${b.httpCheck.expectStatus ?? 200}`);
    }
    for (const x of b.extra ?? []) lines.push(`  ${x}`);
    for (const s of b.servers) {
      checkName('server name', s.name);
      const words = [`  server ${s.name} ${s.host ?? '127.0.0.1'}:${s.port}`];
      if (s.check) {
        words.push('check', `inter ${s.interMs ?? 200}ms`);
        if (s.fall !== undefined) words.push(`fall ${s.fall}`);
        if (s.rise !== undefined) words.push(`rise ${s.rise}`);
      }
      if (s.agentPort !== undefined) {
        words.push('agent-check', `agent-port ${s.agentPort}`, `agent-inter ${s.agentInterMs ?? 200}ms`);
        if (s.agentHost) words.push(`agent-addr ${s.agentHost}`);
        if (s.agentSend !== undefined) words.push(`agent-send ${JSON.stringify(s.agentSend)}`);
      }
      if (s.extra) words.push(s.extra);
      lines.push(words.join(' '));
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface HaproxyOptions {
  /** A complete config; a `stats socket` line is inserted into `global` unless it has one. */
  config?: string;
  /** Or: backends for haproxyConfig(). */
  backends?: HaproxyBackend[];
  /** Where the Runtime API socket goes (e.g. under box.shared so a service inside a box can use it);
   *  default: <temp dir>/admin.sock. Ignored when `config` already has a `stats socket`. */
  statsSocket?: string;
  readyTimeoutMs?: number;  // default 10 000
  /** More command-line words, e.g. ['-sf', String(oldPid)]: a reload, the new HAProxy taking over from the old. */
  args?: string[];
}

export interface Haproxy {
  readonly pid: number;
  readonly dir: string;          // private temp dir (config file, default socket), removed by stop()
  readonly statsSocket: string;
  readonly configFile: string;
  readonly config: string;
  readonly peer: Peer;
  /** One Runtime API command (non-interactive: haproxy answers and closes); returns the text as is. */
  runtime(command: string, opts?: { timeoutMs?: number }): Promise<string>;
  /** `show stat` parsed: one record per line, keyed by the header's field names (pxname, svname, status...). */
  showStat(): Promise<Record<string, string>[]>;
  /** UP | DOWN | DRAIN | MAINT | NOLB from `show servers state`; throws if the server does not exist. */
  serverState(backend: string, server: string): Promise<ServerState>;
  /** Polls serverState until it is (one of) `want`; rejects after timeoutMs (default 10 000) naming the last. */
  waitForState(backend: string, server: string, want: ServerState | readonly ServerState[],
    opts?: { timeoutMs?: number; intervalMs?: number }): Promise<ServerState>;
  output(): string;
  /** Stops haproxy (SIGTERM, then SIGKILL) and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

/** Sends one command to a HAProxy Runtime API socket and returns the reply text. */
export async function runtimeCommand(socketPath: string, command: string, timeoutMs = 2_000): Promise<string> {
  if (/[\r\n]/.test(command)) throw new Error(`Expected one command without newlines, got \`${JSON.stringify(command)}\``);
  return await new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`Runtime API ${socketPath}: no complete answer to \`${command}\` within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.end(`${command}\n`));
    s.on('data', (d: string) => { text += d; });
    s.on('error', (e) => { clearTimeout(timer); reject(new Error(`Runtime API ${socketPath}: ${e.message}`, { cause: e })); });
    s.on('close', () => { clearTimeout(timer); resolve(text); });
  });
}

/** Maps one `show servers state` line (format 1) to a ServerState; see the facts at the top. */
export function stateFromServersState(opState: number, adminState: number): ServerState {
  const MAINT = 0x01 | 0x02 | 0x04 | 0x20;
  const DRAIN = 0x08 | 0x10;
  if (adminState & MAINT) return 'MAINT';
  if (opState === 0) return 'DOWN';
  if (adminState & DRAIN) return 'DRAIN';
  if (opState === 3) return 'NOLB';
  return 'UP'; // 2 RUNNING, 1 STARTING (slowstart: up, weight ramping)
}

function insertStatsSocket(config: string, socketPath: string): { config: string; socket: string } {
  const existing = config.match(/^\s*stats\s+socket\s+(\S+)/m);
  if (existing?.[1]) return { config, socket: existing[1] };
  const line = `  stats socket ${socketPath} mode 666 level admin`;
  if (/^global\s*$/m.test(config)) return { config: config.replace(/^global\s*$/m, (g) => `${g}\n${line}`), socket: socketPath };
  return { config: `global\n${line}\n\n${config}`, socket: socketPath };
}

/**
 * Polls `show info` on the Runtime API until HAProxy `pid` itself answers (during a reload the old one still does),
 * until `signal` aborts or `timeoutMs` passes; says each failed try to `failed`.
 */
async function runtimeAnswers(socket: string, pid: number, o: { signal: AbortSignal; timeoutMs: number; failed: (why: string) => void }): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  while (!o.signal.aborted && Date.now() < deadline) {
    try {
      const info = await runtimeCommand(socket, 'show info', 1_000);
      if (info.includes(`Pid: ${pid}\n`)) return;
      o.failed(`answered as ${/^Pid: (\d+)$/m.exec(info)?.[1] ?? 'no pid'}`);
    } catch (e) { o.failed((e as Error).message); }
    await sleep(50);
  }
  throw new Error(`the Runtime API ${socket} did not answer \`show info\` as pid ${pid}`);
}

/** Starts haproxy -db -f <cfg> (and opts.args); resolves once its Runtime API answers `show info`. */
export async function startHaproxy(opts: HaproxyOptions): Promise<Haproxy> {
  if (!opts.config === !opts.backends) throw new Error('Expected exactly one of `config` or `backends`');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zs-haproxy-'));
  const wanted = opts.statsSocket ?? path.join(dir, 'admin.sock');
  const { config, socket } = opts.config !== undefined
    ? insertStatsSocket(opts.config, wanted)
    : { config: haproxyConfig(opts.backends!, { statsSocket: wanted }), socket: wanted };
  const configFile = path.join(dir, 'haproxy.cfg');
  await writeFile(configFile, config);
  const removeFiles = async (): Promise<void> => {
    await rm(dir, { recursive: true, force: true });
    if (!socket.startsWith(dir + path.sep)) await rm(socket, { force: true });
  };

  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  let last = 'nothing tried yet';
  let peer: Peer;
  try {
    peer = await startPeer([HAPROXY_BIN, '-db', '-f', configFile, ...(opts.args ?? [])], {
      name: 'haproxy',
      readyTimeoutMs,
      ready: (p, signal) => runtimeAnswers(socket, p.pid, { signal, timeoutMs: readyTimeoutMs, failed: (why) => { last = why; } }),
    });
  } catch (e) {
    await removeFiles();
    throw new Error(`haproxy did not start: ${e instanceof Error ? e.message : e}\nwaited for: the Runtime API ${socket} to answer \`show info\` as haproxy's own pid (last try: ${last})\nconfig:\n${config}`, { cause: e });
  }

  const hx: Haproxy = {
    pid: peer.pid,
    dir,
    configFile,
    config,
    peer,
    ...runtimeClient(socket),
    output: () => peer.output(),
    async stop() {
      await peer.stop();
      await removeFiles();
    },
  };
  return hx;
}

/** What a test asks a HAProxy through its Runtime API socket, whoever started it (also one inside a box). */
export type RuntimeClient = Pick<Haproxy, 'statsSocket' | 'runtime' | 'showStat' | 'serverState' | 'waitForState'>;

export function runtimeClient(socket: string): RuntimeClient {
  const hx: RuntimeClient = {
    statsSocket: socket,
    runtime: (command, o = {}) => runtimeCommand(socket, command, o.timeoutMs),
    async showStat() {
      const text = await hx.runtime('show stat');
      const [header, ...rows] = text.split('\n').filter((l) => l.trim() !== '');
      const names = (header ?? '').replace(/^#\s*/, '').split(',');
      return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [names[i] ?? String(i), v])));
    },
    async serverState(backend, server) {
      checkName('backend name', backend);
      const text = await hx.runtime(`show servers state ${backend}`);
      for (const line of text.split('\n')) {
        if (line.startsWith('#') || line.trim() === '') continue;
        const f = line.trim().split(/\s+/);
        // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
        if (f.length > 6 && f[1] === backend && f[3] === server) {
          return stateFromServersState(Number(f[5]), Number(f[6]));
        }
      }
      throw new Error(`haproxy has no server ${backend}/${server}; show servers state said:\n${text}`);
    },
    async waitForState(backend, server, want, o = {}) {
      const wants: readonly ServerState[] = typeof want === 'string' ? [want] : want;
      const timeoutMs = o.timeoutMs ?? 10_000;
      const deadline = Date.now() + timeoutMs;
      let last: ServerState | undefined;
      for (;;) {
        last = await hx.serverState(backend, server);
        if (wants.includes(last)) return last;
        if (Date.now() >= deadline) {
          throw new Error(`${backend}/${server} is ${last}, not ${wants.join(' or ')}, after ${timeoutMs} ms`);
        }
        await sleep(o.intervalMs ?? 50);
      }
    },
  };
  return hx;
}

/** startHaproxy + t.after(stop). */
export async function useHaproxy(t: TestContext, opts: HaproxyOptions): Promise<Haproxy> {
  const hx = await startHaproxy(opts);
  t.after(() => hx.stop());
  return hx;
}
