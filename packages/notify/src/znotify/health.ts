// The health listener, served inside the wrapper's own event loop: it never waits for a Zope worker thread,
// and costs no process per check (~140 us per agent answer in-process vs ~30 ms per spawned Node,
// docs/dev/FACTS.md). Two sockets, either inherited from systemd (FileDescriptorName=agent / =http) or bound here:
// - agent: HAProxy agent-check. HAProxy connects, may send its `agent-send` string, reads one line; we
//   answer at once and close, without waiting for what it sends.
// - http: GET /health (200 ready / 503 not, JSON), /health/live, /health/ready, /metrics (Prometheus text).
//   Full detail (checks, reasons, pid, warm-up, memory, metrics) goes only to peers in health.detail-from
//   (loopback by default); any other peer learns the state and nothing else (`{"state":"running","phase":
//   "running","ready":true}`, the same status codes, so an HAProxy httpchk works from anywhere), and /metrics
//   answers 403.
import http from 'node:http';
import net from 'node:net';
import { formatAddress, type Address } from './address.js';
import { inNetworks, LOOPBACK_NETWORKS, parseNetwork, toJson, type Network } from '@zope-systemd/common';
import { listenServer } from '../index.js';
import { ConnectionGuard, type GuardSink } from './connection-guard.js';
import { instanceMemory, type InstanceMemory } from './instance-memory.js';
import { StartError } from './errors.js';
import { redact, redactDeep, type Logger } from './log.js';
import type { ServiceState } from './state.js';

/** Each listener's connection guard: closeServer ends its sockets instead of waiting for their peers. */
const guards = new WeakMap<net.Server, ConnectionGuard>();

/** How long an agent connection may live at all, also when the peer does not read the answer. */
const AGENT_SOCKET_MS = 2000;
/**
 * After the answer went out, the socket is closed this soon whatever the peer does. HAProxy closes at once; the
 * pause only lets its agent-send string (sent with the connect) be read first, so the close is a clean FIN and
 * not a reset that could cost HAProxy the answer.
 */
const AGENT_LINGER_MS = 50;
/** The longest /health waits for the instance's memory figures; without them in time, it answers without. */
const MEMORY_READ_MS = 500;
/** Request line (2 KiB) and header (8 KiB) limits of the health HTTP listener: 414 and 431 above them. */
const MAX_URL_BYTES = 2048;
const MAX_HEADER_BYTES = 8192;

function sinkOf(state: ServiceState): GuardSink {
  return { count: (listener, what) => state.countHealthConnection(listener, what) };
}

/**
 * redact() of the agent's line, computed again only when the line changes: under a connection flood every
 * accepted connection gets an answer, and the regular expressions were a tenth of the CPU each one costs.
 */
function redactedAgentReply(): (line: string) => string {
  let line = '';
  let redacted = '';
  return (next) => {
    if (next !== line) { line = next; redacted = redact(next); }
    return redacted;
  };
}

export function agentServer(state: ServiceState, server: net.Server = net.createServer(), log?: Pick<Logger, 'warn'>): net.Server {
  const guard = new ConnectionGuard('agent', sinkOf(state), log);
  const reply = redactedAgentReply();
  guards.set(server, guard);
  server.on('connection', (sock) => {
    if (!guard.admit(sock)) return;
    state.countAgentRequest();
    sock.on('error', () => {});
    guard.busy(sock);
    // Read (and drop) HAProxy's agent-send string: unread data would turn our close into a reset.
    sock.resume();
    // One write followed by the FIN: Nagle never holds it back (nothing is unacknowledged before it), so no
    // setNoDelay, a system call per connection that a flood multiplies.
    sock.end(reply(state.agentReply()), () => {
      // Answered: the slot is free for the next check, whatever this peer does (a flood never closes).
      guard.idle(sock);
      setTimeout(() => sock.destroy(), AGENT_LINGER_MS).unref();
    });
    // A deadline, not an idle timeout: a peer that never reads the answer, or trickles a byte now and then, must
    // not keep its socket (and, through server.close(), the wrapper's exit after the instance is gone) for ever.
    const deadline = setTimeout(() => sock.destroy(), AGENT_SOCKET_MS);
    deadline.unref();
    sock.once('close', () => clearTimeout(deadline));
  });
  return server;
}

