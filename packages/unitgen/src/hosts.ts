// A stack over several machines: the `hosts:` list, which host runs the databases and which clients, and the
// rules a multi-host stack adds (every service binds to its own host's address). Parsing helpers for parse.ts;
// pure, positions through the Walker like everything else in the config.
//
//   hosts:
//     - { name: db, address: 10.0.0.11 }
//     - { name: app1, address: 10.0.0.12, ssh: deploy@app1.example.org, ssh-options: { Port: 2222 } }
//   zeo: { host: db, address: 10.0.0.11:8100, ... }
//   clients: { hosts: { app1: 3, app2: 3 }, http: "{host}:{8080+n}", ... }   # or { app1: [1, 3, 5], ... }

import { isMap, isScalar, isSeq, type Node } from 'yaml';
import type { ClientModel, HaproxyInstall, HostModel } from './model.js';
import { bindTarget, didYouMean, formatAddress, parseIp, q, type Address } from './values.js';
import { describe, type Walker } from './yaml-reader.js';

export const HOST_KEYS = ['name', 'address', 'ssh', 'ssh-options'] as const;
const MAX_HOSTS = 32;
/** Host names: part of a directory name and of HAProxy server names (`app1-client3`). */
const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
/** An ssh destination, [user@]host: nothing ssh could read as an option or a shell as a metacharacter. */
const SSH_DEST = /^(?:[A-Za-z0-9._][A-Za-z0-9._-]{0,31}@)?(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]+\])$/;
const SSH_OPTION = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

export interface HostDecl {
  name: string;
  address: string;
  ssh: string;
  sshOptions: Array<[string, string]>;
  node: Node | null;
}

/** The `hosts:` list. Undefined when it is unusable (every problem reported). */
export function parseHosts(w: Walker, node: Node | null): HostDecl[] | undefined {
  if (!isSeq(node)) { w.err(node, `hosts: expected a list of hosts, got ${describe(node)}`, 'e.g. hosts: [{ name: db, address: 10.0.0.11 }, { name: app1, address: 10.0.0.12 }]'); return undefined; }
  const items = node.items as Array<Node | null>;
  if (items.length === 0) { w.err(node, 'hosts: the list is empty', 'leave hosts: out for a stack on one machine'); return undefined; }
  if (items.length > MAX_HOSTS) { w.err(node, `hosts: at most ${MAX_HOSTS} hosts, got ${items.length}`); return undefined; }
  const out: HostDecl[] = [];
  const before = w.issues.length;
  const seenName = new Map<string, Node | null>();
  const seenAddr = new Map<string, string>();
  for (const item of items) {
    const m = w.map(item, 'hosts[]', HOST_KEYS, ['name', 'address']);
    if (!m) continue;
    const nameNode = m.get('name') ?? null;
    const name = m.has('name') ? w.str(nameNode, 'hosts[].name') : undefined;
    if (name !== undefined && !HOST_NAME.test(name)) {
      w.err(nameNode, `hosts[].name: ${q(name)} is not a host name`, 'lower-case letters, digits and -, starting with a letter or digit, at most 31 characters');
      continue;
    }
    if (name !== undefined && seenName.has(name)) {
      const first = w.pos(seenName.get(name)!);
      w.err(nameNode, `hosts[].name: host ${q(name)} is used twice (first at line ${first.line})`, 'give every host its own name');
      continue;
    }
    if (name !== undefined) seenName.set(name, nameNode);
    const addrNode = m.get('address') ?? null;
    const address = m.has('address') ? w.fromResult(addrNode, `hosts[${q(name ?? '?')}].address`, parseIp(w.scalar(addrNode))) : undefined;
    if (address !== undefined && seenAddr.has(address)) {
      w.err(addrNode, `hosts[${q(name ?? '?')}].address: ${address} is already the address of host ${q(seenAddr.get(address)!)}`, 'every host needs an address of its own: the services of two hosts would bind to the same ports');
      continue;
    }
    if (address !== undefined && name !== undefined) seenAddr.set(address, name);
    let ssh = address === undefined ? '' : `root@${address.includes(':') ? `[${address}]` : address}`;
    if (m.has('ssh')) {
      const v = w.str(m.get('ssh')!, `hosts[${q(name ?? '?')}].ssh`);
      if (v !== undefined && !SSH_DEST.test(v)) w.err(m.get('ssh')!, `hosts[${q(name ?? '?')}].ssh: ${q(v)} is not an ssh destination`, 'user@host or host (a name or an IP literal); other ssh settings go into ssh-options');
      else if (v !== undefined) ssh = v;
    }
    const sshOptions = m.has('ssh-options') ? parseSshOptions(w, m.get('ssh-options')!, `hosts[${q(name ?? '?')}].ssh-options`) : [];
    if (name !== undefined && address !== undefined) out.push({ name, address, ssh, sshOptions, node: item });
  }
  return w.issues.length === before ? out : undefined;
}

