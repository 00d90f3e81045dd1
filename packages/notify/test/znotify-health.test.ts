// The health listeners against real clients on loopback: what a misbehaving peer can and cannot hold.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../../test/harness/net.js';
import type { StartError } from '../src/znotify/errors.js';
import { agentServer, bind, closeServer, httpServer, openHealthListeners } from '../src/znotify/health.js';
import { ServiceState } from '../src/znotify/state.js';
import { recordingLog } from './helpers/parts.js';

/** A client that connects, then sends one byte every 200 ms and never closes (not even its half after the
 *  server's FIN): never idle, never done. */
function trickle(port: number): { sock: net.Socket; closedByServer: Promise<void>; stop: () => void } {
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  sock.on('error', () => {});
  sock.resume();
  const timer = setInterval(() => { if (!sock.destroyed) sock.write('x'); }, 200);
  const closedByServer = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  return { sock, closedByServer, stop: () => { clearInterval(timer); sock.destroy(); } };
}

/** Resolves to 'timeout' when p has not settled within ms: a guard against a hang, not a speed measurement. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let h: NodeJS.Timeout | undefined;
  const guard = new Promise<'timeout'>((r) => { h = setTimeout(() => r('timeout'), ms); });
  try { return await Promise.race([p, guard]); } finally { clearTimeout(h); }
}

test('agent: a trickling client is cut off, and cannot hold up closing the listener', async (t) => {
  const server = agentServer(new ServiceState('client1', 1, 0));
  const { port } = await bind(server, { host: '127.0.0.1', port: 0 }, 'agent listener');
  const a = trickle(port);
  const b = trickle(port);
  t.after(() => { a.stop(); b.stop(); server.close(); });
  // Both were answered and keep sending after that: an idle timeout would never fire for them.
  await sleep(300);
  // The first is cut off by its deadline (2 s), whatever it sends.
  assert.notEqual(await within(a.closedByServer, 10_000), 'timeout', 'a client sending a byte every 200 ms kept its agent socket for 10 s');
  // The second is still there when the listener closes: closing must end it rather than wait for it.
  const c = trickle(port);
  t.after(() => c.stop());
  await sleep(300);
  assert.notEqual(await within(closeServer(server), 10_000), 'timeout', 'closeServer waited for a client that never closes');
  assert.notEqual(await within(c.closedByServer, 10_000), 'timeout');
});

test('agent: the answer still arrives whole, and HAProxy\'s agent-send string is read', async (t) => {
  const state = new ServiceState('client1', 3, 0);
  const server = agentServer(state);
  const { port } = await bind(server, { host: '127.0.0.1', port: 0 }, 'agent listener');
  t.after(() => server.close());
  const answer = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write('client1 hello\n'));
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => { got += d; });
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
  assert.equal(answer, state.agentReply());
  assert.match(answer, /^down #warming up 0\/3\n$/);
});

test('agent: each answer follows the state at once and is redacted (the redacted line is kept until it changes)', async (t) => {
  const state = new ServiceState('client1', 1, 0);
  const server = agentServer(state);
  const { port } = await bind(server, { host: '127.0.0.1', port: 0 }, 'agent listener');
  t.after(() => server.close());
  const ask = () => new Promise<string>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.setEncoding('utf8').on('data', (d: string) => { got += d; });
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
  assert.equal(await ask(), 'down #warming up 0/1\n');
  assert.equal(await ask(), 'down #warming up 0/1\n');
  state.startFailed('warm-up budget exhausted: http://admin:s3cret@127.0.0.1:8080/Plone refused');
  const failed = await ask();
  assert.match(failed, /^down #.*admin:\*\*\*@127\.0\.0\.1:8080/);
  assert.doesNotMatch(failed, /s3cret/);
  assert.equal(await ask(), failed);
});

test('http: a client that connects and sends nothing is closed within seconds, not after 30', async (t) => {
  const server = httpServer(new ServiceState('client1', 1, 0), () => 0);
  const { port } = await bind(server, { host: '127.0.0.1', port: 0 }, 'health listener');
  t.after(() => { server.closeAllConnections(); server.close(); });
  const silent = net.connect(port, '127.0.0.1');
  silent.on('error', () => {});
  // It sends nothing, but reads: the server answers 408 before it closes, and the close is seen after that.
  let got = '';
  silent.setEncoding('utf8').on('data', (d: string) => { got += d; });
  t.after(() => silent.destroy());
  const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
  // headersTimeout is 5 s; Node checks it every connectionsCheckingInterval (default 30 s, here 1 s).
  assert.notEqual(await within(closed, 15_000), 'timeout', 'a silent connection was held for 15 s');
  assert.match(got, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  // The listener still answers.
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/health/live' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
  assert.ok(status === 200 || status === 503, `GET /health/live answered ${status}`);
});

test('health listeners: both bound where configured and answering; one that cannot bind closes the other', async (t) => {
  const state = new ServiceState('client1', 1, 0);
  const log = recordingLog();
  const l = await openHealthListeners({ agent: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
    [{ fd: 42, name: 'metrics' }], state, () => 0, log);
  t.after(() => l.close());
  assert.ok(l.bound.agent!.port > 0 && l.bound.http!.port > 0);
  assert.deepEqual(log.lines.map((x) => x.msg), [
    'ignoring a passed socket that is not named agent or http (set FileDescriptorName=)', 'health agent listening', 'health http listening',
  ]);
  const reply = await new Promise<string>((resolve, reject) => {
    let d = '';
    net.connect(l.bound.agent!.port, '127.0.0.1').setEncoding('utf8').on('data', (x: string) => { d += x; }).on('end', () => resolve(d)).on('error', reject);
  });
  assert.equal(reply, 'down #warming up 0/1\n');
  assert.equal(state.counters.agentRequests, 1);
  await l.close();

  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => { busy.close(); });
  const agentPort = await freePort();
  await assert.rejects(
    openHealthListeners({ agent: { host: '127.0.0.1', port: agentPort }, http: { host: '127.0.0.1', port: (busy.address() as net.AddressInfo).port } }, [], state, () => 0, log),
    (err: StartError) => err.code === 'ERR_ZNOTIFY_ADDRESS_IN_USE' && /^health http 127\.0\.0\.1:\d+ is already in use/.test(err.message),
  );
  const refused = await new Promise<boolean>((resolve) => {
    const c = net.connect(agentPort, '127.0.0.1', () => { c.destroy(); resolve(false); });
    c.on('error', () => resolve(true));
  });
  assert.equal(refused, true, 'the agent listener opened first was closed again');
});

/** GET path from a given local (source) address: other loopback addresses stand in for other hosts. */
function getFrom(localAddress: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('http: full detail only for peers in health.detail-from; any other peer gets the state alone, /metrics 403; the agent port speaks only the agent protocol', async (t) => {
  const state = new ServiceState('client1', 2, 0);
  const l = await openHealthListeners({ agent: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, detailFrom: ['127.0.0.1/32', '127.0.0.3'] },
    [], state, () => 0, recordingLog());
  t.after(() => l.close());
  const port = l.bound.http!.port;
  for (const from of ['127.0.0.1', '127.0.0.3']) {
    const full = await getFrom(from, port, '/health');
    assert.equal(full.status, 503);
    const body = JSON.parse(full.body) as Record<string, unknown>;
    assert.equal(body.name, 'client1');
    assert.ok('checks' in body && 'warmup' in body && 'pid' in body, full.body);
    assert.equal((await getFrom(from, port, '/metrics')).status, 200);
  }
  // 127.0.0.2 is not listed: the same status codes, the state and nothing else.
  assert.deepEqual(await getFrom('127.0.0.2', port, '/health'), { status: 503, body: '{"state":"starting","phase":"starting","ready":false}\n' });
  assert.deepEqual(await getFrom('127.0.0.2', port, '/health/ready'), { status: 503, body: '{"state":"starting","phase":"starting","ready":false}\n' });
  const live = await getFrom('127.0.0.2', port, '/health/live');
  assert.deepEqual(Object.keys(JSON.parse(live.body) as object), ['state', 'phase', 'live']);
  assert.deepEqual(await getFrom('127.0.0.2', port, '/metrics'), { status: 403, body: 'forbidden: /metrics is served to health.detail-from only\n' });

  // An HTTP request to the agent port gets the one agent line, whoever asks: no request is parsed, no detail given.
  const agentAnswer = await new Promise<string>((resolve, reject) => {
    let d = '';
    const s = net.connect({ host: '127.0.0.1', port: l.bound.agent!.port, localAddress: '127.0.0.1' }, () => s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.setEncoding('utf8').on('data', (x: string) => { d += x; }).on('end', () => resolve(d)).on('error', reject);
  });
  assert.equal(agentAnswer, state.agentReply());
});

test('http: without health.detail-from, loopback peers get the detail and no other peer does', async (t) => {
  const state = new ServiceState('client1', 1, 0);
  const server = httpServer(state, () => 0);
  const { port } = await bind(server, { host: '0.0.0.0', port: 0 }, 'health listener');
  t.after(() => { server.closeAllConnections(); server.close(); });
  assert.match((await getFrom('127.0.0.2', port, '/health')).body, /"checks"/);
  // Any address of this machine that is not loopback stands for "another host".
  const other = Object.values((await import('node:os')).networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (!other) { t.diagnostic('no non-loopback IPv4 address here: the other half needs one'); return; }
  const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get({ host: other, port, path: '/health', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  assert.deepEqual(r, { status: 503, body: '{"state":"starting","phase":"starting","ready":false}\n' });
});
