// Where a client's wrapper can be asked from. A health listener on loopback answers only on its own machine: read
// from another machine, 127.0.0.1:9184 is whatever listens there on that machine, not the wrapper. So a loopback
// health address is read only for a client whose host is this machine (its address is loopback or one of this
// machine's interface addresses) or in a stack without hosts; for any other client the wrapper's state is "not
// readable from here", and status, recycle and the stop/restart paths use what systemd and HAProxy say instead.
import net from 'node:net';
import os from 'node:os';
import type { Address } from '@zope-systemd/unitgen';
import type { WrapperHealth } from './health.js';
import { wrapperHealth } from './health.js';
import type { ClientRef } from './stack.js';

const isLoopback = (host: string): boolean => (net.isIPv4(host) ? host.startsWith('127.') : host === '::1' || host.toLowerCase() === '::ffff:127.0.0.1');

/** This machine's own addresses (every interface's), lower-cased. */
function ownAddresses(): Set<string> {
  return new Set(Object.values(os.networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address.toLowerCase())));
}

/** Whether a host of the stack (by its address) is this machine. */
function isThisMachine(address: string): boolean {
  return isLoopback(address) || ownAddresses().has(address.toLowerCase());
}

/** The address zstack reads a wrapper's state at: the health HTTP listener, or the agent listener without one. */
const healthAddress = (c: ClientRef): Address => c.health.http ?? c.health.agent;

/** Why this client's wrapper cannot be read from this machine (`health on loopback of app2`); undefined when it can. */
export function healthUnreadable(c: ClientRef): string | undefined {
  if (c.host === undefined || c.hostAddress === undefined) return undefined;
  if (!isLoopback(healthAddress(c).host) || isThisMachine(c.hostAddress)) return undefined;
  return `health on loopback of ${c.host}`;
}

/** The wrapper's state as far as this machine can read it. */
export async function readHealth(c: ClientRef): Promise<WrapperHealth> {
  const why = healthUnreadable(c);
  if (why) return { state: 'not-readable', ready: false, summary: `not readable from here (${why})` };
  return await wrapperHealth(c.health);
}

/** The fix to name when a remote wrapper's state is needed (recycle by memory). */
export function readableHint(hosts: readonly string[]): string {
  return `set clients.health.http to the host's address ("{host}:{9180+n}") and keep this machine in clients.health.detail-from, or run zstack on ${hosts.join(', ')}`;
}
