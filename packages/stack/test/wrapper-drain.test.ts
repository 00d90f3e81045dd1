// How zstack tells that a wrapper is in its own stop drain, and cuts it short, against a real znotify (the built
// executable) supervising a real HTTP instance: the wrapper's /health `phase` (or, without a health HTTP
// listener, its agent's `drain`), never the wording of its STATUS=. The signal goes through LocalSystemd's own
// by-pid, same-cgroup check. A client of another host whose health is on loopback is not asked at all.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, until } from '../../../test/harness/net.js';
import { cutWrapperDrain } from '../src/cycle.js';
import { wrapperDraining, wrapperHealth, type WrapperHealth } from '../src/health.js';
import { LocalSystemd, renderTable, UNIT_PROPS, type ClientRef, type ClientStatus, type UnitProps } from '../src/index.js';

const ZNOTIFY = fileURLToPath(new URL('../../notify/dist/znotify/cli.js', import.meta.url));
const loopback = (port: number) => ({ host: '127.0.0.1', port, family: 4 as const });

function phase(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve(String(JSON.parse(body).phase)));
    }).on('error', reject);
  });
}

test('a wrapper in its own drain: seen through /health or the agent, cut by a second SIGTERM only while systemd stops it', { timeout: 60_000 }, async (t) => {
  const [port, agentPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-wrapper-drain-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'c1.yaml');
  // A drain far longer than the test may take: only the cut ends it.
  fs.writeFileSync(config, `name: c1\nhttp: 127.0.0.1:${port}\nhealth: { agent: 127.0.0.1:${agentPort}, http: 127.0.0.1:${httpPort} }\nstop: { drain: 10min, timeout: 10s }\n`);
  const instance = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const wrapper = spawn(process.execPath, [ZNOTIFY, 'run', '--config', config, '--', process.execPath, '-e', instance], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  wrapper.stderr.setEncoding('utf8').on('data', (d: string) => { output += d; });
  const exited = new Promise<number | null>((resolve) => wrapper.once('exit', (code) => resolve(code)));
  t.after(() => { if (wrapper.exitCode === null) wrapper.kill('SIGKILL'); });

  const client = { name: 'c1', unit: 'c1.service', health: { agent: loopback(agentPort), http: loopback(httpPort) } } as ClientRef;
  const agentOnly = { ...client, health: { agent: loopback(agentPort) } } as ClientRef;
  await until('the wrapper is running', async () => ((await phase(httpPort).catch(() => '')) === 'running' ? true : undefined), 20_000);
  assert.equal(await wrapperDraining(client.health), false);
  assert.equal(await wrapperDraining(agentOnly.health), false);

  // What `systemctl show` would say of the unit: its main process and its cgroup (here: the test's own).
  const cgroup = fs.readFileSync(`/proc/${wrapper.pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3) ?? '';
  const props = (activeState: string): UnitProps => ({ ...Object.fromEntries(UNIT_PROPS.map((k) => [k, ''])), ActiveState: activeState, MainPID: String(wrapper.pid), ControlGroup: cgroup }) as UnitProps;
  const systemd = new LocalSystemd();

  wrapper.kill('SIGTERM'); // systemd's stop
  await until('the wrapper drains', async () => ((await phase(httpPort)) === 'draining' ? true : undefined));
  assert.equal(await wrapperDraining(client.health), true);
  assert.equal(await wrapperDraining(agentOnly.health), true, 'the agent answers drain');

  assert.equal(await cutWrapperDrain(systemd, client, props('active')), false, 'not while systemd does not stop the unit');
  assert.equal(await phase(httpPort), 'draining', 'no signal went out');

  // A client of another host whose health is on loopback: what answers on that port here is not its wrapper (here it
  // is this draining one), so it is not read, and nothing is signalled: that wrapper's drain runs its course.
  const elsewhere = { ...client, host: 'app2', hostAddress: '192.0.2.7' } as ClientRef;
  assert.equal(await cutWrapperDrain(systemd, elsewhere, props('deactivating')), false, 'read the loopback of another host');
  assert.equal(await phase(httpPort), 'draining', 'no signal went out');

  // The same client on a host that is this machine (a loopback host address, as the hosts of the e2e tests have) is read and cut.
  const here = { ...client, host: 'app1', hostAddress: '127.0.0.1' } as ClientRef;
  assert.equal(await cutWrapperDrain(systemd, here, props('deactivating')), true);
  assert.equal(await exited, 0, output);
  assert.match(output, /sending the stop signal/);
});

test('status of a real wrapper waiting for its database: what the wrapper says (not warm-up 0/1), and a (cg) footnote that says why', { timeout: 60_000 }, async (t) => {
  const [port, agentPort, httpPort, zeoPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-wrapper-waits-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'c1.yaml');
  // Nothing listens on zeoPort: the startup check keeps the wrapper waiting, the instance never starts.
  fs.writeFileSync(config, `name: c1\nhttp: 127.0.0.1:${port}\nhealth: { agent: 127.0.0.1:${agentPort}, http: 127.0.0.1:${httpPort} }\n`
    + `warmup: { budget: 10min }\nchecks:\n  - { name: zeo, type: zeo, address: 127.0.0.1:${zeoPort}, roles: [startup, readiness] }\n`);
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const wrapper = spawn(process.execPath, [ZNOTIFY, 'run', '--config', config, '--', process.execPath, '-e', 'setInterval(() => {}, 1000)'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  wrapper.stderr.resume();
  t.after(() => { if (wrapper.exitCode === null) wrapper.kill('SIGKILL'); });
  const health = { agent: loopback(agentPort), http: loopback(httpPort) };
  const h = await until('the wrapper waits for zeo', async () => {
    const r = await wrapperHealth(health);
    return r.summary.includes('zeo') ? r : undefined;
  }, 20_000);
  assert.equal(h.summary, 'starting: waiting for zeo');
  assert.equal(h.memory, undefined);
  const agentOnly = await wrapperHealth({ agent: loopback(agentPort) });
  const row = (client: string, wh: WrapperHealth): ClientStatus => ({
    client, unit: `x-${client}.service`, load: 'loaded', active: 'activating', sub: 'start', result: 'success', restarts: 0, mainPid: wrapper.pid ?? 0,
    statusText: '', watchdog: { enabled: false }, invocation: '', serving: false, health: wh, cgroupMemoryBytes: 30 << 20,
  });
  const unit = { unit: 'x.target', load: 'loaded', active: 'active', sub: 'active', result: 'success', restarts: 0, mainPid: 0, statusText: '', watchdog: { enabled: false }, invocation: '' };
  const table = renderTable({ stack: 'x', file: 'x.yaml', at: '', target: unit, servers: [], clients: [row('client1', h), row('client2', agentOnly)], haproxy: { backend: 'x' } });
  assert.match(table, /x-client1\.service +activating\/start +starting: waiting for zeo /);
  assert.match(table, /, where the wrapper reports no instance memory: client1: the instance has not started yet; client2: no health HTTP listener$/m);
  wrapper.kill('SIGTERM');
  await new Promise((r) => wrapper.once('exit', r));
});
