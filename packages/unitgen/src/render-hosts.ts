// A stack over several machines, rendered: one unit set per host (each complete and verifiable on its own:
// it names no unit of another host) and one HAProxy configuration with every client of every host.

import type { HostModel, StackModel } from './model.js';
import { renderWith, type Compiled, type GeneratedFile, type RenderOptions } from './render.js';

export interface HostFiles { host: HostModel; files: GeneratedFile[] }
export interface RenderedHosts { hosts: HostFiles[]; haproxy: GeneratedFile[] }

/**
 * The one host that runs the recycle timer: the host of the first client. `zstack recycle` acts on the whole
 * stack (one client per run, across hosts, under the stack's lock), so one timer is all there may be; several
 * would only race for the lock. It runs `zstack recycle <stack file>` there, so that host needs the stack file
 * at the same path and root ssh to the other hosts (docs/hosts.md).
 */
function recycleHostOf(m: StackModel): string | undefined {
  return m.recycle ? m.clients[0]?.host : undefined;
}

/** The part of the stack one host runs: its clients, the databases only where they run, the recycle timer on one host. */
export function hostView(m: StackModel, h: HostModel): StackModel {
  const { zeo, postgresql, recycle, ...rest } = m;
  return {
    ...rest,
    clients: m.clients.filter((c) => c.host === h.name),
    ...(zeo && zeo.host === h.name ? { zeo } : {}),
    ...(postgresql && postgresql.host === h.name ? { postgresql } : {}),
    ...(recycle && recycleHostOf(m) === h.name ? { recycle } : {}),
  };
}

/** Renders every host's unit set and the stack-wide HAProxy files. m.hosts must be set. */
export function renderHostsWith(m: StackModel, t: Compiled, opts: RenderOptions): RenderedHosts {
  if (!m.hosts) throw new Error('renderHostsWith: the stack has no hosts');
  const hosts = m.hosts.map((host) => ({ host, files: renderWith(hostView(m, host), t, opts).filter((f) => f.kind !== 'haproxy') }));
  // The httpchk alternative polls each client's health HTTP listener from the HAProxy host: a listener kept on its
  // host's loopback (to keep /health detail local) cannot be polled from there, so that file is left out.
  const localHealth = m.clients.some((c) => c.health.http && (/^127\./.test(c.health.http.host) || c.health.http.host === '::1'));
  const haproxy = renderWith(m, t, opts).filter((f) => f.kind === 'haproxy' && !(localHealth && f.name === `haproxy-${m.prefix}-httpchk.cfg`));
  return { hosts, haproxy };
}
