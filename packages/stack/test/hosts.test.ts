// zstack over hosts, the parts that need no machine: which host runs which unit, the ClientRefs (server names that
// say host and client), and the status table's HOST column and unreachable-host line. The same over real hosts
// (systemctl -H to three systemd boxes, HAProxy, wrk) is test/hosts-e2e.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStack, sampleHostsStackConfig } from '@zope-systemd/unitgen';
import { renderTable, stackRef, unitStatus, UNIT_PROPS, type StackStatus, type UnitProps } from '../src/index.js';
import { unitHosts } from '../src/hosts.js';

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
