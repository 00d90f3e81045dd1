// Networks a peer address is checked against (the wrapper's `health.detail-from`: the peers that get /health's full
// detail). IPv4 and IPv6, a CIDR (`10.0.0.0/24`, `fd00::/64`) or one address (`10.0.0.5`, `::1`). An IPv4 peer on
// a dual-stack listener shows as `::ffff:10.0.0.5`; it is matched as the IPv4 address it is.
import net from 'node:net';
import { parsed, quoteValue, refused, type ParseResult, type Quote } from './parse-result.js';

export interface Network { family: 4 | 6; bits: bigint; prefix: number; text: string }

/** Loopback only: the default, so that detail never leaves the machine unless the config says so. */
export const LOOPBACK_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128'];

function toBits(ip: string): { family: 4 | 6; bits: bigint } | undefined {
  const family = net.isIP(ip);
  if (family === 4) return { family: 4, bits: ip.split('.').reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (family !== 6) return undefined;
  // Expand `::` and a trailing dotted quad into eight 16-bit groups.
  let s = ip;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) {
    const v4 = toBits(quad[1]!)!.bits;
    s = `${s.slice(0, -quad[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { family: 6, bits: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

const NETWORK_HINT = 'write an address (10.0.0.5, ::1) or a CIDR (10.0.0.0/24, fd00::/64)';

/** A network written as CIDR or one address (`text` is its normalized form, always with a prefix length). */
export function parseNetwork(value: unknown, quote: Quote = quoteValue): ParseResult<Network> {
  const m = typeof value === 'string' ? /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(value) : null;
  const ip = m ? toBits(m[1]!) : undefined;
  if (!m || !ip) return refused(`${quote(value)} is not a network`, NETWORK_HINT);
  const width = ip.family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? width : Number(m[2]);
  if (prefix > width) return refused(`${quote(value)}: /${prefix} is longer than an IPv${ip.family} address (${width} bits)`, NETWORK_HINT);
  return parsed({ family: ip.family, bits: ip.bits, prefix, text: `${m[1]}/${prefix}` });
}

function mask(width: number, prefix: number): bigint {
  return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix);
}

/** Whether `address` (a socket's remoteAddress) lies in one of `networks`. An unknown address is in none. */
export function inNetworks(address: string | undefined, networks: readonly Network[]): boolean {
  if (!address) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = toBits(mapped ? mapped[1]! : address.replace(/%.*$/, ''));
  if (!ip) return false;
  return networks.some((n) => {
    if (n.family !== ip.family) return false;
    const m = mask(n.family === 4 ? 32 : 128, n.prefix);
    return (ip.bits & m) === (n.bits & m);
  });
}
