// Pure parsers for the scalar value syntaxes of the stack config: sizes, durations, addresses,
// per-instance templates ({n}, {8080+n}). Each returns a value or a message (never throws), so the
// validator can collect every problem with its position.

export type Result<T> = { ok: true; value: T } | { ok: false; message: string; hint?: string };
const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const bad = (message: string, hint?: string): Result<never> => (hint ? { ok: false, message, hint } : { ok: false, message });

/** Quotes a user value for an error message (JSON style, so control characters are visible). */
export function q(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

// ---------------------------------------------------------------- text safety

/**
 * Why a string cannot go into a unit file, or undefined when it can. Unit files are line based: a newline
 * starts a new directive (injection), other control characters are refused by systemd ("control characters
 * are not allowed", systemd.service(5)), and a lone surrogate is not representable in UTF-8.
 */
export function unsafeText(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) {
      return `contains the control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (!(c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff)) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
      cp = ((c - 0xd800) << 10) + (next - 0xdc00) + 0x10000;
      i++;
    }
    // systemd refuses noncharacters as invalid UTF-8 in unit files (unichar_is_valid(): U+FDD0..U+FDEF and
    // every code point ending in FFFE or FFFF), so the unit would not load.
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) {
      return `contains the Unicode noncharacter U+${cp.toString(16).toUpperCase().padStart(4, '0')}, which systemd refuses`;
    }
  }
  return undefined;
}

/** The longest string value a config may hold: far below systemd's line limit (LONG_LINE_MAX, 1 MiB) with every suffix added. */
export const MAX_VALUE_LENGTH = 4096;

/** The largest config file read (bytes): a stack description is a few kilobytes. */
export const MAX_CONFIG_BYTES = 1 << 20;

// ---------------------------------------------------------------- sizes (systemd.resource-control(5))

export type Size = { bytes: bigint } | { percent: number } | 'infinity';

const SIZE_UNITS: Record<string, bigint> = { '': 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n, P: 1n << 50n };

/** `1.5G`, `512M`, `1073741824`, `80%`, `infinity`. Suffixes are base 1024, as systemd reads them. */
export function parseSize(v: unknown, opts: { percent?: boolean } = {}): Result<Size> {
  if (typeof v === 'number') v = String(v);
  if (typeof v !== 'string') return bad(`expected a size such as 1.5G or 512M, got ${q(v)}`);
  if (v === 'infinity') return ok('infinity');
  const pm = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (pm) {
    if (!opts.percent) return bad(`a percentage is not allowed here, got ${q(v)}`, 'give an absolute size such as 2G');
    const p = Number(pm[1]);
    if (!(p > 0 && p <= 100)) return bad(`percentage must be in (0, 100], got ${q(v)}`);
    return ok({ percent: p });
  }
  const m = /^(\d+)(?:\.(\d+))?\s*([KMGTP]?)$/.exec(v);
  if (!m) return bad(`expected a size such as 1.5G, 512M or 1073741824, got ${q(v)}`, 'suffixes K, M, G, T, P (base 1024, upper case), a percentage of RAM (80%) or infinity');
  const unit = SIZE_UNITS[m[3] ?? '']!;
  const frac = m[2] ?? '';
  // Exact decimal arithmetic: 1.5G = 15 * 2^30 / 10, rounded down to a byte.
  const bytes = (BigInt(m[1]! + frac) * unit) / 10n ** BigInt(frac.length);
  if (bytes <= 0n) return bad(`size must be positive, got ${q(v)}`);
  if (bytes >= 1n << 63n) return bad(`size too large, got ${q(v)}`);
  return ok({ bytes });
}

/** Renders a size for a resource-control directive. Not `%%`: these settings do not expand specifiers (systemd reads `40%%` as an invalid limit). */
export function formatSize(s: Size): string {
  if (s === 'infinity') return 'infinity';
  if ('percent' in s) return `${s.percent}%`;
  return s.bytes.toString();
}

export function sizeBytes(s: Size): bigint | undefined {
  return typeof s === 'object' && 'bytes' in s ? s.bytes : undefined;
}

// ---------------------------------------------------------------- durations (systemd.time(7) subset)

const TIME_UNITS: Array<[RegExp, number]> = [
  [/^(ms|msec)$/, 1],
  [/^(s|sec|second|seconds)$/, 1000],
  [/^(m|min|minute|minutes)$/, 60_000],
  [/^(h|hr|hour|hours)$/, 3_600_000],
  [/^(d|day|days)$/, 86_400_000],
];

/**
 * The longest duration accepted: what a Node timer holds (a signed 32-bit count of milliseconds; above it Node
 * fires after 1 ms). The wrapper refuses longer values in its own config, and so must every value written into it.
 */
const MAX_DURATION_MS = 2 ** 31 - 1;
const TOO_LONG_HINT = `at most ${MAX_DURATION_MS} ms, about 24.8 days (what a timer can hold): use 24d or less`;

/** `500ms`, `30s`, `2min`, `1h`, `1min 30s`, or a number of seconds. Returns milliseconds. */
export function parseDuration(v: unknown): Result<number> {
  if (typeof v === 'number') {
    if (v === Infinity || v * 1000 > MAX_DURATION_MS) return bad(`duration too long, got ${q(v)}`, TOO_LONG_HINT);
    if (!Number.isFinite(v) || v < 0) return bad(`expected a non-negative number of seconds, got ${q(v)}`);
    return ok(Math.round(v * 1000));
  }
  if (typeof v !== 'string') return bad(`expected a duration such as 30s or 2min, got ${q(v)}`);
  const s = v.trim();
  if (s === '') return bad('expected a duration such as 30s or 2min, got an empty string');
  let total = 0;
  const re = /(\d+(?:\.\d+)?)\s*([a-z]*)\s*/y;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return bad(`expected a duration such as 30s, 2min or 1h 30min, got ${q(v)}`, 'units: ms, s, min, h, d');
    const unit = m[2] ?? '';
    const mult = unit === '' ? 1000 : TIME_UNITS.find(([r]) => r.test(unit))?.[1];
    if (mult === undefined) return bad(`unknown time unit ${q(unit)} in ${q(v)}`, 'units: ms, s, min, h, d');
    total += Number(m[1]) * mult;
    pos = re.lastIndex;
  }
  if (!Number.isFinite(total) || Math.round(total) > MAX_DURATION_MS) return bad(`duration too long, got ${q(v)}`, TOO_LONG_HINT);
  return ok(Math.round(total));
}

/** Milliseconds as one systemd time span in the largest unit that divides it (`10min`, `90s`, `500ms`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, n] of [['h', 3_600_000], ['min', 60_000], ['s', 1000]] as const) {
    if (ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}

// ---------------------------------------------------------------- addresses

export interface Address {
  /** IPv4 dotted quad or IPv6 without brackets. */
  host: string;
  port: number;
  family: 4 | 6;
}

export function formatAddress(a: Address): string {
  return a.family === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIPv6(h: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(h) || h.length > 45) return false;
  const dbl = h.split('::');
  if (dbl.length > 2) return false;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const parts = [...groups(dbl[0]!), ...(dbl.length === 2 ? groups(dbl[1]!) : [])];
  let count = 0;
  for (const [i, p] of parts.entries()) {
    if (i === parts.length - 1 && p.includes('.')) { if (!IPV4.test(p)) return false; count += 2; continue; }
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false;
    count += 1;
  }
  return dbl.length === 2 ? count < 8 : count === 8;
}

/**
 * `127.0.0.1:8080` or `[::1]:8080`. Only IP literals: ListenStream= binds without resolving names, and a
 * name in the HAProxy snippet would be resolved once at HAProxy start.
 */
export function parseAddress(v: unknown): Result<Address> {
  if (typeof v !== 'string') return bad(`expected an address host:port, got ${q(v)}`, 'e.g. 127.0.0.1:8080 or [::1]:8080');
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) return bad(`expected an address host:port, got ${q(v)}`, 'e.g. 127.0.0.1:8080 or [::1]:8080 (IPv6 in brackets)');
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return bad(`port must be 1..65535, got ${port} in ${q(v)}`);
  if (m[1] !== undefined) {
    if (!isIPv6(m[1])) return bad(`not an IPv6 address: ${q(m[1])}`);
    return ok({ host: m[1].toLowerCase(), port, family: 6 });
  }
  if (!IPV4.test(m[2]!)) return bad(`expected an IP address, got ${q(m[2])} in ${q(v)}`, 'use an IP literal such as 127.0.0.1 (ListenStream= does not resolve names)');
  return ok({ host: m[2]!, port, family: 4 });
}

/** The 16 bytes of an IPv6 literal (already validated by parseAddress), as 8 numbers. */
function ipv6Groups(h: string): number[] {
  let text = h;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - hs.length - ts.length).fill('0');
  return [...hs, ...zeros, ...ts].map((g) => parseInt(g, 16));
}

/**
 * Where an address binds, in one spelling: IPv4 dotted quad (an IPv4-mapped IPv6 address ::ffff:a.b.c.d is the
 * IPv4 address), IPv6 as 8 full groups. `any` for the wildcards 0.0.0.0 and ::.
 */
export function bindTarget(a: Address): { family: 4 | 6; key: string; any: boolean } {
  if (a.family === 4) return { family: 4, key: a.host, any: a.host === '0.0.0.0' };
  const g = ipv6Groups(a.host);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const v4 = `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
    return { family: 4, key: v4, any: v4 === '0.0.0.0' };
  }
  return { family: 6, key: g.map((x) => x.toString(16)).join(':'), any: g.every((x) => x === 0) };
}

