// A real AF_UNIX datagram receiver for tests: what systemd's notify socket is, minus systemd. Bind it at a
// path or an abstract name, set NOTIFY_SOCKET to `receiver.address`, and read what arrives: the exact
// bytes, the fds passed with SCM_RIGHTS (real fds in this process: write into them, read them back) and
// the sender's credentials (SO_PASSCRED, as systemd uses to attribute messages).
//
// net.unix.max_dgram_qlen can be as low as 10, so the socket is drained by a worker thread that blocks in
// poll(2) + recvmsg(2) through koffi and posts every datagram to the main thread at once. A sender in a
// tight loop on the main thread (a benchmark) therefore never fills the queue for long.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';

export interface Datagram {
  /** The payload exactly as received. */
  bytes: Buffer;
  /** bytes decoded as UTF-8. */
  text: string;
  /** fds received with SCM_RIGHTS, installed in this process (close-on-exec). Close them with receiver.closeFd. */
  fds: number[];
  /** SCM_CREDENTIALS of the sender. */
  pid?: number;
  uid?: number;
  gid?: number;
  /** MSG_TRUNC / MSG_CTRUNC: the payload or the fds did not fit (payload buffer: 8192 bytes). */
  truncated: boolean;
  /** A BARRIER=1 whose fd the receiver closed at once (barrier: 'close'); its fd is not in `fds`. */
  barrierClosed: boolean;
}

export interface DgramReceiverOptions {
  /** Bind in the abstract namespace (`@name`) instead of a path. Default false. */
  abstract?: boolean;
  /** The socket path (path receivers). Default: a fresh temporary directory + "/notify.sock". */
  path?: string;
  /** The abstract name without "@" (abstract receivers). Default: random. */
  name?: string;
  /**
   * What to do with the fd of a BARRIER=1 message: 'close' it at once in the receiving thread (what
   * systemd does; the default) or 'hold' it (delivered in `fds`; the test closes it when it likes).
   */
  barrier?: 'close' | 'hold';
}

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

function koffiPath(): string {
  return createRequire(path.join(repoRoot, 'packages', 'notify', 'package.json')).resolve('koffi');
}

