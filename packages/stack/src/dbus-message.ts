// The D-Bus wire format, as far as zstack needs it (D-Bus specification, "Message Protocol"): it writes method
// calls whose arguments are strings, and reads the replies (method returns and errors) whose bodies hold what
// systemd's unit properties and errors are made of: strings (s, o, g), u, t, byte arrays (ay) and variants of
// them. Anything else it meets, a big-endian message included (systemd writes in its machine's byte order), is
// refused with DbusFormatError, so that the caller falls back instead of guessing.
//
// A message: a 16-byte fixed header (endianness 'l' or 'B', type, flags, protocol version 1, body length,
// serial, length of the header-field array), the header fields as an array of (code, variant), padding to 8,
// then the body. Every value is aligned to its own size counted from the start of its message (strings and
// 32-bit values to 4, header fields and 64-bit values to 8).
//
// Written for a fresh process that sends a few hundred calls once: V8 runs this code in its interpreter, where
// every Buffer method call costs far more than a byte store, so bytes are read and written by index and each
// distinct string is encoded once.

export const MESSAGE_TYPE = { methodCall: 1, methodReturn: 2, error: 3, signal: 4 } as const;
const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, signature: 8 } as const;
/** The specification's limit on a whole message (2^27 bytes). */
const MAX_MESSAGE = 1 << 27;

/** A message that this reader does not understand (or that breaks the specification). */
export class DbusFormatError extends Error {
  constructor(message: string) { super(message); this.name = 'DbusFormatError'; }
}

export interface MethodCall { serial: number; path: string; interface: string; member: string; args: readonly string[] }

/** A received message: the header fields zstack reads, and where its body lies (readBody decodes it). */
export interface DbusMessage {
  type: number;
  serial: number;
  replySerial: number | undefined;
  errorName: string | undefined;
  signature: string;
  /** The buffer the message lies in, from `start` to `end`; values are aligned from `start`. */
  bytes: Uint8Array;
  start: number;
  bodyOffset: number;
  end: number;
}

/** A decoded value: a number for `u`, a bigint for `t`, bytes for `ay`, `{ signature, value }` for a variant. */
export type DbusValue = number | bigint | string | Uint8Array | DbusVariant;
export interface DbusVariant { signature: string; value: DbusValue }

const align = (n: number, to: number): number => (n + to - 1) & ~(to - 1);

/**
 * Method calls without destination (a peer-to-peer connection has no bus to route by name), little-endian, one
 * after the other in one buffer. Within a message the header fields start at 16 and the body at a multiple of 8,
 * so each distinct block of fields and each distinct body is encoded once and copied into the messages sharing it.
 */
export function methodCalls(calls: readonly MethodCall[]): Buffer {
  const fieldBlocks = new Map<string, Uint8Array>(); const bodies = new Map<string, Uint8Array>();
  const blocks: Array<[Uint8Array, Uint8Array]> = [];
  let size = 0;
  for (const c of calls) {
    // NUL cannot occur in a D-Bus string: it separates the parts of a key.
    const fk = `${c.path}\0${c.interface}\0${c.member}\0${c.args.length}`; const bk = c.args.join('\0');
    let fields = fieldBlocks.get(fk); if (!fields) { fields = encodeFields(c); fieldBlocks.set(fk, fields); }
    let body = bodies.get(bk); if (!body) { body = encodeBody(c.args); bodies.set(bk, body); }
    blocks.push([fields, body]);
    size += 16 + align(fields.length, 8) + body.length;
  }
  const out = Buffer.alloc(size); // zeroed: padding is only skipped
  let at = 0;
  calls.forEach((c, i) => {
    const [fields, body] = blocks[i]!;
    out[at] = 0x6c; out[at + 1] = MESSAGE_TYPE.methodCall; out[at + 3] = 1; // 'l', no flags (a reply is wanted), version 1
    u32le(out, at + 4, body.length); u32le(out, at + 8, c.serial); u32le(out, at + 12, fields.length);
    out.set(fields, at + 16);
    const bodyAt = at + 16 + align(fields.length, 8);
    out.set(body, bodyAt);
    at = bodyAt + body.length;
  });
  return out;
}

