// The few libc calls Node core lacks (unix datagram sockets with SCM_RIGHTS, pipe2, clock_gettime), made
// in-process through koffi: no libsystemd, no compiler, no child process (nodejs/node #29339).
//
// Loaded lazily on first use (createRequire, not a static import): importing @zope-systemd/notify costs
// nothing where NOTIFY_SOCKET is unset, and the native addon is only mapped when it is needed.
//
// Structures (msghdr, iovec, cmsghdr, pollfd, timespec) are laid out by koffi from their C definitions, so
// offsets and sizes follow the platform's ABI; the code writes them into Buffers that koffi passes in place.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import util from 'node:util';
import type * as KoffiTypes from 'koffi';
import { NotifyError, NotifyErrorCode } from './errors.js';

type Koffi = typeof KoffiTypes;
type Fn = (...args: any[]) => any;

// Linux values (asm-generic; identical on x86_64, arm64, riscv64, ppc64le, loongarch64, s390x).
export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const O_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_SNDBUFFORCE = 32;
export const SCM_RIGHTS = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const POLLOUT = 0x004;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;
export const EINTR = 4;
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const CLOCK_MONOTONIC = 1;
/** sizeof(((struct sockaddr_un *)0)->sun_path) */
export const SUN_PATH_MAX = 108;
/** The kernel's SCM_MAX_FD: the most fds one SCM_RIGHTS message may carry. */
export const SCM_MAX_FD = 253;

export interface Layout {
  ptrSize: number;
  littleEndian: boolean;
  msghdr: { size: number; name: number; namelen: number; iov: number; iovlen: number; control: number; controllen: number };
  iovec: { size: number; base: number; len: number };
  /** CMSG_LEN(0) == CMSG_ALIGN(sizeof(struct cmsghdr)), and where cmsg_len/level/type sit. */
  cmsg: { hdr: number; len: number; level: number; type: number; align: number };
  pollfd: { size: number; fd: number; events: number; revents: number };
}

export interface Libc {
  koffi: Koffi;
  layout: Layout;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  sendmsg(fd: number, msg: Buffer, flags: number): number | bigint;
  close(fd: number): number;
  poll(fds: Buffer, nfds: number, timeoutMs: number): number;
  pipe2(fds: Int32Array, flags: number): number;
  fcntl(fd: number, cmd: number, arg?: number): number;
  clock_gettime(clock: number, ts: Buffer): number;
  flock(fd: number, operation: number): number;
  /** errno of the last call made through koffi on this thread. */
  errno(): number;
  /** Writes a native-endian int32 / int16. */
  writeI32(buf: Buffer, offset: number, value: number): void;
  writeI16(buf: Buffer, offset: number, value: number): void;
  /** Writes a pointer-sized unsigned value. */
  writePtr(buf: Buffer, offset: number, value: bigint): void;
  /** The address of a Buffer's bytes (stable: Buffer backing stores do not move). */
  address(buf: Buffer): bigint;
}

let cached: Libc | undefined;
let loadError: NotifyError | undefined;

