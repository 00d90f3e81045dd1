// zstack over hosts, the parts that need no machine: which host runs which unit, the ClientRefs (server names that
// say host and client), the status table's HOST column and unreachable-host line, how the hosts are asked at
// once (bounded, outcomes in host order) and how hosts that cannot be reached are reported. The same over real hosts
// (systemctl -H to three systemd boxes, HAProxy, wrk) is test/hosts-e2e.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseStack } from '@zope-systemd/unitgen';
import { sampleHostsStackConfig } from '../../../test/harness/sample-stack.js';
import { LocalSystemd, renderTable, stackRef, unitStatus, UNIT_PROPS, type StackError, type StackStatus, type UnitProps } from '../src/index.js';
import { HostsSystemd, settleBounded, unitHosts, type HostRef } from '../src/hosts.js';
import { DEFAULT_TIMING } from '../src/cycle.js';
import { RuntimeApi } from '../src/haproxy.js';
import { createProgress } from '../src/progress.js';
import { recycle } from '../src/recycle.js';
import { gatherStatus } from '../src/status.js';

const model = parseStack(sampleHostsStackConfig({
  repo: '/srv/zope-systemd', basePort: 20000, zeoHost: 'db', clients: { app1: 2, app2: 1 },
  hosts: [{ name: 'db', address: '10.0.0.11' }, { name: 'app1', address: '10.0.0.12' }, { name: 'app2', address: '10.0.0.13' }],
}), { file: 'hosts.yaml' });

test('every unit has its host: clients where they run, ZEO and the target on the database host', () => {
  assert.deepEqual([...unitHosts(model)].sort(), [
    ['sample-client1.service', 'app1'], ['sample-client2.service', 'app1'], ['sample-client3.service', 'app2'],
    ['sample-zeo.service', 'db'], ['sample.target', 'db'],
  ]);
  const s = stackRef(model, 'hosts.yaml');
  assert.deepEqual(s.clients.map((c) => [c.name, c.host, c.server]), [['client1', 'app1', 'app1-client1'], ['client2', 'app1', 'app1-client2'], ['client3', 'app2', 'app2-client3']]);
});

test('status: a HOST column, and a line naming the host that could not be reached', () => {
  const props = (over: Partial<UnitProps>): UnitProps => ({ ...(Object.fromEntries(UNIT_PROPS.map((k) => [k, ''])) as UnitProps), LoadState: 'loaded', ActiveState: 'active', SubState: 'running', ...over });
  const health = { state: 'running', ready: true, summary: 'ready' };
  const lost = { state: 'unreachable', ready: false, summary: 'unreachable (ECONNREFUSED)' };
  const s: StackStatus = {
    stack: 'sample', file: 'hosts.yaml', at: '2026-12-04T00:00:00.000Z',
    target: { ...unitStatus('sample.target', props({}), 0), host: 'db' },
    servers: [{ ...unitStatus('sample-zeo.service', props({}), 0), host: 'db' }],
    clients: [
      { ...unitStatus('sample-client1.service', props({}), 0), host: 'app1', client: 'client1', health, serving: true },
      { ...unitStatus('sample-client3.service', props({ LoadState: 'unreachable', ActiveState: 'unknown', SubState: 'unknown' }), 0), host: 'app2', client: 'client3', health: lost, serving: false },
    ],
    haproxy: { backend: 'sample' },
    unreachableHosts: [{ host: 'app2', error: 'systemd on app2 (root@10.0.0.13) is not reachable: ssh: connect to host 10.0.0.13 port 22: Connection refused' }],
  };
  const lines = renderTable(s).split('\n');
  assert.match(lines[1]!, /^UNIT\s+HOST\s+SYSTEMD\s+WRAPPER\s+HAPROXY/);
  assert.match(lines[2]!, /^sample-zeo\.service\s+db\s+active\/running/);
  assert.match(lines[3]!, /^sample-client1\.service\s+app1\s+active\/running\s+ready/);
  assert.match(lines[4]!, /^sample-client3\.service\s+app2\s+unreachable\s+unreachable \(ECONNREFUSED\)/);
  assert.ok(lines.includes('host app2 unreachable: systemd on app2 (root@10.0.0.13) is not reachable: ssh: connect to host 10.0.0.13 port 22: Connection refused'), lines.join('\n'));
  // Without hosts, no HOST column.
  const one = renderTable({ ...s, servers: s.servers.map(({ host: _h, ...u }) => u), clients: s.clients.map(({ host: _h, ...c }) => c), unreachableHosts: undefined as never });
  assert.match(one.split('\n')[1]!, /^UNIT\s+SYSTEMD\s+WRAPPER/);
});

