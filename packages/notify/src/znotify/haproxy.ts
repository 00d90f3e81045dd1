// The wrapper's own server in HAProxy, kept in the state the wrapper decides (ready once READY, drain when the
// stop begins), through the Runtime API client the tools share (@zope-systemd/common, haproxy-runtime.ts).
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

  constructor(
    private readonly target: HaproxyServer,
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
      const answer = await setServerState(t.statsSocket, t.backend, t.server, s);
      if (answer) this.log.warn({ backend: t.backend, server: t.server, answer }, `HAProxy refused state ${s}`);
      else this.log.info({ backend: t.backend, server: t.server }, `HAProxy server set to ${s}`);
    } catch (err) {
      this.log.warn({ err, socket: t.statsSocket }, `could not set the HAProxy server to ${s}`);
    }
  }
}