// Node enforces headersTimeout/requestTimeout only when it checks its connections, every 30 s by default: a
// client that connects and sends nothing would hold its socket that long. Check every second instead.
export function httpServer(
  state: ServiceState,
  now: () => number,
  server: http.Server = http.createServer({ connectionsCheckingInterval: 1000, maxHeaderSize: MAX_HEADER_BYTES }),
  log?: Pick<Logger, 'warn'>,
  detailFrom: readonly string[] = LOOPBACK_NETWORKS,
): http.Server {
  const detail = detailFrom.flatMap((n): Network[] => { const r = parseNetwork(n); return r.ok ? [r.value] : []; });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  const guard = new ConnectionGuard('http', sinkOf(state), log);
  guards.set(server, guard);
  server.on('connection', (sock: net.Socket) => { guard.admit(sock); });
  server.on('request', (req, res) => {
    state.countHttpRequest();
    guard.busy(req.socket);
    res.once('close', () => guard.idle(req.socket));
    answer(state, now, req, res, inNetworks(req.socket.remoteAddress, detail));
  });
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, sock: net.Socket) => {
    const status = clientErrorStatus(err);
    if (status === undefined || !sock.writable) { sock.destroy(); return; }
    state.countHttpRequest();
    sock.end(rawResponse(status));
    setTimeout(() => sock.destroy(), 1000).unref();
  });
  return server;
}

/** The status for a request Node's parser refused: 405 unknown method, 414/431 too long, 400 otherwise. */
function clientErrorStatus(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): number | undefined {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // Over the header limit before the request line ended: it is the URL that is too long.
    const nl = err.rawPacket?.indexOf(0x0a) ?? -1;
    return nl < 0 || nl > MAX_URL_BYTES ? 414 : 431;
  }
  if (err.code === 'HPE_INVALID_METHOD') return 405;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (err.code?.startsWith('HPE_')) return 400;
  return undefined; // a reset or the like: nobody to answer
}

function rawResponse(status: number): string {
  const reason = http.STATUS_CODES[status] ?? 'Error';
  const body = status === 405 ? 'method not allowed: GET or HEAD\n' : `${reason.toLowerCase()}\n`;
  return [`HTTP/1.1 ${status} ${reason}`, 'connection: close', 'content-type: text/plain; charset=utf-8', 'cache-control: no-store',
    `content-length: ${Buffer.byteLength(body)}`, ...(status === 405 ? ['allow: GET, HEAD'] : []), '', body].join('\r\n');
}

/**
 * One request: everything it answers leaves through redactDeep()/redact(), like the logs. `full`: the peer is in
 * health.detail-from; otherwise only the state (and the same status code) is answered.
 */
