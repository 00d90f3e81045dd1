// zstack figures (BENCHMARKS.md, docs/benchmarks/stack.md), in a disposable systemd 252 behind a real HAProxy:
//   1. status latency for a 16-client stack: `zstack status --json` wall time (a fresh process, as an operator
//      or a monitoring script runs it) and one in-process gatherStatus() (what each --watch refresh costs),
//      against `node -e 0` measured the same way in the same run. Target: < 200 ms.
//      Also, same run: the unbundled program (dist/bin.js) and the bundle without its code cache (dist/cli.js and
//      dist/zstack.cjs copied apart, without dist/zstack.cjs.cache) against the bin (dist/cli.js), and where one
//      refresh spends its time (systemctl show, the Runtime API exchange, the /health?memory GETs, each alone).
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
    `const units = [s.target, ...s.servers, ...s.clients.map((c) => c.unit)];` +
    `const plain = (a) => new Promise((ok, no) => http.get({ host: a.host, port: a.port, path: '/health', agent: false }, (r) => { r.resume(); r.on('end', ok); }).on('error', no));` +
    `const time = async (f) => { const out = []; for (let i = 0; i < ${rounds + 3}; i++) { const t = performance.now(); await f(); out.push(performance.now() - t); } return out.slice(3); };` +
    `let rows = 0, noMemory = 0;` +
    `const r = { refresh: await time(async () => { const x = await gatherStatus(d); if (x.clients.length !== s.clients.length) throw new Error('rows'); rows += x.clients.length; noMemory += x.clients.filter((c) => !c.memory).length; }),` +
    ` show: await time(() => systemd.show(units)), haproxy: await time(() => lb.servers(s.model.haproxy.backend)),` +
    ` health: await time(() => Promise.all(s.clients.map((c) => wrapperHealth(c.health)))), healthPlain: await time(() => Promise.all(s.clients.map((c) => plain(c.health.http)))) };` +
    `console.log(JSON.stringify({ ...r, rows: [rows], noMemory: [noMemory] }));`;
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
    const cli = `${box.repo}/packages/stack/dist/cli.js`;
    await timed(box, [BOX_NODE, cli, 'status', '--json', file], 3); // warm the page cache
    const rounds = Number(o.rounds);
    const unbundled = `${box.repo}/packages/stack/dist/bin.js`;
    await timed(box, [BOX_NODE, unbundled, 'status', '--json', file], 2);
    const noCacheDir = path.join(box.shared, 'no-code-cache');
    fs.mkdirSync(noCacheDir);
    for (const f of ['cli.js', 'zstack.cjs']) fs.copyFileSync(path.join(REPO_ROOT, 'packages/stack/dist', f), path.join(noCacheDir, f));
    const noCache = path.join(noCacheDir, 'cli.js');
    await timed(box, [BOX_NODE, noCache, 'status', '--json', file], 2);
    // Interleaved, so that a change in the machine's load falls on all four alike.
    const status: number[] = [], bare: number[] = [], plain: number[] = [], cold: number[] = [];
    const statusCpu: number[] = [], bareCpu: number[] = [], plainCpu: number[] = [], coldCpu: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const a = await timed(box, [BOX_NODE, cli, 'status', '--json', file], 1);
      const b = await timed(box, [BOX_NODE, '-e', '0'], 1);
      const c = await timed(box, [BOX_NODE, unbundled, 'status', '--json', file], 1);
      const d = await timed(box, [BOX_NODE, noCache, 'status', '--json', file], 1);
      status.push(...a.wall); statusCpu.push(...a.cpu); bare.push(...b.wall); bareCpu.push(...b.cpu); plain.push(...c.wall); plainCpu.push(...c.cpu);
      cold.push(...d.wall); coldCpu.push(...d.cpu);
    }
    log(`load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    log(`status, ${N} clients: zstack status --json ${f1(median(status))} ms median (min ${f1(Math.min(...status))}, max ${f1(Math.max(...status))}), ` +
      `node -e 0 ${f1(median(bare))} ms (${f1(median(status) / median(bare))}x); unbundled (dist/bin.js) ${f1(median(plain))} ms (${f1(median(plain) / median(bare))}x); ` +
      `bundle without its code cache ${f1(median(cold))} ms (${f1(median(cold) / median(bare))}x); target < 200 ms`);
    log(`  CPU time (user + system, with the systemctl it runs): zstack status ${f1(median(statusCpu))} ms, node -e 0 ${f1(median(bareCpu))} ms ` +
      `(${f1(median(statusCpu) / median(bareCpu))}x), unbundled ${f1(median(plainCpu))} ms (${f1(median(plainCpu) / median(bareCpu))}x), ` +
      `without the code cache ${f1(median(coldCpu))} ms (${f1(median(coldCpu) / median(bareCpu))}x)`);
    const parts = JSON.parse((await box.exec([BOX_NODE, '--input-type=module', '-e', refreshScript(box.repo, file, socket, rounds)], { timeoutMs: 600_000 })).stdout) as Record<string, number[]>;
    log(`load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; rows without memory (a /health?memory later than 500 ms): ${parts.noMemory![0]} of ${parts.rows![0]}`);
    log(`one refresh in-process (--watch): ${f1(median(parts.refresh!))} ms median (${f1(median(parts.refresh!) / median(bare))}x node -e 0); alone: ` +
      `systemctl show of ${N + 2} units ${f1(median(parts.show!))} ms, Runtime API show stat ${f1(median(parts.haproxy!))} ms, ${N} x GET /health?memory in parallel ${f1(median(parts.health!))} ms, ` +
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
