// zstack figures (BENCHMARKS.md, docs/benchmarks/stack.md), in a disposable systemd 252 behind a real HAProxy:
//   1. status latency for a 16-client stack: `zstack status --json` wall time (a fresh process, as an operator
//      or a monitoring script runs it) and one in-process gatherStatus() (what each --watch refresh costs),
//      against `node -e 0` measured the same way in the same run. Target: < 200 ms.
//      Also, same run: the unbundled program (dist/bin.js), the bundle without its code caches (dist/cli.cjs,
//      dist/zstack.cjs and dist/zstack-parser.cjs copied apart, without their .cache files) and the bin with its model
//      cache missing every time (a --run-dir whose model-cache directory others may write: never read, never written)
//      against the bin (dist/cli.cjs, its model cache found), and where one refresh spends its time (the units over
//      systemd's private socket, and through systemctl show for comparison; the Runtime API exchange, the
//      /health?memory GETs, each alone); and a fresh process that only reads the units, over the socket against
//      spawning systemctl.
//   2. rollout wall time of 3 clients: `zstack rollout` against the hand-driven sequence operators script today
//      (drain over the Runtime API, fixed sleep, systemctl restart, fixed sleep, ready), on the same clients.
// Usage: node --import tsx bench/stack.ts [--clients 16] [--rounds 15] [--rollouts 3] [--drain-sleep 10] [--up-sleep 20] [--skip-rollout]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BOX_NODE, bootBox, type Box } from '../test/harness/box.js';
import { startHaproxy, type Haproxy } from '../test/harness/haproxy.js';
import { freePort } from '../test/harness/net.js';
import { portBase } from '../test/fixtures/unitgen/stack.js';
import { stackYaml, STACK, BACKEND } from '../test/fixtures/stack/stack.js';
import { f1, log, median } from './lib.js';
import { REPO_ROOT, SAMPLE_PYTHON } from '../test/harness/proc.js';

const { values: o } = parseArgs({ options: {
  clients: { type: 'string', default: '16' }, rounds: { type: 'string', default: '15' }, rollouts: { type: 'string', default: '3' },
  'drain-sleep': { type: 'string', default: '10' }, 'up-sleep': { type: 'string', default: '20' }, 'skip-rollout': { type: 'boolean', default: false },
} });
const N = Number(o.clients);

/**
 * Wall and CPU times (ms) of `argv` run `rounds` times inside the box, measured inside (no nsenter in the
 * figure). CPU is user + system of the process and of the children it waited for (systemctl), from wait4(2)'s
 * rusage in microseconds: on a shared machine under load the wall time mostly measures the queue for the CPUs,
 * the CPU time what the command itself costs.
 */
async function timed(box: Box, argv: string[], rounds: number): Promise<{ wall: number[]; cpu: number[] }> {
  const script = [
    'import json, os, subprocess, sys, time',
    'argv = json.loads(sys.argv[1]); env = dict(os.environ); env.pop("NODE_EXTRA_CA_CERTS", None); wall = []; cpu = []',
    `for _ in range(${rounds}):`,
    '    t = time.perf_counter(); p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)',
    '    _, status, ru = os.wait4(p.pid, 0); p.returncode = os.waitstatus_to_exitcode(status)',
    '    wall.append((time.perf_counter() - t) * 1000); cpu.append((ru.ru_utime + ru.ru_stime) * 1000)',
    '    if p.returncode not in (0, 1): raise SystemExit("exit %d" % p.returncode)',
    'print(json.dumps({"wall": wall, "cpu": cpu}))',
  ].join('\n');
  const r = await box.exec([SAMPLE_PYTHON, '-c', script, JSON.stringify(argv)], { timeoutMs: 600_000 });
  return JSON.parse(r.stdout) as { wall: number[]; cpu: number[] };
}

