// znotify's costs, each beside a baseline measured in the same run:
//   1. RSS of the wrapper after a long run of checks (thousands of cycles at a short interval) beside bare
//      `node -e 0`, `node` importing undici, and `znotify check` (the wrapper's module graph loaded, nothing run).
//      Target: wrapper <= 1.3 x `node -e 0`.
//   2. Health-answer latency (agent-check and GET /health, a new connection each, as HAProxy does) while the
//      instance's only worker thread is busy with /slow, beside a bare Node server answering the same way.
//      Target: p99 <= 1 ms.
//   3. Delay from the last warm-up success to READY=1 as a real datagram receiver (test/harness/dgram-receiver.ts)
//      sees it. The wrapper's instance address is a TCP relay in this process that timestamps the last bytes
//      of the instance's warm-up answer; the receiver timestamps READY=1; same clock (performance.now()).
//      Target: <= 20 ms.
//
//   pnpm build && node --import tsx bench/znotify.ts [--rss-seconds 40] [--interval-ms 10] [--requests 2000] [--ready-runs 15] [--no-write]
//
// Children run without NODE_EXTRA_CA_CERTS (when set: +45 ms, +1.7 MiB per Node start, docs/dev/FACTS.md).
// Everything started here is stopped by pid; the figures go to docs/benchmarks/znotify.md unless --no-write.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDgramReceiver, type DgramReceiver } from '../test/harness/dgram-receiver.js';
import { freePort, waitForTcp } from '../test/harness/net.js';
import { instanceArgv, SAMPLE_PYTHON, startPeer, zeoServerArgv, type Peer } from '../test/harness/proc.js';
import { childEnv, exitedError, f1, f2, f3, log, mib, outputTail, percentile, procStatus } from './lib.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(REPO, 'packages/notify/dist/znotify/cli.js');
const NODE = process.execPath;

const { values } = parseArgs({
  options: {
    'rss-seconds': { type: 'string', default: '40' },
    'interval-ms': { type: 'string', default: '10' },
    requests: { type: 'string', default: '2000' },
    'ready-runs': { type: 'string', default: '15' },
    'no-write': { type: 'boolean', default: false },
  },
});
const RSS_SECONDS = Number(values['rss-seconds']);
const INTERVAL_MS = Number(values['interval-ms']);
const REQUESTS = Number(values.requests);
const READY_RUNS = Number(values['ready-runs']);

