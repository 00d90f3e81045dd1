// sd_notify(3): the state vocabulary as a discriminated union, turned into text in exactly one place
// (formatStates), and sent as ONE datagram (notify).
import fs from 'node:fs';
import { NotifyError, NotifyErrorCode, quote } from './errors.js';
import { monotonicUsec as readMonotonicUsec, SCM_MAX_FD } from './libc.js';
import { NOTIFY_MESSAGE_MAX, parseNotifySocket, sendDatagram, type NotifyAddress } from './transport.js';

export type NotifyState =
  | { type: 'ready' }
  /** RELOADING=1 + MONOTONIC_USEC= (systemd >= 253 wants both for Type=notify-reload); default: now. */
  | { type: 'reloading'; monotonicUsec?: bigint }
  | { type: 'stopping' }
  | { type: 'status'; text: string }
  | { type: 'errno'; errno: number }
  | { type: 'buserror'; name: string }
  | { type: 'exit-status'; status: number | string }
  | { type: 'mainpid'; pid: number }
  /** WATCHDOG=1 */
  | { type: 'watchdog' }
  /** WATCHDOG=trigger: the manager acts as if the watchdog timed out, at once. */
  | { type: 'watchdog-trigger' }
  /** WATCHDOG_USEC=: a new watchdog timeout for this service (0 switches it off). */
  | { type: 'watchdog-usec'; usec: bigint | number }
  | { type: 'extend-timeout'; usec: bigint | number }
  /** FDSTORE=1 (+ FDNAME=, FDPOLL=0 when poll is false); the fds travel as SCM_RIGHTS. */
  | { type: 'fdstore'; fds: number[]; name?: string; poll?: boolean }
  | { type: 'fdstore-remove'; name: string }
  /** A private key: must match /^X_[A-Z0-9_]+$/ (systemd ignores unknown keys; X_ is the documented prefix). */
  | { type: 'custom'; key: string; value: string };

export type NotifyStateType = NotifyState['type'];

export interface NotifyOptions {
  /** Where NOTIFY_SOCKET is read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Delete NOTIFY_SOCKET from env before returning, whether the call succeeded or not (sd_notify's
   * unset_environment): later calls, and children spawned with that env, no longer reach the manager.
   */
  unsetEnvironment?: boolean;
}

export interface FormattedMessage {
  /** The datagram's text: KEY=VALUE lines joined by "\n", in the order the states were given. */
  text: string;
  /** The fds to pass as SCM_RIGHTS (from an fdstore state), in order. */
  fds: number[];
}

export interface FormatOptions {
  /** Clock for RELOADING without monotonicUsec. Default: clock_gettime(CLOCK_MONOTONIC) through libc. */
  monotonicUsec?: () => bigint;
}

const UINT64_MAX = (1n << 64n) - 1n;
const INT32_MAX = 2 ** 31 - 1;
/** sd_notify(3): FDNAME "may not be longer than 255 characters". */
export const FDNAME_MAX = 255;

function invalid(state: unknown, what: string, code: NotifyErrorCode = NotifyErrorCode.INVALID_STATE): NotifyError {
  return new NotifyError(code, `invalid notify state ${quote(state)}: ${what}`);
}

/** A value that goes into a KEY=VALUE line: a string without newline or NUL (either would end or split it). */
function text(state: unknown, field: string, value: unknown, allowEmpty = true): string {
  if (typeof value !== 'string') throw invalid(state, `${field} must be a string, got ${quote(value)} (${typeof value})`);
  if (!allowEmpty && value.length === 0) throw invalid(state, `${field} must not be empty`);
  const bad = /[\n\0]/.exec(value);
  if (bad) {
    throw invalid(
      state,
      `${field} ${quote(value)} contains a ${bad[0] === '\n' ? 'newline' : 'NUL byte'} at index ${bad.index}; ` +
        `notify values are single lines without newline or NUL`,
    );
  }
  return value;
}

function integer(state: unknown, field: string, value: unknown, min: bigint, max: bigint): string {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'number' && Number.isInteger(value)) {
    throw invalid(state, `${field} ${value} is beyond Number.MAX_SAFE_INTEGER and may have lost precision; pass a bigint (from ${min} to ${max})`);
  } else throw invalid(state, `${field} must be an integer from ${min} to ${max}, got ${quote(value)}`);
  if (n < min || n > max) throw invalid(state, `${field} must be an integer from ${min} to ${max}, got ${quote(value)}`);
  return n.toString();
}

