// sd_notify_barrier(3): BARRIER=1 with the write end of a fresh pipe, alone in its datagram. The manager
// closes its copy once it has processed every earlier message from us; we close ours right after sending,
// so the read end sees EOF (POLLHUP) exactly then. Waiting uses a net.Socket on the read end: libuv polls
// it, the event loop stays free.
import net from 'node:net';
import { NotifyError, NotifyErrorCode, quote } from './errors.js';
import { describeErrno, errnoName, libc, O_CLOEXEC } from './libc.js';
import { notifyAddress, type NotifyOptions } from './notify.js';
import { sendDatagram, type NotifyAddress } from './transport.js';

export interface BarrierOptions extends NotifyOptions {
  /** How long to wait for the manager to close the fd. Default 5000 ms (systemd-notify --barrier's default). */
  timeoutMs?: number;
  /** Cancels the wait: rejects with ERR_NOTIFY_ABORTED (cause: the signal's reason). */
  signal?: AbortSignal;
}

export const DEFAULT_BARRIER_TIMEOUT_MS = 5000;

/**
 * Waits until the service manager has processed every notification sent before it.
 *
 * Outcomes:
 * - resolves `true`: the manager closed the barrier fd (all earlier messages are processed).
 * - resolves `false`: NOTIFY_SOCKET is unset (not under systemd); nothing sent.
 * - rejects NotifyError ERR_NOTIFY_BARRIER_TIMEOUT after timeoutMs, ERR_NOTIFY_ABORTED when signal aborts,
 *   or any error notify() throws for the socket (ERR_NOTIFY_SEND_FAILED, ...).
 * With `unsetEnvironment`, NOTIFY_SOCKET is deleted from env once the barrier is sent (or failed to be).
 */
export async function barrier(options: BarrierOptions = {}): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_BARRIER_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `barrier(): timeoutMs must be a non-negative finite number of milliseconds, got ${quote(timeoutMs)}`);
  }
  const { signal } = options;
  const env = options.env ?? process.env;
  let readFd: number;
  let addr: NotifyAddress | undefined;
  try {
    if (signal?.aborted) throw aborted(signal);
    addr = notifyAddress(env);
    if (!addr) return false;
    readFd = sendBarrier(addr);
  } finally {
    // sd_notify_barrier's unset_environment: gone once the barrier is sent (or could not be).
    if (options.unsetEnvironment) delete env.NOTIFY_SOCKET;
  }
  return await waitForClose(readFd, addr, timeoutMs, signal);
}

/** Sends BARRIER=1 with the write end of a fresh pipe; returns the read end. */
function sendBarrier(addr: NotifyAddress): number {
  const c = libc();
  const pipe = new Int32Array(2);
  if (c.pipe2(pipe, O_CLOEXEC) !== 0) {
    const errno = c.errno();
    throw new NotifyError(NotifyErrorCode.SEND_FAILED, `pipe2() for BARRIER=1 failed: ${describeErrno(errno)}`, {
      errno: errnoName(errno),
      syscall: 'pipe2',
    });
  }
  const [readFd, writeFd] = [pipe[0]!, pipe[1]!];
  try {
    sendDatagram(addr, 'BARRIER=1', [writeFd]);
  } catch (err) {
    c.close(readFd);
    throw err;
  } finally {
    c.close(writeFd);
  }
  return readFd;
}

function waitForClose(readFd: number, addr: NotifyAddress, timeoutMs: number, signal: AbortSignal | undefined): Promise<boolean> {
  // net.Socket adopts the fd (libuv opens it as a pipe) and closes it on destroy.
  const reader = new net.Socket({ fd: readFd, readable: true, writable: false });
  return new Promise<boolean>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reader.destroy();
      if (err) reject(err);
      else resolve(true);
    };
    const timer = setTimeout(() => {
      finish(
        new NotifyError(
          NotifyErrorCode.BARRIER_TIMEOUT,
          `BARRIER=1 sent to NOTIFY_SOCKET=${quote(addr.value)} was not acknowledged within ${timeoutMs} ms (the manager did not close the barrier fd)`,
        ),
      );
    }, timeoutMs);
    const onAbort = () => finish(aborted(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    // Nobody writes into the pipe; anything read is discarded. EOF = every write end is closed.
    reader.on('data', () => {});
    reader.once('end', () => finish());
    reader.once('close', () => finish());
    reader.once('error', (err) => finish(new NotifyError(NotifyErrorCode.SEND_FAILED, `waiting on the barrier fd failed: ${err.message}`, { cause: err })));
    reader.resume();
  });
}

function aborted(signal: AbortSignal): NotifyError {
  return new NotifyError(NotifyErrorCode.ABORTED, 'barrier() was aborted', { cause: signal.reason });
}