/** Loads libc through koffi once; throws NotifyError(ERR_NOTIFY_UNSUPPORTED / ERR_NOTIFY_LIBC_UNAVAILABLE). */
export function libc(): Libc {
  if (cached) return cached;
  if (loadError) throw loadError;
  if (process.platform !== 'linux') {
    loadError = new NotifyError(
      NotifyErrorCode.UNSUPPORTED,
      `the sd_notify transport needs Linux (unix datagram sockets with SCM_RIGHTS); this is ${quotePlatform()}`,
    );
    throw loadError;
  }
  let koffi: Koffi;
  let lib: KoffiTypes.LibraryHandle;
  try {
    const require = createRequire(import.meta.url);
    // Require koffi by its real path: koffi finds its native addon relative to its own __dirname, which must
    // be the pnpm store path (seen here: a child spawned with inherited sockets got the symlinked path and
    // koffi looked for @koromix/koffi-linux-x64 beside the symlink).
    koffi = require(fs.realpathSync(require.resolve('koffi'))) as Koffi;
    lib = koffi.load('libc.so.6');
  } catch (cause) {
    loadError = new NotifyError(
      NotifyErrorCode.LIBC_UNAVAILABLE,
      `cannot load libc.so.6 through koffi (needed to send to NOTIFY_SOCKET): ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
    throw loadError;
  }
  const f = (decl: string): Fn => lib.func(decl) as Fn;
  const fcntl3 = f('int fcntl(int fd, int cmd, ...)');
  const layout = computeLayout(koffi);
  const little = layout.littleEndian;
  const ptr = layout.ptrSize;
  cached = {
    koffi,
    layout,
    socket: f('int socket(int domain, int type, int protocol)'),
    connect: f('int connect(int fd, const void *addr, uint32_t len)'),
    setsockopt: f('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    getsockopt: f('int getsockopt(int fd, int level, int name, void *value, void *len)'),
    sendmsg: f('intptr_t sendmsg(int fd, const void *msg, int flags)'),
    close: f('int close(int fd)'),
    poll: f('int poll(void *fds, unsigned long nfds, int timeout)'),
    pipe2: f('int pipe2(void *fds, int flags)'),
    // fcntl is variadic in C: pass the third argument with its type, as koffi's variadic calls want.
    fcntl: (fd: number, cmd: number, arg?: number) => (arg === undefined ? fcntl3(fd, cmd) : fcntl3(fd, cmd, 'int', arg)) as number,
    clock_gettime: f('int clock_gettime(int clock, void *ts)'),
    flock: f('int flock(int fd, int operation)'),
    errno: () => koffi.errno(),
    writePtr(buf, offset, value) {
      if (ptr === 8) {
        if (little) buf.writeBigUInt64LE(value, offset);
        else buf.writeBigUInt64BE(value, offset);
      } else if (little) buf.writeUInt32LE(Number(value), offset);
      else buf.writeUInt32BE(Number(value), offset);
    },
    address: (buf) => koffi.address(buf),
    writeI32: little ? (b, o, v) => void b.writeInt32LE(v, o) : (b, o, v) => void b.writeInt32BE(v, o),
    writeI16: little ? (b, o, v) => void b.writeInt16LE(v, o) : (b, o, v) => void b.writeInt16BE(v, o),
  };
  return cached;
}

function quotePlatform(): string {
  return `${process.platform}/${process.arch}`;
}

function computeLayout(koffi: Koffi): Layout {
  const msghdr = koffi.struct({
    msg_name: 'void *',
    msg_namelen: 'uint32_t',
    msg_iov: 'void *',
    msg_iovlen: 'size_t',
    msg_control: 'void *',
    msg_controllen: 'size_t',
    msg_flags: 'int',
  });
  const iovec = koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
  const cmsghdr = koffi.struct({ cmsg_len: 'size_t', cmsg_level: 'int', cmsg_type: 'int' });
  const pollfd = koffi.struct({ fd: 'int', events: 'short', revents: 'short' });
  const sizeT = koffi.sizeof('size_t');
  const align = (n: number) => (n + sizeT - 1) & ~(sizeT - 1);
  return {
    ptrSize: koffi.sizeof('void *'),
    littleEndian: os.endianness() === 'LE',
    msghdr: {
      size: msghdr.size,
      name: koffi.offsetof(msghdr, 'msg_name'),
      namelen: koffi.offsetof(msghdr, 'msg_namelen'),
      iov: koffi.offsetof(msghdr, 'msg_iov'),
      iovlen: koffi.offsetof(msghdr, 'msg_iovlen'),
      control: koffi.offsetof(msghdr, 'msg_control'),
      controllen: koffi.offsetof(msghdr, 'msg_controllen'),
    },
    iovec: { size: iovec.size, base: koffi.offsetof(iovec, 'iov_base'), len: koffi.offsetof(iovec, 'iov_len') },
    cmsg: {
      hdr: align(cmsghdr.size),
      len: koffi.offsetof(cmsghdr, 'cmsg_len'),
      level: koffi.offsetof(cmsghdr, 'cmsg_level'),
      type: koffi.offsetof(cmsghdr, 'cmsg_type'),
      align: sizeT,
    },
    pollfd: {
      size: pollfd.size,
      fd: koffi.offsetof(pollfd, 'fd'),
      events: koffi.offsetof(pollfd, 'events'),
      revents: koffi.offsetof(pollfd, 'revents'),
    },
  };
}

/** "ECONNREFUSED (errno 111, connection refused)" style text for an errno number. */
export function errnoName(errno: number): string {
  try {
    return util.getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

export function describeErrno(errno: number): string {
  const name = errnoName(errno);
  return name.startsWith('errno') ? name : `${name} (errno ${errno})`;
}

/** Microseconds of CLOCK_MONOTONIC, read with clock_gettime(2) (what RELOADING's MONOTONIC_USEC= wants). */
export function monotonicUsec(): bigint {
  const c = libc();
  const ts = Buffer.alloc(16);
  if (c.clock_gettime(CLOCK_MONOTONIC, ts) !== 0) {
    const e = c.errno();
    throw new NotifyError(NotifyErrorCode.SEND_FAILED, `clock_gettime(CLOCK_MONOTONIC) failed: ${describeErrno(e)}`, {
      errno: errnoName(e),
      syscall: 'clock_gettime',
    });
  }
  // struct timespec { time_t tv_sec; long tv_nsec; }: both pointer-sized on LP64 Linux, 4 bytes on ILP32
  // with 32-bit time_t; glibc's 64-bit time_t on 32-bit platforms is not handled (see README Limitations).
  const le = c.layout.littleEndian;
  if (c.layout.ptrSize === 8) {
    const sec = le ? ts.readBigInt64LE(0) : ts.readBigInt64BE(0);
    const nsec = le ? ts.readBigInt64LE(8) : ts.readBigInt64BE(8);
    return sec * 1_000_000n + nsec / 1000n;
  }
  const sec = BigInt(le ? ts.readInt32LE(0) : ts.readInt32BE(0));
  const nsec = BigInt(le ? ts.readInt32LE(4) : ts.readInt32BE(4));
  return sec * 1_000_000n + nsec / 1000n;
}

/** Sets FD_CLOEXEC on fd (as sd_listen_fds(3) does for the fds it hands out). Returns errno or 0. */
export function setCloexec(fd: number): number {
  const c = libc();
  const flags = c.fcntl(fd, F_GETFD);
  if (flags < 0) return c.errno();
  if (flags & FD_CLOEXEC) return 0;
  if (c.fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return c.errno();
  return 0;
}