/**
 * sd_notify(3) FDNAME rules (fdname_is_valid in systemd): ASCII without control characters and without ":"
 * (LISTEN_FDNAMES joins names with ":"), at most 255 characters. Empty names are refused here too: systemd
 * would quietly use its default ("stored"), which is never what the caller meant.
 */
function checkFdName(state: unknown, name: unknown): string {
  if (typeof name !== 'string') throw invalid(state, `name must be a string, got ${quote(name)}`, NotifyErrorCode.INVALID_FDNAME);
  if (name.length === 0) throw invalid(state, 'FDNAME must not be empty (1 to 255 printable ASCII characters, no ":")', NotifyErrorCode.INVALID_FDNAME);
  if (name.length > FDNAME_MAX) {
    throw invalid(state, `FDNAME ${quote(name)} is ${name.length} characters long; at most ${FDNAME_MAX} are allowed`, NotifyErrorCode.INVALID_FDNAME);
  }
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch < 0x20 || ch > 0x7e || ch === 0x3a) {
      throw invalid(
        state,
        `FDNAME ${quote(name)} has ${ch === 0x3a ? 'a ":"' : `character ${JSON.stringify(name[i])} (U+${ch.toString(16).padStart(4, '0')})`} ` +
          `at index ${i}; FDNAME must be 1 to 255 printable ASCII characters (0x20-0x7e) without ":"`,
        NotifyErrorCode.INVALID_FDNAME,
      );
    }
  }
  return name;
}

function checkFds(state: unknown, fds: unknown): number[] {
  if (!Array.isArray(fds) || fds.length === 0) {
    throw invalid(state, `fds must be a non-empty array of open file descriptors, got ${quote(fds)}`);
  }
  if (fds.length > SCM_MAX_FD) {
    throw invalid(state, `${fds.length} fds in one message; the kernel passes at most ${SCM_MAX_FD} (SCM_MAX_FD)`, NotifyErrorCode.MESSAGE_TOO_LONG);
  }
  const out: number[] = [];
  for (const fd of fds) {
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > INT32_MAX) {
      throw invalid(state, `fd ${quote(fd)} is not a file descriptor (a non-negative integer)`, NotifyErrorCode.BAD_FD);
    }
    try {
      fs.fstatSync(fd);
    } catch (cause) {
      throw new NotifyError(
        NotifyErrorCode.BAD_FD,
        `invalid notify state ${quote(state)}: fd ${fd} is not open (${(cause as NodeJS.ErrnoException).code ?? cause}); FDSTORE needs open file descriptors`,
        { cause, errno: (cause as NodeJS.ErrnoException).code, syscall: 'fstat' },
      );
    }
    out.push(fd);
  }
  return out;
}

// D-Bus error names follow the interface-name rules: 2+ dot-separated elements of [A-Za-z_][A-Za-z0-9_]*,
// at most 255 characters (D-Bus specification, "Error names").
const DBUS_ERROR_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;
const CUSTOM_KEY = /^X_[A-Z0-9_]+$/;
const CONSTANT_LINES = new Map<string, string>([
  ['ready', 'READY=1'],
  ['stopping', 'STOPPING=1'],
  ['watchdog', 'WATCHDOG=1'],
  ['watchdog-trigger', 'WATCHDOG=trigger'],
]);

/**
 * Turns states into the datagram text (and the fds to pass). The one place where the vocabulary of
 * sd_notify(3) is spelled out. Throws NotifyError for every malformed state; never touches the network.
 */
