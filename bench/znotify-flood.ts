// Health answers under a connection flood: how long a legitimate check waits for the wrapper's answer while
// FLOOD connections per port hammer both health listeners (each never sends, never closes its side, and is
// dropped and reopened every 2 s: the flood that once locked every check out), beside a bare Node server
// answering the same way under the same flood, and both without the flood, all in interleaved rounds of the
// same run (other jobs share this machine; the load average is printed with every round).
//
// What it tells apart: the bare server has no connection guard, no state, no logging; its latency is what the
// machine (scheduler, loopback, Node's accept loop) costs under that flood. The wrapper's excess over it is the
// wrapper's own.
//
//   pnpm build && node --import tsx bench/znotify-flood.ts [--flood 300] [--requests 300] [--rounds 4]
//     [--wrapper-node-flags '--max-opt=4']
//
// The latency client is the blocking python3 loop of bench/znotify.ts (one new connection per request, timed from
// connect to the peer's close, `Connection: close` for HTTP, as HAProxy's checks do), in a process of its own, as
// is the flood. Everything started here is stopped by pid.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, waitForTcp } from '../test/harness/net.js';
import { instanceArgv, SAMPLE_PYTHON, startPeer, type Peer } from '../test/harness/proc.js';
import { childEnv, exitedError, f1, f2, log, median, outputTail, percentile } from './lib.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(REPO, 'packages/notify/dist/znotify/cli.js');
const NODE = process.execPath;

const { values } = parseArgs({
  options: {
    flood: { type: 'string', default: '300' },
    requests: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '4' },
    // node flags for the wrapper only, e.g. --max-opt=4 to undo its own --max-opt=1 (main.ts)
    'wrapper-node-flags': { type: 'string', default: '' },
  },
});
const FLOOD = Number(values.flood);
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
for (const [k, v] of [['--flood', FLOOD], ['--requests', REQUESTS], ['--rounds', ROUNDS]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${JSON.stringify(String(v))}`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-bench-flood-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

// The flood of test/znotify-e2e-abuse.test.ts: FLOOD connections per port, each dropped and reopened every 2 s.
const FLOOD_SCRIPT = `
const net = require('node:net');
const n = Number(process.argv[1]);
const ports = process.argv.slice(2).map(Number);
let opened = 0;
const open = (port) => {
  opened++;
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  s.resume();
  setTimeout(() => { s.destroy(); open(port); }, 2000);
};
for (const port of ports) for (let i = 0; i < n; i++) open(port);
setInterval(() => process.send(opened), 200);
`;

const BARE = `
const net = require('net'), http = require('http');
net.createServer((s) => { s.on('error', () => {}); s.resume(); s.end('up ready 100%\\n'); }).listen(+process.argv[1], '127.0.0.1');
http.createServer((q, r) => { const b = '{"ready":true}\\n'; r.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length }); r.end(b); }).listen(+process.argv[2], '127.0.0.1');
`;

const LAT_CLIENT = `
import json, socket, sys, time
kind, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
req = b"GET /health/ready HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUser-Agent: bench\\r\\nConnection: close\\r\\n\\r\\n"
def once():
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if kind == "http":
        s.sendall(req)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    if not got:
        raise SystemExit("empty answer")
    return (time.perf_counter() - t0) * 1000
for _ in range(20):
    once()
print(json.dumps([once() for _ in range(n)]))
`;

/** CPU seconds (user + system) a process has used, from /proc/PID/stat (proc(5): utime, stime in clock ticks). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15; USER_HZ is 100 on Linux
}

function latencies(kind: 'agent' | 'http', port: number, n: number): number[] {
  const r = spawnSync(SAMPLE_PYTHON, ['-c', LAT_CLIENT, kind, String(port), String(n)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`latency client (${kind} ${port}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[];
}

async function startWrapper(instancePort: number, agentPort: number, healthPort: number): Promise<Peer> {
  const cfg = path.join(tmp, 'flood.yaml');
  fs.writeFileSync(cfg, [
    'name: flood', `http: 127.0.0.1:${instancePort}`,
    'warmup:', '  budget: 60s', '  interval: 50ms', '  urls:', '    - { path: /Plone, text: "</html>", timeout: 30s }',
    'health:', `  agent: 127.0.0.1:${agentPort}`, `  http: 127.0.0.1:${healthPort}`,
    'checks:', '  - { name: root, type: http, path: /, interval: 1s, timeout: 1s }',
    'stop:', '  drain: 0s', '  timeout: 3s',
    // info, as in production: the guard's rate-limited flood lines are written; nothing per connection is.
    'log:', '  level: info', '',
  ].join('\n'));
  const flags = values['wrapper-node-flags'].split(/\s+/).filter(Boolean);
  return await startPeer([NODE, ...flags, CLI, 'run', '--config', cfg, '--', ...instanceArgv({ port: instancePort, threads: 1 })], {
    name: 'znotify', env: childEnv(),
  });
}