// The receiving thread. Plain CommonJS (eval worker), LP64 Linux layouts.
const WORKER = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const koffi = require(workerData.koffi);
const lib = koffi.load('libc.so.6');
const socket = lib.func('int socket(int, int, int)');
const bind = lib.func('int bind(int, const void *, uint32_t)');
const setsockopt = lib.func('int setsockopt(int, int, int, const void *, uint32_t)');
const recvmsg = lib.func('intptr_t recvmsg(int, void *, int)');
const poll = lib.func('int poll(void *, unsigned long, int)');
const close = lib.func('int close(int)');
const pipe2 = lib.func('int pipe2(void *, int)');
const read = lib.func('intptr_t read(int, void *, size_t)');
if (koffi.sizeof('void *') !== 8) throw new Error('dgram-receiver: only LP64 layouts are implemented');
const AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, SOL_SOCKET = 1, SO_PASSCRED = 16;
const SCM_RIGHTS = 1, SCM_CREDENTIALS = 2, MSG_DONTWAIT = 0x40, MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_TRUNC = 0x20, MSG_CTRUNC = 0x08, POLLIN = 1;
const stop = new Int32Array(workerData.stop);
(function main() {

const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
if (fd < 0) { parentPort.postMessage({ kind: 'error', message: 'socket() failed, errno ' + koffi.errno() }); return; }
const one = Buffer.alloc(4); one.writeInt32LE(1, 0);
setsockopt(fd, SOL_SOCKET, SO_PASSCRED, one, 4);
const addr = Buffer.alloc(110);
addr.writeUInt16LE(AF_UNIX, 0);
const name = Buffer.from(workerData.addressBytes, 'base64');
name.copy(addr, 2);
if (bind(fd, addr, 2 + workerData.addressLength) !== 0) {
  const e = koffi.errno(); close(fd);
  parentPort.postMessage({ kind: 'error', message: 'bind() failed, errno ' + e }); return;
}
// A control pipe: the main thread writes a byte to wake the poll below (pause, resume, stop) at once.
const ctl = new Int32Array(2);
if (pipe2(ctl, 0o2000000 | 0o4000) !== 0) { close(fd); parentPort.postMessage({ kind: 'error', message: 'pipe2() failed' }); return; }
parentPort.postMessage({ kind: 'ready', wakeFd: ctl[1] });

const payload = Buffer.alloc(8192);
const control = Buffer.alloc(16 + 4 * 253 + 64);
const iov = Buffer.alloc(16);
iov.writeBigUInt64LE(koffi.address(payload), 0);
iov.writeBigUInt64LE(BigInt(payload.length), 8);
const msg = Buffer.alloc(56);
const pfd = Buffer.alloc(16);
pfd.writeInt32LE(ctl[0], 0); pfd.writeInt16LE(POLLIN, 4);
pfd.writeInt32LE(fd, 8); pfd.writeInt16LE(POLLIN, 12);
const sink = Buffer.alloc(64);

while (Atomics.load(stop, 0) === 0) {
  // stop[1]: 0 running, 1 pause requested, 2 paused (acknowledged: nothing is read until it is 0 again)
  let paused = Atomics.load(stop, 1) !== 0;
  if (paused && Atomics.compareExchange(stop, 1, 1, 2) === 1) Atomics.notify(stop, 1);
  pfd.writeInt16LE(0, 6); pfd.writeInt16LE(0, 14);
  const r = poll(pfd, paused ? 1 : 2, 1000);
  if (r <= 0) continue;
  if (pfd.readInt16LE(6) !== 0) while (Number(read(ctl[0], sink, sink.length)) > 0);
  if (paused || pfd.readInt16LE(14) === 0) continue;
  for (;;) {
    msg.fill(0);
    msg.writeBigUInt64LE(koffi.address(iov), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(koffi.address(control), 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
    const n = Number(recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0) break; // EAGAIN: drained
    const flags = msg.readInt32LE(48);
    const controllen = Number(msg.readBigUInt64LE(40));
    const fds = [];
    let pid, uid, gid;
    for (let off = 0; off + 16 <= controllen; ) {
      const len = Number(control.readBigUInt64LE(off));
      if (len < 16) break;
      const level = control.readInt32LE(off + 8), type = control.readInt32LE(off + 12);
      if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
      } else if (level === SOL_SOCKET && type === SCM_CREDENTIALS) {
        pid = control.readInt32LE(off + 16); uid = control.readUInt32LE(off + 20); gid = control.readUInt32LE(off + 24);
      }
      off += (len + 7) & ~7;
    }
    const bytes = Buffer.from(payload.subarray(0, n));
    let barrierClosed = false;
    if (workerData.barrier === 'close' && bytes.toString('latin1') === 'BARRIER=1') {
      for (const f of fds) close(f);
      fds.length = 0;
      barrierClosed = true;
    }
    parentPort.postMessage({ kind: 'datagram', bytes, fds, pid, uid, gid, truncated: (flags & (MSG_TRUNC | MSG_CTRUNC)) !== 0, barrierClosed });
  }
}
close(fd);
close(ctl[0]);
close(ctl[1]);
})();
`;

export class DgramReceiver {
  /** The NOTIFY_SOCKET value: "/path" or "@name". */
  readonly address: string;
  /** The socket path, for path receivers. */
  readonly path: string | undefined;
  /** Every datagram received so far, in order. */
  readonly received: Datagram[] = [];
  #queue: Datagram[] = [];
  #waiters: Array<(d: Datagram) => void> = [];
  #worker: Worker;
  #stop: Int32Array;
  #openFds = new Set<number>();
  #tmpDir: string | undefined;
  #closed = false;
  #wakeFd: number;

  private constructor(address: string, socketPath: string | undefined, tmpDir: string | undefined, worker: Worker, stop: Int32Array, wakeFd: number) {
    this.address = address;
    this.path = socketPath;
    this.#tmpDir = tmpDir;
    this.#worker = worker;
    this.#stop = stop;
    this.#wakeFd = wakeFd;
    worker.on('message', (m: { kind: string } & Omit<Datagram, 'text'>) => {
      if (m.kind !== 'datagram') return;
      const d: Datagram = {
        bytes: Buffer.from(m.bytes),
        text: Buffer.from(m.bytes).toString('utf8'),
        fds: m.fds,
        truncated: m.truncated,
        barrierClosed: m.barrierClosed,
        ...(m.pid === undefined ? {} : { pid: m.pid, uid: m.uid!, gid: m.gid! }),
      };
      for (const fd of d.fds) this.#openFds.add(fd);
      this.received.push(d);
      const w = this.#waiters.shift();
      if (w) w(d);
      else this.#queue.push(d);
    });
  }

  static async start(options: DgramReceiverOptions = {}): Promise<DgramReceiver> {
    let address: string;
    let socketPath: string | undefined;
    let tmpDir: string | undefined;
    let addressBytes: Buffer;
    if (options.abstract) {
      const name = options.name ?? `zope-systemd-test-${process.pid}-${randomBytes(6).toString('hex')}`;
      address = `@${name}`;
      addressBytes = Buffer.concat([Buffer.from([0]), Buffer.from(name, 'utf8')]);
    } else {
      if (options.path) socketPath = options.path;
      else {
        tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-notify-'));
        socketPath = path.join(tmpDir, 'notify.sock');
      }
      address = socketPath;
      // A path counts its terminating NUL in the address length.
      addressBytes = Buffer.concat([Buffer.from(socketPath, 'utf8'), Buffer.from([0])]);
    }
    const stop = new Int32Array(new SharedArrayBuffer(8)); // [0]: stop, [1]: paused
    const worker = new Worker(WORKER, {
      eval: true,
      execArgv: [],
      workerData: {
        koffi: koffiPath(),
        stop: stop.buffer,
        addressBytes: addressBytes.toString('base64'),
        addressLength: addressBytes.length,
        barrier: options.barrier ?? 'close',
      },
    });
    worker.unref();
    let wakeFd = -1;
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { kind: string; message?: string; wakeFd?: number }) => {
        if (m.kind === 'ready') {
          wakeFd = m.wakeFd!;
          cleanup();
          resolve();
        } else if (m.kind === 'error') {
          cleanup();
          reject(new Error(`dgram receiver at ${address}: ${m.message}`));
        }
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`dgram receiver at ${address}: worker exited with ${code} before binding`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch((err) => {
      if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
      throw err;
    });
    return new DgramReceiver(address, socketPath, tmpDir, worker, stop, wakeFd);
  }

  /** An environment for a sender: `{ ...extra, NOTIFY_SOCKET: address }` (never process.env). */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { ...extra, NOTIFY_SOCKET: this.address };
  }

  /** The next datagram not yet returned by next(); rejects after timeoutMs. */
  next(timeoutMs = 10_000): Promise<Datagram> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise<Datagram>((resolve, reject) => {
      const waiter = (d: Datagram) => {
        clearTimeout(timer);
        resolve(d);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`no datagram arrived at ${this.address} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves once `count` datagrams in total have arrived (for benchmarks), or rejects after timeoutMs. */
  async waitForCount(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.received.length} of ${count} datagrams arrived at ${this.address} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * Stops reading (datagrams queue up in the kernel, at most net.unix.max_dgram_qlen of them) until
   * resume(). For benchmarks that time the sender alone.
   */
  async pause(): Promise<void> {
    Atomics.store(this.#stop, 1, 1);
    this.#wake();
    // The receiving thread acknowledges by setting 2; until then it may still be reading.
    while (Atomics.load(this.#stop, 1) === 1) await new Promise((r) => setImmediate(r));
  }

  resume(): void {
    Atomics.store(this.#stop, 1, 0);
    this.#wake();
  }

  #wake(): void {
    try {
      fs.writeSync(this.#wakeFd, Buffer.from([1]));
    } catch {
      /* pipe full (the thread is already awake) or the thread has exited */
    }
  }

  /** Forgets what was received so far (queue and `received`), closing any fds that came with it. */
  reset(): void {
    for (const fd of [...this.#openFds]) this.closeFd(fd);
    this.received.length = 0;
    this.#queue.length = 0;
  }

  /** Closes a received fd (once; later calls and close() leave it alone). */
  closeFd(fd: number): void {
    if (!this.#openFds.delete(fd)) return;
    fs.closeSync(fd);
  }

  /** Stops the thread, closes the socket and every received fd not closed yet, removes the socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#stop, 0, 1);
    this.#wake();
    // The worker is unref'd (a forgotten receiver must not hold the test process up); while we wait for it
    // to leave its poll loop, it has to keep the event loop alive.
    this.#worker.ref();
    await new Promise<void>((resolve) => {
      if (this.#worker.threadId === -1) return resolve();
      this.#worker.once('exit', () => resolve());
    });
    for (const fd of [...this.#openFds]) this.closeFd(fd);
    if (this.path) fs.rmSync(this.path, { force: true });
    if (this.#tmpDir) fs.rmSync(this.#tmpDir, { recursive: true, force: true });
  }
}

export async function startDgramReceiver(options: DgramReceiverOptions = {}): Promise<DgramReceiver> {
  return await DgramReceiver.start(options);
}