export function formatStates(states: NotifyState | readonly NotifyState[], options: FormatOptions = {}): FormattedMessage {
  // Fast path for the messages sent most often (WATCHDOG=1 every few seconds, READY=1): one state without
  // fields, nothing to validate. Same result as the general path below.
  if (!Array.isArray(states) && states !== null && typeof states === 'object') {
    const constant = CONSTANT_LINES.get((states as { type?: unknown }).type as string);
    if (constant !== undefined) return { text: constant, fds: [] };
  }
  const list: readonly unknown[] = Array.isArray(states) ? states : [states];
  if (list.length === 0) throw new NotifyError(NotifyErrorCode.INVALID_STATE, 'no notify states given: pass at least one state');
  const m: MessageParts = { lines: [], seen: new Set(), fds: [], fdName: undefined };
  for (const state of list) addState(m, state, options);
  const out = m.lines.join('\n');
  const bytes = Buffer.byteLength(out, 'utf8');
  if (bytes > NOTIFY_MESSAGE_MAX) {
    throw new NotifyError(
      NotifyErrorCode.MESSAGE_TOO_LONG,
      `notify message ${quote(out)} is ${bytes} bytes; systemd ignores messages longer than ${NOTIFY_MESSAGE_MAX} bytes (NOTIFY_BUFFER_MAX)`,
    );
  }
  return { text: out, fds: m.fds };
}

/** A message being built: its lines, the state types seen so far, and the fds and FDNAME= it carries. */
interface MessageParts {
  lines: string[];
  seen: Set<string>;
  fds: number[];
  fdName: string | undefined;
}

/** Validates one state and adds its lines to the message; throws NotifyError naming the state and the rule. */
function addState(m: MessageParts, state: unknown, options: FormatOptions): void {
  if (state === null || typeof state !== 'object' || typeof (state as { type?: unknown }).type !== 'string') {
    throw invalid(state, 'expected an object with a "type" (ready, reloading, stopping, status, errno, buserror, exit-status, mainpid, watchdog, watchdog-trigger, watchdog-usec, extend-timeout, fdstore, fdstore-remove, custom)');
  }
  const s = state as NotifyState;
  const once = s.type === 'custom' ? `custom:${String(s.key)}` : s.type;
  if (m.seen.has(once)) throw invalid(state, `a "${s.type}" state appears twice in one message; each key may be sent once per datagram`);
  m.seen.add(once);
  switch (s.type) {
    case 'ready':
      m.lines.push('READY=1');
      break;
    case 'reloading': {
      const usec = s.monotonicUsec === undefined ? (options.monotonicUsec ?? readMonotonicUsec)() : s.monotonicUsec;
      m.lines.push('RELOADING=1', `MONOTONIC_USEC=${integer(state, 'monotonicUsec', usec, 0n, UINT64_MAX)}`);
      break;
    }
    case 'stopping':
      m.lines.push('STOPPING=1');
      break;
    case 'status':
      m.lines.push(`STATUS=${text(state, 'text', s.text)}`);
      break;
    case 'errno':
      m.lines.push(`ERRNO=${integer(state, 'errno', s.errno, 0n, BigInt(INT32_MAX))}`);
      break;
    case 'buserror': {
      const name = text(state, 'name', s.name, false);
      if (name.length > 255 || !DBUS_ERROR_NAME.test(name)) {
        throw invalid(state, `name ${quote(name)} is not a D-Bus error name (like "org.freedesktop.DBus.Error.TimedOut": dot-separated [A-Za-z_][A-Za-z0-9_]* elements, at least two, at most 255 characters)`);
      }
      m.lines.push(`BUSERROR=${name}`);
      break;
    }
    case 'exit-status':
      if (typeof s.status === 'number') m.lines.push(`EXIT_STATUS=${integer(state, 'status', s.status, 0n, 255n)}`);
      else if (typeof s.status === 'string') m.lines.push(`EXIT_STATUS=${text(state, 'status', s.status, false)}`);
      else throw invalid(state, `status must be an exit code 0-255 or a non-empty string, got ${quote(s.status)}`);
      break;
    case 'mainpid':
      m.lines.push(`MAINPID=${integer(state, 'pid', s.pid, 1n, BigInt(INT32_MAX))}`);
      break;
    case 'watchdog':
      m.lines.push('WATCHDOG=1');
      break;
    case 'watchdog-trigger':
      m.lines.push('WATCHDOG=trigger');
      break;
    case 'watchdog-usec':
      m.lines.push(`WATCHDOG_USEC=${integer(state, 'usec', s.usec, 0n, UINT64_MAX)}`);
      break;
    case 'extend-timeout':
      m.lines.push(`EXTEND_TIMEOUT_USEC=${integer(state, 'usec', s.usec, 0n, UINT64_MAX)}`);
      break;
    case 'fdstore':
    case 'fdstore-remove':
      addFdStore(m, state, s);
      break;
    case 'custom': {
      if (typeof s.key !== 'string' || !CUSTOM_KEY.test(s.key)) {
        throw invalid(state, `key ${quote(s.key)} is not a private key: it must match /^X_[A-Z0-9_]+$/ (like "X_WARMUP")`);
      }
      m.lines.push(`${s.key}=${text(state, 'value', s.value)}`);
      break;
    }
    default:
      throw invalid(state, `unknown type ${quote((s as { type: unknown }).type)}`);
  }
}