/** The header-field array's content: PATH, INTERFACE, MEMBER and, with arguments, their SIGNATURE (all `s`). */
function encodeFields(c: MethodCall): Uint8Array {
  const [path, iface, member] = [c.path, c.interface, c.member].map((x) => Buffer.from(x, 'utf8')) as [Buffer, Buffer, Buffer];
  const w = new Writer(Buffer.alloc(64 + path.length + iface.length + member.length + c.args.length));
  w.field(FIELD.path, 0x6f, path); // 'o'
  w.field(FIELD.interface, 0x73, iface); // 's'
  w.field(FIELD.member, 0x73, member);
  if (c.args.length > 0) {
    w.align(8); w.byte(FIELD.signature); w.byte(1); w.byte(0x67); w.byte(0); // (8, variant 'g')
    w.byte(c.args.length); for (let i = 0; i < c.args.length; i++) w.byte(0x73); w.at++;
  }
  return w.buf.subarray(0, w.at);
}

function encodeBody(args: readonly string[]): Uint8Array {
  const encoded = args.map((a) => Buffer.from(a, 'utf8'));
  const w = new Writer(Buffer.alloc(encoded.reduce((n, b) => n + 8 + b.length, 0)));
  for (const b of encoded) w.string(b);
  return w.buf.subarray(0, w.at);
}

function u32le(b: Uint8Array, at: number, v: number): void { b[at] = v & 0xff; b[at + 1] = (v >>> 8) & 0xff; b[at + 2] = (v >>> 16) & 0xff; b[at + 3] = v >>> 24; }

/** Writes a block that starts at a multiple of 8 within its message (alignment is counted from the block's start). */
class Writer {
  at = 0;
  constructor(readonly buf: Buffer) {}
  byte(v: number): void { this.buf[this.at++] = v; }
  align(n: number): void { this.at = align(this.at, n); }
  /** `s` or `o`: 32-bit length, the UTF-8 bytes, NUL (already zero). */
  string(b: Uint8Array): void { this.align(4); u32le(this.buf, this.at, b.length); this.buf.set(b, this.at + 4); this.at += 4 + b.length + 1; }
  /** A header field holding a string or object path: (code, variant). */
  field(code: number, type: number, value: Uint8Array): void {
    this.align(8); this.byte(code); this.byte(1); this.byte(type); this.byte(0);
    this.string(value);
  }
}

/**
 * Reads every whole message in buf[from..end), in place (the messages keep pointing into `buf`); returns them and
 * where the first incomplete one starts. Throws DbusFormatError on a header that is not D-Bus or not understood.
 */
export function takeMessages(buf: Uint8Array, from = 0, end = buf.length): { messages: DbusMessage[]; next: number } {
  const messages: DbusMessage[] = [];
  let at = from;
  while (end - at >= 16) {
    if (buf[at] === 0x42) throw new DbusFormatError('a big-endian D-Bus message (only little-endian ones are read here)');
    if (buf[at] !== 0x6c) throw new DbusFormatError(`not a D-Bus message: endianness byte 0x${buf[at]!.toString(16)}`);
    if (buf[at + 3] !== 1) throw new DbusFormatError(`D-Bus protocol version ${buf[at + 3]}, expected 1`);
    const fieldsEnd = at + 16 + u32(buf, at + 12);
    const bodyOffset = at + align(fieldsEnd - at, 8);
    const total = bodyOffset - at + u32(buf, at + 4);
    if (total > MAX_MESSAGE) throw new DbusFormatError(`D-Bus message of ${total} bytes, over the specification's limit`);
    if (end - at < total) break;
    messages.push(readHeader(buf, at, fieldsEnd, bodyOffset, at + total));
    at += total;
  }
  return { messages, next: at };
}

/** A little-endian uint32 at b[at]. */
function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

