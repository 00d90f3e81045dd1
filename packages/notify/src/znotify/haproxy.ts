// The wrapper's own server in HAProxy, kept in the state the wrapper decides (ready once READY, drain when the
// stop begins), through the Runtime API client the tools share (@zope-systemd/common, haproxy-runtime.ts).
//
// `set server` needs a socket of level admin. The wrappers' own socket is of level user (read-only: `show stat`),
// so HAProxy answers "Permission denied": the agent's answer (`drain` from the stop on, `ready` once READY)
// then sets the same state at HAProxy's next agent check, and the drain to zero waits until HAProxy reports it.
import { setServerState } from '@zope-systemd/common';
import type { Logger } from './log.js';

/** The wrapper's server: `haproxy:` of its configuration (stats-socket, backend, server). */
export interface HaproxyServer {
  statsSocket: string;
  backend: string;
  server: string;
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
  /** Set once HAProxy refused `set server` for the socket's level: nothing more is sent. */
  private readOnly = false;

  constructor(
    private readonly target: HaproxyServer,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
    private readonly readyAllowed: () => boolean = () => true,
  ) {}

  /** Queues `set server B/S state <s>`; resolves once it (and everything queued before it) is done. */
  set(s: ServerState): Promise<void> {
    this.queue = this.queue.then(() => (this.readOnly || (s === 'ready' && !this.readyAllowed()) ? undefined : this.send(s)));
    return this.queue;
  }

  private async send(s: ServerState): Promise<void> {
    const t = this.target;
    try {
      const answer = await setServerState(t.statsSocket, t.backend, t.server, s);
      if (/^Permission denied/.test(answer)) {
        this.readOnly = true;
        this.log.info({ backend: t.backend, server: t.server, socket: t.statsSocket }, `HAProxy stats socket ${t.statsSocket} is read-only (not level admin): the health agent's answers set ${t.backend}/${t.server} ready and drain at HAProxy's next agent check`);
      } else if (answer) this.log.warn({ backend: t.backend, server: t.server, answer }, `HAProxy refused state ${s}`);
      else this.log.info({ backend: t.backend, server: t.server }, `HAProxy server set to ${s}`);
    } catch (err) {
      this.log.warn({ err, socket: t.statsSocket }, `could not set the HAProxy server to ${s}: ${socketProblem(t.statsSocket, err, t.backend)}`);
    }
  }
}

/**
 * Why the wrapper cannot use its stats socket, and the fix, in one line: the socket, the errno, what to change.
 * EACCES/EPERM: the socket's mode and owner keep the wrapper's user out (HAProxy's `stats socket ... mode 600` is
 * root's alone); ENOENT/ECONNREFUSED: no HAProxy listens there.
 */
export function socketProblem(socket: string, err: unknown, backend = '<backend>', gid: number | undefined = process.getgid?.()): string {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const errno = e?.cause?.code ?? (typeof e?.code === 'string' && !e.code.startsWith('ERR_') ? e.code : undefined);
  const unix = socket.startsWith('/');
  if (errno === 'EACCES' || errno === 'EPERM') {
    return `${socket}: ${errno}: the wrapper's user may not connect to it; give the wrappers a socket of their own: \`stats socket /run/haproxy/${backend}-wrappers.sock mode 660 gid ${gid ?? '<the stack group>'} level user\` in HAProxy's global section and that path as haproxy.wrapper-socket of the stack file (docs/unitgen.md, "The wrappers' stats socket")`;
  }
  if (errno === 'ENOENT' || errno === 'ECONNREFUSED') {
    return `${socket}: ${errno}: no HAProxy listens there; check that HAProxy runs and that its global section has \`stats socket ${unix ? socket : `ipv4@${socket}`} ... level user\` (haproxy.wrapper-socket of the stack file)`;
  }
  return `${socket}: ${errno ?? e?.message ?? String(err)}`;
}
