// The readers of what systemd, the kernel and HAProxy print, on their real output formats (captured from
// systemd 252 and HAProxy 2.6 on this machine kind), and the recycle choice on status rows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import http from 'node:http';
import { cgroupBytes, chooseClient, parseServers, parseShow, renderTable, selectClients, stackRef, timeSpan, unixTimestamp, wrapperHealth, type ClientStatus, type StackStatus } from '../src/index.js';
import { parseStack } from '@zope-systemd/unitgen';
import { sampleStackConfig } from '../../../test/harness/sample-stack.js';

test('parseShow maps one block per unit, in the order asked, unknown units included', () => {
  const text = 'Id=a.service\nLoadState=loaded\nActiveState=active\nWatchdogUSec=20s\nActiveEnterTimestamp=@1733340000\n\n' +
    'Id=b.service\nLoadState=not-found\nActiveState=inactive\nStatusText=x=y\n';
  const m = parseShow(text, ['a.service', 'b.service']);
  assert.equal(m.get('a.service')!.ActiveState, 'active');
  assert.equal(m.get('b.service')!.LoadState, 'not-found');
  assert.equal(m.get('b.service')!.StatusText, 'x=y', 'a value may contain "="');
  assert.throws(() => parseShow(text, ['a.service']), /2 blocks for 1 units/);
});

test('timeSpan and unixTimestamp read systemctl show --timestamp=unix', () => {
  assert.equal(timeSpan('20s'), 20);
  assert.equal(timeSpan('1min 30s'), 90);
  assert.equal(timeSpan('500ms'), 0.5);
  assert.equal(timeSpan('0'), 0);
  assert.equal(timeSpan('infinity'), undefined);
  assert.equal(timeSpan('20 parsecs'), undefined);
  assert.equal(unixTimestamp('@1733340000'), 1733340000);
  assert.equal(unixTimestamp(''), undefined);
});

test('cgroupBytes reads MemoryCurrent=, and nothing where systemd does not account memory', () => {
  assert.equal(cgroupBytes('104857600'), 104857600);
  assert.equal(cgroupBytes('[not set]'), undefined);
  assert.equal(cgroupBytes('18446744073709551615'), undefined);
  assert.equal(cgroupBytes(''), undefined);
});

