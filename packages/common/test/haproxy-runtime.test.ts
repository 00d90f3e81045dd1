// The one HAProxy Runtime API client (haproxy-runtime.ts) against a real HAProxy 2.6: over its unix socket and
// over TCP (host:port), one answer per command in one exchange, `show stat` and `show servers state` read from
// what HAProxy really prints, a request in flight counted, and every way an exchange fails as its own code.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import test from 'node:test';
import { haproxyConfig, haproxySkipReason, useHaproxy } from '../../../test/harness/haproxy.js';
import { freePort, until } from '../../../test/harness/net.js';
import {
  parseServersState, parseShowStat, RuntimeApiError, runtimeApiTarget, runtimeCommand, runtimeExchange, serverStat, serverStatOf,
  setServerState, showStatCommand, type RuntimeApiErrorCode,
} from '../src/haproxy-runtime.js';

const code = (c: RuntimeApiErrorCode, text?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof RuntimeApiError, `a RuntimeApiError, got ${String(e)}`);
  assert.equal(e.code, c, e.message);
  if (text) assert.match(e.message, text);
  return true;
};

test('the socket address: a unix path, host:port, [v6]:port; nothing else', () => {
  assert.deepEqual(runtimeApiTarget('/run/haproxy/admin.sock'), { path: '/run/haproxy/admin.sock' });
  assert.deepEqual(runtimeApiTarget('127.0.0.1:9999'), { host: '127.0.0.1', port: 9999 });
  assert.deepEqual(runtimeApiTarget('lb.example.org:9999'), { host: 'lb.example.org', port: 9999 });
  assert.deepEqual(runtimeApiTarget('[::1]:9999'), { host: '::1', port: 9999 });
  assert.deepEqual(runtimeApiTarget('[::FFFF:127.0.0.1]:9999'), { host: '::ffff:127.0.0.1', port: 9999 });
  for (const bad of ['admin.sock', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', ':9999', '[::1]', 'a b:1', '300.1.1.1:9999', '[lb]:9999']) assert.equal(runtimeApiTarget(bad), undefined, bad);
});

test('show stat and show servers state as HAProxy 2.6 prints them; anything else is refused', () => {
  const stat = '# pxname,svname,qcur,qmax,scur,smax,status,weight\nfe,FRONTEND,,,0,1,OPEN,\nplone,client1,0,0,2,3,UP,100\nplone,client2,1,1,0,1,DRAIN (agent),0\nplone,BACKEND,0,0,2,3,UP,100\n\n';
  const rows = parseShowStat(stat);
  assert.deepEqual(rows.map((r) => r.server), ['client1', 'client2']);
  assert.deepEqual(serverStatOf(rows, 'plone', 'client2'), { backend: 'plone', server: 'client2', status: 'DRAIN (agent)', current: 0, queued: 1, weight: 0 });
  assert.throws(() => serverStatOf(rows, 'plone', 'client9', '/x.sock'), code('ERR_RUNTIME_API_UNKNOWN_SERVER', /^HAProxy stats socket \/x\.sock: HAProxy has no server plone\/client9/));
  assert.throws(() => parseShowStat('No such proxy.'), code('ERR_RUNTIME_API_ANSWER', /not a show stat answer: "No such proxy\."/));
  assert.throws(() => parseShowStat('# pxname,svname,scur,status\nplone,client1,0,UP\n'), code('ERR_RUNTIME_API_ANSWER', /no qcur column/));
  const state = '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state\n'
    + '2 plone 1 client1 127.0.0.1 2 8 100 100 5 6 3 2 6 18 0 0 - 8081 - 0 0 - 127.0.0.1 9081\n';
  assert.deepEqual(parseServersState(state), [{ backend: 'plone', server: 'client1', opState: 2, adminState: 8, agentState: 18, weight: 100 }]);
});

test('a real HAProxy: exchanges over its unix and TCP sockets, sessions in flight, refusals, and every failure', { skip: haproxySkipReason(), timeout: 60_000 }, async (t) => {
  // A backend server that holds each request until it is let go: the session in flight is there for as long as the test needs it.
  const held: http.ServerResponse[] = [];
  const app = http.createServer((_req, res) => { held.push(res); });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  t.after(() => { app.closeAllConnections(); app.close(); });
  const appPort = (app.address() as AddressInfo).port;
  const [front, api] = [await freePort(), await freePort()];
  const base = haproxyConfig([{ name: 'plone', frontendPort: front, servers: [{ name: 'client1', port: appPort }, { name: 'client2', port: await freePort(), check: true }] }]);
  const hx = await useHaproxy(t, { config: base.replace(/^global$/m, `global\n  stats socket /tmp/common-runtime-${process.pid}.sock mode 600 level admin\n  stats socket ipv4@127.0.0.1:${api} level admin`) });
  const tcp = `127.0.0.1:${api}`;

  await t.test('one exchange, one answer per command, in order, over either socket', async () => {
    for (const address of [hx.statsSocket, tcp]) {
      const [ok, refused, stat] = await runtimeExchange(address, ['set server plone/client1 state ready', 'set server plone/nosuch state drain', showStatCommand('plone')]);
      assert.equal(ok, '');
      assert.equal(refused, 'No such server.');
      assert.deepEqual(parseShowStat(stat!).map((r) => [r.server, r.status]), [['client1', 'no check'], ['client2', 'DOWN']]);
    }
    assert.match(await runtimeCommand(tcp, 'show info'), /^Name: HAProxy/m);
  });

  await t.test('set server state and show servers state agree with what HAProxy does', async () => {
    assert.equal(await setServerState(tcp, 'plone', 'client1', 'drain'), '');
    assert.equal(await hx.serverState('plone', 'client1'), 'DRAIN');
    const line = parseServersState(await runtimeCommand(hx.statsSocket, 'show servers state plone')).find((l) => l.server === 'client1');
    assert.equal(line!.adminState & 0x08, 0x08, 'FDRAIN set over the Runtime API');
    assert.equal((await serverStat(tcp, 'plone', 'client1')).status, 'DRAIN');
    assert.equal(await setServerState(hx.statsSocket, 'plone', 'client1', 'ready'), '');
    assert.equal(await hx.serverState('plone', 'client1'), 'UP');
    assert.equal(await setServerState(tcp, 'plone', 'nosuch', 'drain'), 'No such server.');
  });

  await t.test('a request in flight is a session on its server until its answer is sent', async () => {
    const answer = fetch(`http://127.0.0.1:${front}/`).then((r) => r.text());
    await until('the request reached the backend server', () => (held.length > 0 ? true : undefined));
    assert.deepEqual(await serverStat(tcp, 'plone', 'client1').then((s) => [s.current, s.queued]), [1, 0]);
    held.shift()!.end('done');
    assert.equal(await answer, 'done');
    await until('no session left', async () => ((await serverStat(tcp, 'plone', 'client1')).current === 0 ? true : undefined));
  });

  await t.test('unknown names, and commands never sent', async () => {
    await assert.rejects(serverStat(tcp, 'plone', 'client9'), code('ERR_RUNTIME_API_UNKNOWN_SERVER', /no server plone\/client9/));
    await assert.rejects(serverStat(tcp, 'nosuch', 'client1'), code('ERR_RUNTIME_API_ANSWER', /No such proxy/));
    await assert.rejects(runtimeCommand(tcp, 'set server plone/client1 state drain; shutdown sessions server plone/client1'), code('ERR_RUNTIME_API_COMMAND', /newline or ';'/));
    await assert.rejects(runtimeCommand(tcp, 'x\nshutdown'), code('ERR_RUNTIME_API_COMMAND'));
    assert.equal(await hx.serverState('plone', 'client1'), 'UP', 'nothing of a refused command reached HAProxy');
  });

  await t.test('unreachable, silent, cancelled', async (tt) => {
    await assert.rejects(runtimeCommand('/nonexistent/admin.sock', 'show info'), code('ERR_RUNTIME_API_UNREACHABLE', /^HAProxy stats socket \/nonexistent\/admin\.sock: ENOENT$/));
    const closed = await freePort();
    await assert.rejects(runtimeCommand(`127.0.0.1:${closed}`, 'show info'), code('ERR_RUNTIME_API_UNREACHABLE', /ECONNREFUSED/));
    await assert.rejects(runtimeCommand('admin.sock', 'show info'), code('ERR_RUNTIME_API_UNREACHABLE', /not a unix socket path or host:port/));
    // A peer that accepts and never answers: the exchange ends at its bound.
    const peers: net.Socket[] = [];
    const silent = net.createServer((s) => { s.on('error', () => {}); peers.push(s); });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    tt.after(() => { for (const s of peers) s.destroy(); silent.close(); });
    const quiet = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    await assert.rejects(runtimeCommand(quiet, 'show info', { timeoutMs: 200 }), code('ERR_RUNTIME_API_TIMEOUT', /no answer to "show info" within 200 ms/));
    const ac = new AbortController();
    const cancelled = runtimeCommand(quiet, 'show info', { timeoutMs: 30_000, signal: ac.signal });
    ac.abort();
    await assert.rejects(cancelled, code('ERR_RUNTIME_API_ABORTED'));
    await assert.rejects(runtimeCommand(quiet, 'show info', { signal: AbortSignal.abort() }), code('ERR_RUNTIME_API_ABORTED'));
  });
});
