// Unit properties read from systemd itself over its private D-Bus socket, as `systemctl show --timestamp=unix`
// prints them, without spawning systemctl (which costs a fresh process and its libraries per call, most of what
// one `zstack status` refresh spent in systemd; docs/benchmarks/stack.md).
//
// /run/systemd/private is the socket systemctl itself uses as root: a peer-to-peer connection to PID 1 (no bus
// daemon: no Hello, no destination), root only (mode 0700). Authentication is SASL EXTERNAL with the caller's
// uid (the kernel's peer credentials are what systemd checks), then every property is asked for with
// org.freedesktop.DBus.Properties.Get on the unit's object (org.freedesktop.systemd1(5)), all calls written at
// once and answered in one pass. Properties of org.freedesktop.systemd1.Unit come from that interface, the
// others from the unit type's own one (Service, Socket, ...); where that interface lacks the property (a target
// has no MainPID) systemctl prints nothing, and so the value is empty here too. Each unit's SubState and MainPID
// are asked again last: a unit whose state changed between its calls is reported as such (SystemdBusError
// `changed`), for the caller to read it again, since systemctl's one GetAll per unit never mixes two states.
//
// Each value is turned into text by the rules systemctl 252 prints it with (shared/bus-print-properties.c):
// timestamps as `@<seconds>` (rounded down; empty when 0 or infinity), time spans as format_timespan() writes
// them (`3min`, `1.500000s`, `infinity`), MemoryCurrent=[not set] for 2^64-1, byte arrays (InvocationID) as
// hex. Whatever this module does not understand (another type, an unexpected error, a stalled or closed
// socket) is thrown as SystemdBusError: the caller then asks systemctl, so the answer never differs.
import net from 'node:net';
import { DbusFormatError, MESSAGE_TYPE, methodCalls, readBody, takeMessages, type DbusMessage, type DbusValue, type DbusVariant, type MethodCall } from './dbus-message.js';
import type { UnitProps } from './systemd.js';

const PRIVATE_SOCKET = '/run/systemd/private';
/** What systemd answers for a property its interface does not have (systemctl then prints nothing). */
const ABSENT = new Set(['org.freedesktop.DBus.Error.UnknownProperty', 'org.freedesktop.DBus.Error.UnknownInterface']);
const UINT64_MAX = (1n << 64n) - 1n;

/** The private socket could not answer, or answered what this module does not understand: ask systemctl. */
export class SystemdBusError extends Error {
  /** A unit changed state while it was read: the socket works, and reading again gives a whole answer. */
  readonly changed: boolean;
  constructor(message: string, options?: { cause?: unknown; changed?: boolean }) {
    super(message, options);
    this.name = 'SystemdBusError';
    this.changed = options?.changed ?? false;
  }
}

type Prop = keyof UnitProps;
/**
 * Where each property lives ('unit': org.freedesktop.systemd1.Unit, 'type': the unit type's interface) and its
 * D-Bus type, in the order they are asked. Each Get is its own call, and systemd may handle a unit's change of
 * state (a child's exit, READY=1) between two of them, where systemctl's one GetAll per unit is answered at once:
 * RECHECK below catches a unit that changed while it was read. MainPID and ControlGroup come first, so that the
 * process a caller signals on seeing ActiveState=deactivating is never newer than that state
 * (SystemdHost.signalProcess: never a main process started after the caller looked).
 */