/** FDSTORE=1 (with its fds, FDNAME=, FDPOLL=0) or FDSTOREREMOVE=1: they share FDNAME=, so only one per message. */
function addFdStore(m: MessageParts, state: unknown, s: Extract<NotifyState, { type: 'fdstore' | 'fdstore-remove' }>): void {
  if (s.type === 'fdstore') {
    if (m.fdName !== undefined || m.seen.has('fdstore-remove')) throw invalid(state, 'fdstore and fdstore-remove share FDNAME=; send them in separate messages');
    m.fds = checkFds(state, s.fds);
    if (s.poll !== undefined && typeof s.poll !== 'boolean') throw invalid(state, `poll must be a boolean, got ${quote(s.poll)}`);
    m.lines.push('FDSTORE=1');
    if (s.name !== undefined) {
      m.fdName = checkFdName(state, s.name);
      m.lines.push(`FDNAME=${m.fdName}`);
    }
    if (s.poll === false) m.lines.push('FDPOLL=0');
    return;
  }
  if (m.seen.has('fdstore')) throw invalid(state, 'fdstore and fdstore-remove share FDNAME=; send them in separate messages');
  m.fdName = checkFdName(state, s.name);
  m.lines.push('FDSTOREREMOVE=1', `FDNAME=${m.fdName}`);
}

const addresses = new Map<string, NotifyAddress>();

/** The parsed NOTIFY_SOCKET of env, or undefined when it is unset or empty (not under systemd). The text is
 * parsed once per value; the kernel resolves the address at every send. */
export function notifyAddress(env: NodeJS.ProcessEnv = process.env): NotifyAddress | undefined {
  const value = env.NOTIFY_SOCKET;
  if (value === undefined || value === '') return undefined;
  let addr = addresses.get(value);
  if (!addr) {
    addr = parseNotifySocket(value);
    if (addresses.size > 64) addresses.clear();
    addresses.set(value, addr);
  }
  return addr;
}

/**
 * Sends all states in ONE datagram to NOTIFY_SOCKET.
 *
 * Outcomes:
 * - `true`: sent (systemd received the datagram; whether it acts on it depends on NotifyAccess=).
 * - `false`: NOTIFY_SOCKET is unset or empty: not running under systemd; nothing sent. The states are
 *   still validated, so mistakes show up outside systemd too.
 * With `unsetEnvironment`, NOTIFY_SOCKET is deleted from env in every outcome.
 * - throws NotifyError: a malformed state (ERR_NOTIFY_INVALID_STATE, _INVALID_FDNAME, _BAD_FD,
 *   _MESSAGE_TOO_LONG), a malformed or unsupported NOTIFY_SOCKET (_INVALID_SOCKET, _UNSUPPORTED), or a
 *   failed send (_SEND_FAILED, with `errno`).
 */
export function notify(states: NotifyState | readonly NotifyState[], options: NotifyOptions = {}): boolean {
  const env = options.env ?? process.env;
  try {
    return send(states, env);
  } finally {
    if (options.unsetEnvironment) delete env.NOTIFY_SOCKET;
  }
}

function send(states: NotifyState | readonly NotifyState[], env: NodeJS.ProcessEnv): boolean {
  const addr = notifyAddress(env);
  if (!addr) {
    // Validate anyway, without touching libc (RELOADING's clock is not needed for a message never sent).
    formatStates(states, { monotonicUsec: () => 0n });
    return false;
  }
  const { text: payload, fds } = formatStates(states);
  sendDatagram(addr, payload, fds);
  return true;
}
