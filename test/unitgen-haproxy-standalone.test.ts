// haproxy.frontend: the complete configuration zunitgen writes (global with the wrappers' stats socket,
// defaults, frontend, backend) passes `haproxy -c` and runs as it is: a real HAProxy started from the generated
// file marks the clients UP and forwards a request through the frontend to a real HTTP server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { builtinTemplates, parseStack, renderWith } from '@zope-systemd/unitgen';
import { HAPROXY_BIN, haproxySkipReason, startHaproxy, type Haproxy } from './harness/haproxy.js';
import { instanceArgv, sampleSkipReason, startPeer } from './harness/proc.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './harness/net.js';
import { portBase } from './fixtures/unitgen/stack.js';

const skip = haproxySkipReason();
const ZNOTIFY = fileURLToPath(new URL('../packages/notify/dist/znotify/cli.js', import.meta.url));

/** uid and gid of a system user, from /etc/passwd; undefined when it does not exist. */
function userInfo(name: string): { uid: number; gid: number } | undefined {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' }), g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout), gid: Number(g.stdout) } : undefined;
}

/** A HAProxy agent (agent-check) on 127.0.0.1:port: answers every connection with `line` and closes it. */
function agentServer(port: number, line: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    // HAProxy resets the connection once it has read the line: that reset is expected, not an error.
    const s = net.createServer((c) => { c.on('error', () => {}); c.end(`${line}\n`); });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * The standalone configuration zunitgen writes for the stack `text`: `haproxy -c` passes it without a warning, then
 * a real HAProxy runs it (stopped when the test ends).
 */
async function runStandalone(t: TestContext, dir: string, text: string): Promise<{ cfg: string; hx: Haproxy; files: ReturnType<typeof renderWith> }> {
  const files = renderWith(parseStack(text, { file: 'site.yaml' }), builtinTemplates(), { outDir: '/etc/systemd/system' });
  const cfg = files.find((f) => f.name === 'haproxy-site-standalone.cfg');
  assert.ok(cfg, files.map((f) => f.name).join(' '));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg.content);
  const check = spawnSync(HAPROXY_BIN, ['-c', '-f', file], { encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}\n${cfg.content}`);
  assert.doesNotMatch(check.stdout + check.stderr, /\[WARNING\]/, `${check.stdout}${check.stderr}`);
  const hx = await startHaproxy({ config: cfg.content });
  t.after(() => hx.stop());
  return { cfg: cfg.content, hx, files };
}

/** Three different free ports (freePort may hand the same one out twice): the frontend, client1's HTTP, its agent. */
async function threePorts(): Promise<[number, number, number]> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  return [...ports] as [number, number, number];
}

/**
 * The stack `site` as www-data (a user whose group exists here: haproxy resolves the wrappers' socket group):
 * `count` clients at the `http` and `health` addresses given, more `clients` lines, and the `haproxy` mapping.
 */
function siteStack(o: { count?: number; http: string; health: string; clientLines?: string[]; haproxy: string }): string {
  return ['stack: site', 'user: www-data', 'directory: /srv/site', 'clients:', `  count: ${o.count ?? 1}`, '  command: /srv/site/bin/client{n}',
    `  http: ${o.http}`, `  health: ${o.health}`, ...(o.clientLines ?? []), `haproxy: ${o.haproxy}`, ''].join('\n');
}

test('the standalone HAProxy configuration is checked by haproxy -c and serves through its frontend', { skip, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zs-standalone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Each listener failing loudly, not hanging.
  const [fe, h1, a1] = await threePorts();
  const servers = await Promise.all([h1].map((port, i) => new Promise<http.Server>((resolve, reject) => {
    const s = http.createServer((_req, res) => { res.end(`client${i + 1}\n`); });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  })));
  // The agent the backend asks (the wrapper's, answered here with the words of a warm client).
  const agent = await agentServer(a1, 'up ready 100%');
  t.after(() => { for (const s of servers) s.close(); agent.close(); });
  const sock = join(dir, 'admin.sock');
  const text = siteStack({ http: `127.0.0.1:${h1}`, health: `127.0.0.1:${a1}`, haproxy: `{ backend: site, stats-socket: ${sock}, wrapper-socket: ${join(dir, 'wrappers.sock')}, check-interval: 200ms, frontend: "127.0.0.1:${fe}", server-state-file: ${join(dir, 'server-state')} }` });
  writeFileSync(join(dir, 'server-state'), '1\n'); // the documented step before the first start
  const { hx } = await runStandalone(t, dir, text);
  assert.equal(hx.statsSocket, sock, 'the stats socket is the one in the generated global section');
  for (const s of ['client1']) await hx.waitForState('site', s, 'UP', { timeoutMs: 20_000 });
  // No clients.threads: the running server has waitress's default thread count as its limit (show stat's slim).
  assert.deepEqual((await hx.showStat()).filter((r) => r.pxname === 'site' && r.svname === 'client1').map((r) => r.slim), ['4']);
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: fe, path: '/', timeout: 10_000, agent: false }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(`${res.statusCode} ${b}`)); }).on('error', reject).on('timeout', () => reject(new Error('no answer through the frontend within 10 s')));
  });
  assert.match(body, /^200 client1\n$/);
});

// A reload (a new HAProxy taking over with -sf, as haproxy.service's reload does through its master) starts every
// server UP unless the states were saved before it. The generated configuration loads them (server-state-file +
// load-server-state-from-file); the save is the documented `show servers state` into that file. Checks every
// 1 min: the first ones after a reload come tens of seconds later (HAProxy spreads them over one interval), so
// what is seen right after the reload is what the reload itself decided.
test('a reload keeps a DOWN and a draining client as they were (server-state-file), where without the saved states they are UP', { skip, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zs-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const taken = new Set<number>();
  const fe = (await portBase(1, taken)) + 1, http = await portBase(3, taken), agent = await portBase(3, taken);
  // client1 and client2 have agents (client2's says "drain", as a stopping wrapper does); client3 has none: it is
  // stopped, and its checks are refused.
  const agents = await Promise.all([agentServer(agent + 1, 'up ready 100%'), agentServer(agent + 2, 'up drain')]);
  t.after(() => { for (const s of agents) s.close(); });
  const sock = join(dir, 'admin.sock'), state = join(dir, 'server-state');
  const text = siteStack({ count: 3, http: `"127.0.0.1:{${http}+n}"`, health: `"127.0.0.1:{${agent}+n}"`,
    haproxy: `{ backend: site, stats-socket: ${sock}, wrapper-socket: ${join(dir, 'wrappers.sock')}, check-interval: 1min, frontend: "127.0.0.1:${fe}", server-state-file: ${state} }` });
  writeFileSync(state, '1\n'); // the documented first-start step: a state file with no states
  const { cfg, hx } = await runStandalone(t, dir, text);
  assert.match(cfg, new RegExp(`^    server-state-file ${state}$`, 'm'));
  assert.match(cfg, /^    load-server-state-from-file global$/m);

  // The operator's view before the reload: client2 draining, client3 DOWN (forced at once, instead of waiting
  // for two failed checks a minute apart).
  await hx.runtime('set server site/client2 state drain');
  await hx.runtime('set server site/client3 health down');
  assert.deepEqual(await Promise.all(['client1', 'client2', 'client3'].map((s) => hx.serverState('site', s))), ['UP', 'DRAIN', 'DOWN']);

  /** A new HAProxy on the same configuration taking over from `old` (-sf); resolves once it answers on the socket. */
  const reload = async (old: number): Promise<number> => {
    const next = await startHaproxy({ config: cfg, args: ['-sf', String(old)] });
    t.after(() => next.stop());
    return next.pid;
  };
  // The save step, as the drop-in does it (socat there; the same Runtime API command here).
  writeFileSync(state, await hx.runtime('show servers state'));
  const second = await reload(hx.pid);
  assert.deepEqual(await Promise.all(['client1', 'client2', 'client3'].map((s) => hx.serverState('site', s))), ['UP', 'DRAIN', 'DOWN'],
    'after a reload with the saved states, client2 still drains and client3 is still DOWN');

  // The same reload without saved states: both are UP at once (what the generated lines prevent).
  writeFileSync(state, '1\n');
  await reload(second);
  assert.deepEqual(await Promise.all(['client1', 'client2', 'client3'].map((s) => hx.serverState('site', s))), ['UP', 'UP', 'UP'],
    'the control: without saved states HAProxy starts every server UP');
});

// The wrappers run as the stack's unprivileged user: the operator's admin socket (mode 600) is root's alone, and
// connect() gets EACCES. The generated configuration gives them a socket of their own, `mode 660 group <the
// stack's group> level user`: `show stat` works there, `set server` is refused, and the agent's `drain` takes the
// server out of the balancing at the next agent check. A real wrapper (the built znotify) running as www-data
// over a real waitress instance: through the admin socket it cannot drain to zero (the log names the socket, the
// errno and the fix); through the generated one it drains to zero and the request in flight gets its answer.
test('a wrapper running as the stack\'s unprivileged user drains to zero through the generated wrappers\' socket (level user); the admin socket refuses it with a line naming the fix', { skip: skip ?? sampleSkipReason(), timeout: 90_000 }, async (t) => {
  const user = userInfo('www-data');
  if (!user) { t.skip('no user www-data here'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'zs-wrappers-sock-'));
  chmodSync(dir, 0o755); // the wrapper, as www-data, reads its config and reaches the sockets in here
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [fe, h1, a1] = await threePorts();
  const admin = join(dir, 'admin.sock'), wrappers = join(dir, 'wrappers.sock');
  const text = siteStack({ http: `127.0.0.1:${h1}`, health: `127.0.0.1:${a1}`, clientLines: ['  stop: { drain: 60s, timeout: 10s }'],
    haproxy: `{ backend: site, stats-socket: ${admin}, wrapper-socket: ${wrappers}, check-interval: 300ms, frontend: "127.0.0.1:${fe}", server-state-file: ${join(dir, 'server-state')} }` });
  writeFileSync(join(dir, 'server-state'), '1\n');
  const { cfg, hx, files } = await runStandalone(t, dir, text);
  assert.match(cfg, new RegExp(`^    stats socket ${admin} mode 600 level admin$`, 'm'));
  assert.match(cfg, new RegExp(`^    stats socket ${wrappers} mode 660 group www-data level user$`, 'm'));
  const wrapperConfig = files.find((f) => f.name === 'site-client1.znotify.yaml')!.content;
  assert.match(wrapperConfig, new RegExp(`^  stats-socket: "${wrappers}"$`, 'm'));
  assert.equal(hx.statsSocket, admin);
  assert.equal(statSync(wrappers).gid, user.gid);

  /** The built znotify as www-data over a waitress instance, with the generated config using `socket`. */
  const wrapper = async (name: string, socket: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, wrapperConfig.replace(wrappers, socket));
    // HAProxy starts a server UP, and a stopped one is DOWN only after its failed checks: UP counts from DOWN on.
    await hx.waitForState('site', 'client1', 'DOWN', { timeoutMs: 20_000 });
    const p = await startPeer([process.execPath, ZNOTIFY, 'run', '--config', file, '--', ...instanceArgv({ port: h1, threads: 2 })], {
      name, uid: user.uid, gid: user.gid, readyTimeoutMs: 30_000, stopTimeoutMs: 30_000,
      ready: async () => { await hx.waitForState('site', 'client1', 'UP', { timeoutMs: 30_000 }); },
    });
    t.after(() => p.stop({ signal: 'SIGKILL' }));
    return p;
  };
  const slowRequest = () => new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: fe, path: '/slow?seconds=2', agent: false }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(res.statusCode === 200 ? '200' : `${res.statusCode} ${b}`)); }).on('error', reject);
  });
  const inFlight = async () => {
    for (let i = 0; i < 200; i++) {
      if ((await hx.showStat()).some((r) => r.svname === 'client1' && r.scur === '1')) return;
      await sleep(20);
    }
    throw new Error(`the slow request never showed as a session on site/client1: ${JSON.stringify((await hx.showStat()).filter((r) => r.svname === 'client1').map((r) => [r.status, r.scur, r.stot]))}`);
  };

  // The operator's socket: EACCES for the stack's user, the fixed drain; a second SIGTERM cuts it.
  const denied = await wrapper('denied', admin);
  denied.signal('SIGTERM');
  const line = (await denied.waitForOutput(/cannot read the sessions of site\/client1[^\n]*/, { timeoutMs: 20_000 }))[0];
  assert.match(line, new RegExp(`${admin}: EACCES: the wrapper's user may not connect to it; .*stats socket /run/haproxy/site-wrappers\\.sock mode 660 gid ${user.gid} level user\` in HAProxy's global section and that path as haproxy\\.wrapper-socket`));
  denied.signal('SIGTERM');
  await denied.exited;

  // The wrappers' socket: drain to zero, the request in flight answered.
  const w = await wrapper('allowed', wrappers);
  const slow = slowRequest();
  await Promise.race([inFlight(), slow.then((s) => { throw new Error(`the slow request ended at once: ${s}; ${w.output()}`); })]);
  w.signal('SIGTERM');
  assert.equal(await slow, '200', 'the request in flight was answered, not cut');
  await w.exited;
  const out = w.output();
  assert.match(out, /is read-only \(not level admin\): the health agent's answers set site\/client1 ready and drain/);
  assert.match(out, /site\/client1: no session left after [^\n]* \(1 in flight and 0 queued when the drain began\)/, out);
  assert.doesNotMatch(out, /cannot read the sessions/);
  assert.ok(out.indexOf('no session left') < out.indexOf('sending the stop signal'), 'the stop signal went out after the drain to zero');
});