const PROPS: Record<Prop, { on: 'unit' | 'type'; sig: 's' | 'u' | 't' | 'ay' }> = {
  MainPID: { on: 'type', sig: 'u' }, ControlGroup: { on: 'type', sig: 's' },
  Id: { on: 'unit', sig: 's' }, LoadState: { on: 'unit', sig: 's' }, ActiveState: { on: 'unit', sig: 's' }, SubState: { on: 'unit', sig: 's' },
  ActiveEnterTimestamp: { on: 'unit', sig: 't' }, InvocationID: { on: 'unit', sig: 'ay' },
  Result: { on: 'type', sig: 's' }, NRestarts: { on: 'type', sig: 'u' }, StatusText: { on: 'type', sig: 's' },
  ExecMainStartTimestamp: { on: 'type', sig: 't' }, WatchdogUSec: { on: 'type', sig: 't' },
  WatchdogTimestamp: { on: 'type', sig: 't' }, MemoryCurrent: { on: 'type', sig: 't' },
  StartLimitBurst: { on: 'unit', sig: 'u' }, StartLimitIntervalUSec: { on: 'unit', sig: 't' },
};
/** Unit type (name suffix) -> its D-Bus interface (org.freedesktop.systemd1(5)). */
const TYPE_INTERFACE: Record<string, string> = {
  service: 'Service', socket: 'Socket', target: 'Target', device: 'Device', mount: 'Mount', automount: 'Automount',
  swap: 'Swap', timer: 'Timer', path: 'Path', slice: 'Slice', scope: 'Scope',
};

/**
 * A unit's object path (sd_bus_path_encode): every byte that is not an ASCII letter or digit, and a leading digit,
 * becomes `_` and two lowercase hex digits (`shop-client1.service` -> .../unit/shop_2dclient1_2eservice).
 */
export function unitObjectPath(unit: string): string {
  let out = '';
  const bytes = Buffer.from(unit, 'utf8');
  bytes.forEach((c, i) => {
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const digit = c >= 0x30 && c <= 0x39;
    out += letter || (digit && i > 0) ? String.fromCharCode(c) : `_${c.toString(16).padStart(2, '0')}`;
  });
  return `/org/freedesktop/systemd1/unit/${out || '_'}`;
}

const SPANS: ReadonlyArray<[string, bigint]> = [
  ['y', 31_557_600_000_000n], ['month', 2_629_800_000_000n], ['w', 604_800_000_000n], ['d', 86_400_000_000n],
  ['h', 3_600_000_000n], ['min', 60_000_000n], ['s', 1_000_000n], ['ms', 1000n], ['us', 1n],
];

/**
 * A time span in microseconds as systemd's format_timespan(..., accuracy 0) writes it, which is what systemctl
 * show prints for a `...USec` property: `infinity`, `0`, `3min`, `1min 30s`, `500ms`, and below a minute with a
 * remainder one decimal number of the largest unit (`1.500000s`, `2.500ms`).
 */
export function formatTimespan(usec: bigint): string {
  if (usec === UINT64_MAX) return 'infinity';
  if (usec === 0n) return '0';
  const parts: string[] = [];
  let t = usec;
  for (const [suffix, unit] of SPANS) {
    if (t === 0n) break;
    if (t < unit) continue;
    const a = t / unit; const b = t % unit;
    const decimals = unit.toString().length - 1;
    if (t < 60_000_000n && b > 0n && decimals > 0) {
      parts.push(`${a}.${b.toString().padStart(decimals, '0')}${suffix}`);
      break;
    }
    parts.push(`${a}${suffix}`);
    t = b;
  }
  return parts.join(' ');
}

