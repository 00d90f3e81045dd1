// The sd_notify transport: one unconnected AF_UNIX/SOCK_DGRAM socket, created on first use and reused, its
// send buffer raised to 8 MiB as libsystemd raises it. Each message is one sendmsg(2) addressed to
// NOTIFY_SOCKET (msg_name), so the kernel resolves the address at every call, as sd_notify does: a receiver
// bound anew at the same path gets the next message. The text goes in one iovec, fds (if any) as one
// SCM_RIGHTS control message.
import os from 'node:os';
import { NotifyError, NotifyErrorCode, quote } from './errors.js';
import {
  AF_UNIX,
  describeErrno,
  errnoName,
  libc,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  POLLOUT,
  SCM_MAX_FD,
  SCM_RIGHTS,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOL_SOCKET,
  SUN_PATH_MAX,
  type Libc,
} from './libc.js';

/** systemd reads at most this many bytes of one notification (NOTIFY_BUFFER_MAX = PIPE_BUF). */
export const NOTIFY_MESSAGE_MAX = 4096;
/** How long notify() waits (blocking) for room in a full receive queue before giving up with EAGAIN. */
const SEND_QUEUE_WAIT_MS = 2000;
/** The send buffer sd_notify asks for (SNDBUF_SIZE in libsystemd): room for thousands of queued messages. */
const NOTIFY_SNDBUF = 8 * 1024 * 1024;

const E = os.constants.errno;

export interface NotifyAddress {
  /** The NOTIFY_SOCKET value, as given. */
  readonly value: string;
  readonly kind: 'path' | 'abstract';
  /** struct sockaddr_un, and the length to pass: a path counts its trailing NUL, an abstract name does not. */
  readonly sockaddr: Buffer;
  readonly length: number;
}

/**
 * Parses NOTIFY_SOCKET (sd_notify(3)): an absolute path, or `@name` for the abstract namespace (the `@`
 * becomes a leading NUL). `vsock:CID:PORT` (systemd >= 253) is recognised and refused as unsupported.
 */
export function parseNotifySocket(value: string): NotifyAddress {
  if (/^vsock(-stream|-dgram|-seqpacket)?:/.test(value)) {
    throw new NotifyError(
      NotifyErrorCode.UNSUPPORTED,
      `NOTIFY_SOCKET=${quote(value)} is an AF_VSOCK address; this library only speaks AF_UNIX ` +
        `(an absolute path or an @abstract name). vsock notification (systemd >= 253, for VMs) is not supported`,
    );
  }
  const bytes = Buffer.from(value, 'utf8');
  if (value.includes('\0')) {
    throw new NotifyError(NotifyErrorCode.INVALID_SOCKET, `NOTIFY_SOCKET=${quote(value)} contains a NUL byte`);
  }
  const sockaddr = Buffer.alloc(2 + SUN_PATH_MAX);
  if (os.endianness() === 'LE') sockaddr.writeUInt16LE(AF_UNIX, 0);
  else sockaddr.writeUInt16BE(AF_UNIX, 0);
  if (value.startsWith('/')) {
    // sun_path holds the path and its terminating NUL.
    if (bytes.length >= SUN_PATH_MAX) {
      throw new NotifyError(
        NotifyErrorCode.INVALID_SOCKET,
        `NOTIFY_SOCKET=${quote(value)} is ${bytes.length} bytes long; a socket path must be at most ${SUN_PATH_MAX - 1} bytes`,
      );
    }
    bytes.copy(sockaddr, 2);
    return { value, kind: 'path', sockaddr, length: 2 + bytes.length + 1 };
  }
  if (value.startsWith('@')) {
    // Abstract: sun_path[0] = NUL, then the name; the length excludes any trailing NUL (it is not part of
    // the name), exactly as sd_notify computes it.
    const name = bytes.subarray(1);
    if (name.length === 0 || name.length > SUN_PATH_MAX - 1) {
      throw new NotifyError(
        NotifyErrorCode.INVALID_SOCKET,
        `NOTIFY_SOCKET=${quote(value)}: an abstract socket name must be 1 to ${SUN_PATH_MAX - 1} bytes after the "@", got ${name.length}`,
      );
    }
    name.copy(sockaddr, 3);
    return { value, kind: 'abstract', sockaddr, length: 2 + 1 + name.length };
  }
  throw new NotifyError(
    NotifyErrorCode.INVALID_SOCKET,
    `NOTIFY_SOCKET=${quote(value)} is not valid: expected an absolute path ("/run/systemd/notify") or an abstract name ("@name")`,
  );
}

interface Scratch {
  msg: Buffer;
  iov: Buffer;
  payload: Buffer;
  cmsg: Buffer;
  pollfd: Buffer;
  cmsgAddress: bigint;
  /** The text now in `payload` (iov_len set for it), and whether msg_control is currently NULL. */
  lastText: string | undefined;
  noControl: boolean;
  /** The address msg_name points at now (its sockaddr Buffer stays referenced while it is set). */
  lastAddress: NotifyAddress | undefined;
}

let notifySocket: number | undefined;
let scratch: Scratch | undefined;