/** ssh_config options (`Port: 2222`, `IdentityFile: /root/.ssh/deploy`), each becoming one `-o Key=Value`. */
function parseSshOptions(w: Walker, node: Node | null, where: string): Array<[string, string]> {
  if (!isMap(node)) { w.err(node, `${where}: expected a mapping of ssh_config options, got ${describe(node)}`, 'e.g. { Port: 2222, IdentityFile: /root/.ssh/deploy }'); return []; }
  const out: Array<[string, string]> = [];
  for (const pair of node.items) {
    const k = pair.key as Node | null;
    const key = isScalar(k) ? k.value : undefined;
    if (typeof key !== 'string' || !SSH_OPTION.test(key)) { w.err(k, `${where}: ${q(key)} is not an ssh_config option name`, 'e.g. Port, IdentityFile, ProxyJump (ssh_config(5))'); continue; }
    const vn = pair.value as Node | null;
    const raw = w.scalar(vn);
    const v = typeof raw === 'number' ? String(raw) : w.str(vn, `${where}.${key}`);
    if (v === undefined) continue;
    if (v !== v.trim()) { w.err(vn, `${where}.${key}: leading or trailing whitespace`, 'remove it'); continue; }
    out.push([key, v]);
  }
  return out;
}

/** A reference to a host by name (zeo.host, database.postgresql.host, clients.hosts keys). */
export function hostRef(w: Walker, node: Node | null, where: string, hosts: readonly HostDecl[]): string | undefined {
  const v = w.str(node, where);
  if (v === undefined) return undefined;
  if (hosts.some((h) => h.name === v)) return v;
  const names = hosts.map((h) => h.name);
  const dym = didYouMean(v, names);
  w.err(node, `${where}: unknown host ${q(v)}`, dym ? `did you mean ${q(dym)}? (hosts: ${names.join(', ')})` : `add it to hosts:, or use one of ${names.join(', ')}`);
  return undefined;
}

/**
 * `clients.hosts`: which host runs which client. `{ app1: 3, app2: 3 }` numbers the clients in that order
 * (client1-3 on app1, client4-6 on app2); `{ app1: [1, 3, 5], app2: [2, 4, 6] }` places each one. Returns the
 * host of every client (index n-1), or undefined (problems reported). `count`, when given, must agree.
 */