/** One property's value as systemctl show --timestamp=unix prints it; throws when its type is not the expected one. */
function formatProperty(name: Prop, v: DbusVariant): string {
  const want = PROPS[name].sig;
  if (v.signature !== want) throw new SystemdBusError(`${name} has D-Bus type "${v.signature}", expected "${want}"`);
  const x = v.value;
  if (want === 's') return (x as string).includes('\n') ? '[unprintable]' : (x as string);
  if (want === 'u') return String(x);
  if (want === 'ay') { const b = x as Uint8Array; return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex'); }
  const u = x as bigint;
  if (name.endsWith('Timestamp')) return u === 0n || u === UINT64_MAX ? '' : `@${u / 1_000_000n}`;
  if (name.includes('USec')) return formatTimespan(u);
  if (name === 'MemoryCurrent' && u === UINT64_MAX) return '[not set]';
  return u.toString();
}

/** One Get: a unit's property, or (recheck) the same property again after all of the unit's others. */
export interface Ask { unit: string; prop: Prop; recheck?: boolean }
/**
 * Asked again last for each unit: SubState changes with every state of the unit (ActiveState follows from it),
 * MainPID with every new main process. The same value before and after means the answers between them are of one
 * state of the unit, as systemctl's one answer per unit is.
 */
const RECHECK: readonly Prop[] = ['SubState', 'MainPID'];

/** The Get calls for `units` (every property of each, then RECHECK), serials from 1 in the order of `asks`, as one buffer. */
export function propertyCalls(units: readonly string[]): { asks: Ask[]; bytes: Buffer } {
  const asks: Ask[] = []; const calls: MethodCall[] = [];
  for (const unit of units) {
    const type = TYPE_INTERFACE[unit.slice(unit.lastIndexOf('.') + 1)];
    if (!type || unit.lastIndexOf('.') <= 0) throw new SystemdBusError(`"${unit}" is not a unit name with a known type suffix`);
    const path = unitObjectPath(unit);
    for (const [prop, recheck] of [...(Object.keys(PROPS) as Prop[]).map((k) => [k, false] as const), ...RECHECK.map((k) => [k, true] as const)]) {
      const iface = `org.freedesktop.systemd1.${PROPS[prop].on === 'unit' ? 'Unit' : type}`;
      asks.push(recheck ? { unit, prop, recheck } : { unit, prop });
      calls.push({ serial: asks.length, path, interface: 'org.freedesktop.DBus.Properties', member: 'Get', args: [iface, prop] });
    }
  }
  return { asks, bytes: methodCalls(calls) };
}

/**
 * Turns the replies (by reply serial) into one UnitProps per unit. Throws SystemdBusError with `changed` when a
 * rechecked property differs from its first answer.
 */
export function collectReplies(asks: readonly Ask[], replies: ReadonlyMap<number, DbusMessage>): Map<string, UnitProps> {
  const out = new Map<string, UnitProps>();
  asks.forEach((a, i) => {
    let p = out.get(a.unit);
    if (!p) { p = Object.fromEntries(Object.keys(PROPS).map((k) => [k, ''])) as UnitProps; out.set(a.unit, p); }
    const v = answer(a, replies.get(i + 1)!);
    if (!a.recheck) p[a.prop] = v;
    else if (v !== p[a.prop]) throw new SystemdBusError(`${a.unit} changed while it was read: ${a.prop} ${JSON.stringify(p[a.prop])}, then ${JSON.stringify(v)}`, { changed: true });
  });
  return out;
}

/** One Get's answer as text; empty when the unit's interfaces do not have the property. */
function answer(a: Ask, m: DbusMessage): string {
  if (m.type === MESSAGE_TYPE.error) {
    if (ABSENT.has(m.errorName ?? '')) return '';
    const body = safeBody(m);
    throw new SystemdBusError(`systemd answered ${a.prop} of ${a.unit} with ${m.errorName ?? 'an error'}${typeof body[0] === 'string' ? `: ${body[0]}` : ''}`);
  }
  const body = readBody(m);
  if (m.signature !== 'v') throw new SystemdBusError(`Get of ${a.prop} returned signature "${m.signature}", expected "v"`);
  return formatProperty(a.prop, body[0] as DbusVariant);
}

function safeBody(m: DbusMessage): DbusValue[] {
  try { return readBody(m); } catch { return []; }
}

export interface BusReadOptions {
  /** Default /run/systemd/private. */
  socketPath?: string;
  /** The whole exchange, connect to last reply (default 5000 ms): a stalled socket ends in SystemdBusError, never a hang. */
  timeoutMs?: number;
  /** The uid to authenticate as (default the process's effective uid). */
  uid?: number;
}

/**
 * Every unit's properties (the UnitProps of `systemctl show --timestamp=unix`), in one connection to systemd's
 * private socket. Rejects with SystemdBusError on anything that is not a full, understood answer.
 */
export function readUnitsOverBus(units: readonly string[], opts: BusReadOptions = {}): Promise<Map<string, UnitProps>> {
  const { asks, bytes } = propertyCalls(units);
  const path = opts.socketPath ?? PRIVATE_SOCKET;
  const uid = opts.uid ?? process.geteuid?.() ?? 0;
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    const incoming = new Incoming(path, uid);
    const replies = new Map<number, DbusMessage>();
    let settled = false;
    const finish = (e: Error | undefined, v?: Map<string, UnitProps>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e instanceof SystemdBusError ? e : new SystemdBusError(e.message, { cause: e })); else resolve(v!);
    };
    const timer = setTimeout(() => finish(new SystemdBusError(`no full answer from ${path} within ${timeoutMs} ms`)), timeoutMs);
    // Authentication and every call in one write, as sd-bus itself pipelines `AUTH` and `BEGIN`: systemd keeps
    // what follows BEGIN as the first messages. A refusal is the first line's business (Incoming).
    sock.once('connect', () => { sock.write(Buffer.concat([Buffer.from(`\0AUTH EXTERNAL ${Buffer.from(String(uid)).toString('hex')}\r\nBEGIN\r\n`, 'latin1'), bytes])); });
    sock.on('error', (e: NodeJS.ErrnoException) => finish(new SystemdBusError(`cannot use ${path}: ${e.code ?? e.message}`, { cause: e })));
    sock.once('close', () => finish(new SystemdBusError(`${path} closed the connection after ${replies.size} of ${asks.length} answers`)));
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const m of incoming.push(chunk)) {
          // Signals (systemd sends every change to each private connection) and anything else are not answers.
          if ((m.type === MESSAGE_TYPE.methodReturn || m.type === MESSAGE_TYPE.error) && m.replySerial && m.replySerial <= asks.length) replies.set(m.replySerial, m);
        }
        if (replies.size === asks.length) finish(undefined, collectReplies(asks, replies));
      } catch (e) {
        finish(e instanceof DbusFormatError ? new SystemdBusError(`a reply from ${path} is not understood: ${e.message}`, { cause: e }) : e as Error);
      }
    });
  });
}