/** The header fields: each a (code, variant) whose variant holds one basic type (s, o, g, u). */
function readHeader(b: Uint8Array, start: number, fieldsEnd: number, bodyOffset: number, end: number): DbusMessage {
  const m: DbusMessage = { type: b[start + 1]!, serial: u32(b, start + 8), replySerial: undefined, errorName: undefined, signature: '', bytes: b, start, bodyOffset, end };
  let at = start + 16;
  while (at < fieldsEnd) {
    at = start + align(at - start, 8);
    if (at + 4 > fieldsEnd || b[at + 1] !== 1 || b[at + 3] !== 0) throw new DbusFormatError('D-Bus header field that is not (code, variant of one basic type)');
    const code = b[at]!; const type = b[at + 2]!;
    at += 4;
    if (type === 0x75) { // 'u'
      at = start + align(at - start, 4);
      if (code === FIELD.replySerial) m.replySerial = u32(b, at);
      at += 4;
    } else if (type === 0x73 || type === 0x6f) { // 's', 'o'
      at = start + align(at - start, 4);
      const len = u32(b, at);
      if (code === FIELD.errorName) m.errorName = text(b, at + 4, len, fieldsEnd);
      at += 4 + len + 1;
    } else if (type === 0x67) { // 'g'
      const len = b[at]!;
      if (code === FIELD.signature) m.signature = text(b, at + 1, len, fieldsEnd);
      at += 1 + len + 1;
    } else {
      throw new DbusFormatError(`D-Bus header field ${code} of type '${String.fromCharCode(type)}'`);
    }
    if (at > fieldsEnd) throw new DbusFormatError('D-Bus header field runs past the header');
  }
  return m;
}

/** A NUL-terminated string of `len` bytes at b[at..]; short ASCII ones (signatures, names) without a decoder call. */
function text(b: Uint8Array, at: number, len: number, end: number): string {
  if (at + len + 1 > end) throw new DbusFormatError('D-Bus string runs past the end of its message');
  if (b[at + len] !== 0) throw new DbusFormatError('D-Bus string without its terminating NUL');
  if (len <= 16) {
    let s = '';
    for (let i = at; i < at + len; i++) { if (b[i]! >= 0x80) return Buffer.from(b.buffer, b.byteOffset + at, len).toString('utf8'); s += String.fromCharCode(b[i]!); }
    return s;
  }
  return Buffer.from(b.buffer, b.byteOffset + at, len).toString('utf8');
}

/** The body's values, one per type of the message's signature. */
export function readBody(m: DbusMessage): DbusValue[] {
  const r = new Reader(m.bytes, m.start, m.bodyOffset, m.end);
  const out: DbusValue[] = [];
  for (const t of splitSignature(m.signature)) out.push(r.value(t));
  if (r.at !== m.end) throw new DbusFormatError(`${m.end - r.at} bytes after the body's values (signature "${m.signature}")`);
  return out;
}

/** `sv` -> ['s', 'v']; only the types this reader decodes. */
function splitSignature(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length; i++) {
    const t = sig[i] === 'a' && sig[i + 1] === 'y' ? 'ay' : sig[i]!;
    if (!READ.includes(t)) throw new DbusFormatError(`D-Bus signature "${sig}" has a type this reader does not decode`);
    out.push(t);
    i += t.length - 1;
  }
  return out;
}

const READ = ['s', 'o', 'g', 'u', 't', 'v', 'ay'];

class Reader {
  /** Reads buf[at..end); `base` is where the message starts (alignment is counted from there). */
  constructor(private readonly buf: Uint8Array, private readonly base: number, public at: number, private readonly end: number) {}

  /** Aligns to `n`, checks that `size` bytes follow, and returns where they start. */
  private take(n: number, size: number): number {
    const at = this.base + align(this.at - this.base, n);
    if (at + size > this.end) throw new DbusFormatError('D-Bus value runs past the end of its message');
    this.at = at + size;
    return at;
  }

  value(t: string): DbusValue {
    const b = this.buf;
    switch (t) {
      case 'u': return u32(b, this.take(4, 4));
      case 't': { const at = this.take(8, 8); return BigInt(u32(b, at)) + (BigInt(u32(b, at + 4)) << 32n); }
      case 's': case 'o': { const len = u32(b, this.take(4, 4)); const s = text(b, this.at, len, this.end); this.at += len + 1; return s; }
      case 'g': { const len = b[this.take(1, 1)]!; const s = text(b, this.at, len, this.end); this.at += len + 1; return s; }
      case 'ay': { const len = u32(b, this.take(4, 4)); const at = this.take(1, len); return b.subarray(at, at + len); }
      case 'v': {
        const signature = this.value('g') as string;
        const types = splitSignature(signature);
        if (types.length !== 1) throw new DbusFormatError(`D-Bus variant of signature "${signature}", not one type`);
        return { signature, value: this.value(signature) };
      }
      default: throw new DbusFormatError(`D-Bus type "${t}" is not decoded here`);
    }
  }
}