if (!fs.existsSync(CLI)) {
  process.stderr.write(`${CLI} is missing: run \`pnpm build\` first\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------------------
// helpers

// This benchmark's medians are nearest-rank (the lower middle value of an even count, e.g. of the latencies), as
// in the figures recorded in docs/benchmarks/znotify.md; lib.ts's median() would average the two.
const median = (xs: number[]) => percentile(xs, 50);

/** Peak RSS (KiB) of a process run to completion, from wait4(2)'s rusage (ru_maxrss), via python. */
function maxRssOf(argv: string[]): number {
  const py = 'import os, sys\npid = os.posix_spawn(sys.argv[1], sys.argv[1:], dict(os.environ), file_actions=[(os.POSIX_SPAWN_OPEN, 1, \'/dev/null\', os.O_WRONLY, 0)])\n_, st, ru = os.wait4(pid, 0)\nprint(ru.ru_maxrss, os.waitstatus_to_exitcode(st))\n';
  const r = spawnSync(SAMPLE_PYTHON, ['-c', py, ...argv], { env: childEnv(), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`maxrss of ${argv.join(' ')} failed: ${r.stderr}`);
  const [rss, code] = r.stdout.trim().split(/\s+/).map(Number);
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}`);
  return rss!;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-bench-znotify-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

interface WrapperOpts {
  name: string;
  instancePort: number;
  /** Address the wrapper uses for the instance (a relay in front of it, for the READY delay). */
  httpPort?: number;
  agentPort: number;
  healthPort: number;
  checks: string[];
  warmupSeconds?: number;
  env?: NodeJS.ProcessEnv;
  level?: string;
  zeoPort?: number;
  nodeFlags?: string[];
  /** The wrapper's stdout as it arrives (stderr, where the instance's access log goes, is not passed). */
  onStdout?: (chunk: string) => void;
}
async function startWrapper(o: WrapperOpts): Promise<Peer> {
  const cfg = path.join(tmp, `${o.name}.yaml`);
  fs.writeFileSync(cfg, [
    `name: ${o.name}`,
    `http: 127.0.0.1:${o.httpPort ?? o.instancePort}`,
    'warmup:', '  budget: 60s', '  interval: 50ms', '  urls:', '    - { path: /Plone, text: "</html>", timeout: 30s }',
    'health:', `  agent: 127.0.0.1:${o.agentPort}`, `  http: 127.0.0.1:${o.healthPort}`,
    'checks:', ...o.checks.map((c) => `  - ${c}`),
    'watchdog:', '  database-grace: 1h', '  hang-timeout: 1h',
    'stop:', '  drain: 0s', '  timeout: 3s',
    'log:', `  level: ${o.level ?? 'warn'}`, '',
  ].join('\n'));
  const argv = [NODE, ...(o.nodeFlags ?? []), CLI, 'run', '--config', cfg, '--',
    ...instanceArgv({ port: o.instancePort, threads: 1, warmupSeconds: o.warmupSeconds ?? 0,
      ...(o.zeoPort ? { zeo: `127.0.0.1:${o.zeoPort}` } : {}) })];
  return await startPeer(argv, {
    name: `znotify ${o.name}`,
    env: { ...childEnv(), ...o.env },
    onOutput: (d, stream) => { if (stream === 'stdout') o.onStdout?.(d); },
  });
}

async function waitReady(healthPort: number, p: Peer, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = exitedError(p, 'wrapper');
    if (gone) throw gone;
    try {
      const r = await fetch(`http://127.0.0.1:${healthPort}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`wrapper not ready within ${timeoutMs} ms:\n${outputTail(p)}`);
    await sleep(50);
  }
}

async function metric(healthPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

// ---------------------------------------------------------------------------------------------------------
// 1. RSS

const load0 = os.loadavg();
log(`znotify benchmark: node ${process.version}, ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}, ${new Date().toISOString()}, load average ${load0.map(f2).join(' ')}`);
log('');
log(`1. RSS after ${RSS_SECONDS} s of checks every ${INTERVAL_MS} ms (http /, tcp, zeo ruok), with WATCHDOG=1 to a real receiver`);

const undiciPath = createRequire(path.join(REPO, 'packages/notify/package.json')).resolve('undici');
const cfgCheck = path.join(tmp, 'check.yaml');
fs.writeFileSync(cfgCheck, 'name: c\ncommand: [/bin/true]\n');
const baselines = {
  nodeE0: [] as number[],
  undici: [] as number[],
  check: [] as number[],
};
for (let i = 0; i < 5; i++) {
  baselines.nodeE0.push(maxRssOf([NODE, '-e', '0']));
  baselines.undici.push(maxRssOf([NODE, '-e', `require(${JSON.stringify(undiciPath)})`]));
  baselines.check.push(maxRssOf([NODE, CLI, 'check', '--config', cfgCheck]));
}
const nodeE0 = median(baselines.nodeE0);
const nodeUndici = median(baselines.undici);
const wrapperLoaded = median(baselines.check);
// Which of its dependencies the built wrapper imports (the explanation below depends on it, undici above all).
const distDir = path.dirname(CLI);
const distText = [distDir, path.dirname(distDir)].flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(d, f), 'utf8'))).join('\n');
// (koffi is required lazily, on the first notification: `znotify check` does not load it, `znotify run` does.)
const wrapperDeps = ['undici', 'pino', 'yaml', 'commander', 'koffi'].filter((m) => new RegExp(`(from |import\\(|require\\(|resolve\\()\\s*['"]${m}['"]`).test(distText));
const usesUndici = wrapperDeps.includes('undici');

interface RssRun {
  flags: string[];
  readings: { at: number; rss: number; hwm: number }[];
  /** Median of one VmRSS sample a second over the second half: V8's old generation saws between full GCs, so
   *  the final reading alone lands anywhere between its bottom and its top. */
  steady: number;
  checkRuns: number;
  agentAnswers: number;
  wdPings: number;
  /** Heap used after each full (mark-compact) GC, MB, from --trace-gc. */
  heapAfterGc: number[];
  /** Heap committed after each full GC, MB. */
  heapCommitted: number[];
}

/** The wrapper with three checks every INTERVAL_MS, HAProxy-like agent traffic and watchdog pings, RSS_SECONDS long. */
async function rssRun(flags: string[]): Promise<RssRun> {
  const r: RssRun = { flags, readings: [], steady: 0, checkRuns: 0, agentAnswers: 0, wdPings: 0, heapAfterGc: [], heapCommitted: [] };
  const [ip, ap, hp, zp] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const zeo = await startPeer(zeoServerArgv({ port: zp }), { name: 'zeo', env: childEnv(), ready: { tcp: zp } });
  const rx = await startDgramReceiver();
  let partial = '';
  const w = await startWrapper({
    name: 'rss', instancePort: ip, agentPort: ap, healthPort: hp, zeoPort: zp,
    // --trace-gc: one line per GC on stdout; "Mark-Compact 23.1 (63.1) -> 12.9 (54.8) MB" = used (committed) before -> after.
    // V8 tags the memory-reducing kind, which is what the wrapper gets: "Mark-Compact (reduce) 13.6 (16.0) -> 6.7 (13.0) MB".
    nodeFlags: ['--trace-gc', ...flags],
    onStdout: (d) => {
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        const m = /Mark-Compact(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\)/.exec(l);
        if (m) { r.heapAfterGc.push(Number(m[1])); r.heapCommitted.push(Number(m[2])); }
      }
    },
    // WATCHDOG_USEC 1 s: a ping every 500 ms; no WATCHDOG_PID, so it applies to the wrapper.
    env: { NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '1000000' },
    checks: [
      `{ name: root, type: http, path: /, interval: ${INTERVAL_MS}ms, timeout: 1s }`,
      `{ name: port, type: tcp, interval: ${INTERVAL_MS}ms, timeout: 1s }`,
      `{ name: zeo, type: zeo, address: 127.0.0.1:${zp}, interval: ${INTERVAL_MS}ms, timeout: 1s }`,
    ],
  });
  await waitReady(hp, w);
  // HAProxy's side too: an agent-check every 10 ms, as a HAProxy with several frontends might send.
  let agentLoop = true;
  const agents = (async () => {
    while (agentLoop) { await agentOnce(ap).catch(() => 0); r.agentAnswers++; await sleep(10); }
  })();
  const t0 = Date.now();
  const marks = [0.25, 0.5, 0.75, 1].map((frac) => ({ at: frac * RSS_SECONDS * 1000, report: true }));
  for (let at = RSS_SECONDS * 500; at < RSS_SECONDS * 1000; at += 1000) marks.push({ at, report: false });
  marks.sort((a, b) => a.at - b.at);
  const steady: number[] = [];
  for (const m of marks) {
    await sleep(Math.max(0, t0 + m.at - Date.now()));
    const st = procStatus(w.pid);
    if (m.at >= RSS_SECONDS * 500) steady.push(st.rss);
    if (m.report) r.readings.push({ at: (Date.now() - t0) / 1000, rss: st.rss, hwm: st.hwm });
  }
  r.steady = median(steady);
  agentLoop = false;
  await agents;
  r.checkRuns = await metric(hp, 'znotify_check_runs_total');
  r.wdPings = await metric(hp, 'znotify_watchdog_pings_total');
  await w.stop();
  await zeo.stop();
  await rx.close();
  return r;
}

const rssRuns = [await rssRun([]), await rssRun(['--max-semi-space-size=1'])];
const lastRss = (r: RssRun) => r.readings[r.readings.length - 1]!.rss;
const rssRatio = lastRss(rssRuns[0]!) / nodeE0;
const steadyRatio = rssRuns[0]!.steady / nodeE0;
// Flat: the JS heap left after full GCs grew by less than 2 MB from the second to the last full GC of the default
// run (the first one comes before the checks reached their steady state).
const gcs = rssRuns[0]!.heapAfterGc;
const heapFlat: boolean | undefined = gcs.length >= 3 ? gcs[gcs.length - 1]! - gcs[1]! < 2 : undefined;
const rssRatioTuned = lastRss(rssRuns[1]!) / nodeE0;
log(`   node -e 0 (peak, median of 5)           ${f1(mib(nodeE0))} MiB`);
log(`   node + require(undici) (peak)           ${f1(mib(nodeUndici))} MiB  (undici: +${f1(mib(nodeUndici - nodeE0))} MiB)`);
log(`   znotify check (module graph, peak)      ${f1(mib(wrapperLoaded))} MiB  (imports: ${wrapperDeps.join(', ')})`);
for (const r of rssRuns) {
  log(`   znotify run ${r.flags.join(' ') || '(as started)'}: ${r.checkRuns} check runs, ${r.agentAnswers} agent answers, ${r.wdPings} WATCHDOG=1`);
  log(`     RSS ${r.readings.map((x) => `${f1(mib(x.rss))} MiB @${x.at.toFixed(0)}s`).join(', ')}; 2nd-half median ${f1(mib(r.steady))} MiB (${f2(r.steady / nodeE0)}x); peak ${f1(mib(Math.max(...r.readings.map((x) => x.hwm))))} MiB`);
  log(`     heap after full GCs (used/committed): ${r.heapAfterGc.map((u, i) => `${f1(u)}/${f1(r.heapCommitted[i]!)} MB`).join(', ') || 'none'}; ratio to node -e 0: ${f2(lastRss(r) / nodeE0)}x`);
}
log(`   JS heap after full GCs flat (< 2 MB growth from the 2nd to the last, default run): ${heapFlat === undefined ? 'n/a (fewer than 3 full GCs)' : heapFlat ? 'yes' : 'NO'}`);
log(`   target <= 1.30x node -e 0: ${rssRatio <= 1.3 && steadyRatio <= 1.3 ? 'met' : 'MISSED'} (final ${f2(rssRatio)}x, 2nd-half median ${f2(steadyRatio)}x; final ${f2(rssRatioTuned)}x with --max-semi-space-size=1)`);

// ---------------------------------------------------------------------------------------------------------
// 2. latency while busy

function agentOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => { got += d; });
    s.once('error', reject);
    s.once('close', () => (got ? resolve(performance.now() - t0) : reject(new Error('agent: empty answer'))));
  });
}

// The latency client is a small blocking python3 loop, as lean as HAProxy's own checker (C): a Node client in
// this process measured its own garbage collection and event loop (p99 ~3 ms against a bare Node agent that a
// blocking client sees answer in 0.3 ms). One new connection per request, timed from connect to the peer's
// close; `http` sends a GET with Connection: close as HAProxy's httpchk does.
const LAT_CLIENT = `
import json, socket, sys, time
kind, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
req = b"GET /health HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUser-Agent: bench\\r\\nConnection: close\\r\\n\\r\\n"
def once():
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
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
for _ in range(200):
    once()
print(json.dumps([once() for _ in range(n)]))
`;
function latencies(kind: 'agent' | 'http', port: number, n: number): number[] {
  const r = spawnSync(SAMPLE_PYTHON, ['-c', LAT_CLIENT, kind, String(port), String(n)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`latency client (${kind} ${port}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[];
}

log('');
log(`2. health-answer latency, ${REQUESTS} sequential requests each in ${5} interleaved rounds, a new connection per request (blocking python3 client)`);
const BARE = `
const net = require('net'), http = require('http');
net.createServer((s) => { s.on('error', () => {}); s.end('up ready 100%\\n'); }).listen(+process.argv[1], '127.0.0.1');
http.createServer((q, r) => { const b = '{"ready":true}\\n'; r.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length }); r.end(b); }).listen(+process.argv[2], '127.0.0.1');
`;
const ROUNDS = 5;
const KEYS = ['bare node agent', 'znotify agent (busy)', 'bare node http', 'znotify GET /health (busy)'] as const;
const lat: Record<string, number[]> = Object.fromEntries(KEYS.map((k) => [k, []]));
const roundP99: Record<string, number[]> = Object.fromEntries(KEYS.map((k) => [k, []]));
let busySeen = false;
{
  const [bareA, bareH] = [await freePort(), await freePort()];
  const bare = await startPeer([NODE, '-e', BARE, String(bareA), String(bareH)], { name: 'bare node', env: childEnv() });
  const [ip, ap, hp] = [await freePort(), await freePort(), await freePort()];
  const w = await startWrapper({
    name: 'latency', instancePort: ip, agentPort: ap, healthPort: hp,
    checks: ['{ name: root, type: http, path: /, interval: 500ms, timeout: 500ms }'],
  });
  await waitForTcp(bareA);
  await waitForTcp(bareH);
  await waitReady(hp, w);
  // Occupy the only worker thread for longer than the measurement takes.
  const slow = fetch(`http://127.0.0.1:${ip}/slow?seconds=120`).catch(() => undefined);
  const isBusy = async () => ((await (await fetch(`http://127.0.0.1:${hp}/health`)).json()) as { busy: boolean }).busy;
  for (let i = 0; i < 40 && !busySeen; i++) { await sleep(100); busySeen = await isBusy(); }
  // Rounds interleave the baseline and the wrapper, so both see the same machine (other jobs share this VM).
  const n = Math.ceil(REQUESTS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    const got: Record<string, number[]> = {
      'bare node agent': latencies('agent', bareA, n),
      'znotify agent (busy)': latencies('agent', ap, n),
      'bare node http': latencies('http', bareH, n),
      'znotify GET /health (busy)': latencies('http', hp, n),
    };
    for (const k of KEYS) { lat[k]!.push(...got[k]!); roundP99[k]!.push(percentile(got[k]!, 99)); }
  }
  busySeen &&= await isBusy();
  await w.stop({ timeoutMs: 8000 });
  await bare.stop();
  void slow;
}
for (const k of KEYS) {
  const xs = lat[k]!;
  log(`   ${k.padEnd(28)} p50 ${f3(median(xs))} ms  p99 ${f3(percentile(xs, 99))} ms  (median of ${ROUNDS} round p99s ${f3(median(roundP99[k]!))} ms)  max ${f3(Math.max(...xs))} ms`);
}
log(`   the instance was busy (wrapper's root check timing out while TCP connects) throughout: ${busySeen ? 'yes' : 'NO'}`);
const agentP99 = percentile(lat['znotify agent (busy)']!, 99);
const httpP99 = percentile(lat['znotify GET /health (busy)']!, 99);
log(`   target p99 <= 1 ms: agent ${agentP99 <= 1 ? 'met' : 'MISSED'} (${f3(agentP99)} ms), http ${httpP99 <= 1 ? 'met' : 'MISSED'} (${f3(httpP99)} ms)`);

// ---------------------------------------------------------------------------------------------------------
// 3. last warm-up success -> READY=1

/** A TCP relay in front of the instance that notes when the instance's bytes pass (performance.now()). */
async function relay(target: number): Promise<{ port: number; lastFromInstance: () => number; close: () => Promise<void> }> {
  let last = 0;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const u = net.connect({ port: target, host: '127.0.0.1' });
    socks.add(c); socks.add(u);
    c.setNoDelay(true); u.setNoDelay(true);
    u.on('data', (d) => { last = performance.now(); c.write(d); });
    c.on('data', (d) => u.write(d));
    const end = () => { c.destroy(); u.destroy(); socks.delete(c); socks.delete(u); };
    u.on('error', end); c.on('error', end); u.on('close', end); c.on('close', end);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    lastFromInstance: () => last,
    close: () => new Promise<void>((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }),
  };
}

log('');
log(`3. last warm-up answer -> READY=1 at a real datagram receiver, ${READY_RUNS} starts`);
const readyDelays: number[] = [];
{
  const rx: DgramReceiver = await startDgramReceiver();
  for (let i = 0; i < READY_RUNS; i++) {
    const [ip, ap, hp] = [await freePort(), await freePort(), await freePort()];
    const rl = await relay(ip);
    rx.reset();
    const w = await startWrapper({
      name: `ready${i}`, instancePort: ip, httpPort: rl.port, agentPort: ap, healthPort: hp, warmupSeconds: 0.3,
      env: { NOTIFY_SOCKET: rx.address }, checks: ['{ name: root, type: http, path: /, interval: 5s }'],
    });
    let readyAt = 0;
    const deadline = Date.now() + 20_000;
    while (!readyAt) {
      const d = await rx.next(Math.max(1, deadline - Date.now()));
      if (/^READY=1$/m.test(d.text)) readyAt = performance.now();
    }
    readyDelays.push(readyAt - rl.lastFromInstance());
    await w.stop();
    await rl.close();
  }
  await rx.close();
}
const readyMed = median(readyDelays);
const readyMax = Math.max(...readyDelays);
log(`   median ${f2(readyMed)} ms, p90 ${f2(percentile(readyDelays, 90))} ms, max ${f2(readyMax)} ms (target <= 20 ms: ${readyMax <= 20 ? 'met' : readyMed <= 20 ? 'met by the median, not by the max' : 'MISSED'})`);
log(`   runs: ${readyDelays.map(f2).join(', ')}`);

// ---------------------------------------------------------------------------------------------------------
// the record

const load1 = os.loadavg();
log('');
log(`load average at the end: ${load1.map(f2).join(' ')} (${os.cpus().length} CPUs): tails (p99, max) grow with other jobs on the machine`);

if (!values['no-write']) {
  const md = `# znotify benchmark figures

Measured by \`bench/znotify.ts\` (\`pnpm build && node --import tsx bench/znotify.ts\`) on ${new Date().toISOString().slice(0, 10)}:
node ${process.version}, ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? 'unknown'}), Linux ${os.release()}. Children run without
NODE_EXTRA_CA_CERTS. Every figure sits beside a baseline measured in the same run. Re-running overwrites this file.
Load average (1/5/15 min) at the start ${load0.map(f2).join(' ')}, at the end ${load1.map(f2).join(' ')}: this machine is shared with other
jobs, so tails (p99, max) carry their noise; the baselines measured alongside carry the same.

## 1. Memory after a long run of checks

The wrapper supervised the sample instance (waitress, one thread) with three checks every ${INTERVAL_MS} ms (http \`/\`, tcp,
zeo \`ruok\` against the ZEO stub), an agent-check every 10 ms from the benchmark, and WATCHDOG=1 every 500 ms to a
real datagram receiver, for ${RSS_SECONDS} s per run. VmRSS of the wrapper process alone (the instance is a separate
process); \`--trace-gc\` gives the JS heap left after each full GC.

| process | RSS |
|---|---|
| \`node -e 0\` (peak, ru_maxrss, median of 5) | ${f1(mib(nodeE0))} MiB |
| \`node -e "require('undici')"\` (peak, median of 5) | ${f1(mib(nodeUndici))} MiB (undici alone: +${f1(mib(nodeUndici - nodeE0))} MiB) |
| \`znotify check\` (the wrapper's whole module graph loaded, nothing run; peak, median of 5) | ${f1(mib(wrapperLoaded))} MiB |
${rssRuns.map((r) => `| \`znotify run\` ${r.flags.length ? `with \`${r.flags.join(' ')}\`` : '(as started)'}: ${r.checkRuns} check runs, ${r.agentAnswers} agent answers, ${r.wdPings} pings | ${r.readings.map((x) => `${f1(mib(x.rss))} @${x.at.toFixed(0)}s`).join(', ')} MiB; 2nd-half median ${f1(mib(r.steady))} MiB (peak ${f1(mib(Math.max(...r.readings.map((x) => x.hwm))))} MiB); heap after full GCs ${r.heapAfterGc.length ? `${f1(Math.min(...r.heapAfterGc))}-${f1(Math.max(...r.heapAfterGc))} MB used, ${f1(Math.min(...r.heapCommitted))}-${f1(Math.max(...r.heapCommitted))} MB committed` : 'n/a'} |`).join('\n')}

Ratio of the wrapper's final RSS to \`node -e 0\`: **${f2(rssRatio)}x** as started (with whatever V8 flags the wrapper sets
itself; the median of one sample a second over the second half: **${f2(steadyRatio)}x**), ${f2(rssRatioTuned)}x with \`--max-semi-space-size=1\` added on the node command line (target <= 1.3x: **${rssRatio <= 1.3 && steadyRatio <= 1.3 ? 'met' : rssRatioTuned <= 1.3 ? 'met only with --max-semi-space-size=1' : 'missed'}**). ${rssRatio <= 1.3 && steadyRatio <= 1.3 ? '' : `Where it goes: the wrapper's module graph (${wrapperDeps.join(', ')}) takes a Node
process to ${f2(wrapperLoaded / nodeE0)}x of \`node -e 0\` before a single check runs (undici alone, for reference: ${f2(nodeUndici / nodeE0)}x;
the wrapper ${usesUndici ? 'loads it' : 'does not load it'}); the rest is heap and code the checks allocate at this rate
(${heapFlat === undefined ? `only ${gcs.length} full GC(s) in ${RSS_SECONDS} s, too few to judge a leak by the heap left after them; the RSS readings above are the better guide` : heapFlat ? 'the heap left after full GCs stays flat: no leak' : 'the heap left after full GCs GREW: a leak is possible, see the figures'}).${usesUndici ? ` 1.3x is out of
reach while undici is loaded: it would need the http checks on \`node:http\`.` : ''}`}

## 2. Health-answer latency while the instance's only thread is busy

The sample instance (one worker thread) served \`/slow?seconds=120\` during the measurement, so the wrapper's own root
check kept timing out while TCP connected (busy: ${busySeen ? 'yes, throughout' : 'NOT confirmed'}). ${REQUESTS} sequential requests per server in
${ROUNDS} rounds that interleave the servers (other jobs share this machine; interleaving gives them the same noise), a new
TCP connection per request (as HAProxy's checks do), timed by a blocking python3 client from connect to the server's close
(a Node client in the benchmark process measured mostly its own GC: p99 ~3 ms even against the bare server).
The bare baseline is a separate \`node -e\` process answering the same bytes with no logic.

| server | p50 | p99 (all requests) | median of the round p99s | max |
|---|---|---|---|---|
${KEYS.map((k) => `| ${k} | ${f3(median(lat[k]!))} ms | ${f3(percentile(lat[k]!, 99))} ms | ${f3(median(roundP99[k]!))} ms | ${f3(Math.max(...lat[k]!))} ms |`).join('\n')}

Target p99 <= 1 ms: agent **${agentP99 <= 1 ? 'met' : 'missed'}** (${f3(agentP99)} ms), HTTP **${httpP99 <= 1 ? 'met' : 'missed'}** (${f3(httpP99)} ms).

## 3. Last warm-up success to READY=1

${READY_RUNS} starts of the wrapper with NOTIFY_SOCKET at a real datagram receiver (test/harness/dgram-receiver.ts).
The wrapper's \`http:\` address was a TCP relay in the benchmark process that notes when the instance's last bytes
pass; the receiver notes READY=1; both on this process's performance.now(). The figure therefore includes the relay
hop and this process's event-loop delay, i.e. it is an upper bound.

| median | p90 | max |
|---|---|---|
| ${f2(readyMed)} ms | ${f2(percentile(readyDelays, 90))} ms | ${f2(readyMax)} ms |

Target <= 20 ms: **${readyMax <= 20 ? 'met' : readyMed <= 20 ? 'met by the median, not by every run' : 'missed'}**. Runs: ${readyDelays.map(f2).join(', ')} ms.
`;
  fs.mkdirSync(path.join(REPO, 'docs/benchmarks'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'docs/benchmarks/znotify.md'), md);
  log('');
  log('written: docs/benchmarks/znotify.md');
}