function getScratch(c: Libc): Scratch {
  if (scratch) return scratch;
  const L = c.layout;
  const msg = Buffer.alloc(L.msghdr.size);
  const iov = Buffer.alloc(L.iovec.size);
  const payload = Buffer.alloc(NOTIFY_MESSAGE_MAX);
  const cmsg = Buffer.alloc(L.cmsg.hdr + align(4 * SCM_MAX_FD, L.cmsg.align));
  const pollfd = Buffer.alloc(L.pollfd.size);
  // Fixed parts: one iovec pointing at the payload buffer (msg_name is set per message).
  c.writePtr(iov, L.iovec.base, c.address(payload));
  c.writePtr(msg, L.msghdr.iov, c.address(iov));
  c.writePtr(msg, L.msghdr.iovlen, 1n);
  scratch = { msg, iov, payload, cmsg, pollfd, cmsgAddress: c.address(cmsg), lastText: undefined, noControl: true, lastAddress: undefined };
  return scratch;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function sendError(syscall: string, errno: number, address: string, what: string): NotifyError {
  return new NotifyError(
    NotifyErrorCode.SEND_FAILED,
    `${syscall}() ${what} NOTIFY_SOCKET=${quote(address)} failed: ${describeErrno(errno)}`,
    { errno: errnoName(errno), syscall },
  );
}

/** The one sending socket, created on first use with its send buffer raised. */
function sendingSocket(c: Libc, addr: NotifyAddress): number {
  if (notifySocket !== undefined) return notifySocket;
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sendError('socket', c.errno(), addr.value, 'for');
  raiseSendBuffer(c, fd);
  notifySocket = fd;
  return fd;
}

/**
 * SO_SNDBUF to NOTIFY_SNDBUF, as libsystemd does: SO_SNDBUFFORCE where allowed (root), else SO_SNDBUF, which
 * the kernel caps at net.core.wmem_max. A failure is not an error (the default buffer still works).
 */
function raiseSendBuffer(c: Libc, fd: number): void {
  const value = Buffer.alloc(4);
  c.writeI32(value, 0, NOTIFY_SNDBUF);
  if (c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, value, 4) === 0) return;
  c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, value, 4);
}

/**
 * Blocks up to ms for room in the receiver's queue. An unconnected socket's poll(2) reports only its own
 * buffer, so a short-lived socket connected to the address is polled (unix_dgram_poll then sees the peer's
 * queue), and closed. Only taken when a send found the queue full.
 */
function waitForRoom(c: Libc, s: Scratch, addr: NotifyAddress, ms: number): void {
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  try {
    if (c.connect(fd, addr.sockaddr, addr.length) === 0) waitWritable(c, s, fd, ms);
  } finally {
    c.close(fd);
  }
}

/** Blocks up to ms for the connected peer's queue to have room (unix_dgram_poll reports that). */
function waitWritable(c: Libc, s: Scratch, fd: number, ms: number): void {
  const L = c.layout.pollfd;
  s.pollfd.fill(0);
  c.writeI32(s.pollfd, L.fd, fd);
  c.writeI16(s.pollfd, L.events, POLLOUT);
  c.poll(s.pollfd, 1, Math.max(0, Math.ceil(ms)));
}

/**
 * Sends one datagram carrying `text` (already validated: at most NOTIFY_MESSAGE_MAX bytes) and `fds` to
 * the address. Throws NotifyError(ERR_NOTIFY_SEND_FAILED) naming the errno and the socket.
 */
export function sendDatagram(addr: NotifyAddress, text: string, fds: readonly number[]): void {
  const c = libc();
  const s = getScratch(c);
  const L = c.layout;
  // The same text as last time (WATCHDOG=1 every few seconds) is already in place.
  if (text !== s.lastText) {
    const n = s.payload.write(text, 0, 'utf8');
    c.writePtr(s.iov, L.iovec.len, BigInt(n));
    s.lastText = text;
  }
  if (fds.length > 0) {
    s.noControl = false;
    const dataLen = 4 * fds.length;
    const space = L.cmsg.hdr + align(dataLen, L.cmsg.align);
    s.cmsg.fill(0, 0, space);
    c.writePtr(s.cmsg, L.cmsg.len, BigInt(L.cmsg.hdr + dataLen));
    c.writeI32(s.cmsg, L.cmsg.level, SOL_SOCKET);
    c.writeI32(s.cmsg, L.cmsg.type, SCM_RIGHTS);
    for (let i = 0; i < fds.length; i++) c.writeI32(s.cmsg, L.cmsg.hdr + 4 * i, fds[i]!);
    c.writePtr(s.msg, L.msghdr.control, s.cmsgAddress);
    c.writePtr(s.msg, L.msghdr.controllen, BigInt(space));
  } else if (!s.noControl) {
    c.writePtr(s.msg, L.msghdr.control, 0n);
    c.writePtr(s.msg, L.msghdr.controllen, 0n);
    s.noControl = true;
  }

  if (addr !== s.lastAddress) {
    c.writePtr(s.msg, L.msghdr.name, c.address(addr.sockaddr));
    c.writeI32(s.msg, L.msghdr.namelen, addr.length);
    s.lastAddress = addr;
  }

  let deadline = 0;
  for (;;) {
    const fd = sendingSocket(c, addr);
    // MSG_NOSIGNAL: no SIGPIPE; MSG_DONTWAIT: never block the event loop silently (see EAGAIN below).
    const r = Number(c.sendmsg(fd, s.msg, MSG_NOSIGNAL | MSG_DONTWAIT));
    if (r >= 0) return;
    const errno = c.errno();
    if (errno === E.EINTR) continue;
    if (errno === E.EAGAIN) {
      // The receiver's queue is full (net.unix.max_dgram_qlen). sd_notify would block; we block too, but
      // bounded, then report it rather than hang the event loop forever.
      const now = Date.now();
      if (deadline === 0) deadline = now + SEND_QUEUE_WAIT_MS;
      if (now >= deadline) throw sendError('sendmsg', errno, addr.value, 'to');
      waitForRoom(c, s, addr, deadline - now);
      continue;
    }
    throw sendError('sendmsg', errno, addr.value, 'to');
  }
}

/** Closes the sending socket (before handing the process over with exec, or in tests); the next send opens a new one. */
export function closeNotifySockets(): void {
  if (notifySocket === undefined) return;
  const fd = notifySocket;
  notifySocket = undefined;
  libc().close(fd);
}