export function parseClientHosts(w: Walker, node: Node | null, hosts: readonly HostDecl[], count: { value: number; node: Node | null } | undefined, max: number): string[] | undefined {
  if (!isMap(node)) { w.err(node, `clients.hosts: expected a mapping host: count (or host: [client numbers]), got ${describe(node)}`, `e.g. clients.hosts: { ${hosts.slice(0, 2).map((h) => `${h.name}: 2`).join(', ')} }`); return undefined; }
  const before = w.issues.length;
  const counts: Array<{ host: string; n: number }> = [];
  const explicit: Array<{ host: string; list: Array<{ n: number; node: Node | null }> }> = [];
  for (const pair of node.items) {
    const host = hostRef(w, pair.key as Node | null, 'clients.hosts', hosts);
    const vn = pair.value as Node | null;
    if (isSeq(vn)) {
      const list: Array<{ n: number; node: Node | null }> = [];
      for (const item of vn.items as Array<Node | null>) { const n = w.int(item, `clients.hosts.${host ?? '?'}[]`, 1, max); if (n !== undefined) list.push({ n, node: item }); }
      if (host !== undefined) explicit.push({ host, list });
    } else {
      const n = w.int(vn, `clients.hosts.${host ?? '?'}`, 0, max);
      if (host !== undefined && n !== undefined) counts.push({ host, n });
    }
  }
  if (w.issues.length !== before) return undefined;
  if (counts.length && explicit.length) { w.err(node, 'clients.hosts: either counts (app1: 3) or client numbers (app1: [1, 2, 3]) for every host, not both', 'numbers place each client; counts number them host by host'); return undefined; }
  let out: string[];
  if (counts.length) {
    out = counts.flatMap((c) => Array.from({ length: c.n }, () => c.host));
  } else {
    const total = explicit.reduce((a, e) => a + e.list.length, 0);
    const slots: Array<string | undefined> = Array.from({ length: total }, () => undefined);
    for (const e of explicit) {
      for (const { n, node: item } of e.list) {
        if (n > total) { w.err(item, `clients.hosts.${e.host}: client${n}, but there are ${total} clients`, `number the clients 1..${total}`); continue; }
        if (slots[n - 1] !== undefined) { w.err(item, `clients.hosts.${e.host}: client${n} is already placed on ${q(slots[n - 1]!)}`, 'each client runs on one host'); continue; }
        slots[n - 1] = e.host;
      }
    }
    if (w.issues.length !== before) return undefined;
    out = slots as string[];
  }
  if (out.length === 0) { w.err(node, 'clients.hosts: places no client', 'e.g. app1: 2'); return undefined; }
  if (out.length > max) { w.err(node, `clients.hosts: ${out.length} clients, at most ${max}`); return undefined; }
  if (count && count.value !== out.length) {
    w.err(count.node, `clients.count: ${count.value}, but clients.hosts places ${out.length}`, 'leave count out when clients.hosts is given, or make them agree');
    return undefined;
  }
  return out;
}

/** Is `a` an address a service on host `h` can bind to: the host's own (however spelled), or the wildcard when written so. */
function bindsOn(a: Address, h: HostDecl): boolean {
  const t = bindTarget(a);
  const own = bindTarget({ host: h.address, port: a.port, family: h.address.includes(':') ? 6 : 4 });
  return t.any || (t.family === own.family && t.key === own.key);
}

export interface Listener { host: string; address: Address; label: string; node: Node | null; /** may stay on loopback (not reached from other hosts) */ local?: boolean }

/**
 * Every listener of a multi-host stack binds to its host's address (or to the wildcard, when the config says
 * so): HAProxy and the clients on other machines reach it there, and a host cannot bind another's address.
 */
export function checkListeners(w: Walker, hosts: readonly HostDecl[], listeners: readonly Listener[]): void {
  const reported = new Set<Node | null>();
  for (const l of listeners) {
    const h = hosts.find((x) => x.name === l.host);
    if (!h || bindsOn(l.address, h)) continue;
    if (l.local && (l.address.host === '127.0.0.1' || l.address.host === '::1')) continue;
    if (reported.has(l.node)) continue;
    reported.add(l.node);
    const at = h.address.includes(':') ? `[${h.address}]` : h.address;
    const loopback = /^127\./.test(l.address.host) || l.address.host === '::1';
    w.err(l.node, `${l.label}: ${formatAddress(l.address)} is not an address of host ${q(h.name)} (${h.address})`,
      `bind it to ${at}:${l.address.port}${l.label.startsWith('clients') ? ' (write {host}:PORT)' : ''}${loopback ? ': HAProxy and the other hosts cannot reach loopback' : `, or move it to the host that has ${l.address.host}`}`);
  }
}

