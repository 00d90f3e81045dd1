// Pure parsers for the stack config's own value syntaxes: sizes, per-instance templates ({n}, {8080+n}), unit-file
// safety and where addresses bind. Durations, addresses, request paths and did-you-mean are the ones both tools
// share (@zope-systemd/common), re-exported here under zunitgen's API names. Each returns a value or a message
// (never throws), so the validator can collect every problem with its position.
import {
  didYouMean, formatAddress, formatTimeSpan, isHostHeader, parsed as ok, parseAddress, parseDuration, quoteValue, refused as bad,
  type Address, type ParseResult,
} from '@zope-systemd/common';

export { didYouMean, formatAddress, isHostHeader, parseAddress, parseDuration, type Address };
/** Milliseconds as one systemd time span (`10min`, `90s`, `500ms`), as zunitgen writes durations. */
export const formatDuration = formatTimeSpan;

export type Result<T> = ParseResult<T>;

/** Quotes a user value for an error message (JSON style, so control characters are visible). */
export const q = quoteValue;

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

// ---------------------------------------------------------------- addresses

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
