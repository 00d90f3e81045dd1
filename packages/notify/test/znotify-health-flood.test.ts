// The health listeners under abuse, against real sockets on loopback: floods of idle and reconnecting
// connections on either port while legitimate checks keep coming, malformed HTTP, and secrets in what the
// listeners say. Latencies are printed, not asserted (a loaded machine measures itself); each check has a
// generous hang guard.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import test, { type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckSpec } from '../src/znotify/config.js';
import { agentServer, bind, closeServer, httpServer } from '../src/znotify/health.js';
import { newProbeState } from '../src/znotify/probe.js';
import { ServiceState } from '../src/znotify/state.js';
import { recordingLog } from './helpers/parts.js';

const FLOOD = 300;
const CHECKS = 15;

// The flood runs in a process of its own, as it would in life: the listener's event loop is not the flood's.
// FLOOD connections that never send and never close their side; each is dropped and reopened every 2 s, as in
// the flood that locked out every check.
const FLOOD_SCRIPT = `
const net = require('node:net');
const [port, n] = process.argv.slice(1).map(Number);
let opened = 0;
let closed = 0;
const open = () => {
  opened++;
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  s.resume();
  s.on('end', () => { closed++; });
  // It lets go of nothing itself: it drops its connection and opens a new one every 2 s, whatever happens.
  setTimeout(() => { s.destroy(); open(); }, 2000);
};
for (let i = 0; i < n; i++) open();
setInterval(() => process.send({ opened, closed }), 100);
`;

function flood(t: TestContext, port: number): { stop: () => void; opened: () => number; closedByServer: () => number; started: Promise<void> } {
  const child = spawn(process.execPath, ['-e', FLOOD_SCRIPT, String(port), String(FLOOD)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let counts = { opened: 0, closed: 0 };
  const started = new Promise<void>((resolve) => child.on('message', (m) => { counts = m as typeof counts; if (counts.opened >= FLOOD) resolve(); }));
  const stop = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  t.after(stop);
  return { stop, opened: () => counts.opened, closedByServer: () => counts.closed, started };
}

/** Resolves to 'timeout' when p has not settled within ms: a guard against a hang, not a speed measurement. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let h: NodeJS.Timeout | undefined;
  const guard = new Promise<'timeout'>((r) => { h = setTimeout(() => r('timeout'), ms); });
  try { return await Promise.race([p, guard]); } finally { clearTimeout(h); }
}

function agentCheck(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write('client1\n')); // HAProxy's agent-send
    s.setEncoding('utf8').on('data', (d: string) => { got += d; }).on('end', () => { s.destroy(); resolve(got); }).on('error', reject);
  });
}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw request; resolves with what the server sent until it closed. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    s.setEncoding('utf8').on('data', (d: string) => { got += d; }).on('end', () => resolve(got)).on('close', () => resolve(got)).on('error', (e) => (got ? resolve(got) : reject(e)));
  });
}

/** Runs CHECKS legitimate checks one after another; each must be answered (guard: 5 s). Returns latencies. */
async function legitimate(check: () => Promise<unknown>, accept: (r: unknown) => boolean): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < CHECKS; i++) {
    const t0 = performance.now();
    const r = await within(check().catch((e: Error) => `error ${e.message}`), 5000);
    assert.ok(r !== 'timeout' && accept(r), `check ${i + 1} of ${CHECKS} not answered: ${JSON.stringify(r)}`);
    ms.push(performance.now() - t0);
    await sleep(250); // so that the checks span the flood's 2 s reopen bursts
  }
  return ms.sort((a, b) => a - b);
}

const describe = (ms: number[]) => `median ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} ms, max ${ms[ms.length - 1]!.toFixed(1)} ms`;

test('agent port: 300 connections that never close, reopened every 2 s; every legitimate check is answered', async (t) => {
  const state = new ServiceState('client1', 1, 0);
  const log = recordingLog();
  const server = agentServer(state, net.createServer(), log);
  const { port } = await bind(server, { host: '127.0.0.1', port: 0 }, 'agent');
  t.after(() => closeServer(server));
  const f = flood(t, port);
  await f.started;
  const ms = await legitimate(() => agentCheck(port), (r) => r === 'down #warming up 0/1\n');
  t.diagnostic(`agent under a flood of ${FLOOD} (${f.opened()} connections opened): ${describe(ms)}`);
  // The flood's connections were answered and closed by the wrapper, not kept until their peers let go.
  assert.ok(f.closedByServer() >= FLOOD, `only ${f.closedByServer()} of ${f.opened()} flood connections were closed by the wrapper`);
  f.stop();
});

