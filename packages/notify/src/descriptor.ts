// The file descriptor under a Node socket or server, for FDSTORE=1 (sd_notify(3)): a service keeps its
// listening sockets (or open connections) in systemd's fd store across a restart and gets them back through
// LISTEN_FDS. Node has no public accessor for it; every net.Socket, net.Server (and http.Server, ...) and
// dgram.Socket holds it as `_handle.fd` on Linux, which this reads and checks.
import fs from 'node:fs';
import { NotifyError, NotifyErrorCode, quote } from './errors.js';

/** Anything with a libuv handle: net.Socket, net.Server (http.Server, https.Server, ...), dgram.Socket. */
export type HasDescriptor = object;

/**
 * The fd of a connected or listening socket, bound UDP socket, or a plain fd number (checked to be open).
 * The fd stays owned by the object: do not close it yourself; systemd keeps its own duplicate once stored.
 * Throws NotifyError ERR_NOTIFY_INVALID_ARGUMENT when there is none yet (not listening or connected), any
 * more (closed), or the object is not a socket Node created.
 */
export function descriptorOf(handle: HasDescriptor | number): number {
  const fd = typeof handle === 'number' ? handle : (handle as { _handle?: { fd?: unknown } | null })?._handle?.fd;
  const what = typeof handle === 'number' ? `fd ${handle}` : describe(handle);
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT,
      `descriptorOf(): ${what} has no file descriptor (got ${quote(fd)}): a socket has one once it is connected or listening, and until it is closed`);
  }
  try {
    fs.fstatSync(fd);
  } catch (cause) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `descriptorOf(): ${what}: fd ${fd} is not open`, { cause, errno: (cause as NodeJS.ErrnoException).code, syscall: 'fstat' });
  }
  return fd;
}

function describe(handle: unknown): string {
  if (handle === null || typeof handle !== 'object') return quote(handle);
  return `a ${(handle as object).constructor?.name ?? 'object'}`;
}
