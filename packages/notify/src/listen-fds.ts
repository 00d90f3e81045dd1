// sd_listen_fds(3) / sd_listen_fds_with_names(3): sockets (or other fds) passed by systemd at fd 3..,
// announced by LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES.
import fs from 'node:fs';
import net from 'node:net';
import { NotifyError, NotifyErrorCode, quote } from './errors.js';
import { describeErrno, errnoName, setCloexec } from './libc.js';

/** SD_LISTEN_FDS_START: the first passed fd. */
export const LISTEN_FDS_START = 3;

export interface ListenFd {
  fd: number;
  /**
   * From LISTEN_FDNAMES (FileDescriptorName= in the socket unit), as sd_listen_fds_with_names returns it:
   * "unknown" for every fd when LISTEN_FDNAMES is unset; "" for an empty slot ("a::c").
   */
  name: string;
}

export interface ListenFdsOptions {
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Our pid, compared with LISTEN_PID. Default: process.pid. */
  pid?: number;
  /** Delete LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from env afterwards (as sd_listen_fds(1) does: always, also when they were not for us or malformed). */
  unsetEnvironment?: boolean;
}

// "Take them once": each environment object hands its fds out once. A second call with the same env object
// returns [], so two parts of a program cannot both adopt (and later both close) fd 3. Keyed by the env
// object rather than globally, so a caller (or a test) that passes a fresh env gets a fresh answer.
const taken = new WeakSet<object>();

const POSITIVE_INT = /^[1-9][0-9]*$/;

function malformed(message: string): NotifyError {
  return new NotifyError(NotifyErrorCode.LISTEN_FDS_MALFORMED, message);
}

/**
 * The fds systemd passed to this process, with their names (sd_listen_fds_with_names(3)).
 *
 * Outcomes:
 * - `[]`: not socket-activated (LISTEN_PID or LISTEN_FDS unset), LISTEN_PID is another process's pid
 *   (the variables were inherited, not meant for us), or this env's fds were already taken.
 * - `[{ fd: 3, name }, ...]`: LISTEN_FDS entries from fd 3 on; FD_CLOEXEC is set on each (so children do
 *   not inherit them); names as described on ListenFd.
 * - throws NotifyError ERR_LISTEN_FDS_MALFORMED: LISTEN_PID / LISTEN_FDS not a positive integer, or
 *   LISTEN_FDNAMES set with a different number of names than LISTEN_FDS (an empty LISTEN_FDNAMES has none).
 * - throws NotifyError ERR_LISTEN_FDS_NOT_PASSED: a listed fd is not open (libsystemd: -EBADF), or Node
 *   opened it itself: Node always holds fds from 3 on (its event loop, opened at start-up in the first free
 *   slots, right after the passed ones), so a count larger than what was passed runs into them, where
 *   libsystemd would hand them out. Nothing is changed on any fd then.
 */
export function listenFds(options: ListenFdsOptions = {}): ListenFd[] {
  const env = options.env ?? process.env;
  const pid = options.pid ?? process.pid;
  try {
    return take(env, pid);
  } finally {
    if (options.unsetEnvironment) {
      delete env.LISTEN_PID;
      delete env.LISTEN_FDS;
      delete env.LISTEN_FDNAMES;
    }
  }
}

/** The announced count, or undefined when the variables are not for this process. */
function announcedCount(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const pidValue = env.LISTEN_PID;
  if (pidValue === undefined) return undefined;
  if (!POSITIVE_INT.test(pidValue)) throw malformed(`LISTEN_PID=${quote(pidValue)} is not a process id (a positive decimal integer)`);
  if (Number(pidValue) !== pid) return undefined;
  const countValue = env.LISTEN_FDS;
  if (countValue === undefined) return undefined;
  if (!POSITIVE_INT.test(countValue) || Number(countValue) > 2 ** 31 - 1 - LISTEN_FDS_START) {
    throw malformed(`LISTEN_FDS=${quote(countValue)} is not a positive decimal integer (the number of fds passed, from fd ${LISTEN_FDS_START} on)`);
  }
  return Number(countValue);
}

/** LISTEN_FDNAMES split as libsystemd splits it: on every ":", empty slots kept, an empty value has no names. */
function fdNames(value: string | undefined, count: number): string[] {
  if (value === undefined) return Array.from({ length: count }, () => 'unknown');
  const names = value === '' ? [] : value.split(':');
  if (names.length !== count) {
    throw malformed(
      `LISTEN_FDNAMES=${quote(value)} has ${names.length} name${names.length === 1 ? '' : 's'} but LISTEN_FDS=${quote(String(count))}; ` +
        `expected exactly ${count} colon-separated name${count === 1 ? '' : 's'}`,
    );
  }
  return names;
}

function take(env: NodeJS.ProcessEnv, pid: number): ListenFd[] {
  const count = announcedCount(env, pid);
  if (count === undefined) return [];
  const names = fdNames(env.LISTEN_FDNAMES, count);
  if (taken.has(env)) return [];
  const result: ListenFd[] = [];
  const firstOwn = firstOwnFd();
  for (let i = 0; i < count; i++) {
    const fd = LISTEN_FDS_START + i;
    checkPassed(fd, count, firstOwn);
    result.push({ fd, name: names[i]! });
  }
  for (const { fd } of result) {
    const errno = setCloexec(fd);
    if (errno !== 0) throw new NotifyError(NotifyErrorCode.LISTEN_FDS_NOT_PASSED, `cannot set FD_CLOEXEC on inherited fd ${fd}: ${describeErrno(errno)}`, { errno: errnoName(errno), syscall: 'fcntl' });
  }
  taken.add(env);
  return result;
}

