// The health listener, served inside the wrapper's own event loop: it never waits for a Zope worker thread,
// and costs no process per check (FIELD_NOTES: ~140 us per agent answer in-process vs ~30 ms per spawned
// Node). Two sockets, either inherited from systemd (FileDescriptorName=agent / =http) or bound here:
// - agent: HAProxy agent-check. HAProxy connects, may send its `agent-send` string, reads one line; we
//   answer at once and close, without waiting for what it sends.
// - http: GET /health (200 ready / 503 not, JSON), /health/live, /health/ready, /metrics (Prometheus text).
import http from 'node:http';
import net from 'node:net';
import { formatAddress, type Address } from './address.js';
import { StartError } from './errors.js';
import type { ServiceState } from './state.js';

export function agentServer(state: ServiceState, server: net.Server = net.createServer()): net.Server {
  server.on('connection', (sock) => {
    state.counters.agentRequests++;
    sock.on('error', () => {});
    sock.setNoDelay(true);
    sock.end(state.agentReply());
    // Read (and drop) HAProxy's agent-send string, so its close is seen at once and the socket goes away
    // cleanly instead of lingering with unread data (which would end in a RST).
    sock.resume();
    // Do not wait for HAProxy to close: a peer that never closes must not keep sockets around.
    sock.setTimeout(2000, () => sock.destroy());
  });
  return server;
}

export function httpServer(state: ServiceState, now: () => number, server: http.Server = http.createServer()): http.Server {
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  server.on('request', (req, res) => {
    state.counters.httpRequests++;
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
  });
}