test('http port: 300 idle connections reopened every 2 s; every legitimate check is answered, the sheds counted and logged', async (t) => {
  const state = new ServiceState('client1', 1, 0);
  const log = recordingLog();
  const server = httpServer(state, () => 0, undefined, log);
  const { port } = await bind(server, { host: '127.0.0.1', port: 0 }, 'http');
  t.after(() => closeServer(server));
  const f = flood(t, port);
  await f.started;
  const ms = await legitimate(() => get(port, '/health/ready'), (r) => (r as { status: number }).status === 503);
  t.diagnostic(`http under a flood of ${FLOOD} idle connections (${f.opened()} opened): ${describe(ms)}`);
  f.stop();
  const metrics = (await get(port, '/metrics')).body;
  const shed = Number(/znotify_health_connections_closed_total\{name="client1",listener="http",reason="shed"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(shed > 0, metrics);
  assert.match(metrics, /znotify_health_connections_closed_total\{name="client1",listener="agent",reason="refused"\} 0/);
  // Logged, but rate-limited: one line for the burst, not one per connection.
  assert.ok(log.lines.length >= 1 && log.lines.length <= 2, JSON.stringify(log.lines));
  assert.match(log.lines[0]!.msg, /^health http: \d+ connections open \(cap 256\): closed \d+ idle to make room, refused 0; a client is flooding it$/);
});

test('http: 400, 405, 414, 431 where they apply, each answered and closed, never a silent reset', async (t) => {
  const state = new ServiceState('client1', 1, 0);
  const server = httpServer(state, () => 0);
  const { port } = await bind(server, { host: '127.0.0.1', port: 0 }, 'http');
  t.after(() => closeServer(server));
  let t0 = performance.now();
  const status = (s: string) => { t.diagnostic(`${s.split('\r\n')[0]!} ${(performance.now() - t0).toFixed(0)} ms`); t0 = performance.now(); return /^HTTP\/1\.1 (\d{3}) /.exec(s)?.[1]; };
  // An unknown method (Node's parser refuses it) and a known one that the listener does not serve.
  const foo = await raw(port, 'FOO /health HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(status(foo), '405');
  assert.match(foo, /\r\nallow: GET, HEAD\r\n/i);
  const post = await get(port, '/health', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  assert.equal(post.headers.connection, 'close');
  // A request target over 2 KiB: 414, whether Node's header limit saw it first or the listener did.
  assert.equal(status(await raw(port, `GET /${'a'.repeat(3000)} HTTP/1.1\r\nHost: x\r\n\r\n`)), '414');
  assert.equal(status(await raw(port, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)), '414');
  // Headers over 8 KiB: 431.
  assert.equal(status(await raw(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`)), '431');
  // A malformed header line: 400.
  assert.equal(status(await raw(port, 'GET /health HTTP/1.1\r\nNo colon here\r\n\r\n')), '400');
  // The listener still answers.
  assert.equal((await get(port, '/health/ready')).status, 503);
});

test('redaction: /health, the agent and /metrics labels never show a password', async (t) => {
  const spec = { name: 'db-postgresql://zope:s3cret@db', type: 'tcp', address: { host: '127.0.0.1', port: 1 }, intervalMs: 1000, timeoutMs: 1000,
    failureThreshold: 1, successThreshold: 1, roles: ['readiness'], graceMs: 0 } as CheckSpec;
  const state = new ServiceState('client1', 1, 0);
  state.addProbes(newProbeState(spec));
  state.warmupProgressed({ done: 0, total: 1, last: '/login_form?__ac_name=admin&__ac_password=s3cret 200 in 3 ms' });
  const http1 = httpServer(state, () => 0);
  const agent = agentServer(state);
  const { port } = await bind(http1, { host: '127.0.0.1', port: 0 }, 'http');
  const { port: agentPort } = await bind(agent, { host: '127.0.0.1', port: 0 }, 'agent');
  t.after(() => Promise.all([closeServer(http1), closeServer(agent)]));
  const health = await get(port, '/health');
  assert.match(health.body, /__ac_password=\*\*\*/);
  assert.doesNotMatch(health.body, /s3cret/);
  assert.doesNotMatch((await get(port, '/metrics')).body, /s3cret/);
  state.startFailed('warm-up budget of 1 s exhausted: /login?__ac_password=s3cret answered 500');
  const reply = await agentCheck(agentPort);
  assert.match(reply, /^down #warm-up budget of 1 s exhausted: \/login\?__ac_password=\*\*\* answered 500\n$/);
  const ready = await get(port, '/health/ready');
  assert.doesNotMatch(ready.body, /s3cret/);
  // A reason cut to the agent's 200 characters is redacted before the cut, which could split off the @.
  state.wrapperFailed(`${'x'.repeat(170)} postgresql://zope:s3cretpassword@db.example.org/zodb`);
  assert.doesNotMatch(await agentCheck(agentPort), /s3/);
});
