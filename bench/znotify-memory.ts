// znotify's steady-state memory. The headline is the wrapper's private (anonymous) memory, RssAnon: what each
// more wrapper costs a host (the file-backed rest, node's binary and libraries, is shared by every Node
// process). Target: at most 16 MiB with checks every second, and flat over a long run (10 minutes: the last
// quarter's median, over a sample a second, less than 1 MiB above the second quarter's). VmRSS and its ratio to a bare `node -e 0` measured in the same run
// are printed as context.
//
// One round = one wrapper run + one bare Node run, back to back on the same machine:
//   - the built wrapper (`node packages/notify/dist/znotify/cli.js run ...`, exactly as bench/znotify.ts and
//     `[node, cli.js]` ExecStart= prefixes start it) supervises a real HTTP peer: the waitress sample instance
//     (/usr/bin/python3 sample/instance.py, one thread) or, with --peer node (or without waitress), a node:http
//     server; warm-up of /Plone, then checks every --interval-ms (http /, tcp, and zeo `ruok` against
//     sample/zeo_server.py when python3 is there) for --seconds, an agent-check every --agent-ms (10) from this process,
//     and WATCHDOG=1 every 500 ms to a real datagram receiver (so the notify path, koffi included, is loaded);
//   - VmRSS and VmHWM of the wrapper process (/proc/PID/status) at 25/50/75/100 % of the run, RssAnon once a second;
//   - the baseline: bare `node -e "setTimeout(()=>{},3000)"`, VmRSS sampled after 2.5 s.
//   - the floor (bench/znotify-floor.mjs, unless --skip-floor): a hand-written minimum that does the same resident
//     work with the same V8 flags and notify transport, and nothing else. It says how much of the ratio is Node
//     doing this work at all, and how much is the wrapper's own weight (printed as "over the floor").
// Figures: median over --runs rounds of the final VmRSS, VmHWM and the per-round ratio wrapper / bare node.
// Several --cli paths (e.g. a copy of an older build) or --flags variants run interleaved in each round, so
// before/after comparisons see the same machine (it is shared with other jobs: medians, same-run baselines).
//
//   pnpm build && node --import tsx bench/znotify-memory.ts [--runs 5] [--seconds 30] [--interval-ms 10]
//        [--agent-ms 10] [--peer waitress|node] [--cli path/to/cli.js ...] [--flags=--some-v8-flag ...] [--flags= (none)] [--smaps] [--imports]
//        [--skip-floor] [--heap-live] [--json]
//
// --heap-live: the wrapper's live JS heap from a heap snapshot (after V8's full GC) at 25/50/75/100 %: the
//   leak test, independent of where the old generation's sawtooth happens to be at a sample. Writing a snapshot
//   costs the process tens of MiB of malloc it keeps, so RssAnon figures of such a run are not the headline.
// --smaps: where the wrapper's RSS sits at the end (node binary pages, anonymous = V8 heap + malloc, libraries).
// --imports: first, what loading each dependency alone costs a Node process (VmRSS 1.2 s after start, beside
//   bare node in the same rounds): undici, pino, yaml, commander, koffi, node:http, and the wrapper's modules.
//
// Children run without NODE_EXTRA_CA_CERTS (when set: +1.7 MiB per Node start, docs/dev/FACTS.md) and
// without NODE_OPTIONS. Everything started here is stopped by pid, also when the benchmark fails.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDgramReceiver } from '../test/harness/dgram-receiver.js';
import { freePort } from '../test/harness/net.js';
import { instanceArgv, sampleSkipReason, SAMPLE_PYTHON, startPeer, zeoServerArgv } from '../test/harness/proc.js';
import { childEnv, exitedError, f1, f2, log, median, mib, outputTail, procStatus } from './lib.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_CLI = path.join(REPO, 'packages/notify/dist/znotify/cli.js');
const FLOOR = path.join(REPO, 'bench/znotify-floor.mjs');
const FLOOR_LABEL = 'floor (bench/znotify-floor.mjs)';
const NODE = process.execPath;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '30' },
    'interval-ms': { type: 'string', default: '10' },
    'agent-ms': { type: 'string', default: '10' },
    peer: { type: 'string' },
    cli: { type: 'string', multiple: true },
    flags: { type: 'string', multiple: true },
    json: { type: 'boolean', default: false },
    smaps: { type: 'boolean', default: false },
    imports: { type: 'boolean', default: false },
    'skip-floor': { type: 'boolean', default: false },
    'heap-live': { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const INTERVAL_MS = Number(values['interval-ms']);
// HAProxy with `inter 1s` makes two connections a second to the agent port (the check and the agent-check);
// the default, one every 10 ms, is a flood a hundred times that.
const AGENT_MS = Number(values['agent-ms']);
const waitressMissing = sampleSkipReason();
const PEER = values.peer ?? (waitressMissing ? 'node' : 'waitress');
if (PEER === 'waitress' && waitressMissing) throw new Error(`--peer waitress: ${waitressMissing}`);
const ZEO = fs.existsSync(SAMPLE_PYTHON);

interface Variant { label: string; cli: string; flags: string[] }
const clis = values.cli?.length ? values.cli.map((c) => path.resolve(c)) : [DEFAULT_CLI];
const flagSets = values.flags?.length ? values.flags.map((f) => f.split(/\s+/).filter(Boolean)) : [[]];
const variants: Variant[] = clis.flatMap((cli) => flagSets.map((flags) => ({
  label: `${path.relative(REPO, cli).startsWith('..') ? cli : path.relative(REPO, cli)}${flags.length ? ` ${flags.join(' ')}` : ''}`,
  cli, flags,
})));
if (!values['skip-floor']) variants.push({ label: FLOOR_LABEL, cli: FLOOR, flags: [] });
for (const v of variants) {
  if (!fs.existsSync(v.cli)) { process.stderr.write(`${v.cli} is missing: run \`pnpm build\` first\n`); process.exit(1); }
}

/**
 * Where a process's resident memory sits (/proc/PID/smaps): the binary and libraries (file-backed), glibc's
 * main heap ([heap], brk), thread stacks, and anonymous mappings (V8's heap pages, glibc's thread arenas,
 * mmap'ed malloc chunks), the largest listed with their size. KiB.
 */
function smapsBreakdown(pid: number): string {
  const text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const groups: Record<string, number> = {};
  const anon: { size: number; rss: number; range: string }[] = [];
  let cur: { range: string; name: string; size: number } | undefined;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) { cur = { range: head[1]!, name: head[2]!.trim(), size: 0 }; continue; }
    const m = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (!m || !cur) continue;
    if (m[1] === 'Size') { cur.size = Number(m[2]); continue; }
    const rss = Number(m[2]);
    const g = cur.name === '' ? 'anonymous' : cur.name.startsWith('/') ? (cur.name.endsWith('/node') || cur.name === process.execPath ? 'node binary' : 'libraries/files') : cur.name;
    groups[g] = (groups[g] ?? 0) + rss;
    if (cur.name === '') anon.push({ size: cur.size, rss, range: cur.range });
  }
  anon.sort((a, b) => b.rss - a.rss);
  return Object.entries(groups).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${f1(mib(v))}`).join(', ')
    + `; largest anonymous (rss/size MiB): ${anon.slice(0, 8).map((a) => `${f1(mib(a.rss))}/${f1(mib(a.size))}`).join(' ')}`;
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat (USER_HZ = 100 on Linux). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-bench-znotify-mem-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

// The node:http peer: answers / at once and /Plone with a page, like a warm instance.
const NODE_PEER = `
const http = require('node:http');
http.createServer((q, r) => {
  const b = q.url.startsWith('/Plone') ? '<html><body>Plone</body></html>' : 'ok';
  r.writeHead(200, { 'content-type': 'text/html', 'content-length': b.length }); r.end(b);
}).listen(+process.argv[1], '127.0.0.1', () => console.log('instance: serving on', process.argv[1]));
process.on('SIGTERM', () => process.exit(0));
`;

function agentOnce(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('data', () => {});
    s.once('error', () => resolve());
    s.once('close', () => resolve());
  });
}

async function httpGet(port: number, p: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(2000) });
  return { status: r.status, text: await r.text() };
}

interface Sample { at: number; rss: number; hwm: number; anon: number; file: number; heapLive?: number }

// --heap-live: the wrapper's live JavaScript heap at 25/50/75/100 %, from a heap snapshot (V8 runs a full
// GC before it writes one), so garbage waiting for the next full GC does not count. A leak shows as live bytes
// that grow; RssAnon alone cannot tell a leak from an old generation that has not been collected yet.
const HEAP_SIGNAL = 'SIGURG';

/** The sum of every node's self size in a V8 heap snapshot (bytes): what was live after its full GC. */
function snapshotLiveBytes(file: string): number {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = snap.snapshot.meta.node_fields;
  const at = fields.indexOf('self_size');
  let sum = 0;
  for (let i = at; i < snap.nodes.length; i += fields.length) sum += snap.nodes[i]!;
  return sum;
}

/** Signals `pid` to write a heap snapshot into `dir` and returns its live bytes once the file is complete. */
async function heapLive(pid: number, dir: string): Promise<number> {
  const before = new Set(fs.readdirSync(dir));
  process.kill(pid, HEAP_SIGNAL);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const fresh = fs.readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (fresh.length) {
      const file = path.join(dir, fresh[0]!);
      // The snapshot is written by the main thread in one go; it is whole once its JSON parses.
      try { const live = snapshotLiveBytes(file); fs.rmSync(file); return live; } catch { /* still being written */ }
    }
    if (Date.now() > deadline) throw new Error(`no heap snapshot from pid ${pid} in ${dir} within 60 s`);
    await sleep(200);
  }
}
/** Private memory (RssAnon, KiB) per quarter of the run, from one sample a second: median, lowest, highest. */
interface Quarter { median: number; min: number; max: number }
interface WrapperRun { samples: Sample[]; quarters: Quarter[]; steady: number; steadyAnon: number; cpu: number; checkRuns: number; agentAnswers: number; wdPings: number; datagrams: number; smaps?: string }

async function wrapperRun(v: Variant): Promise<WrapperRun> {
  const [ip, ap, hp, zp] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const zeo = ZEO ? await startPeer(zeoServerArgv({ port: zp }), { name: 'zeo', env: childEnv(), ready: { tcp: zp } }) : undefined;
  const rx = await startDgramReceiver();
  let datagrams = 0;
  let draining = true;
  const drain = (async () => { while (draining) { try { await rx.next(200); datagrams++; } catch { /* idle */ } } })();
  const cfg = path.join(tmp, `w${ip}.yaml`);
  fs.writeFileSync(cfg, [
    'name: mem',
    `http: 127.0.0.1:${ip}`,
    'warmup:', '  budget: 60s', '  interval: 50ms', '  urls:', '    - { path: /Plone, text: "</html>", timeout: 30s }',
    'health:', `  agent: 127.0.0.1:${ap}`, `  http: 127.0.0.1:${hp}`,
    'checks:',
    `  - { name: root, type: http, path: /, interval: ${INTERVAL_MS}ms, timeout: 1s }`,
    `  - { name: port, type: tcp, interval: ${INTERVAL_MS}ms, timeout: 1s }`,
    ...(zeo ? [`  - { name: zeo, type: zeo, address: 127.0.0.1:${zp}, interval: ${INTERVAL_MS}ms, timeout: 1s }`] : []),
    'watchdog:', '  database-grace: 1h', '  hang-timeout: 1h',
    'stop:', '  drain: 0s', '  timeout: 3s',
    'log:', '  level: warn', '',
  ].join('\n'));
  // The same settings for the floor, which has no YAML parser (bench/znotify-floor.mjs).
  fs.writeFileSync(cfg.replace(/\.yaml$/, '.json'), JSON.stringify({ http: ip, agent: ap, health: hp, intervalMs: INTERVAL_MS, warmup: '/Plone', ...(zeo ? { zeo: zp } : {}) }));
  const peer = PEER === 'waitress'
    ? instanceArgv({ port: ip, threads: 1, warmupSeconds: 0 })
    : [NODE, '-e', NODE_PEER, String(ip)];
  const heapDir = fs.mkdtempSync(path.join(tmp, 'heap-'));
  const heapFlags = values['heap-live'] && v.label !== FLOOR_LABEL ? [`--heapsnapshot-signal=${HEAP_SIGNAL}`] : [];
  const w = await startPeer([NODE, ...v.flags, ...heapFlags, v.cli, 'run', '--config', cfg, '--', ...peer],
    { name: v.label, cwd: heapDir, env: { ...childEnv(), NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '1000000' } });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const gone = exitedError(w, 'wrapper');
      if (gone) throw gone;
      if ((await httpGet(hp, '/health/ready').catch(() => ({ status: 0 }))).status === 200) break;
      if (Date.now() > deadline) throw new Error(`wrapper not ready within 30 s:\n${outputTail(w)}`);
      await sleep(50);
    }
    let agentAnswers = 0;
    let agentLoop = true;
    const agents = (async () => { while (agentLoop) { await agentOnce(ap); agentAnswers++; await sleep(AGENT_MS); } })();
    const cpu0 = cpuSeconds(w.pid);
    const samples: Sample[] = [];
    const steady: number[] = [];
    const steadyAnon: number[] = [];
    const byQuarter: number[][] = [[], [], [], []];
    const t0 = Date.now();
    // The reported samples at 25/50/75/100 %, and one a second throughout: V8's old generation grows in a
    // sawtooth between full GCs, so one sample lands anywhere on it. The second half's median is the steady
    // level; a leak shows as a quarter's median (and its lowest, the level right after a full GC) rising.
    const marks = [0.25, 0.5, 0.75, 1].map((frac) => ({ at: frac * SECONDS * 1000, report: true }));
    for (let at = 1000; at < SECONDS * 1000; at += 1000) marks.push({ at, report: false });
    marks.sort((a, b) => a.at - b.at);
    for (const m of marks) {
      await sleep(Math.max(0, t0 + m.at - Date.now()));
      const st = procStatus(w.pid);
      if (m.at >= SECONDS * 500) { steady.push(st.rss); steadyAnon.push(st.anon); }
      byQuarter[Math.min(3, Math.floor(m.at / (SECONDS * 250)))]!.push(st.anon);
      if (m.report) samples.push({ at: (Date.now() - t0) / 1000, ...st, ...(heapFlags.length ? { heapLive: await heapLive(w.pid, heapDir) } : {}) });
    }
    const quarters = byQuarter.map((q) => ({ median: median(q), min: Math.min(...q), max: Math.max(...q) }));
    const smaps = values.smaps ? smapsBreakdown(w.pid) : undefined;
    const cpu = cpuSeconds(w.pid) - cpu0;
    agentLoop = false;
    await agents;
    const metrics = (await httpGet(hp, '/metrics')).text;
    const sum = (name: string) => [...metrics.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    const gone = exitedError(w, 'wrapper', 'during the run');
    if (gone) throw gone;
    return { samples, quarters, steady: median(steady), steadyAnon: median(steadyAnon), cpu, checkRuns: sum('znotify_check_runs_total'), agentAnswers, wdPings: sum('znotify_watchdog_pings_total'), datagrams, ...(smaps ? { smaps } : {}) };
  } finally {
    await w.stop();
    if (zeo) await zeo.stop();
    draining = false;
    await drain;
    await rx.close();
  }
}

async function bareRun(): Promise<Sample> {
  const p = await startPeer([NODE, '-e', 'setTimeout(()=>{},3000)'], { name: 'bare node', env: childEnv() });
  await sleep(2500);
  const s = { at: 2.5, ...procStatus(p.pid) };
  await p.stop();
  return s;
}

/** VmRSS (KiB) of `node <args>` 1.2 s after start (the process idles in a timer; killed after reading). */
async function idleRss(args: string[]): Promise<number> {
  const p = await startPeer([NODE, ...args], { name: `node ${args.join(' ')}`, env: childEnv() });
  await sleep(1200);
  const { rss } = procStatus(p.pid);
  await p.stop();
  return rss;
}

async function importCosts(rounds: number): Promise<void> {
  const pkg = path.join(REPO, 'packages/notify/package.json');
  const dist = path.join(REPO, 'packages/notify/dist');
  const idle = 'setTimeout(() => {}, 3000)';
  const req = (m: string) => ['-e', `require(require('node:module').createRequire(${JSON.stringify(pkg)}).resolve(${JSON.stringify(m)})); ${idle}`];
  const imp = (f: string) => ['--input-type=module', '-e', `await import(${JSON.stringify(path.join(dist, f))}); ${idle}`];
  const cases: [string, string[]][] = [
    ['bare node', ['-e', idle]],
    ['node:http', ['-e', `require('node:http'); ${idle}`]],
    ['undici', req('undici')],
    ['pino', req('pino')],
    ['yaml', req('yaml')],
    ['commander', req('commander')],
    ['koffi', req('koffi')],
    ['@zope-systemd/notify (dist/index.js)', imp('index.js')],
    ['znotify config.js (yaml)', imp('znotify/config.js')],
    ['znotify log.js (pino)', imp('znotify/log.js')],
    ['znotify checks.js', imp('znotify/checks.js')],
    ['znotify run.js (all but cli/log)', imp('znotify/run.js')],
  ];
  const got = new Map<string, number[]>(cases.map(([k]) => [k, []]));
  for (let r = 0; r < rounds; r++) for (const [k, a] of cases) got.get(k)!.push(await idleRss(a));
  const base = median(got.get('bare node')!);
  log(`import costs: VmRSS 1.2 s after start, median of ${rounds} interleaved rounds, each module alone in a fresh process`);
  for (const [k] of cases) {
    const v = median(got.get(k)!);
    log(`   ${k.padEnd(38)} ${f1(mib(v)).padStart(5)} MiB  ${k === 'bare node' ? '' : `+${f1(mib(v - base))} MiB`}`);
  }
  log('');
}

// -----------------------------------------------------------------------------------------------------
const load0 = os.loadavg();
log(`znotify memory: node ${process.version}, ${os.cpus().length} CPU(s), ${new Date().toISOString()}, load ${load0.map(f2).join(' ')}`);
log(`${RUNS} rounds; each: the wrapper around the ${PEER === 'waitress' ? 'waitress sample instance (1 thread)' : 'node:http peer'} with checks every ${INTERVAL_MS} ms `
  + `(http /, tcp${ZEO ? ', zeo ruok' : ''}) for ${SECONDS} s, agent-check every ${AGENT_MS} ms, WATCHDOG=1 every 500 ms; then bare node -e "setTimeout(()=>{},3000)"`);

if (values.imports) await importCosts(Math.max(3, RUNS));
if (RUNS === 0) process.exit(0); // --imports --runs 0: only the import costs
const results = new Map<string, WrapperRun[]>(variants.map((v) => [v.label, []]));
const bare: Sample[] = [];
const ratios = new Map<string, number[]>(variants.map((v) => [v.label, []]));
const steadyRatios = new Map<string, number[]>(variants.map((v) => [v.label, []]));
for (let round = 0; round < RUNS; round++) {
  const b0 = await bareRun();
  const got: [Variant, WrapperRun][] = [];
  for (const v of variants) got.push([v, await wrapperRun(v)]);
  const b1 = await bareRun();
  const b = (b0.rss + b1.rss) / 2;
  bare.push(b0, b1);
  const line = [`round ${round + 1}: bare node ${f1(mib(b0.rss))}/${f1(mib(b1.rss))} MiB`];
  for (const [v, r] of got) {
    results.get(v.label)!.push(r);
    const last = r.samples[r.samples.length - 1]!;
    ratios.get(v.label)!.push(last.rss / b);
    steadyRatios.get(v.label)!.push(r.steady / b);
    line.push(`${v.label}: anonymous ${r.samples.map((s) => f1(mib(s.anon))).join(' ')} MiB; VmRSS ${r.samples.map((s) => f1(mib(s.rss))).join(' ')} MiB (HWM ${f1(mib(last.hwm))}; 2nd-half median ${f1(mib(r.steady))}), ${r.checkRuns} check runs, CPU ${f1(r.cpu)} s, ${f2(last.rss / b)}x (2nd half ${f2(r.steady / b)}x)`);
    const live = r.samples.filter((x) => x.heapLive !== undefined);
    if (live.length) line.push(`  live JS heap after a full GC (heap snapshot) at ${live.map((x) => `${f1(x.at)} s: ${f1(x.heapLive! / 1048576)} MiB`).join(', ')}; growth ${f1((live[live.length - 1]!.heapLive! - live[0]!.heapLive!) / 1024)} KiB`);
    line.push(`  anonymous per quarter, median (lowest-highest): ${r.quarters.map((q) => `${f1(mib(q.median))} (${f1(mib(q.min))}-${f1(mib(q.max))})`).join(' | ')} MiB`);
    if (r.smaps) line.push(`  smaps (MiB): ${r.smaps}`);
  }
  log(line.join('\n   '));
}

const bareMed = median(bare.map((s) => s.rss));
const bareAnon = median(bare.map((s) => s.anon));
log('');
log(`bare node -e "setTimeout(()=>{},3000)": VmRSS median ${f1(mib(bareMed))} MiB (${bare.length} runs, ${f1(mib(Math.min(...bare.map((s) => s.rss))))}-${f1(mib(Math.max(...bare.map((s) => s.rss))))}), of which anonymous (RssAnon) ${f1(mib(bareAnon))} MiB`);
const summary: Record<string, unknown> = { node: process.version, peer: PEER, seconds: SECONDS, intervalMs: INTERVAL_MS, runs: RUNS, bareMiB: mib(bareMed), bareAnonMiB: mib(bareAnon), variants: {} };
for (const v of variants) {
  const rs = results.get(v.label)!;
  const rss = median(rs.map((r) => r.samples[r.samples.length - 1]!.rss));
  const hwm = median(rs.map((r) => r.samples[r.samples.length - 1]!.hwm));
  const ratio = median(ratios.get(v.label)!);
  const steadyRss = median(rs.map((r) => r.steady));
  const steadyRatio = median(steadyRatios.get(v.label)!);
  const checks = median(rs.map((r) => r.checkRuns));
  const cpu = median(rs.map((r) => r.cpu));
  const floor = v.label === FLOOR_LABEL || !results.has(FLOOR_LABEL) ? undefined : median(results.get(FLOOR_LABEL)!.map((r) => r.steady));
  log(`${v.label}: final VmRSS median ${f1(mib(rss))} MiB (${f2(ratio)}x), 2nd-half VmRSS median ${f1(mib(steadyRss))} MiB (${f2(steadyRatio)}x), `
    + `VmHWM median ${f1(mib(hwm))} MiB, ${checks} check runs/run, CPU ${f1(cpu)} s/run`
    + `${floor === undefined ? '' : `, 2nd half +${f1(mib(steadyRss - floor))} MiB over the floor`}`
    + '; ratios to bare node are medians of the rounds (context only)');
  // What each more process costs a host: its anonymous pages. The file-backed rest (node's binary, libraries) is
  // shared by every wrapper on the host and by any other node process.
  const anon = median(rs.map((r) => r.steadyAnon));
  log(`   ${' '.repeat(v.label.length)}  2nd-half anonymous (RssAnon, this process's own) ${f1(mib(anon))} MiB = bare node's ${f1(mib(bareAnon))} MiB + ${f1(mib(anon - bareAnon))} MiB (${f2(anon / bareAnon)}x); file-backed, shared: ${f1(mib(steadyRss - anon))} MiB`);
  // The headline: private memory, and whether it stays flat: the last quarter's median against the second's
  // (the first quarter still holds start-up), each over a sample a second, so the sawtooth's phase at one
  // instant does not decide it.
  const anonFinal = median(rs.map((r) => r.samples[r.samples.length - 1]!.anon));
  const growth = median(rs.map((r) => r.quarters[3]!.median - r.quarters[1]!.median));
  const peak = median(rs.map((r) => Math.max(...r.quarters.map((q) => q.max))));
  const flat = growth < 1024;
  log(`   ${' '.repeat(v.label.length)}  PRIVATE (anonymous) memory: 2nd-half median ${f1(mib(anon))} MiB, final ${f1(mib(anonFinal))} MiB, highest ${f1(mib(peak))} MiB, `
    + `last quarter's median minus the second's ${f1(mib(growth))} MiB -> target <= 16 MiB ${anon <= 16 * 1024 ? 'met' : 'MISSED'}, flat (< 1 MiB growth) ${flat ? 'yes' : 'NO'}`);
  (summary.variants as Record<string, unknown>)[v.label] = { anonFinalMiB: mib(anonFinal), anonGrowthMiB: mib(growth), anonPeakMiB: mib(peak), rssMiB: mib(rss), steadyMiB: mib(steadyRss), steadyAnonMiB: mib(anon), steadyRatio, hwmMiB: mib(hwm), ratio, checkRuns: checks, cpuSeconds: cpu,
    rounds: rs.map((r, i) => ({ anonSamplesMiB: r.samples.map((s) => mib(s.anon)), anonQuartersMiB: r.quarters.map((q) => ({ median: mib(q.median), min: mib(q.min), max: mib(q.max) })), samplesMiB: r.samples.map((s) => mib(s.rss)), hwmMiB: mib(r.samples[r.samples.length - 1]!.hwm), ratio: ratios.get(v.label)![i], checkRuns: r.checkRuns, agentAnswers: r.agentAnswers, wdPings: r.wdPings })) };
}
log(`load at the end ${os.loadavg().map(f2).join(' ')}`);
if (values.json) log(JSON.stringify(summary));
