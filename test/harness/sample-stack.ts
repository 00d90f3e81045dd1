// A stack config for the repository's sample instance (sample/instance.py, sample/zeo_server.py), for the
// end-to-end tests in a disposable systemd, the benchmarks and scripts/example.ts. It names files of this
// repository (sample/, packages/*/dist/), so it lives with the tests, not in a package.

export interface SampleStackOptions {
  /** The repository as seen by the services (Box.repo inside a box). */
  repo: string;
  stack?: string;
  /** Must exist where the units run; default "daemon" (exists on Debian; systemd warns about "nobody"). */
  user?: string;
  clients?: number;
  /** Ports: ZEO at base, client n HTTP at base+n, agent at base+100+n, health HTTP at base+200+n. */
  basePort: number;
  warmupSeconds?: number;
  /** How to run znotify: an absolute executable, or an argv prefix ([/usr/bin/node, <repo>/packages/notify/dist/znotify/cli.js]). */
  znotify?: string | string[];
  /** How to run zunitgen (the ZEO unit's ExecStartPost= wait-tcp); like znotify. */
  zunitgen?: string | string[];
  /** Node for the defaults of znotify and zunitgen (the repository's dist/ files are not executable). */
  node?: string;
  python?: string;
  /** Off inside containers without mount-namespace support. */
  hardening?: boolean;
  watchdog?: string;
  memoryMax?: string;
}

/** The lines every sample stack starts with: its name, user, directory, how to run the tools, hardening. */
function headLines(o: Omit<SampleStackOptions, 'clients'>): string[] {
  const node = o.node ?? '/usr/bin/node';
  return [
    `stack: ${JSON.stringify(o.stack ?? 'sample')}`,
    `user: ${JSON.stringify(o.user ?? 'daemon')}`,
    `directory: ${JSON.stringify(o.repo)}`,
    `znotify: ${JSON.stringify(o.znotify ?? [node, `${o.repo}/packages/notify/dist/znotify/cli.js`])}`,
    `zunitgen: ${JSON.stringify(o.zunitgen ?? [node, `${o.repo}/packages/unitgen/dist/cli.js`])}`,
    `hardening: ${o.hardening ?? false}`,
  ];
}

/** The sample instances' own settings (warm-up, threads, stop) and the stack's limits and watchdog, after the clients' addresses. */
function clientSettingsLines(o: Omit<SampleStackOptions, 'clients'>): string[] {
  return [
    '  warmup: { budget: 2min, urls: [/Plone] }',
    '  threads: 1',
    '  stop: { drain: 1s, timeout: 10s }',
    `limits: { memory-max: ${o.memoryMax ?? '1G'}, cpu-weight: 100, tasks-max: 256 }`,
    `watchdog: ${o.watchdog ?? '30s'}`,
  ];
}

/** YAML text of a stack that runs the sample ZEO server and sample instances. */
export function sampleStackConfig(o: SampleStackOptions): string {
  const py = JSON.stringify(o.python ?? '/usr/bin/python3');
  const b = o.basePort;
  return [
    ...headLines(o),
    'zeo:',
    `  command: [${py}, sample/zeo_server.py, --host, 127.0.0.1, --port, "${b}"]`,
    `  address: 127.0.0.1:${b}`,
    'clients:',
    `  count: ${o.clients ?? 2}`,
    `  command: [${py}, sample/instance.py, --host, 127.0.0.1, --port, "{${b}+n}", --threads, "1", --warmup-seconds, "${o.warmupSeconds ?? 1}", --zeo, 127.0.0.1:${b}]`,
    `  http: 127.0.0.1:{${b}+n}`,
    `  health: { agent: "127.0.0.1:{${b + 100}+n}", http: "127.0.0.1:{${b + 200}+n}" }`,
    ...clientSettingsLines(o),
    '',
  ].join('\n');
}

export interface SampleHostsOptions extends Omit<SampleStackOptions, 'clients'> {
  /** The machines: name and the address their services bind to (and ssh reaches). */
  hosts: Array<{ name: string; address: string; ssh?: string }>;
  /** The host that runs the sample ZEO server. */
  zeoHost: string;
  /** Clients per host, numbered host by host in this order. */
  clients: Record<string, number>;
  /** HAProxy's check and agent interval (haproxy.check-interval). */
  checkInterval?: string;
}

/**
 * YAML text of the sample stack spread over several hosts: ZEO on `zeoHost`, clients where `clients` says, every
 * listener on its host's address (ZEO at basePort, client n HTTP at basePort+n, agent at basePort+100+n, health
 * HTTP at basePort+200+n).
 */
export function sampleHostsStackConfig(o: SampleHostsOptions): string {
  const py = JSON.stringify(o.python ?? '/usr/bin/python3');
  const b = o.basePort;
  const zeoAddr = o.hosts.find((h) => h.name === o.zeoHost)?.address;
  if (zeoAddr === undefined) throw new Error(`zeoHost ${JSON.stringify(o.zeoHost)} is not one of the hosts`);
  return [
    ...headLines(o),
    'hosts:',
    ...o.hosts.map((h) => `  - { name: ${h.name}, address: ${JSON.stringify(h.address)}${h.ssh ? `, ssh: ${JSON.stringify(h.ssh)}` : ''} }`),
    'zeo:',
    `  host: ${o.zeoHost}`,
    `  command: [${py}, sample/zeo_server.py, --host, ${JSON.stringify(zeoAddr)}, --port, "${b}"]`,
    `  address: ${JSON.stringify(`${zeoAddr}:${b}`)}`,
    'clients:',
    `  hosts: { ${Object.entries(o.clients).map(([h, n]) => `${h}: ${n}`).join(', ')} }`,
    `  command: [${py}, sample/instance.py, --host, "{host}", --port, "{${b}+n}", --threads, "1", --warmup-seconds, "${o.warmupSeconds ?? 1}", --zeo, ${JSON.stringify(`${zeoAddr}:${b}`)}]`,
    `  http: "{host}:{${b}+n}"`,
    `  health: { agent: "{host}:{${b + 100}+n}", http: "{host}:{${b + 200}+n}" }`,
    ...clientSettingsLines(o),
    `haproxy: { backend: ${JSON.stringify(o.stack ?? 'sample')}, check-interval: ${o.checkInterval ?? '500ms'} }`,
    '',
  ].join('\n');
}