test('settleBounded: every item, at most `limit` at once, outcomes in the items\' order; a failure stops nothing', async () => {
  let active = 0, most = 0;
  const started: number[] = [];
  const gates = new Map<number, () => void>();
  const run = settleBounded([0, 1, 2, 3, 4], 2, (i) => {
    started.push(i);
    active++; most = Math.max(most, active);
    return new Promise<string>((ok, no) => gates.set(i, () => { active--; if (i === 1) no(new Error('host 1 is down')); else ok(`answer ${i}`); }));
  });
  const open = async (i: number): Promise<void> => {
    while (!gates.has(i)) await new Promise((r) => setImmediate(r));
    gates.get(i)!();
  };
  // Finished out of order: 1 (failing) and 0 last of their pair, 4 before 3.
  await open(1); await open(0); await open(2); await open(4); await open(3);
  const r = await run;
  assert.equal(most, 2);
  assert.deepEqual(started.sort(), [0, 1, 2, 3, 4]);
  assert.deepEqual(r.map((x) => (x.status === 'fulfilled' ? x.value : (x.reason as Error).message)), ['answer 0', 'host 1 is down', 'answer 2', 'answer 3', 'answer 4']);
});

test('hosts that cannot be reached: strict, one error naming each in host order with how to check it; lenient, every unit read as unreachable and the hosts in host order', async () => {
  // Each host's "systemctl -H" is a real process that fails as ssh does; db answers last.
  const systemctl = (h: HostRef): LocalSystemd => new LocalSystemd(['sh', '-c',
    `${h.name === 'db' ? 'sleep 0.3; ' : ''}echo "ssh: connect to host $0 port 22: Connection refused" >&2; exit 1`, h.ssh.replace(/^root@/, '')], `${h.name} (${h.ssh})`);
  const strict = new HostsSystemd(model, { connect: systemctl });
  const units = [model.target, model.zeo!.unit, ...model.clients.map((c) => c.unit)];
  await assert.rejects(strict.show(units), (e: StackError) => {
    assert.equal(e.code, 'EUNAVAILABLE');
    assert.equal(e.message, ['3 hosts of stack sample failed:',
      '  db: systemctl show failed on db (root@10.0.0.11): ssh: connect to host 10.0.0.11 port 22: Connection refused',
      '  app1: systemctl show failed on app1 (root@10.0.0.12): ssh: connect to host 10.0.0.12 port 22: Connection refused',
      '  app2: systemctl show failed on app2 (root@10.0.0.13): ssh: connect to host 10.0.0.13 port 22: Connection refused'].join('\n'));
    assert.equal(e.hint, 'check that each is reachable: ssh root@10.0.0.11 true; ssh root@10.0.0.12 true; ssh root@10.0.0.13 true');
    return true;
  });
  const lenient = strict.lenient();
  const props = await lenient.show(units);
  assert.deepEqual([...props.keys()], units);
  assert.deepEqual([...props.values()].map((p) => p.LoadState), units.map(() => 'unreachable'));
  assert.deepEqual(lenient.unreachable().map((u) => u.host), ['db', 'app1', 'app2']);
});

// A wrapper's health on loopback answers only on its own host: status on another machine must not read whatever
// listens on 127.0.0.1 there. Real pieces: ssh to hosts that do not resolve (unreachable at once), and on this
// machine an unrelated /health listener on the very port a remote client's wrapper has on its own loopback.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function zstack(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Two local /health listeners answering "ready" with memory, on base+201 and base+202; counts the requests each got. */
async function fakeWrappers(t: { after(fn: () => Promise<void>): void }): Promise<{ base: number; asked: number[] }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    const asked = [0, 0];
    const servers = [0, 1].map((i) => http.createServer((_req, res) => {
      asked[i]!++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ state: 'running', phase: 'running', ready: true, memory: { pids: [4242], rssBytes: 21_495_808, pssBytes: 12_163_481 } }));
    }));
    const ok = await Promise.all(servers.map((s, i) => new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false)).listen(base + 201 + i, '127.0.0.1', () => resolve(true));
    })));
    if (ok.every(Boolean)) {
      t.after(async () => { await Promise.all(servers.map((s) => new Promise((r) => s.close(r)))); });
      return { base, asked };
    }
    for (const s of servers) s.close();
  }
  throw new Error('no two free ports for the fake wrappers');
}

