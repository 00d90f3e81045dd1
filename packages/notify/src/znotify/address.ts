// The wrapper's addresses: `host:port`, `[v6]:port`, a host name, or a bare port (127.0.0.1), by the shared
// address rules (@zope-systemd/common). On their own so that the resident wrapper's modules (health, haproxy,
// checks, run) can use them without loading config.ts and, through it, the yaml package (which stays out of
// the long-running process: docs/benchmarks/znotify-memory.md).
import { formatAddress, parseAddress as parseShared, type AddressRules } from '@zope-systemd/common';

export { formatAddress };

/** What the wrapper keeps of an address: a host name stays a name, resolved when the wrapper connects. */
export interface Address {
  host: string;
  port: number;
}

/** The wrapper's rule set: names (it resolves them when it connects) and a bare port; port 0 where `zeroPort`. */
export function wrapperAddressRules(zeroPort = false): AddressRules {
  return { names: true, barePort: true, zeroPort };
}

/** `host:port`, `[v6]:port`, or a bare port (loopback). Port 0 only where `allowZero` (the kernel picks). */
export function parseAddress(value: unknown, allowZero = false): Address | undefined {
  const r = parseShared(value, wrapperAddressRules(allowZero));
  return r.ok ? { host: r.value.host, port: r.value.port } : undefined;
}
