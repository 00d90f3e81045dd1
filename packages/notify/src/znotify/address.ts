// Addresses (`host:port`, `[v6]:port`, a bare port), on their own so that the resident wrapper's modules
// (health, haproxy, checks, run) can use them without loading config.ts and, through it, the yaml package
// (which stays out of the long-running process: docs/benchmarks/znotify-memory.md).

export interface Address {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port`, or a bare port (loopback). Port 0 only where `allowZero` (the kernel picks). */
export function parseAddress(value: unknown, allowZero = false): Address | undefined {
  let host = '127.0.0.1';
  let portText: string;
  if (typeof value === 'number') portText = String(value);
  else if (typeof value !== 'string') return undefined;
  else {
    const s = value.trim();
    let m: RegExpMatchArray | null;
    if ((m = s.match(/^\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d+)$/))) { host = m[1]!; portText = m[2]!; }
    else if ((m = s.match(/^([A-Za-z0-9.-]+):(\d+)$/))) { host = m[1]!; portText = m[2]!; }
    else if (/^\d+$/.test(s)) portText = s;
    else return undefined;
  }
  if (!/^\d+$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowZero)) return undefined;
  return { host, port };
}

export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