export function hostModels(hosts: readonly HostDecl[], zeoHost: string | undefined, pgHost: string | undefined, clients: readonly ClientModel[]): HostModel[] {
  return hosts.map((h) => ({
    name: h.name, address: h.address, ssh: h.ssh, sshOptions: h.sshOptions,
    zeo: zeoHost === h.name, postgresql: pgHost === h.name,
    clients: clients.filter((c) => c.host === h.name).map((c) => c.name),
  }));
}

/** Each host's address as a one-address network: the default peers of the wrappers' full /health detail. */
export function hostNetworks(hosts: readonly HostDecl[]): string[] {
  return hosts.map((h) => `${h.address}/${h.address.includes(':') ? 128 : 32}`);
}

export const HAPROXY_INSTALL_KEYS = ['host', 'file', 'config', 'unit'] as const;
const DEBIAN_HAPROXY_CFG = '/etc/haproxy/haproxy.cfg';
const SERVICE_NAME = /^[A-Za-z0-9:_.@-]{1,250}\.service$/;

/**
 * `haproxy.install`: where `zunitgen deploy` installs the backend file (`file`, on `host` or on the machine deploy
 * runs on), what else HAProxy loads for `haproxy -c` (`config`, in HAProxy's order; default Debian's haproxy.cfg
 * and the file's directory) and the unit it reloads (`unit`, default haproxy.service).
 */
export function parseHaproxyInstall(w: Walker, node: Node | null, hosts: readonly HostDecl[] | undefined): HaproxyInstall | undefined {
  const m = w.map(node, 'haproxy.install', HAPROXY_INSTALL_KEYS, ['file']);
  if (!m) return undefined;
  if (!hosts) { w.err(node, 'haproxy.install: installing HAProxy\'s file is part of zunitgen deploy, for a stack with hosts:', 'on one machine, copy haproxy-<stack>.cfg from zunitgen generate and reload HAProxy, or list the machine under hosts:'); return undefined; }
  const before = w.issues.length;
  const host = m.has('host') ? hostRef(w, m.get('host')!, 'haproxy.install.host', hosts) : undefined;
  const file = w.path(m.get('file') ?? null, 'haproxy.install.file');
  if (file !== undefined && !file.endsWith('.cfg')) w.err(m.get('file')!, `haproxy.install.file: ${q(file)} does not end in .cfg`, 'HAProxy loads only *.cfg files from a directory: e.g. /etc/haproxy/conf.d/plone.cfg');
  let config = file === undefined ? [] : [DEBIAN_HAPROXY_CFG, file.slice(0, file.lastIndexOf('/')) || '/'];
  if (m.has('config')) {
    const cn = m.get('config')!;
    if (!isSeq(cn) || cn.items.length === 0) w.err(cn, `haproxy.install.config: expected a list of the files and directories HAProxy loads, got ${describe(cn)}`, `e.g. [${DEBIAN_HAPROXY_CFG}, /etc/haproxy/conf.d]`);
    else config = (cn.items as Array<Node | null>).map((i) => w.path(i, 'haproxy.install.config[]')).filter((p): p is string => p !== undefined);
  }
  if (file !== undefined && m.has('config') && !config.includes(file) && !config.includes(file.slice(0, file.lastIndexOf('/')))) {
    w.err(m.get('config')!, `haproxy.install.config: HAProxy would not load ${q(file)}: neither it nor its directory is listed`, 'list what HAProxy is started with (-f), including the file or its directory');
  }
  const unit = m.has('unit') ? w.str(m.get('unit')!, 'haproxy.install.unit') : 'haproxy.service';
  if (unit !== undefined && !SERVICE_NAME.test(unit)) w.err(m.get('unit')!, `haproxy.install.unit: ${q(unit)} is not a service unit name`, 'e.g. haproxy.service');
  if (w.issues.length !== before || file === undefined || unit === undefined) return undefined;
  return { ...(host !== undefined ? { host } : {}), file, config, unit };
}