test('hosts: loopback health is read only for a client on this machine; no host reachable is 69, and --json says so on stdout', { timeout: 60_000 }, async (t) => {
  const { base, asked } = await fakeWrappers(t);
  const text = sampleHostsStackConfig({
    repo: '/srv/zope-systemd', basePort: base, zeoHost: 'db', clients: { app1: 1, app2: 1 },
    hosts: [{ name: 'db', address: '192.0.2.11', ssh: 'root@db.zstack-test.invalid' }, { name: 'app1', address: '127.0.0.1', ssh: 'root@app1.zstack-test.invalid' },
      { name: 'app2', address: '192.0.2.13', ssh: 'root@app2.zstack-test.invalid' }],
  }).replace(/(health: \{.*)http: "\{host\}:\{(\d+)\+n\}"/, '$1http: "127.0.0.1:{$2+n}"');
  assert.match(text, /health: \{.*http: "127\.0\.0\.1:\{\d+\+n\}"/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-reach-'));
  t.after(async () => { fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'hosts.yaml');
  fs.writeFileSync(file, text);
  const stack = stackRef(parseStack(text, { file }), file);

  // client1's host is this machine (127.0.0.1): its wrapper is read. client2's is app2: never read from here.
  const s = await gatherStatus({ stack, systemd: new HostsSystemd(stack.model).lenient() });
  assert.equal(s.clients[0]!.health.summary, 'ready');
  assert.equal(s.clients[1]!.health.summary, 'not readable from here (health on loopback of app2)');
  assert.equal(s.clients[1]!.memory, undefined);
  assert.deepEqual(asked, [1, 0], 'the process on this machine\'s 127.0.0.1 port of app2\'s client2 was asked');
  assert.match(renderTable(s), /^sample-client2\.service\s+app2\s+unreachable\s+not readable from here \(health on loopback of app2\)\s+\?\s+-\s+-\s/m);

  // recycle by memory refuses rather than judge client2 by another process's memory, naming the fix.
  const lenient = new HostsSystemd(stack.model).lenient();
  await assert.rejects(recycle({ stack, systemd: lenient, lb: new RuntimeApi(path.join(dir, 'no-haproxy.sock')), progress: createProgress(), signal: new AbortController().signal, timing: DEFAULT_TIMING }, { memoryBytes: 1n << 30n, dryRun: true }),
    (e: StackError) => e.exitCode === 69 && /client2's wrapper is not readable from here \(health on loopback of app2\); nothing was recycled/.test(e.message) && /clients\.health\.http to the host's address.*or run zstack on app2/.test(e.hint ?? ''));

  // No host could be read: 69 and one line naming every host, not a table of `unreachable` rows.
  const st = await zstack(['status', file]);
  assert.equal(st.code, 69, st.stderr + st.stdout);
  assert.equal(st.stdout, '');
  assert.match(st.stderr, /^zstack: systemd is not reachable on any host of stack sample: db \(.+\); app1 \(.+\); app2 \(.+\)\n  hint: check that each host's ssh destination reaches its systemd .*or run zstack on one of the hosts\n$/);
  const js = await zstack(['status', file, '--json']);
  assert.equal(js.code, 69, js.stderr);
  const j = JSON.parse(js.stdout) as { error: { code: string; message: string; hint?: string; exitCode: number } };
  assert.equal(j.error.code, 'EUNAVAILABLE');
  assert.equal(j.error.exitCode, 69);
  assert.match(j.error.message, /^systemd is not reachable on any host of stack sample: db /);
  assert.match(j.error.hint ?? '', /run zstack on one of the hosts/);
  assert.match(js.stderr, /^zstack: systemd is not reachable on any host/);
  // A usage error with --json: the same shape, 64.
  const bad = await zstack(['status', file, '--json', '--watch', 'soon']);
  assert.equal(bad.code, 64, bad.stderr);
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'EUSAGE');
});

test('recycle --max-age takes what the stack config does: a month (an uptime threshold, no timer), not 400 years', async () => {
  // The flag is read before the stack file: a missing file (66) shows the value was taken, a usage error (64) not.
  const month = await zstack(['recycle', '/nonexistent/stack.yaml', '--max-age', '30d', '--dry-run']);
  assert.equal(month.code, 66, month.stderr);
  const centuries = await zstack(['recycle', '/nonexistent/stack.yaml', '--max-age', '400y', '--dry-run']);
  assert.equal(centuries.code, 64);
  assert.match(centuries.stderr, /"400y" is longer than a time span can be/);
});
