// sd_listen_fds(3) / sd_listen_fds_with_names(3): sockets (or other fds) passed by systemd at fd 3..,
// announced by LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES.
import fs from 'node:fs';
import net from 'node:net';
import { NotifyError, NotifyErrorCode, quote } from './errors.js';
import { describeErrno, setCloexec } from './libc.js';

/** SD_LISTEN_FDS_START: the first passed fd. */
export const LISTEN_FDS_START = 3;

export interface ListenFd {
  fd: number;
  /** From LISTEN_FDNAMES (FileDescriptorName= in the socket unit); "unknown" when not given. */
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
 * The fds systemd passed to this process, with their names.
 *
 * Outcomes:
 * - `[]`: not socket-activated (LISTEN_PID or LISTEN_FDS unset), LISTEN_PID is another process's pid
 *   (the variables were inherited, not meant for us), or this env's fds were already taken.
 * - `[{ fd: 3, name }, ...]`: LISTEN_FDS entries from fd 3 on; FD_CLOEXEC is set on each (so children do
 *   not inherit them), names from LISTEN_FDNAMES ("unknown" where missing, as sd_listen_fds_with_names).
 * - throws NotifyError ERR_LISTEN_FDS_MALFORMED: LISTEN_PID / LISTEN_FDS not a positive integer,
 *   LISTEN_FDNAMES with a different number of names than LISTEN_FDS, or a listed fd that is not open.
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

function take(env: NodeJS.ProcessEnv, pid: number): ListenFd[] {
  const pidValue = env.LISTEN_PID;
  if (pidValue === undefined) return [];
  if (!POSITIVE_INT.test(pidValue)) throw malformed(`LISTEN_PID=${quote(pidValue)} is not a process id (a positive decimal integer)`);
  if (Number(pidValue) !== pid) return [];
  const countValue = env.LISTEN_FDS;
  if (countValue === undefined) return [];
  if (!POSITIVE_INT.test(countValue) || Number(countValue) > 2 ** 31 - 1 - LISTEN_FDS_START) {
    throw malformed(`LISTEN_FDS=${quote(countValue)} is not a positive decimal integer (the number of fds passed, from fd ${LISTEN_FDS_START} on)`);
  }
  const count = Number(countValue);
  let names: string[];
  const namesValue = env.LISTEN_FDNAMES;
  if (namesValue === undefined || namesValue === '') {
    names = Array.from({ length: count }, () => 'unknown');
  } else {
    names = namesValue.split(':');
    if (names.length !== count) {
      throw malformed(
        `LISTEN_FDNAMES=${quote(namesValue)} has ${names.length} name${names.length === 1 ? '' : 's'} but LISTEN_FDS=${quote(countValue)}; ` +
          `expected exactly ${count} colon-separated name${count === 1 ? '' : 's'}`,
      );
    }
    names = names.map((n) => (n === '' ? 'unknown' : n));
  }
  if (taken.has(env)) return [];
  const result: ListenFd[] = [];
  for (let i = 0; i < count; i++) {
    const fd = LISTEN_FDS_START + i;
    try {
      fs.fstatSync(fd);
    } catch (cause) {
      throw new NotifyError(
        NotifyErrorCode.LISTEN_FDS_MALFORMED,
        `LISTEN_FDS=${quote(countValue)} announces fd ${fd}, but fd ${fd} is not open (${(cause as NodeJS.ErrnoException).code})`,
        { cause },
      );
    }
    result.push({ fd, name: names[i]! });
  }
  for (const { fd } of result) {
    const errno = setCloexec(fd);
    if (errno !== 0) throw new NotifyError(NotifyErrorCode.LISTEN_FDS_MALFORMED, `cannot set FD_CLOEXEC on inherited fd ${fd}: ${describeErrno(errno)}`);
  }
  taken.add(env);
  return result;
}

function checkFd(fn: string, fd: unknown): number {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `${fn}: fd must be a non-negative integer file descriptor, got ${quote(fd)}`);
  }
  try {
    fs.fstatSync(fd);
  } catch (cause) {
    throw new NotifyError(NotifyErrorCode.INVALID_ARGUMENT, `${fn}: fd ${fd} is not open (${(cause as NodeJS.ErrnoException).code})`, { cause });
  }
  return fd;
}

/**
 * A listening net.Server on an inherited listening socket (ListenStream= in a socket unit, Accept=no).
 * Resolves once the server is listening; rejects NotifyError ERR_LISTEN_FAILED (cause: Node's error) when
 * the fd cannot be listened on (e.g. not a socket), ERR_NOTIFY_INVALID_ARGUMENT for a bad or closed fd.
 * Pass `server` to attach your own (http.Server, ...); a plain net.Server is created otherwise.
 */
export async function listenServer(fd: number, server: net.Server = net.createServer()): Promise<net.Server> {
  checkFd('listenServer()', fd);
  return await new Promise<net.Server>((resolve, reject) => {
    const onError = (cause: Error) => {
      server.off('listening', onListening);
      reject(new NotifyError(NotifyErrorCode.LISTEN_FAILED, `listenServer(): cannot listen on fd ${fd}: ${cause.message}`, { cause }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ fd });
  });
}

/** A net.Socket on an inherited connected socket (Accept=yes services get the connection as fd 3). */
export function acceptedSocket(fd: number): net.Socket {
  checkFd('acceptedSocket()', fd);
  return new net.Socket({ fd, readable: true, writable: true });
}