test('wrapperHealth takes the instance memory from a real /health answer; an answer without it (an older wrapper) has none', async (t) => {
  let body: unknown = { state: 'running', ready: true, busy: false, memory: { pids: [4242], rssBytes: 150 << 20, pssBytes: 120 << 20 } };
  const asked: string[] = [];
  const server = http.createServer((req, res) => { asked.push(req.url ?? ''); res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(body)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const address = { agent: { host: '127.0.0.1', port: 1, family: 4 as const }, http: { host: '127.0.0.1', port: (server.address() as { port: number }).port, family: 4 as const } };
  const h = await wrapperHealth(address);
  assert.equal(h.summary, 'ready');
  assert.deepEqual(h.memory, { pids: [4242], rssBytes: 150 << 20, pssBytes: 120 << 20 });
  assert.deepEqual(asked, ['/health?memory'], 'it asks for the memory (plain /health leaves it out)');
  body = { state: 'running', ready: true };
  assert.equal((await wrapperHealth(address)).memory, undefined);
  body = { state: 'running', ready: true, memory: { rssBytes: 'lots' } };
  assert.equal((await wrapperHealth(address)).memory, undefined, 'a malformed field is no figure');
});

test('parseServers joins show servers state and show stat: drains by us, by the agent, agent on/off/none', () => {
  const state = [
    '1',
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
    '2 plone 1 client1 127.0.0.1 2 0 100 100 5 6 3 2 6 22 0 0 - 8081 - 0 0 - 127.0.0.1 9081',
    '2 plone 2 client2 127.0.0.1 2 8 100 100 1 6 3 2 6 18 0 0 - 8082 - 0 0 - 127.0.0.1 9082',
    '2 plone 3 client3 127.0.0.1 0 0 100 100 1 8 2 0 6 22 0 0 - 8083 - 0 0 - 127.0.0.1 9083',
    '2 plone 4 client4 127.0.0.1 2 0 100 100 1 6 3 2 6 0 0 0 - 8084 - 0 0 - - 0',
  ].join('\n');
  const stat = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight',
    'plone,client1,0,0,2,3,,10,0,0,,0,,0,0,0,0,UP,100',
    'plone,client2,1,0,0,3,,10,0,0,,0,,0,0,0,0,DRAIN,100',
    'plone,client3,0,0,0,3,,10,0,0,,0,,0,0,0,0,DOWN (agent),100',
    'plone,client4,0,0,0,3,,10,0,0,,0,,0,0,0,0,DRAIN (agent),0',
    'plone,BACKEND,0,0,2,3,,10,0,0,,0,,0,0,0,0,UP,300',
    '',
  ].join('\n');
  const m = parseServers(state, stat, 'plone');
  assert.deepEqual([...m.keys()], ['client1', 'client2', 'client3', 'client4']);
  assert.deepEqual({ ...m.get('client1') }, { backend: 'plone', server: 'client1', status: 'UP', state: 'UP', sessions: 2, agent: 'on', adminDrain: false, weight: 100 });
  assert.equal(m.get('client2')!.state, 'DRAIN');
  assert.equal(m.get('client2')!.agent, 'off');
  assert.equal(m.get('client2')!.adminDrain, true);
  assert.equal(m.get('client2')!.sessions, 1, 'a request queued on the server counts as in flight');
  assert.equal(m.get('client3')!.state, 'DOWN');
  assert.equal(m.get('client4')!.state, 'DRAIN');
  assert.equal(m.get('client4')!.agent, 'none');
  assert.equal(m.get('client4')!.adminDrain, false, 'a drain the agent asked for is not ours');
});

function row(client: string, o: Partial<ClientStatus> & { rss?: number }): ClientStatus {
  return {
    client, unit: `x-${client}.service`, load: 'loaded', active: 'active', sub: 'running', result: 'success', restarts: 0, mainPid: 1,
    uptimeSeconds: 100, statusText: 'ready', watchdog: { enabled: false }, invocation: '', serving: true,
    health: { state: 'running', ready: true, summary: 'ready' },
    ...(o.rss !== undefined ? { memory: { pids: [2], rssBytes: o.rss, pssBytes: o.rss } } : {}),
    ...o,
  };
}

test('chooseClient: the one most over its memory threshold, else the oldest over the age, never while one is not serving', () => {
  const M = 1 << 20;
  const rows = [row('client1', { rss: 300 * M, uptimeSeconds: 9000 }), row('client2', { rss: 500 * M }), row('client3', { rss: 400 * M })];
  assert.equal(chooseClient(rows, { memoryBytes: BigInt(350 * M) }).client, 'client2');
  assert.equal(chooseClient(rows, { memoryBytes: BigInt(600 * M), maxAgeMs: 3600_000 }).client, 'client1');
  assert.equal(chooseClient(rows, { memoryBytes: BigInt(600 * M), maxAgeMs: 86400_000 }).client, undefined);
  const down = chooseClient([...rows.slice(0, 2), row('client3', { rss: 400 * M, serving: false, active: 'failed' })], { memoryBytes: BigInt(350 * M) });
  assert.equal(down.client, undefined);
  assert.match(down.reason, /client3 is not serving/);
});

test('memory: the wrapper\'s RSS when it reports one, else the unit\'s cgroup memory, marked (cg) in the table and named in recycle\'s reason', () => {
  const M = 1 << 20;
  const rows = [row('client1', { rss: 300 * M, cgroupMemoryBytes: 900 * M }), row('client2', { cgroupMemoryBytes: 700 * M })];
  const d = chooseClient(rows, { memoryBytes: BigInt(600 * M) });
  assert.equal(d.client, 'client2', 'client1 is judged by its RSS (300M), not by its cgroup (900M)');
  assert.match(d.reason, /^client2: cgroup memory 700\.0M is over 600\.0M$/);
  assert.deepEqual(d.clients.map((c) => [c.memorySource, c.memoryBytes]), [['rss', 300 * M], ['cgroup', 700 * M]]);
  const unit = { unit: 'x.target', load: 'loaded', active: 'active', sub: 'active', result: 'success', restarts: 0, mainPid: 0, statusText: '', watchdog: { enabled: false }, invocation: '' };
  const s: StackStatus = { stack: 'x', file: 'x.yaml', at: '', target: unit, servers: [], clients: rows, haproxy: { backend: 'x' } };
  const table = renderTable(s);
  assert.match(table, /x-client1\.service .* 300\.0M +300\.0M /);
  assert.match(table, /x-client2\.service .* 700\.0M \(cg\) +- /);
  assert.match(table, /^\(cg\): the unit's cgroup memory \(MemoryCurrent=/m);
  assert.doesNotMatch(renderTable({ ...s, clients: rows.slice(0, 1) }), /\(cg\)/);
});

test('selectClients takes client2, 2 or the unit name, keeps stack order, and names the clients on a typo', () => {
  const s = stackRef(parseStack(sampleStackConfig({ repo: '/srv/x', basePort: 20000, clients: 3 }), { file: 'sample.yaml' }), 'sample.yaml');
  assert.deepEqual(selectClients(s, ['3', 'client1']).map((c) => c.name), ['client1', 'client3']);
  assert.deepEqual(selectClients(s, ['sample-client2.service']).map((c) => c.name), ['client2']);
  assert.throws(() => selectClients(s, ['client9']), (e: Error & { code?: string; hint?: string }) => e.code === 'EUSAGE' && /client1, client2, client3/.test(e.hint ?? ''));
  assert.equal(s.clients[1]!.unit, 'sample-client2.service');
  assert.equal(s.clients[1]!.server, 'client2');
  assert.equal(s.clients[1]!.backend, 'sample');
});
