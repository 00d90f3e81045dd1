// haproxy.frontend: the complete configuration zunitgen writes (global with the wrappers' stats socket,
// defaults, frontend, backend) passes `haproxy -c` and runs as it is: a real HAProxy started from the generated
// file marks the clients UP and forwards a request through the frontend to a real HTTP server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { builtinTemplates, parseStack, renderWith } from '@zope-systemd/unitgen';
import { HAPROXY_BIN, haproxySkipReason, startHaproxy, type Haproxy } from './harness/haproxy.js';
import { freePort } from './harness/net.js';
import { portBase } from './fixtures/unitgen/stack.js';

const skip = haproxySkipReason();

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
async function runStandalone(t: TestContext, dir: string, text: string): Promise<{ cfg: string; hx: Haproxy }> {
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
  return { cfg: cfg.content, hx };
}

test('the standalone HAProxy configuration is checked by haproxy -c and serves through its frontend', { skip, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zs-standalone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Three different ports (freePort may hand the same one out twice), each listener failing loudly, not hanging.
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [fe, h1, a1] = [...ports] as [number, number, number];
  const servers = await Promise.all([h1].map((port, i) => new Promise<http.Server>((resolve, reject) => {
    const s = http.createServer((_req, res) => { res.end(`client${i + 1}\n`); });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  })));
  // The agent the backend asks (the wrapper's, answered here with the words of a warm client).
  const agent = await agentServer(a1, 'up ready 100%');
  t.after(() => { for (const s of servers) s.close(); agent.close(); });
  const sock = join(dir, 'admin.sock');
  const text = `stack: site
user: plone
directory: /srv/site
clients:
  count: 1
  command: /srv/site/bin/client{n}
  http: 127.0.0.1:${h1}
  health: 127.0.0.1:${a1}
haproxy: { backend: site, stats-socket: ${sock}, check-interval: 200ms, frontend: "127.0.0.1:${fe}", server-state-file: ${join(dir, 'server-state')} }
`;
  writeFileSync(join(dir, 'server-state'), '1\n'); // the documented step before the first start
  const { hx } = await runStandalone(t, dir, text);
  assert.equal(hx.statsSocket, sock, 'the stats socket is the one in the generated global section');
  for (const s of ['client1']) await hx.waitForState('site', s, 'UP', { timeoutMs: 20_000 });
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
  const text = `stack: site
user: plone
directory: /srv/site
clients:
  count: 3
  command: /srv/site/bin/client{n}
  http: "127.0.0.1:{${http}+n}"
  health: "127.0.0.1:{${agent}+n}"
haproxy: { backend: site, stats-socket: ${sock}, check-interval: 1min, frontend: "127.0.0.1:${fe}", server-state-file: ${state} }
`;
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
