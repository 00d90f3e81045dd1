// How a health listener keeps answering HAProxy while hundreds of connections hammer it (idle ones, ones that
// reconnect as soon as they are closed, ones that trickle bytes). Node's own server.maxConnections refuses the
// NEWEST connection at the cap, which is exactly the legitimate check arriving while the flood holds every slot:
// 300 idle connections left 1 check in 99 answered. Here the new connection always gets in, and the oldest idle
// one makes room for it:
// - every accepted socket is tracked in arrival order, marked busy while a request is being answered;
// - from SHED_AT open sockets on, each new connection closes the oldest idle one (a reserve of slots between
//   SHED_AT and the cap stays free for new checks while those closes complete);
// - at the cap with every socket busy, the new one is refused (closed at once).
// Sheds and refusals are counted (ServiceState -> /metrics) and logged, at most one line per LOG_EVERY_MS.
import type net from 'node:net';
import type { Logger } from './log.js';

/** Open connections per listener at most: HAProxy's checks of several backends need a handful. */
const MAX_HEALTH_CONNECTIONS = 256;
/** Reserve kept for new checks: shedding starts this far below the cap. */
const HEALTH_RESERVE = 32;
const SHED_AT = MAX_HEALTH_CONNECTIONS - HEALTH_RESERVE;
/** At most one log line per listener this often about shed and refused connections. */
const LOG_EVERY_MS = 10_000;

export type Listener = 'agent' | 'http';

export interface GuardCounts {
  shed: number;
  refused: number;
}

export interface GuardSink {
  /** Counts one shed or refused connection (for /metrics). */
  count(listener: Listener, what: keyof GuardCounts): void;
}

export class ConnectionGuard {
  /** Open sockets, oldest first (Map keeps insertion order); true while a request on it is being answered. */
  private readonly open = new Map<net.Socket, boolean>();
  private readonly pending: GuardCounts = { shed: 0, refused: 0 };
  private loggedAt = -Infinity;
  private logTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly listener: Listener,
    private readonly sink: GuardSink,
    private readonly log?: Pick<Logger, 'warn'>,
    private readonly cap = MAX_HEALTH_CONNECTIONS,
    private readonly shedAt = Math.min(SHED_AT, cap),
  ) {}

  get size(): number { return this.open.size; }

  /** A new connection: makes room for it, or refuses it (false: it was destroyed). */
  admit(sock: net.Socket): boolean {
    if (this.open.size >= this.shedAt) this.shedOldestIdle();
    if (this.open.size >= this.cap) {
      sock.destroy();
      this.note('refused');
      return false;
    }
    this.open.set(sock, false);
    sock.once('close', () => this.open.delete(sock));
    return true;
  }

  busy(sock: net.Socket): void { if (this.open.has(sock)) this.open.set(sock, true); }
  idle(sock: net.Socket): void { if (this.open.has(sock)) this.open.set(sock, false); }

  /** Ends every open connection (the listener is closing). */
  destroyAll(): void { for (const s of this.open.keys()) s.destroy(); }

  private shedOldestIdle(): void {
    for (const [sock, busy] of this.open) {
      if (busy) continue;
      this.open.delete(sock);
      sock.destroy();
      this.note('shed');
      return;
    }
  }

  private note(what: keyof GuardCounts): void {
    this.sink.count(this.listener, what);
    this.pending[what]++;
    if (!this.log || this.logTimer) return;
    // The first of a burst is logged at once, the rest summed up at most once per LOG_EVERY_MS.
    const wait = Math.max(0, this.loggedAt + LOG_EVERY_MS - performance.now());
    this.logTimer = setTimeout(() => this.flushLog(), wait);
    this.logTimer.unref();
  }

  private flushLog(): void {
    this.logTimer = undefined;
    this.loggedAt = performance.now();
    const { shed, refused } = this.pending;
    this.pending.shed = 0;
    this.pending.refused = 0;
    this.log?.warn({ listener: this.listener, shed, refused, open: this.open.size, cap: this.cap },
      `health ${this.listener}: ${this.open.size} connections open (cap ${this.cap}): closed ${shed} idle to make room, refused ${refused}; a client is flooding it`);
  }
}
