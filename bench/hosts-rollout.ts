// Rollout wall time across hosts against one host: `zstack rollout` of 6 sample clients, (a) 2 app hosts x 3
// clients with ZEO on a third host, every unit reached over ssh with `systemctl -H`, and (b) ZEO and all 6 clients
// on one host, driven the same way. Hosts are disposable systemd boxes with their own sshd and loopback address
// (test/harness/ssh-hosts.ts); HAProxy runs on the machine with the generated backend. A rollout restarts one
// client at a time in both cases, so (a) / (b) is the price of doing it over several hosts: the ssh round trips
// and nothing else. Prints every run, the medians and the ratio.
//   node --import tsx bench/hosts-rollout.ts [--runs 3]
import { execFile as execFileCb, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { builtinTemplates, parseStack, renderHostsWith } from '@zope-systemd/unitgen';
import { sampleHostsStackConfig } from '../test/harness/sample-stack.js';
import { REPO_IN_BOX } from '../test/harness/box.js';
import { startHaproxy } from '../test/harness/haproxy.js';
import { freePort } from '../test/harness/net.js';
import { REPO_ROOT } from '../test/harness/proc.js';
import { bootSshHost, makeSshKit, sshHostsSkipReason, waitForSsh, type SshHost } from '../test/harness/ssh-hosts.js';
import { childEnv, f1, f2, log, median } from './lib.js';

const execFile = promisify(execFileCb);
const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3) || 3;
const ZUNITGEN = path.join(REPO_ROOT, 'packages/unitgen/dist/cli.js');
const ZSTACK = path.join(REPO_ROOT, 'packages/stack/dist/cli.js');

function run(cli: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cli, ...args], { env });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.once('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** Deploys and starts one layout, then times `runs` rollouts; returns the wall times in ms. */
async function measure(label: string, hosts: SshHost[], layout: { zeoHost: string; clients: Record<string, number> }, env: NodeJS.ProcessEnv, dir: string): Promise<number[]> {
  const basePort = await freePort('0.0.0.0');
  const cfg = path.join(dir, `${label}.yaml`);
  fs.writeFileSync(cfg, sampleHostsStackConfig({
    repo: REPO_IN_BOX, basePort, node: process.execPath, stack: 'bench', warmupSeconds: 1, ...layout,
    hosts: hosts.map((h, i) => ({ name: i === 0 ? 'db' : `app${i}`, address: h.address })),
  }));
  const dep = await run(ZUNITGEN, ['deploy', cfg], env);
  if (dep.code !== 0) throw new Error(`deploy (${label}) failed:\n${dep.out}`);
  const model = parseStack(fs.readFileSync(cfg, 'utf8'), { file: cfg });
  const backend = renderHostsWith(model, builtinTemplates(), { outDir: '/etc/systemd/system' }).haproxy.find((f) => f.name === 'haproxy-bench.cfg')!.content;
  const hx = await startHaproxy({ config: `defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  timeout check 1s\n\n${backend}` });
  try {
    for (const h of hosts) await execFile('systemctl', ['-H', h.destination, 'start', 'bench.target'], { env, timeout: 300_000 });
    for (const c of model.clients) await hx.waitForState('bench', c.server, 'UP', { timeoutMs: 60_000 });
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const r = await run(ZSTACK, ['--haproxy-socket', hx.statsSocket, '--run-dir', path.join(dir, 'run'), 'rollout', cfg], env);
      const ms = performance.now() - t0;
      if (r.code !== 0) throw new Error(`rollout (${label}) failed:\n${r.out}`);
      times.push(ms);
      log(`${label}: rollout ${i + 1}/${RUNS} of ${model.clients.length} clients: ${f1(ms / 1000)} s`);
      for (const c of model.clients) await hx.waitForState('bench', c.server, 'UP', { timeoutMs: 60_000 });
    }
    for (const h of hosts) await execFile('systemctl', ['-H', h.destination, 'stop', 'bench.target'], { env, timeout: 300_000 }).catch(() => undefined);
    return times;
  } finally {
    await hx.stop();
  }
}

async function main(): Promise<void> {
  const skip = sshHostsSkipReason();
  if (skip) { log(`skipped: ${skip}`); return; }
  const kit = await makeSshKit();
  const hosts: SshHost[] = [];
  const env = kit.env(childEnv());
  try {
    for (const name of ['db', 'app1', 'app2']) hosts.push(await bootSshHost(kit, name));
    for (const h of hosts) await waitForSsh(kit, h.destination);
    const dir = fs.mkdtempSync(path.join(kit.dir, 'bench-'));
    const spread = await measure('3 hosts (ZEO on db, 3+3 clients on app1, app2)', hosts, { zeoHost: 'db', clients: { app1: 3, app2: 3 } }, env, dir);
    const one = await measure('1 host (ZEO and 6 clients)', [hosts[0]!], { zeoHost: 'db', clients: { db: 6 } }, env, dir);
    const a = median(spread), b = median(one);
    log(`median rollout wall time: across hosts ${f1(a / 1000)} s, one host ${f1(b / 1000)} s, ratio ${f2(a / b)}x (${RUNS} runs each)`);
  } finally {
    await Promise.all(hosts.map((h) => h.down()));
    await kit.cleanup();
  }
}

await main();
