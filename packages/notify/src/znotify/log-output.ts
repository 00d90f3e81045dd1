// Where the wrapper's log lines go: stderr, without ever making the event loop wait for it.
//
// Under systemd the wrapper and the instance share one stream to journald. When its reader stalls (journald
// busy or stopped, a pipe reader paused) and the instance fills the stream, a blocking write of one log line
// would freeze the whole wrapper: no WATCHDOG=1 (systemd kills a healthy instance), no health answers, a late
// READY=1. So every write is non-blocking, on a file description of the wrapper's own where it needs one:
// O_NONBLOCK on the shared one would be felt by the instance too (its writes would fail with EAGAIN).
// - a socket (the journal stream): send(2) with MSG_DONTWAIT, per call, through libc (koffi);
// - a pipe, FIFO or terminal: a second description of it, opened through /proc/self/fd with O_NONBLOCK;
// - a regular file (or anything else): plain writes, which do not wait for a reader.
// What cannot be written at once waits in a bounded buffer, retried on a timer; when the buffer is full, lines
// are dropped and counted. Once the buffer has drained, onResume() is told how many were dropped (the logger
// writes one line saying so) and `dropped` stays available for /metrics.
import fs from 'node:fs';
import { libc, MSG_DONTWAIT, MSG_NOSIGNAL, type Libc } from '../libc.js';

/** Bytes of log lines held while the output is blocked: ~1,000 lines; beyond that they are dropped. */
const LOG_BUFFER_BYTES = 256 * 1024;
/** How often a blocked output is tried again. */
const RETRY_MS = 50;
const EAGAIN = 11;
const EINTR = 4;

type Writer = (buf: Buffer) => number | 'again' | 'gone';

export interface LogOutputOptions {
  fd?: number;
  bufferBytes?: number;
  /** Called once the output flows again after lines were dropped, with how many since the last call. */
  onResume?: (dropped: number) => void;
}

export class LogOutput {
  /** Lines dropped since start (buffer full, or the output gone). */
  dropped = 0;
  /** How the fd is written: 'socket', 'reopened' (pipe/tty), 'plain'. For tests and diagnostics. */
  readonly mode: 'socket' | 'reopened' | 'plain';
  onResume: ((dropped: number) => void) | undefined;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private droppedSinceResume = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly limit: number;
  private readonly writeNow: Writer;

  constructor(opts: LogOutputOptions = {}) {
    const fd = opts.fd ?? 2;
    this.limit = opts.bufferBytes ?? LOG_BUFFER_BYTES;
    this.onResume = opts.onResume;
    const w = chooseWriter(fd);
    this.mode = w.mode;
    this.writeNow = w.write;
  }

  /** Bytes waiting for the output. */
  get buffered(): number { return this.queued; }

  /** Writes one line (or holds it, or drops it); never blocks. */
  write(line: string): void {
    const buf = Buffer.from(line);
    if (this.queue.length === 0) {
      const rest = this.push(buf);
      if (rest === undefined) return;
      this.hold(rest);
      return;
    }
    this.hold(buf);
  }

  /**
   * Before the process exits: keep trying for up to `timeoutMs` (the event loop no longer matters then), so
   * that the last lines, the reason for the exit among them, are not lost to a short stall.
   */
  flushSync(timeoutMs = 1000): void {
    const end = Date.now() + timeoutMs;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (this.queue.length && this.drain() === 'again' && Date.now() < end) Atomics.wait(nap, 0, 0, 10);
    if (this.queue.length === 0) this.resumed();
  }

  /** Writes `buf` now as far as it goes: undefined when all of it went (or the output is gone), else the rest. */
  private push(buf: Buffer): Buffer | undefined {
    let off = 0;
    while (off < buf.length) {
      const n = this.writeNow(off ? buf.subarray(off) : buf);
      if (n === 'again') return buf.subarray(off);
      if (n === 'gone') { this.dropped++; return undefined; }
      off += n;
    }
    return undefined;
  }

  private hold(buf: Buffer): void {
    if (this.queued + buf.length > this.limit) {
      this.dropped++;
      this.droppedSinceResume++;
    } else {
      this.queue.push(buf);
      this.queued += buf.length;
    }
    this.timer ??= setTimeout(() => this.retry(), RETRY_MS).unref();
  }

  private retry(): void {
    this.timer = undefined;
    if (this.drain() === 'again') { this.timer = setTimeout(() => this.retry(), RETRY_MS).unref(); return; }
    this.resumed();
  }

  /** The output took everything held: say how many lines were dropped meanwhile (the notice is written at once). */
  private resumed(): void {
    const n = this.droppedSinceResume;
    this.droppedSinceResume = 0;
    if (n > 0) this.onResume?.(n);
  }

  /** Writes queued lines in order until the output blocks ('again') or the queue is empty ('done'). */
  private drain(): 'again' | 'done' {
    while (this.queue.length) {
      const head = this.queue[0]!;
      const rest = this.push(head);
      if (rest !== undefined) {
        this.queued -= head.length - rest.length;
        this.queue[0] = rest;
        return 'again';
      }
      this.queue.shift();
      this.queued -= head.length;
    }
    return 'done';
  }
}

function chooseWriter(fd: number): { mode: LogOutput['mode']; write: Writer } {
  let st: fs.Stats | undefined;
  try { st = fs.fstatSync(fd); } catch { /* closed: every write is 'gone' */ }
  if (st?.isSocket()) {
    try { return { mode: 'socket', write: socketWriter(libc(), fd) }; } catch { /* no koffi here: plain writes */ }
  }
  if (st && (st.isFIFO() || st.isCharacterDevice())) {
    try {
      const own = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_APPEND | 0o2000000 /* O_CLOEXEC */);
      return { mode: 'reopened', write: fdWriter(own) };
    } catch { /* no /proc: plain writes */ }
  }
  return { mode: 'plain', write: fdWriter(fd) };
}

function fdWriter(fd: number): Writer {
  return (buf) => {
    try {
      return fs.writeSync(fd, buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR' ? 'again' : 'gone';
    }
  };
}

/** send(2) on a socket with MSG_DONTWAIT: non-blocking for this call only, whatever the shared description says. */
function socketWriter(c: Libc, fd: number): Writer {
  const L = c.layout;
  const msg = Buffer.alloc(L.msghdr.size);
  const iov = Buffer.alloc(L.iovec.size);
  c.writePtr(msg, L.msghdr.iov, c.address(iov));
  c.writePtr(msg, L.msghdr.iovlen, 1n);
  return (buf) => {
    c.writePtr(iov, L.iovec.base, c.address(buf));
    c.writePtr(iov, L.iovec.len, BigInt(buf.length));
    const r = Number(c.sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL));
    if (r >= 0) return r;
    const errno = c.errno();
    return errno === EAGAIN || errno === EINTR ? 'again' : 'gone';
  };
}