// A hung one-thread instance holds only the request HAProxy gave it: `threads: 1` makes every server `maxconn 1`,
// so the next requests queue in HAProxy's backend queue for the first free slot on ANY server and are served by the
// other client, and the backend's own `timeout queue` (haproxy.queue-timeout) bounds that wait, not the
// `timeout connect` of the defaults (5 s): a request queued behind a 6 s one is served, not answered 503.
test('a hung one-thread client gets one request: the rest wait in HAProxy\'s queue for the other (timeout queue from haproxy.queue-timeout)', { skip: skip ?? sampleSkipReason(), timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zs-queue-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const taken = new Set<number>();
  const fe = (await portBase(1, taken)) + 1, httpBase = await portBase(2, taken), agentBase = await portBase(2, taken);
  const instances = await Promise.all([1, 2].map((n) => startPeer(instanceArgv({ port: httpBase + n, threads: 1 }), { name: `client${n}`, ready: { output: /instance: serving on / } })));
  const agents = await Promise.all([1, 2].map((n) => agentServer(agentBase + n, 'up ready 100%')));
  const inFlight = new AbortController();
  t.after(async () => { inFlight.abort(); for (const a of agents) a.close(); for (const i of instances) await i.stop(); });
  const text = siteStack({ count: 2, http: `"127.0.0.1:{${httpBase}+n}"`, health: `"127.0.0.1:{${agentBase}+n}"`, clientLines: ['  threads: 1'],
    haproxy: `{ backend: site, stats-socket: ${join(dir, 'admin.sock')}, wrapper-socket: ${join(dir, 'wrappers.sock')}, check-interval: 200ms, queue-timeout: 1min, frontend: "127.0.0.1:${fe}", server-state-file: ${join(dir, 'server-state')} }` });
  writeFileSync(join(dir, 'server-state'), '1\n');
  const { cfg, hx } = await runStandalone(t, dir, text);
  assert.match(cfg, /^    timeout queue 1m$/m);
  assert.match(cfg, / maxconn 1$/m);
  for (const s of ['client1', 'client2']) await hx.waitForState('site', s, 'UP', { timeoutMs: 20_000 });
  assert.equal((await fetch(`http://127.0.0.1:${httpBase + 1}/hang`, { method: 'POST', signal: AbortSignal.timeout(5000) })).status, 202);

  const get = (path: string) => fetch(`http://127.0.0.1:${fe}${path}`, { signal: inFlight.signal }).then(async (r) => `${r.status} ${await r.text()}`);
  // leastconn: one to each; the one client1 got never ends (caught: aborted at the end of the test).
  const slow = [get('/slow?seconds=6'), get('/slow?seconds=6')].map((p) => p.catch(() => 'aborted'));
  await until(async () => (await hx.showStat()).filter((s) => s.pxname === 'site' && /^client/.test(s.svname ?? "") && Number(s.scur) === 1).length === 2);
  // Both servers full: this one waits in the backend queue until client2 is free again.
  const queued = await get('/');
  assert.equal(queued, '200 Zope is running\n');
  assert.equal(await Promise.race(slow), '200 slept 6 s\n');
  await instances[1]!.waitForOutput(/"GET \/ HTTP/, { timeoutMs: 5000 });
  const served = instances[1]!.output().split('\n').filter((l) => / "GET /.test(l));
  assert.deepEqual(served.map((l) => /"GET (\S+)/.exec(l)![1]), ['/slow?seconds=6', '/'], instances[1]!.output());
  assert.doesNotMatch(instances[0]!.output(), / "GET /, 'the hung client answered nothing');
});

async function until(cond: () => Promise<boolean>, guardMs = 10_000): Promise<void> {
  const end = Date.now() + guardMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${guardMs} ms`);
    await sleep(50);
  }
}
