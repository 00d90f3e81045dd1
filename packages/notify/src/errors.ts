// One error class for the whole library, with a stable `code` per failure (the undici / execa style):
// callers branch on `code`, people read `message`, which names the bad value and what would be valid.

/** Every code a NotifyError can carry. Stable: listed in the README; only ever added to. */
export const NotifyErrorCode = {
  /** A notify state is malformed: unknown type, newline/NUL in a value, number out of range, conflicting states. */
  INVALID_STATE: 'ERR_NOTIFY_INVALID_STATE',
  /** FDNAME (fdstore name / fdstore-remove name) breaks sd_notify(3)'s rules. */
  INVALID_FDNAME: 'ERR_NOTIFY_INVALID_FDNAME',
  /** An fd given to FDSTORE is not an open file descriptor. */
  BAD_FD: 'ERR_NOTIFY_BAD_FD',
  /** The datagram would exceed what systemd reads (4096 bytes, NOTIFY_BUFFER_MAX) or the kernel's 253 fds. */
  MESSAGE_TOO_LONG: 'ERR_NOTIFY_MESSAGE_TOO_LONG',
  /** NOTIFY_SOCKET is set but is neither an absolute path nor an `@abstract` name, or is too long. */
  INVALID_SOCKET: 'ERR_NOTIFY_INVALID_SOCKET',
  /** NOTIFY_SOCKET names a transport this library does not speak (vsock:), or the platform is not Linux. */
  UNSUPPORTED: 'ERR_NOTIFY_UNSUPPORTED',
  /** socket(), connect() or sendmsg() failed; `errno` names the error. */
  SEND_FAILED: 'ERR_NOTIFY_SEND_FAILED',
  /** libc could not be loaded through koffi. */
  LIBC_UNAVAILABLE: 'ERR_NOTIFY_LIBC_UNAVAILABLE',
  /** barrier(): the manager did not close the barrier fd within timeoutMs. */
  BARRIER_TIMEOUT: 'ERR_NOTIFY_BARRIER_TIMEOUT',
  /** An operation was cancelled through its AbortSignal; `cause` is the signal's reason. */
  ABORTED: 'ERR_NOTIFY_ABORTED',
  /** LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES is set but malformed. */
  LISTEN_FDS_MALFORMED: 'ERR_LISTEN_FDS_MALFORMED',
  /** LISTEN_FDS announces an fd that is not open, or one this process opened itself (FD_CLOEXEC set). */
  LISTEN_FDS_NOT_PASSED: 'ERR_LISTEN_FDS_NOT_PASSED',
  /** listenServer() could not listen on the fd, or acceptedSocket() could not adopt it. */
  LISTEN_FAILED: 'ERR_LISTEN_FAILED',
  /** WATCHDOG_USEC / WATCHDOG_PID is set but malformed. */
  WATCHDOG_MALFORMED: 'ERR_WATCHDOG_MALFORMED',
  /** A function argument or option is invalid (not a state): e.g. a negative timeoutMs, a non-integer fd. */
  INVALID_ARGUMENT: 'ERR_NOTIFY_INVALID_ARGUMENT',
} as const;
export type NotifyErrorCode = (typeof NotifyErrorCode)[keyof typeof NotifyErrorCode];

export interface NotifyErrorOptions {
  cause?: unknown;
  /** errno name (ENOENT, ECONNREFUSED, ...) when a system call failed. */
  errno?: string;
  /** The system call that failed. */
  syscall?: string;
}

export class NotifyError extends Error {
  override readonly name = 'NotifyError';
  readonly code: NotifyErrorCode;
  readonly errno?: string;
  readonly syscall?: string;

  constructor(code: NotifyErrorCode, message: string, options: NotifyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.errno !== undefined) this.errno = options.errno;
    if (options.syscall !== undefined) this.syscall = options.syscall;
  }
}

/** Quotes a value for an error message: strings JSON-quoted (so \n and \0 show), others via String(). */
export function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `[${value.map(quote).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    try {
      return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}
