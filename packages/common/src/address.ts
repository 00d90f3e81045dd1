// Socket addresses as every zope-systemd config writes them: `IP:port`, `[IPv6]:port`, and where the tool
// resolves names at run time, `name:port` and a bare port meaning 127.0.0.1. IP literals are held to their
// grammar everywhere (`300.1.1.1` is refused, not looked up as a host name); names to RFC 1123.
import { parsed, quoteValue, refused, type ParseResult, type Quote } from './parse-result.js';

export interface Address {
  /** IPv4 dotted quad, IPv6 without brackets (lower case), or a host name. */
  host: string;
  port: number;
  /** 4 or 6 for an IP literal; 0 for a host name, resolved when it is used (either family: Node's `family: 0`). */
  family: 4 | 6 | 0;
}

export interface AddressRules {
  /** Host names are allowed (the wrapper connects to them and resolves them when it does). Default false. */
  names?: boolean;
  /** A bare port means 127.0.0.1:port. Default false. */
  barePort?: boolean;
  /** Port 0 is allowed: the kernel picks one (listeners only). Default false. */
  zeroPort?: boolean;
  /** How the value is quoted in a message. */
  quote?: Quote;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isIPv4(h: string): boolean {
  return IPV4.test(h);
}

/** An IPv6 literal without brackets: eight groups, or fewer with one `::`, the last two may be an IPv4 address. */
export function isIPv6(h: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(h) || h.length > 45) return false;
  const halves = h.split('::');
  if (halves.length > 2) return false;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const parts = [...groups(halves[0]!), ...(halves.length === 2 ? groups(halves[1]!) : [])];
  let count = 0;
  for (const [i, p] of parts.entries()) {
    if (i === parts.length - 1 && p.includes('.')) { if (!IPV4.test(p)) return false; count += 2; continue; }
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false;
    count += 1;
  }
  return halves.length === 2 ? count < 8 : count === 8;
}

/** A DNS host name (RFC 1123): labels of letters, digits and inner hyphens, at most 253 characters. Not all digits. */
export function isHostName(h: string): boolean {
  if (h.length > 253 || /^[\d.]+$/.test(h)) return false;
  return h.replace(/\.$/, '').split('.').every((l) => LABEL.test(l));
}

function example(rules: AddressRules): string {
  return rules.names
    ? 'write host:port such as 127.0.0.1:8080 or [::1]:8080' + (rules.barePort ? ', or a bare port for 127.0.0.1' : '')
    : 'write IP:port such as 127.0.0.1:8080 or [::1]:8080 (IPv6 in brackets)';
}

/** Parses an address by the given rules. Never throws: a refusal names the value and the fix. */
export function parseAddress(value: unknown, rules: AddressRules = {}): ParseResult<Address> {
  const quote = rules.quote ?? quoteValue;
  const bad = () => refused(`${quote(value)} is not an address`, example(rules));
  let text: string;
  if (typeof value === 'number' && rules.barePort && Number.isInteger(value)) text = String(value);
  else if (typeof value === 'string') text = value.trim();
  else return bad();
  if (rules.barePort && /^\d{1,5}$/.test(text)) text = `127.0.0.1:${text}`;
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return bad();
  const port = Number(m[3]);
  const lowest = rules.zeroPort ? 0 : 1;
  if (port < lowest || port > 65535) return refused(`${quote(value)}: the port must be ${lowest}..65535, got ${port}`, example(rules));
  return m[1] !== undefined ? ipv6Address(m[1], port, value, rules) : hostAddress(m[2]!, port, value, rules);
}

/** A bracketed host: an IPv6 literal, with a zone (`%eth0`, link-local) where names are allowed. */
function ipv6Address(h: string, port: number, value: unknown, rules: AddressRules): ParseResult<Address> {
  const quote = rules.quote ?? quoteValue;
  const zone = rules.names ? /^([^%]+)(%[A-Za-z0-9_.-]{1,15})$/.exec(h) : null;
  const ip = zone ? zone[1]! : h;
  if (!isIPv6(ip)) return refused(`${quote(value)}: ${JSON.stringify(h)} is not an IPv6 address`, example(rules));
  return parsed({ host: ip.toLowerCase() + (zone ? zone[2]! : ''), port, family: 6 });
}

function hostAddress(host: string, port: number, value: unknown, rules: AddressRules): ParseResult<Address> {
  const quote = rules.quote ?? quoteValue;
  if (isIPv4(host)) return parsed({ host, port, family: 4 });
  if (host === '') return refused(`${quote(value)} is not an address`, example(rules));
  if ( /^[\d.]+$/.test(host)) return refused(`${quote(value)}: ${JSON.stringify(host)} is not an IPv4 address`, example(rules));
  if (!rules.names) {
    return refused(`${quote(value)}: ${JSON.stringify(host)} is a host name, not an IP address`,
      'use an IP literal such as 127.0.0.1 (ListenStream= and HAProxy server lines do not resolve names at run time)');
  }
  if (!isHostName(host)) return refused(`${quote(value)}: ${JSON.stringify(host)} is not a host name`, 'letters, digits, hyphens and dots (RFC 1123), e.g. db.example.org:5432');
  return parsed({ host, port, family: 0 });
}

/** `host:port`, IPv6 in brackets; parseAddress reads it back. */
export function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
