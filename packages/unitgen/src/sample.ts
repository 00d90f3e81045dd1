// A stack config for the repository's sample instance (sample/instance.py, sample/zeo_server.py), for the
// end-to-end test in a disposable systemd and for trying zunitgen without Plone.

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

/** YAML text of a stack that runs the sample ZEO server and sample instances. */
export function sampleStackConfig(o: SampleStackOptions): string {
  const py = JSON.stringify(o.python ?? '/usr/bin/python3');
  const b = o.basePort;
  const node = o.node ?? '/usr/bin/node';
  const znotify = o.znotify ?? [node, `${o.repo}/packages/notify/dist/znotify/cli.js`];
  const zunitgen = o.zunitgen ?? [node, `${o.repo}/packages/unitgen/dist/cli.js`];
  return [
    `stack: ${JSON.stringify(o.stack ?? 'sample')}`,
    `user: ${JSON.stringify(o.user ?? 'daemon')}`,
    `directory: ${JSON.stringify(o.repo)}`,
    `znotify: ${JSON.stringify(znotify)}`,
    `zunitgen: ${JSON.stringify(zunitgen)}`,
    `hardening: ${o.hardening ?? false}`,
    'zeo:',
    `  command: [${py}, sample/zeo_server.py, --host, 127.0.0.1, --port, "${b}"]`,
    `  address: 127.0.0.1:${b}`,
    'clients:',
    `  count: ${o.clients ?? 2}`,
    `  command: [${py}, sample/instance.py, --host, 127.0.0.1, --port, "{${b}+n}", --threads, "1", --warmup-seconds, "${o.warmupSeconds ?? 1}", --zeo, 127.0.0.1:${b}]`,
    `  http: 127.0.0.1:{${b}+n}`,
    `  health: { agent: "127.0.0.1:{${b + 100}+n}", http: "127.0.0.1:{${b + 200}+n}" }`,
    '  warmup: { budget: 2min, urls: [/Plone] }',
    '  threads: 1',
    '  stop: { drain: 1s, timeout: 10s }',
    `limits: { memory-max: ${o.memoryMax ?? '1G'}, cpu-weight: 100, tasks-max: 256 }`,
    `watchdog: ${o.watchdog ?? '30s'}`,
    '',
  ].join('\n');
}