/**
 * Whether two listeners on these addresses would fail to bind both (EADDRINUSE): the same port and the same
 * address however it is spelled, or a wildcard covering the other: 0.0.0.0 covers every IPv4 address, and [::]
 * every address of both families (Linux binds it dual-stack unless net.ipv6.bindv6only is set).
 */
export function addressesClash(a: Address, b: Address): boolean {
  if (a.port !== b.port) return false;
  const x = bindTarget(a), y = bindTarget(b);
  if (x.key === y.key && x.family === y.family) return true;
  if ((x.any && x.family === 6) || (y.any && y.family === 6)) return true;
  return x.family === y.family && (x.any || y.any);
}

/** An IP literal without a port (IPv6 without brackets), as a host's bind address is written. */
export function parseIp(v: unknown): Result<Address['host']> {
  if (typeof v !== 'string') return bad(`expected an IP address, got ${q(v)}`, 'e.g. 10.0.0.11 or fd00::11');
  const r = parseAddress(v.includes(':') ? `[${v}]:1` : `${v}:1`);
  return r.ok ? ok(r.value.host) : bad(`expected an IP address, got ${q(v)}`, 'an IP literal such as 10.0.0.11 or fd00::11 (units bind to it; names are not resolved)');
}

// ---------------------------------------------------------------- HTTP requests (warm-up URLs, http checks)

