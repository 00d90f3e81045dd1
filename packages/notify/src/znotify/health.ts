// The health listener, served inside the wrapper's own event loop: it never waits for a Zope worker thread,
// and costs no process per check (FIELD_NOTES: ~140 us per agent answer in-process vs ~30 ms per spawned
// Node). Two sockets, either inherited from systemd (FileDescriptorName=agent / =http) or bound here:
// - agent: HAProxy agent-check. HAProxy connects, may send its `agent-send` string, reads one line; we
//   answer at once and close, without waiting for what it sends.
// - http: GET /health (200 ready / 503 not, JSON), /health/live, /health/ready, /metrics (Prometheus text).
import http from 'node:http';
import net from 'node:net';
import { formatAddress, type Address } from './address.js';
import { listenServer } from '../index.js';
import { StartError } from './errors.js';
import type { Logger } from './log.js';
import type { ServiceState } from './state.js';

/** The agent sockets still open, per server: closeServer ends them instead of waiting for their peers. */
const openAgentSockets = new WeakMap<net.Server, Set<net.Socket>>();

/** How long an agent connection may live at all. HAProxy reads one line and closes in microseconds. */
const AGENT_SOCKET_MS = 2000;
/** Enough for HAProxy's checks of several backends at once; more is a misbehaving client. */
const MAX_HEALTH_CONNECTIONS = 256;

export function agentServer(state: ServiceState, server: net.Server = net.createServer()): net.Server {
  const open = new Set<net.Socket>();
  openAgentSockets.set(server, open);
  server.maxConnections = MAX_HEALTH_CONNECTIONS;
  server.on('connection', (sock) => {
    state.countAgentRequest();
    open.add(sock);
    sock.on('error', () => {});
    sock.setNoDelay(true);
    sock.end(state.agentReply());
    // Read (and drop) HAProxy's agent-send string, so its close is seen at once and the socket goes away
    // cleanly instead of lingering with unread data (which would end in a RST).
    sock.resume();
    // A deadline, not an idle timeout: a peer that trickles a byte now and then must not keep its socket (and,
    // through server.close(), the wrapper's exit after the instance is gone) for ever.
    const deadline = setTimeout(() => sock.destroy(), AGENT_SOCKET_MS);
    deadline.unref();
    sock.once('close', () => { clearTimeout(deadline); open.delete(sock); });
  });
  return server;
}

// Node enforces headersTimeout/requestTimeout only when it checks its connections, every 30 s by default: a
// client that connects and sends nothing would hold its socket that long. Check every second instead.
export function httpServer(state: ServiceState, now: () => number, server: http.Server = http.createServer({ connectionsCheckingInterval: 1000 })): http.Server {
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  server.maxConnections = MAX_HEALTH_CONNECTIONS;
  server.on('request', (req, res) => {
    state.countHttpRequest();
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    const t = now();
    switch (path) {
      case '/health':
      case '/health/': {
        const body = state.toJSON(t);
        send(body.ready ? 200 : 503, 'application/json', JSON.stringify(body) + '\n');
        return;
      }
      case '/health/ready': {
        const ok = state.ready();
        const reason = ok ? undefined : state.notReadyReason();
        send(ok ? 200 : 503, 'application/json', JSON.stringify({ name: state.name, ready: ok, state: state.phase, ...(reason ? { reason } : {}) }) + '\n');
        return;
      }
      case '/health/live': {
        const ok = state.live(t);
        const reason = ok ? undefined : state.notLiveReason(t);
        send(ok ? 200 : 503, 'application/json', JSON.stringify({ name: state.name, live: ok, state: state.phase, busy: state.busy(), ...(reason ? { reason } : {}) }) + '\n');
        return;
      }
      case '/metrics':
        send(200, 'text/plain; version=0.0.4; charset=utf-8', state.metrics(t));
        return;
      default:
        send(404, 'text/plain; charset=utf-8', 'not found: try /health, /health/live, /health/ready, /metrics\n');
    }
  });
  server.on('clientError', (_err, sock) => { sock.destroy(); });
  return server;
}

/** Binds a server to a configured address; EADDRINUSE and friends become one clear StartError line. */
export async function bind(server: net.Server, address: Address, what: string): Promise<Address> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const where = formatAddress(address);
      if (err.code === 'EADDRINUSE') reject(new StartError('ZNOTIFY_ADDRESS_IN_USE', `${what} ${where} is already in use (EADDRINUSE): stop what listens there or choose another port`, 1, { cause: err }));
      else reject(new StartError('ZNOTIFY_LISTEN_FAILED', `${what} cannot listen on ${where}: ${err.code ?? err.message}`, 1, { cause: err }));
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
    for (const sock of openAgentSockets.get(server) ?? []) sock.destroy();
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
  configured: { agent?: Address; http?: Address },
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
        throw new StartError('ZNOTIFY_LISTEN_FAILED', `${what} on passed fd ${passed.fd}: ${(err as Error).message}`, 1, { cause: err });
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
    await open('agent', () => agentServer(state));
    await open('http', () => httpServer(state, now));
  } catch (err) {
    await close();
    throw err;
  }
  return { bound, close };
}