function answer(state: ServiceState, now: () => number, req: http.IncomingMessage, res: http.ServerResponse, full: boolean): void {
  const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const json = (status: number, body: unknown) => send(status, 'application/json', toJson(redactDeep(body)) + '\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(405, 'text/plain; charset=utf-8', 'method not allowed: GET or HEAD\n', { allow: 'GET, HEAD', connection: 'close' });
    return;
  }
  if ((req.url ?? '').length > MAX_URL_BYTES) {
    send(414, 'text/plain; charset=utf-8', `uri too long: at most ${MAX_URL_BYTES} bytes\n`, { connection: 'close' });
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  const t = now();
  switch (path) {
    case '/health':
    case '/health/': {
      const body = full ? state.toJSON(t) : { state: state.stateName, phase: state.phase, ready: state.ready() };
      // The instance's memory only when asked (`?memory`): reading it walks the instance's page tables, a few ms
      // for a large process, which monitoring that polls /health should not pay on every request.
      if (!full || !new URLSearchParams((req.url ?? '').split('?')[1] ?? '').has('memory')) { json(body.ready ? 200 : 503, body); return; }
      void memoryWithin(state.childPid, MEMORY_READ_MS).then((memory) => json(body.ready ? 200 : 503, { ...body, ...(memory ? { memory } : {}) }));
      return;
    }
    case '/health/ready': {
      const ok = state.ready();
      const reason = ok || !full ? undefined : state.notReadyReason();
      json(ok ? 200 : 503, full ? { name: state.name, ready: ok, state: state.stateName, ...(reason ? { reason } : {}) } : { state: state.stateName, phase: state.phase, ready: ok });
      return;
    }
    case '/health/live': {
      const ok = state.live(t);
      const reason = ok || !full ? undefined : state.notLiveReason(t);
      json(ok ? 200 : 503, full ? { name: state.name, live: ok, state: state.stateName, busy: state.busy(), ...(reason ? { reason } : {}) } : { state: state.stateName, phase: state.phase, live: ok });
      return;
    }
    case '/metrics':
      if (!full) { send(403, 'text/plain; charset=utf-8', 'forbidden: /metrics is served to health.detail-from only\n'); return; }
      send(200, 'text/plain; version=0.0.4; charset=utf-8', state.metrics(t));
      return;
    default:
      send(404, 'text/plain; charset=utf-8', 'not found: try /health, /health/live, /health/ready, /metrics\n');
  }
}

/** The instance's memory, or undefined when it cannot be read within `ms` (the answer never waits longer). */
async function memoryWithin(pid: number | undefined, ms: number): Promise<InstanceMemory | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => { timer = setTimeout(resolve, ms, undefined); });
  try {
    return await Promise.race([instanceMemory(pid).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Binds a server to a configured address; EADDRINUSE and friends become one clear StartError line. */
export async function bind(server: net.Server, address: Address, what: string): Promise<Address> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const where = formatAddress(address);
      if (err.code === 'EADDRINUSE') reject(new StartError('ERR_ZNOTIFY_ADDRESS_IN_USE', `${what} ${where} is already in use (EADDRINUSE): stop what listens there or choose another port`, 1, { cause: err }));
      else reject(new StartError('ERR_ZNOTIFY_LISTEN_FAILED', `${what} cannot listen on ${where}: ${err.code ?? err.message}`, 1, { cause: err }));
    };
    const onListening = () => { server.off('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: address.host, port: address.port, exclusive: true });
  });
  const a = server.address() as net.AddressInfo;
  return { host: a.address, port: a.port };
}

export async function closeServer(server: net.Server | undefined): Promise<void> {
  if (!server || !server.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    (server as http.Server).closeAllConnections?.();
    guards.get(server)?.destroyAll();
  });
}

/** The health listeners of one wrapper: what is open, and where (port 0 resolved). */
export interface HealthListeners {
  readonly bound: { agent?: Address; http?: Address };
  close(): Promise<void>;
}

/**
 * Opens the agent and http listeners: a socket systemd passed with FileDescriptorName=agent / =http wins over
 * the configured address. Opened before the instance exists, so a port in use fails with nothing to clean up;
 * when one cannot open, those already open are closed before the error is thrown.
 */
export async function openHealthListeners(
  configured: { agent?: Address; http?: Address; detailFrom?: readonly string[] },
  fds: readonly { fd: number; name: string }[],
  state: ServiceState,
  now: () => number,
  log: Pick<Logger, 'info' | 'warn'>,
): Promise<HealthListeners> {
  const servers: net.Server[] = [];
  const bound: { agent?: Address; http?: Address } = {};
  const close = async () => { await Promise.all(servers.map((s) => closeServer(s))); };
  for (const f of fds) {
    if (f.name !== 'agent' && f.name !== 'http') {
      log.warn({ fd: f.fd, fdName: f.name }, 'ignoring a passed socket that is not named agent or http (set FileDescriptorName=)');
    }
  }
  const open = async (kind: 'agent' | 'http', make: () => net.Server) => {
    const what = kind === 'agent' ? 'health agent' : 'health http';
    const passed = fds.find((f) => f.name === kind);
    if (passed) {
      servers.push(await listenServer(passed.fd, make()).catch((err: unknown) => {
        throw new StartError('ERR_ZNOTIFY_LISTEN_FAILED', `${what} on passed fd ${passed.fd}: ${(err as Error).message}`, 1, { cause: err });
      }));
      log.info({ fd: passed.fd }, `${what} listening on the socket systemd passed (${kind})`);
    } else if (configured[kind]) {
      const s = make();
      bound[kind] = await bind(s, configured[kind], what);
      servers.push(s);
      log.info({ address: formatAddress(bound[kind]) }, `${what} listening`);
    }
  };
  try {
    await open('agent', () => agentServer(state, net.createServer(), log));
    await open('http', () => httpServer(state, now, undefined, log, configured.detailFrom));
  } catch (err) {
    await close();
    throw err;
  }
  return { bound, close };
}