/** A request path as the wrapper sends it: absolute, no whitespace (VirtualHostMonster paths welcome). */
/** An absolute request path of printable ASCII only, as znotify requires (other characters: percent-encoded). */
export function isUrlPath(p: string): boolean {
  return p.startsWith('/') && /^[\x21-\x7e]*$/.test(p);
}

/** The hint for a path isUrlPath refuses: its percent-encoded form when that is all it lacks. */
export function urlPathHint(p: string, example: string): string {
  if (!p.startsWith('/')) return example;
  const encoded = p.replace(/[^\x21-\x7e]/gu, (c) => { try { return encodeURI(c); } catch { return '%EF%BF%BD'; } });
  return `percent-encode it: ${encoded}`;
}

/** A Host: header value: a DNS name or IP literal, with an optional port. */
export function isHostHeader(h: string): boolean {
  return /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(h);
}

// ---------------------------------------------------------------- per-instance templates

/**
 * Expands `{n}`, `{8080+n}`, `{n+8080}` with the instance number n. `{{` and `}}` are literal braces.
 * Returns the expanded string, or the offset (in v) and text of the first bad placeholder.
 */
/**
 * Expands the per-client placeholders of a template value: {n}, {8080+n}, {n+8080} (the client's number) and
 * {host} (the address of the client's host, IPv6 in brackets; only where the stack has hosts). {{ and }} are
 * literal braces.
 */
export function expandTemplate(v: string, n: number, host?: Address['host']): Result<string> & { offset?: number } {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '{' && v[i + 1] === '{') { out += '{'; i++; continue; }
    if (c === '}' && v[i + 1] === '}') { out += '}'; i++; continue; }
    if (c === '}') return { ...bad(`unmatched "}" in ${q(v)}`, 'write }} for a literal brace'), offset: i };
    if (c !== '{') { out += c; continue; }
    const end = v.indexOf('}', i);
    const expr = end < 0 ? v.slice(i + 1) : v.slice(i + 1, end);
    if (end >= 0 && expr.trim() === 'host') {
      if (host === undefined) return { ...bad(`{host} in ${q(v)} is the address of a client's host, and this stack has no hosts`, 'list the hosts under hosts:, or write the address'), offset: i };
      out += host.includes(':') ? `[${host}]` : host;
      i = end;
      continue;
    }
    const m = /^\s*(?:n|(\d+)\s*\+\s*n|n\s*\+\s*(\d+))\s*$/.exec(expr);
    if (end < 0 || !m) {
      return { ...bad(`bad placeholder {${expr}${end < 0 ? '' : '}'} in ${q(v)}`, 'placeholders are {n}, {8080+n}, {n+8080} and {host}; write {{ for a literal brace'), offset: i };
    }
    out += String(Number(m[1] ?? m[2] ?? 0) + n);
    i = end;
  }
  return ok(out);
}

export function hasPlaceholder(v: string): boolean {
  return /(^|[^{])\{(?!\{)/.test(v.replace(/\{\{/g, ''));
}

// ---------------------------------------------------------------- did you mean

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest known word, if it is close enough to be a plausible typo. */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase().replace(/_/g, '-');
  for (const k of known) {
    const d = w === k ? 0 : levenshtein(w, k);
    if (d < bestD) { bestD = d; best = k; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}
