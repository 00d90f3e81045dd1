// HAProxy Runtime API (management.txt, "stats socket ... level admin"): one command per connection, in
// non-interactive mode HAProxy answers and closes. `set server <backend>/<server> state ready|drain|maint`
// answers nothing on success and an error text otherwise.
import net from 'node:net';
import { parseAddress } from './address.js';
import { ZnotifyError } from './errors.js';
import type { Logger } from './log.js';

export interface RuntimeApiTarget {
  statsSocket: string;
  backend: string;
  server: string;
}

/** Sends one command; resolves with HAProxy's answer (trimmed). Rejects on connect errors and timeouts. */
export async function haproxyCommand(socket: string, command: string, timeoutMs = 2000, signal?: AbortSignal): Promise<string> {
  if (/[\r\n;]/.test(command)) throw new ZnotifyError('ERR_ZNOTIFY_RUNTIME_API', `refusing a Runtime API command with a newline or ';': ${JSON.stringify(command)}`);
  const addr = socket.startsWith('/') ? undefined : parseAddress(socket);
  return await new Promise((resolve, reject) => {
    const sock = addr ? net.connect({ host: addr.host, port: addr.port }) : net.connect({ path: socket });
    let out = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new ZnotifyError('ERR_ZNOTIFY_RUNTIME_API', `HAProxy stats socket ${socket}: no answer within ${timeoutMs} ms`)); }, timeoutMs);
    const onAbort = () => { sock.destroy(); clearTimeout(timer); reject(new ZnotifyError('ERR_ZNOTIFY_RUNTIME_API', `HAProxy stats socket ${socket}: cancelled`)); };
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${command}\n`));
    sock.on('data', (d: string) => { out += d; });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(new ZnotifyError('ERR_ZNOTIFY_RUNTIME_API', `HAProxy stats socket ${socket}: ${err.code ?? err.message}`, undefined, { cause: err }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(out.trim());
    });
  });
}

/** `set server B/S state <state>`. Resolves with HAProxy's answer ('' on success). */
export async function setServerState(t: RuntimeApiTarget, state: 'ready' | 'drain' | 'maint', timeoutMs = 2000): Promise<string> {
  return await haproxyCommand(t.statsSocket, `set server ${t.backend}/${t.server} state ${state}`, timeoutMs);
}

export type ServerState = 'ready' | 'drain';

/**
 * The wrapper's server state in HAProxy, set through the Runtime API. Commands go out one after the other, in
 * the order decided: each is a connection of its own, and a `ready` overtaken by the `drain` of a stop right
 * after READY would leave the server taking traffic. A `ready` whose turn comes once `readyAllowed()` says no
 * (the stop has begun) is not sent. Failures and refusals are logged; they never stop the wrapper.
 */
export class ServerStateQueue {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: RuntimeApiTarget,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
    private readonly readyAllowed: () => boolean = () => true,
  ) {}

  /** Queues `set server B/S state <s>`; resolves once it (and everything queued before it) is done. */
  set(s: ServerState): Promise<void> {
    this.queue = this.queue.then(() => (s === 'ready' && !this.readyAllowed() ? undefined : this.send(s)));
    return this.queue;
  }

  private async send(s: ServerState): Promise<void> {
    const t = this.target;
    try {
      const answer = await setServerState(t, s);
      if (answer) this.log.warn({ backend: t.backend, server: t.server, answer }, `HAProxy refused state ${s}`);
      else this.log.info({ backend: t.backend, server: t.server }, `HAProxy server set to ${s}`);
    } catch (err) {
      this.log.warn({ err, socket: t.statsSocket }, `could not set the HAProxy server to ${s}`);
    }
  }
}