/**
 * What the socket sends back: the authentication line (`OK <server guid>`), then messages. Kept in one buffer that
 * grows, and read in place (the messages point into it).
 */
class Incoming {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private received = 0;
  private parsed = 0;
  private authenticated = false;
  constructor(private readonly path: string, private readonly uid: number) {}

  /** Adds a chunk; returns the whole messages it completes. Throws SystemdBusError when authentication is refused. */
  push(chunk: Buffer): DbusMessage[] {
    if (this.received + chunk.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.received - this.parsed + chunk.length));
      this.buf.copy(bigger, 0, this.parsed, this.received);
      this.received -= this.parsed; this.parsed = 0; this.buf = bigger;
    }
    this.received += chunk.copy(this.buf, this.received);
    if (!this.authenticated) {
      const eol = this.buf.subarray(0, this.received).indexOf('\r\n');
      if (eol < 0) {
        if (this.received > 512) throw new SystemdBusError(`${this.path} sent no authentication line`);
        return [];
      }
      const line = this.buf.toString('latin1', 0, eol);
      if (!/^OK [0-9a-f]{32}$/.test(line)) throw new SystemdBusError(`${this.path} refused authentication as uid ${this.uid}: ${JSON.stringify(line.slice(0, 80))}`);
      this.authenticated = true;
      this.parsed = eol + 2;
    }
    const { messages, next } = takeMessages(this.buf, this.parsed, this.received);
    this.parsed = next;
    return messages;
  }
}