/** In the box: one gatherStatus() (a --watch refresh) and each of its parts alone, `rounds` times each after 3 to warm up. */
function refreshScript(repo: string, file: string, socket: string, rounds: number): string {
  return `import http from 'node:http';` +
    `import { loadStack, gatherStatus, LocalSystemd, RuntimeApi, wrapperHealth } from '${repo}/packages/stack/dist/index.js';` +
    `const s = loadStack(${JSON.stringify(file)}); const systemd = new LocalSystemd(); const lb = new RuntimeApi(${JSON.stringify(socket)}); const d = { stack: s, systemd, lb };` +
    `const spawning = new LocalSystemd(['systemctl'], 'this machine', false);` +
    `const units = [s.target, ...s.servers, ...s.clients.map((c) => c.unit)];` +
    `const plain = (a) => new Promise((ok, no) => http.get({ host: a.host, port: a.port, path: '/health', agent: false }, (r) => { r.resume(); r.on('end', ok); }).on('error', no));` +
    `const time = async (f) => { const out = []; for (let i = 0; i < ${rounds + 3}; i++) { const t = performance.now(); await f(); out.push(performance.now() - t); } return out.slice(3); };` +
    `let rows = 0, noMemory = 0;` +
    `const r = { refresh: await time(async () => { const x = await gatherStatus(d); if (x.clients.length !== s.clients.length) throw new Error('rows'); rows += x.clients.length; noMemory += x.clients.filter((c) => !c.memory).length; }),` +
    ` bus: await time(() => systemd.show(units)), show: await time(() => spawning.show(units)), haproxy: await time(() => lb.servers(s.model.haproxy.backend)),` +
    ` via: [systemd.lastShow.via === 'private-bus' && spawning.lastShow.via === 'systemctl' ? 1 : 0],` +
    ` health: await time(() => Promise.all(s.clients.map((c) => wrapperHealth(c.health)))), healthPlain: await time(() => Promise.all(s.clients.map((c) => plain(c.health.http)))) };` +
    `console.log(JSON.stringify({ ...r, rows: [rows], noMemory: [noMemory] }));`;
}

/**
 * A fresh process that only reads the stack's units (the LocalSystemd module and what it imports, no stack file):
 * over systemd's private socket, spawning systemctl, and `node -e 0`, interleaved: what the socket saves a fresh
 * `zstack status`, without the rest of its work around it.
 */
async function freshShow(box: Box, file: string, rounds: number): Promise<void> {
  const units = (await box.exec([BOX_NODE, '--input-type=module', '-e', `import { loadStack } from '${box.repo}/packages/stack/dist/index.js'; ` +
    `const s = loadStack(${JSON.stringify(file)}); console.log(JSON.stringify([s.target, ...s.servers, ...s.clients.map((c) => c.unit)]));`])).stdout.trim();
  const script = (bus: boolean) => `import { LocalSystemd } from '${box.repo}/packages/stack/dist/systemd.js'; ` +
    `const s = new LocalSystemd(['systemctl'], 'this machine', ${bus ? '{}' : 'false'}); await s.show(${units}); ` +
    `if (s.lastShow.via !== '${bus ? 'private-bus' : 'systemctl'}') throw new Error(JSON.stringify(s.lastShow));`;
  const bus = { wall: [] as number[], cpu: [] as number[] }, ctl = { wall: [] as number[], cpu: [] as number[] }, bare = { wall: [] as number[], cpu: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    for (const [into, argv] of [[bus, [BOX_NODE, '--input-type=module', '-e', script(true)]], [ctl, [BOX_NODE, '--input-type=module', '-e', script(false)]], [bare, [BOX_NODE, '-e', '0']]] as const) {
      const r = await timed(box, [...argv], 1);
      into.wall.push(...r.wall); into.cpu.push(...r.cpu);
    }
  }
  const m = (x: { wall: number[]; cpu: number[] }) => `${f1(median(x.wall))} ms (CPU ${f1(median(x.cpu))} ms)`;
  log(`a fresh process reading the ${JSON.parse(units).length} units alone: over systemd's private socket ${m(bus)}, spawning systemctl show ${m(ctl)}, node -e 0 ${m(bare)}`);
}