/**
 * Throws ERR_LISTEN_FDS_NOT_PASSED unless fd is open and below the first fd Node opened itself.
 *
 * Node opens its own descriptors (the event loop's epoll first, then io_uring, pipes, eventfds) in the lowest
 * free slots before any JavaScript runs: passed fds occupy 3..3+n-1, so Node's own start right after them.
 * (FD_CLOEXEC cannot tell them apart: Node marks inherited fds close-on-exec at start-up too.)
 */
function checkPassed(fd: number, count: number, firstOwn: number | undefined): void {
  const announced = `LISTEN_FDS=${count} announces fds ${LISTEN_FDS_START}-${LISTEN_FDS_START + count - 1}`;
  try {
    fs.fstatSync(fd);
  } catch {
    throw new NotifyError(NotifyErrorCode.LISTEN_FDS_NOT_PASSED, `${announced}, but fd ${fd} is not open (EBADF): fewer fds were passed than announced`, { errno: 'EBADF', syscall: 'fstat' });
  }
  if (firstOwn !== undefined && fd >= firstOwn) {
    throw new NotifyError(
      NotifyErrorCode.LISTEN_FDS_NOT_PASSED,
      `${announced}, but fd ${fd} (${describeFd(fd)}) was opened by Node itself, not passed to it (Node's event loop took fd ${firstOwn}, ` +
        'the first free one at start-up): fewer fds were passed than announced',
    );
  }
}

let ownFdsStart: number | undefined | null = null;

/** The lowest fd of Node's own event loop (its epoll instance), or undefined where /proc is not readable. */
function firstOwnFd(): number | undefined {
  if (ownFdsStart !== null) return ownFdsStart;
  ownFdsStart = undefined;
  try {
    const fds = fs.readdirSync('/proc/self/fd').map(Number).filter((n) => n >= LISTEN_FDS_START).sort((x, y) => x - y);
    ownFdsStart = fds.find((n) => describeFd(n) === 'anon_inode:[eventpoll]');
  } catch {
    /* no /proc: only the EBADF check applies, as in libsystemd */
  }
  return ownFdsStart;
}

/** What fd refers to, for messages ("anon_inode:[eventpoll]", "socket:[1234]"). */
function describeFd(fd: number): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return 'unknown';
  }
}

function checkFd(fn: string, fd: unknown): fs.Stats {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `${fn}: fd must be a non-negative integer file descriptor, got ${quote(fd)}`);
  }
  try {
    return fs.fstatSync(fd);
  } catch (cause) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `${fn}: fd ${fd} is not open (${(cause as NodeJS.ErrnoException).code})`, { cause, errno: (cause as NodeJS.ErrnoException).code, syscall: 'fstat' });
  }
}

function fileKind(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a pipe';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a socket';
}

/**
 * A listening server on an inherited listening socket (ListenStream= in a socket unit, Accept=no).
 * Resolves with the server it was given (typed as given: an http.Server stays an http.Server), or a plain
 * net.Server, once it is listening. Rejects NotifyError ERR_NOTIFY_INVALID_ARGUMENT for a bad or closed fd,
 * or one that is not a socket; ERR_LISTEN_FAILED (cause: Node's error) when listening on it fails.
 */
export async function listenServer<S extends net.Server = net.Server>(fd: number, server?: S): Promise<S> {
  const st = checkFd('listenServer()', fd);
  if (!st.isSocket()) throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `listenServer(): fd ${fd} is ${fileKind(st)}, not a listening socket`);
  const srv = server ?? (net.createServer() as S);
  return await new Promise<S>((resolve, reject) => {
    const onError = (cause: Error) => {
      srv.off('listening', onListening);
      reject(new NotifyError(NotifyErrorCode.LISTEN_FAILED, `listenServer(): cannot listen on fd ${fd}: ${cause.message}`, { cause }));
    };
    const onListening = () => {
      srv.off('error', onError);
      resolve(srv);
    };
    srv.once('error', onError);
    srv.once('listening', onListening);
    srv.listen({ fd });
  });
}

/**
 * A net.Socket on an inherited connected socket (Accept=yes services get the connection as fd 3). Throws
 * NotifyError ERR_NOTIFY_INVALID_ARGUMENT for a bad or closed fd or one that is not a socket,
 * ERR_LISTEN_FAILED (cause: Node's error) when Node cannot adopt it.
 */
export function acceptedSocket(fd: number): net.Socket {
  const st = checkFd('acceptedSocket()', fd);
  if (!st.isSocket()) throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `acceptedSocket(): fd ${fd} is ${fileKind(st)}, not a connected socket`);
  try {
    return new net.Socket({ fd, readable: true, writable: true });
  } catch (cause) {
    throw new NotifyError(NotifyErrorCode.LISTEN_FAILED, `acceptedSocket(): cannot adopt fd ${fd}: ${(cause as Error).message}`, { cause });
  }
}