async function waitReady(healthPort: number, p: Peer): Promise<void> {
  for (const deadline = Date.now() + 30_000; ;) {
    const gone = exitedError(p, 'wrapper');
    if (gone) throw gone;
    try {
      if ((await fetch(`http://127.0.0.1:${healthPort}/health/ready`, { signal: AbortSignal.timeout(1000) })).status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`wrapper not ready within 30 s:\n${outputTail(p)}`);
    await sleep(50);
  }
}

function startFlood(ports: number[]): Promise<{ stop(): void; opened(): number }> {
  const child = spawn(NODE, ['-e', FLOOD_SCRIPT, String(FLOOD), ...ports.map(String)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: childEnv() });
  let opened = 0;
  const stop = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  process.on('exit', stop);
  return new Promise((resolve) => child.on('message', (m) => {
    opened = m as number;
    // Every connection opened once, and one reconnect cycle under way: the flood is at full strength.
    if (opened >= FLOOD * ports.length * 1.5) resolve({ stop, opened: () => opened });
  }));
}

const KEYS = ['bare agent', 'znotify agent', 'bare http', 'znotify GET /health/ready'] as const;
type Key = typeof KEYS[number];
const results: Record<'quiet' | 'flood', Record<Key, number[]>> = {
  quiet: Object.fromEntries(KEYS.map((k) => [k, []])) as unknown as Record<Key, number[]>,
  flood: Object.fromEntries(KEYS.map((k) => [k, []])) as unknown as Record<Key, number[]>,
};
const loads: Record<'quiet' | 'flood', number[]> = { quiet: [], flood: [] };
/** CPU seconds each server used during the flooded phases, and the flood connections opened meanwhile. */
const floodCpu = { bare: 0, znotify: 0, connections: 0, seconds: 0 };

const [bareA, bareH, ip, ap, hp] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
const bare = await startPeer([NODE, '-e', BARE, String(bareA), String(bareH)], { name: 'bare node', env: childEnv() });
const w = await startWrapper(ip, ap, hp);
try {
  await waitForTcp(bareA);
  await waitForTcp(bareH);
  await waitReady(hp, w);
  log(`health answers under a flood of ${FLOOD} reconnecting connections per port (both ports of both servers), ` +
    `${REQUESTS} sequential checks per server and kind in each of ${ROUNDS} rounds, each round quiet then flooded`);
  const n = REQUESTS;
  for (let round = 0; round < ROUNDS; round++) {
    for (const phase of ['quiet', 'flood'] as const) {
      const flood = phase === 'flood' ? await startFlood([bareA, bareH, ap, hp]) : undefined;
      loads[phase].push(os.loadavg()[0]!);
      const cpu0 = { bare: cpuSeconds(bare.pid), znotify: cpuSeconds(w.pid), opened: flood?.opened() ?? 0, t: performance.now() };
      const got: Record<Key, number[]> = {
        'bare agent': latencies('agent', bareA, n),
        'znotify agent': latencies('agent', ap, n),
        'bare http': latencies('http', bareH, n),
        'znotify GET /health/ready': latencies('http', hp, n),
      };
      if (flood) {
        floodCpu.bare += cpuSeconds(bare.pid) - cpu0.bare;
        floodCpu.znotify += cpuSeconds(w.pid) - cpu0.znotify;
        floodCpu.seconds += (performance.now() - cpu0.t) / 1000;
        // The latency clients ran synchronously: the flood's count (IPC) is read once its messages got through.
        await sleep(400);
        floodCpu.connections += flood.opened() - cpu0.opened;
      }
      flood?.stop();
      for (const k of KEYS) results[phase][k].push(...got[k]);
      log(`   round ${round + 1} ${phase.padEnd(5)} load ${f2(os.loadavg()[0]!)}: ` +
        KEYS.map((k) => `${k} p50 ${f2(median(got[k]))} max ${f1(Math.max(...got[k]))}`).join(', ') + ' (ms)');
      if (flood) await sleep(2500); // the flood's sockets are gone before the next quiet phase
    }
  }
  const gone = exitedError(w, 'wrapper', 'during the benchmark');
  if (gone) throw gone;
} finally {
  await w.stop({ timeoutMs: 8000 });
  await bare.stop();
}

log('');
log(`| kind | phase | p50 ms | p99 ms | max ms | p50 / bare | p99 / bare |`);
log(`|---|---|---|---|---|---|---|`);
for (const phase of ['quiet', 'flood'] as const) {
  for (const [k, base] of [['znotify agent', 'bare agent'], ['znotify GET /health/ready', 'bare http'], ['bare agent', 'bare agent'], ['bare http', 'bare http']] as const) {
    const xs = results[phase][k];
    const b = results[phase][base];
    log(`| ${k} | ${phase} | ${f2(median(xs))} | ${f2(percentile(xs, 99))} | ${f1(Math.max(...xs))} | ` +
      `${f2(median(xs) / median(b))} | ${f2(percentile(xs, 99) / percentile(b, 99))} |`);
  }
}
log(`load average (1 min) at the start of the phases: quiet ${loads.quiet.map(f2).join(', ')}; flood ${loads.flood.map(f2).join(', ')}`);
// The flood reaches both servers alike (half of its connections each), so CPU per flood connection compares them.
const perConn = (s: number) => f1(s / (floodCpu.connections / 2) * 1e6);
log(`CPU while flooded (${f1(floodCpu.seconds)} s, ${floodCpu.connections} flood connections opened, half to each server): ` +
  `znotify ${f2(floodCpu.znotify)} s (${perConn(floodCpu.znotify)} us per connection), bare ${f2(floodCpu.bare)} s (${perConn(floodCpu.bare)} us), ` +
  `ratio ${f2(floodCpu.znotify / floodCpu.bare)}`);
const late = (k: Key) => `${results.flood[k].filter((x) => x > 100).length} of ${results.flood[k].length}`;
log(`under the flood, answered later than 100 ms: agent ${late('znotify agent')}, GET /health/ready ${late('znotify GET /health/ready')} ` +
  `(bare: ${late('bare agent')}, ${late('bare http')})`);