async function main(): Promise<void> {
  const box = await bootBox();
  let hx: Haproxy | undefined;
  try {
    const taken = new Set<number>();
    const zeo = (await portBase(1, taken)) + 1;
    const httpBase = await portBase(N, taken), agentBase = await portBase(N, taken), healthBase = await portBase(N, taken);
    await box.exec(['install', '-d', '-o', box.user.name, '-g', box.user.name, '/srv/zstack-test', '/srv/zstack-test/var']);
    const socket = path.join(box.shared, 'haproxy.sock');
    const file = path.join(box.shared, 'stack.yaml');
    fs.writeFileSync(file, stackYaml({ count: N, warmupSeconds: 1, zeo, httpBase, agentBase, healthBase, repo: box.repo, socket }));
    await box.exec([BOX_NODE, `${box.repo}/packages/unitgen/dist/cli.js`, 'generate', file, '--out', '/etc/systemd/system']);
    await box.systemctl('daemon-reload');
    const snippet = (await box.exec(['cat', `/etc/systemd/system/haproxy-${STACK}.cfg`])).stdout;
    const front = await freePort();
    hx = await startHaproxy({ statsSocket: socket, config: ['global', '', 'defaults', '  mode http', '  timeout connect 1s', '  timeout client 30s', '  timeout server 30s', '  timeout check 1s', '',
      'frontend fe', `  bind 127.0.0.1:${front}`, `  default_backend ${BACKEND}`, '', snippet].join('\n') });
    const t0 = Date.now();
    await box.exec(['systemctl', 'start', `${STACK}.target`], { timeoutMs: 900_000 });
    log(`${N}-client stack started in ${f1((Date.now() - t0) / 1000)} s (one client after the other, each after READY)`);
    const cli = `${box.repo}/packages/stack/dist/cli.cjs`;
    await timed(box, [BOX_NODE, cli, 'status', '--json', file], 3); // warm the page cache; the first run stores the model
    const rounds = Number(o.rounds);
    const unbundled = `${box.repo}/packages/stack/dist/bin.js`;
    await timed(box, [BOX_NODE, unbundled, 'status', '--json', file], 2);
    const noCacheDir = path.join(box.shared, 'no-code-cache');
    fs.mkdirSync(noCacheDir);
    for (const f of ['cli.cjs', 'zstack.cjs', 'zstack-parser.cjs']) fs.copyFileSync(path.join(REPO_ROOT, 'packages/stack/dist', f), path.join(noCacheDir, f));
    const noCache = path.join(noCacheDir, 'cli.cjs');
    await timed(box, [BOX_NODE, noCache, 'status', '--json', file], 2);
    // A run directory whose model-cache others may write: zstack neither reads nor writes it, every run parses.
    const missDir = '/run/zstack-bench-miss';
    await box.exec(['install', '-d', '-m', '0777', `${missDir}/model-cache`]);
    const miss = [BOX_NODE, cli, '--run-dir', missDir, 'status', '--json', file];
    // Interleaved, so that a change in the machine's load falls on all five alike.
    const status: number[] = [], bare: number[] = [], plain: number[] = [], cold: number[] = [], parsed: number[] = [];
    const statusCpu: number[] = [], bareCpu: number[] = [], plainCpu: number[] = [], coldCpu: number[] = [], parsedCpu: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const a = await timed(box, [BOX_NODE, cli, 'status', '--json', file], 1);
      const b = await timed(box, [BOX_NODE, '-e', '0'], 1);
      const c = await timed(box, [BOX_NODE, unbundled, 'status', '--json', file], 1);
      const d = await timed(box, [BOX_NODE, noCache, 'status', '--json', file], 1);
      const e = await timed(box, miss, 1);
      status.push(...a.wall); statusCpu.push(...a.cpu); bare.push(...b.wall); bareCpu.push(...b.cpu); plain.push(...c.wall); plainCpu.push(...c.cpu);
      cold.push(...d.wall); coldCpu.push(...d.cpu); parsed.push(...e.wall); parsedCpu.push(...e.cpu);
    }
    log(`load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    log(`status, ${N} clients: zstack status --json ${f1(median(status))} ms median (min ${f1(Math.min(...status))}, max ${f1(Math.max(...status))}), ` +
      `node -e 0 ${f1(median(bare))} ms (${f1(median(status) / median(bare))}x); unbundled (dist/bin.js) ${f1(median(plain))} ms (${f1(median(plain) / median(bare))}x); ` +
      `bundle without its code caches ${f1(median(cold))} ms (${f1(median(cold) / median(bare))}x); ` +
      `model cache missed ${f1(median(parsed))} ms (${f1(median(parsed) / median(bare))}x); target < 200 ms`);
    log(`  CPU time (user + system, with the systemctl it runs): zstack status ${f1(median(statusCpu))} ms, node -e 0 ${f1(median(bareCpu))} ms ` +
      `(${f1(median(statusCpu) / median(bareCpu))}x), unbundled ${f1(median(plainCpu))} ms (${f1(median(plainCpu) / median(bareCpu))}x), ` +
      `without the code caches ${f1(median(coldCpu))} ms (${f1(median(coldCpu) / median(bareCpu))}x), ` +
      `model cache missed ${f1(median(parsedCpu))} ms (${f1(median(parsedCpu) / median(bareCpu))}x)`);
    await freshShow(box, file, rounds);
    const parts = JSON.parse((await box.exec([BOX_NODE, '--input-type=module', '-e', refreshScript(box.repo, file, socket, rounds)], { timeoutMs: 600_000 })).stdout) as Record<string, number[]>;
    log(`load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; rows without memory (a /health?memory later than 500 ms): ${parts.noMemory![0]} of ${parts.rows![0]}`);
    if (parts.via![0] !== 1) throw new Error('the refresh did not read systemd over its private socket (or the reference not through systemctl)');
    log(`one refresh in-process (--watch): ${f1(median(parts.refresh!))} ms median (${f1(median(parts.refresh!) / median(bare))}x node -e 0); alone: ` +
      `${N + 2} units over systemd's private socket ${f1(median(parts.bus!))} ms (systemctl show of them ${f1(median(parts.show!))} ms), ` +
      `Runtime API show stat ${f1(median(parts.haproxy!))} ms, ${N} x GET /health?memory in parallel ${f1(median(parts.health!))} ms, ` +
      `${N} x GET /health (no memory) ${f1(median(parts.healthPlain!))} ms`);
    if (o['skip-rollout']) return;

    // Rollout of client1..3: zstack against the hand-driven sequence with fixed sleeps.
    const three = ['client1', 'client2', 'client3'];
    const zs: number[] = [];
    for (let i = 0; i < Number(o.rollouts); i++) {
      const t = Date.now();
      const r = await box.exec([BOX_NODE, cli, 'rollout', file, ...three], { timeoutMs: 600_000, allowFail: true });
      if (r.code !== 0) throw new Error(`zstack rollout exited ${r.code}: ${r.stderr}`);
      zs.push(Date.now() - t);
    }
    const ds = Number(o['drain-sleep']), us = Number(o['up-sleep']);
    const hand = three.map((c) => [
      `echo "set server ${BACKEND}/${c} state drain" | socat - UNIX-CONNECT:${socket} >/dev/null 2>&1 || ${BOX_NODE} -e "require('net').connect('${socket}').end('set server ${BACKEND}/${c} state drain\\n')"`,
      `sleep ${ds}`, `systemctl restart ${STACK}-${c}.service`, `sleep ${us}`,
      `${BOX_NODE} -e "require('net').connect('${socket}').end('set server ${BACKEND}/${c} state ready\\n')"`].join(' && ')).join(' && ');
    const th = Date.now();
    await box.exec(['sh', '-c', hand], { timeoutMs: 900_000 });
    const handMs = Date.now() - th;
    log(`rollout of 3 clients: zstack ${f1(median(zs) / 1000)} s median of ${zs.length} (${zs.map((x) => f1(x / 1000)).join(', ')}); ` +
      `hand-driven (drain, sleep ${ds}, systemctl restart, sleep ${us}, ready) ${f1(handMs / 1000)} s: zstack takes ${f1(median(zs) / handMs * 100)} % of it`);
  } finally {
    await hx?.stop();
    await box.down();
  }
}

main().catch((e: unknown) => { process.stderr.write(`bench/stack: ${e instanceof Error ? e.stack : String(e)}\n`); process.exitCode = 1; });
