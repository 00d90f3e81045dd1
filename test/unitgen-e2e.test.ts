// zunitgen end to end: the stack that `zunitgen generate` writes, run by a real
// systemd 252 (test/harness/box.ts) with real programs: PostgreSQL 15 (a Type=notify unit), the sample ZEO stub,
// three sample instances on waitress behind the built znotify wrapper, and a host-side HAProxy 2.6 fed the
// generated backend snippet. One box for the whole sequence (set-up in test/fixtures/unitgen/stack.ts):
//   0. the stack's user does not exist and var/ is not there: the generated setup unit (systemd-sysusers,
//      systemd-tmpfiles) makes both before ZEO and the clients start, as on a fresh host;
//   1. `systemctl start plone.target` starts PostgreSQL -> ZEO -> client1 -> client2 -> client3, each client only
//      once the previous one is READY (systemd's own monotonic timestamps prove it); the health sockets listen
//      (and accept TCP) before their services start;
//   2. the slice's and a client's limits are in the cgroup files (the box is cgroup v1 hybrid);
//   3. HAProxy with the generated agent-check backend (and with the generated httpchk alternative) sees every client
//      UP once the target is up;
//   4. `systemctl stop plone-client2.service` takes its sockets along (PartOf=), so health checks connecting to
//      its ports afterwards cannot start it again; HAProxy sees it DOWN, the others stay UP;
//   5. restarts that Restart= queues apart (client3, then client2 killed half a second later) warm up one at a
//      time: After= does not order them, the clients' warm-up slot (one lock file in var/) does;
//   6. `systemctl stop plone.target` stops the clients in reverse order, then ZEO, and leaves PostgreSQL alone.
// The instances warm up under the generated sandboxing (checked in the processes), so it is what Zope tolerates.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Box } from './harness/box.js';
import {
  agentLine, agentSocket, BACKEND, clientUnit, healthSocket, HTTPCHK_BACKEND, PG_UNIT, probeTcp, setUpStack, sleep, SLICE, STACK_DIR, stackSkipReason,
  STACK, TARGET, until, ZEO_UNIT,
} from './fixtures/unitgen/stack.js';

const skip = stackSkipReason();
const N = 3;
const CLIENTS = Array.from({ length: N }, (_, i) => i + 1);
const FRESH_USER = 'zsde2eplone';
const SETUP_UNIT = `${STACK}-setup.service`;
const TS = ['ExecMainStartTimestampMonotonic', 'ActiveEnterTimestampMonotonic', 'ActiveState', 'SubState', 'NRestarts', 'Result', 'InvocationID'];
/** PID 1's journal messages with their monotonic time (us), oldest first. */
async function pid1Events(box: Box): Promise<Array<{ us: number; message: string }>> {
  const r = await box.exec(['journalctl', '--no-pager', '-o', 'json', '--output-fields=MESSAGE,__MONOTONIC_TIMESTAMP', '_PID=1'], { timeoutMs: 15_000 });
  return r.stdout.split('\n').filter((l) => l.trim()).map((l) => {
    const j = JSON.parse(l) as { MESSAGE?: string | number[]; __MONOTONIC_TIMESTAMP: string };
    return { us: Number(j.__MONOTONIC_TIMESTAMP), message: Array.isArray(j.MESSAGE) ? Buffer.from(j.MESSAGE).toString('utf8') : (j.MESSAGE ?? '') };
  });
}
const us = (v: string | undefined): number => {
  const x = Number(v);
  assert.ok(Number.isFinite(x) && x > 0, `expected a monotonic timestamp, got ${JSON.stringify(v)}`);
  return x;
};

test('the generated stack in a real systemd: order, slice limits, health sockets, stop, HAProxy', { skip, timeout: 180_000 }, async (t) => {
  // A user the box does not have and no var/: the generated setup unit must make both, as on a fresh host.
  const s = await setUpStack(t, { clients: N, warmupSeconds: 1.5, freshUser: FRESH_USER });
  const { box } = s;
  const hx = s.hx!;
  t.diagnostic(`generated: ${s.generated.join(' ')}`);
  for (const f of [TARGET, SLICE, ZEO_UNIT, SETUP_UNIT, `${STACK}.sysusers.conf`, `${STACK}.tmpfiles.conf`, ...CLIENTS.flatMap((n) => [clientUnit(n), agentSocket(n), healthSocket(n), `${STACK}-client${n}.znotify.yaml`]),
    `haproxy-${STACK}.cfg`, `haproxy-${STACK}-httpchk.cfg`]) {
    assert.ok(s.generated.includes(f), `zunitgen did not create ${f}: ${s.generateOutput}`);
  }
  // systemd loaded every generated unit without complaint.
  for (const u of [TARGET, SLICE, ZEO_UNIT, SETUP_UNIT, ...CLIENTS.flatMap((n) => [clientUnit(n), agentSocket(n), healthSocket(n)])]) {
    const p = await s.show(u, ['LoadState', 'LoadError']);
    assert.equal(p.LoadState, 'loaded', `${u}: ${p.LoadError}`);
  }
  const userBefore = await box.exec(['getent', 'passwd', FRESH_USER], { allowFail: true });
  assert.equal(userBefore.code, 2, `${FRESH_USER} exists before the start: ${userBefore.stdout}`);
  assert.equal((await box.exec(['test', '-e', `${STACK_DIR}/var`], { allowFail: true })).code, 1, 'var/ exists before the start');

  // ---------------------------------------------------------------------------------------- 1. start in order
  // While `systemctl start` runs, watch the last client: its sockets must be active and accept TCP while the
  // service itself has not started yet (it waits for client2, which waits for client1...).
  const startedAt = Date.now();
  let starting = true;
  const start = box.exec(['systemctl', 'start', TARGET], { timeoutMs: 90_000 }).finally(() => { starting = false; });
  const early: Array<{ ms: number; service: string; agent: string; health: string; agentTcp: string; healthTcp: string }> = [];
  while (starting) {
    const [svc, a, h] = await Promise.all([s.show(clientUnit(N), ['ActiveState']), s.show(agentSocket(N), ['ActiveState']), s.show(healthSocket(N), ['ActiveState'])]);
    // A connection while the service has a start job queued does not start it early (systemd.socket(5): the
    // socket's trigger merges into the pending start job); the timestamps below prove the order held anyway.
    const [agentTcp, healthTcp] = svc.ActiveState === 'inactive' && a.ActiveState === 'active'
      ? await Promise.all([probeTcp(s.ports.agent(N)), probeTcp(s.ports.health(N))]) : ['-', '-'];
    early.push({ ms: Date.now() - startedAt, service: svc.ActiveState!, agent: a.ActiveState!, health: h.ActiveState!, agentTcp, healthTcp });
    await sleep(150);
  }
  await start;
  const startMs = Date.now() - startedAt;
  t.diagnostic(`systemctl start ${TARGET} took ${startMs} ms`);

  const pg = await s.show(PG_UNIT, TS);
  const zeo = await s.show(ZEO_UNIT, TS);
  const clients = await Promise.all(CLIENTS.map((n) => s.show(clientUnit(n), TS)));
  const sockets = await Promise.all(CLIENTS.map(async (n) => ({
    agent: await s.show(agentSocket(n), ['ActiveState', 'ActiveEnterTimestampMonotonic']),
    health: await s.show(healthSocket(n), ['ActiveState', 'ActiveEnterTimestampMonotonic']),
  })));
  const target = await s.show(TARGET, ['ActiveState', 'ActiveEnterTimestampMonotonic']);
  const chain: Array<[string, Record<string, string>]> = [[PG_UNIT, pg], [ZEO_UNIT, zeo], ...CLIENTS.map((n, i) => [clientUnit(n), clients[i]!] as [string, Record<string, string>])];
  const t0 = us(pg.ExecMainStartTimestampMonotonic);
  t.diagnostic(chain.map(([u, p]) => `${u}: main started +${((us(p.ExecMainStartTimestampMonotonic) - t0) / 1000).toFixed(0)} ms, active +${((us(p.ActiveEnterTimestampMonotonic) - t0) / 1000).toFixed(0)} ms`).join('; '));

  await t.test('starts PostgreSQL -> ZEO -> client1 -> client2 -> client3, each after the previous one is ready', () => {
    for (const [u, p] of chain) {
      assert.equal(p.ActiveState, 'active', `${u} is ${p.ActiveState}/${p.SubState} (${p.Result})`);
      assert.equal(p.NRestarts ?? '0', '0', `${u} restarted`);
    }
    assert.equal(target.ActiveState, 'active');
    // Each unit's main process started only after the previous unit entered `active` (for Type=notify: READY=1;
    // for the ZEO unit, Type=exec: once ExecStartPost= `zunitgen wait-tcp` saw it accept).
    for (let i = 1; i < chain.length; i++) {
      const [prevUnit, prev] = chain[i - 1]!;
      const [unit, cur] = chain[i]!;
      assert.ok(us(cur.ExecMainStartTimestampMonotonic) >= us(prev.ActiveEnterTimestampMonotonic),
        `${unit} started ${((us(prev.ActiveEnterTimestampMonotonic) - us(cur.ExecMainStartTimestampMonotonic)) / 1000).toFixed(1)} ms before ${prevUnit} was active`);
    }
    // READY means warm: each client was `activating` for at least the sample's cold /Plone (the warm-up), so the
    // order above is not an accident of fast starts; and the whole chain took at least N warm-ups.
    for (const [i, c] of clients.entries()) {
      const activating = us(c.ActiveEnterTimestampMonotonic) - us(c.ExecMainStartTimestampMonotonic);
      assert.ok(activating >= s.warmupSeconds * 1e6, `client${i + 1} became active ${activating} us after its start, inside the ${s.warmupSeconds} s warm-up`);
    }
    assert.ok(us(clients[N - 1]!.ActiveEnterTimestampMonotonic) - us(clients[0]!.ExecMainStartTimestampMonotonic) >= N * s.warmupSeconds * 1e6);
    // The target (implicit After= on what it Wants=, systemd.target(5)) is reached only when all are.
    assert.ok(us(target.ActiveEnterTimestampMonotonic) >= us(clients[N - 1]!.ActiveEnterTimestampMonotonic), 'the target was active before the last client');
    assert.ok(startMs >= N * s.warmupSeconds * 1000, `systemctl start returned after ${startMs} ms`);
  });

  await t.test('the health sockets listen before their services start', () => {
    for (const [i, sk] of sockets.entries()) {
      for (const [kind, p] of Object.entries(sk)) {
        assert.equal(p.ActiveState, 'active', `client${i + 1} ${kind} socket is ${p.ActiveState}`);
        assert.ok(us(p.ActiveEnterTimestampMonotonic) <= us(clients[i]!.ExecMainStartTimestampMonotonic), `client${i + 1} ${kind} socket became active after its service started`);
      }
    }
    // Observed from the host during the start: client3's sockets active and accepting TCP, client3 not started.
    const seen = early.filter((e) => e.service === 'inactive' && e.agent === 'active' && e.health === 'active' && e.agentTcp === 'open' && e.healthTcp === 'open');
    assert.ok(seen.length >= 2, `never saw client${N}'s sockets accept while the service was inactive: ${JSON.stringify(early)}`);
    t.diagnostic(`client${N}'s sockets accepted TCP while it was inactive from ${seen[0]!.ms} to ${seen.at(-1)!.ms} ms into the start`);
  });

  // What the setup unit made (systemd-sysusers, systemd-tmpfiles): the stack's user, its group, var/ as its own.
  const [uid, gid] = (await box.exec(['getent', 'passwd', FRESH_USER])).stdout.split(':').slice(2, 4).map(Number) as [number, number];

  await t.test('a fresh host: the setup unit created the user and var/, before ZEO and the clients started', async () => {
    assert.equal((await box.exec(['getent', 'group', FRESH_USER])).stdout.split(':')[2], String(gid), 'the primary group is the one named like the user');
    assert.equal((await box.exec(['stat', '-c', '%u %g %a %U', `${STACK_DIR}/var`])).stdout.trim(), `${uid} ${gid} 750 ${FRESH_USER}`);
    const setup = await s.show(SETUP_UNIT, ['ActiveState', 'SubState', 'Result', 'ActiveEnterTimestampMonotonic']);
    assert.deepEqual([setup.ActiveState, setup.SubState, setup.Result], ['active', 'exited', 'success']);
    for (const [u, p] of chain.slice(1)) assert.ok(us(p.ExecMainStartTimestampMonotonic) >= us(setup.ActiveEnterTimestampMonotonic), `${u} started before ${SETUP_UNIT} was done`);
  });

  await t.test('the clients run (and warmed up) under the generated sandboxing', async () => {
    // systemd.exec(5): NoNewPrivileges= -> NoNewPrivs 1; SystemCallFilter= -> seccomp mode 2; CapabilityBoundingSet=
    // (empty) -> no capabilities; PrivateTmp=/ProtectSystem= -> a mount namespace of its own; User= -> the stack's user.
    const pid1mnt = (await box.exec(['readlink', '/proc/1/ns/mnt'])).stdout.trim();
    for (const n of CLIENTS) {
      const main = (await s.show(clientUnit(n), ['MainPID'])).MainPID!;
      const kids = (await box.exec(['sh', '-c', `cat /proc/${main}/task/*/children`])).stdout.trim().split(/\s+/).filter(Boolean);
      assert.ok(kids.length >= 1, `client${n}'s wrapper (pid ${main}) has no child`);
      for (const pid of [main, kids[0]!]) {
        const status = (await box.exec(['cat', `/proc/${pid}/status`])).stdout;
        const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
        assert.equal(field('NoNewPrivs'), '1', `client${n} pid ${pid}`);
        assert.equal(field('Seccomp'), '2', `client${n} pid ${pid}`);
        assert.equal(field('CapBnd'), '0000000000000000', `client${n} pid ${pid}`);
        assert.equal(field('Uid')?.split(/\s+/)[0], String(uid), `client${n} pid ${pid}: not the stack's user`);
        assert.notEqual((await box.exec(['readlink', `/proc/${pid}/ns/mnt`])).stdout.trim(), pid1mnt, `client${n} pid ${pid} shares PID 1's mount namespace`);
      }
    }
  });

  await t.test('the slice limits and the per-client limits are in the cgroups', async () => {
    // Hybrid cgroup layout: v1 memory, cpu(,cpuacct), pids hierarchies hold the controllers; the v2 "unified"
    // hierarchy has none (so memory.max / cpu.weight do not exist). Read whichever file exists.
    const read = async (candidates: string[]): Promise<{ file: string; value: string }> => {
      for (const file of candidates) {
        const r = await box.exec(['cat', file], { allowFail: true });
        if (r.code === 0) return { file, value: r.stdout.trim() };
      }
      throw new Error(`none of ${candidates.join(', ')} exists in the box`);
    };
    const files = (cg: string) => ({
      memory: [`/sys/fs/cgroup/memory${cg}/memory.limit_in_bytes`, `/sys/fs/cgroup/unified${cg}/memory.max`, `/sys/fs/cgroup${cg}/memory.max`],
      cpu: [`/sys/fs/cgroup/cpu,cpuacct${cg}/cpu.shares`, `/sys/fs/cgroup/cpu${cg}/cpu.shares`, `/sys/fs/cgroup/unified${cg}/cpu.weight`, `/sys/fs/cgroup${cg}/cpu.weight`],
      pids: [`/sys/fs/cgroup/pids${cg}/pids.max`, `/sys/fs/cgroup/unified${cg}/pids.max`, `/sys/fs/cgroup${cg}/pids.max`],
    });
    const sliceCg = (await s.show(SLICE, ['ControlGroup'])).ControlGroup!;
    assert.equal(sliceCg, `/${SLICE}`);
    const slice = { memory: await read(files(sliceCg).memory), cpu: await read(files(sliceCg).cpu), pids: await read(files(sliceCg).pids) };
    t.diagnostic(`slice: ${JSON.stringify(slice)}`);
    // limits: { memory-max: 1G, cpu-weight: 50, tasks-max: 300 }
    assert.equal(slice.memory.value, String(1024 ** 3), slice.memory.file);
    // v1 has no weights: systemd maps CPUWeight= to cpu.shares = weight * 1024 / 100 (cgroup_cpu_weight_to_shares).
    assert.equal(slice.cpu.value, slice.cpu.file.endsWith('cpu.shares') ? String((50 * 1024) / 100) : '50', slice.cpu.file);
    assert.equal(slice.pids.value, '300', slice.pids.file);
    // io-weight: 200 is a property of the slice, but the box mounts the v1 blkio hierarchy read-only, so systemd
    // cannot make the slice's blkio cgroup there: IOWeight= is not checkable in a box (it is on a real host).
    const io = await s.show(SLICE, ['IOWeight']);
    assert.equal(io.IOWeight, '200');

    // The clients (and ZEO) run inside the slice, so its limits apply to them together.
    for (const u of [ZEO_UNIT, ...CLIENTS.map(clientUnit)]) {
      const p = await s.show(u, ['Slice', 'ControlGroup']);
      assert.equal(p.Slice, SLICE, u);
      assert.equal(p.ControlGroup, `/${SLICE}/${u}`, u);
    }
    const c1 = await s.show(clientUnit(1), ['ControlGroup', 'MemoryMax', 'MemoryHigh', 'TasksMax']);
    const client = { memory: await read(files(c1.ControlGroup!).memory), pids: await read(files(c1.ControlGroup!).pids) };
    t.diagnostic(`client1: ${JSON.stringify(client)}; systemd: MemoryMax=${c1.MemoryMax} MemoryHigh=${c1.MemoryHigh} TasksMax=${c1.TasksMax}`);
    // clients.memory: { high: 200M, max: 256M }. MemoryHigh= exists only in cgroup v2 (systemd.resource-control(5)):
    // systemd keeps the property but has no v1 file to write it to.
    assert.equal(client.memory.value, String(256 * 1024 ** 2), client.memory.file);
    assert.equal(c1.MemoryMax, String(256 * 1024 ** 2));
    assert.equal(c1.MemoryHigh, String(200 * 1024 ** 2));
    // No per-client TasksMax= is generated: the client gets systemd's DefaultTasksMax=, and that is what is set.
    assert.equal(client.pids.value, c1.TasksMax === 'infinity' ? 'max' : c1.TasksMax, client.pids.file);
    // The processes really are in there: the wrapper and the instance of client1.
    const procs = (await box.exec(['cat', `/sys/fs/cgroup/pids${c1.ControlGroup}/cgroup.procs`])).stdout.trim().split('\n').filter(Boolean);
    assert.ok(procs.length >= 2, `client1's cgroup holds ${procs.length} processes`);
  });

  await t.test('clients.checks reach every running wrapper: the generated checks and the one added', async () => {
    for (const n of CLIENTS) {
      const body = await until(`client${n}'s plone check to have run`, async () => {
        const r = await fetch(`http://127.0.0.1:${s.ports.health(n)}/health`, { signal: AbortSignal.timeout(2000) });
        const b = await r.json() as { checks: Array<{ name: string; type: string; roles: string[]; status: string; last?: string }> };
        return b.checks.find((c) => c.name === 'plone')?.last ? b : undefined;
      }, 10_000, 200);
      assert.deepEqual(body.checks.map((c) => `${c.name}:${c.type}`), ['root:http', 'zeo:zeo', 'postgresql:postgresql', 'plone:http'], `client${n}`);
      const plone = body.checks.find((c) => c.name === 'plone')!;
      assert.deepEqual(plone.roles, ['readiness']);
      assert.equal(plone.status, 'pass', `client${n}'s plone check: ${JSON.stringify(plone)}`);
      assert.match(plone.last!, /^200 in /);
    }
  });

  await t.test('HAProxy with the generated backend sees every client UP once the target is up', async () => {
    for (const n of CLIENTS) await hx.waitForState(BACKEND, `client${n}`, 'UP', { timeoutMs: 5000 });
    // The httpchk alternative asks the wrapper's /health/ready on the health HTTP port.
    for (const n of CLIENTS) await hx.waitForState(HTTPCHK_BACKEND, `client${n}`, 'UP', { timeoutMs: 5000 });
    for (const n of CLIENTS) assert.equal(await agentLine(s.ports.agent(n)), 'up ready 100%\n', `client${n}'s agent`);
    // The snippet's agent-check reached the wrappers (not just HAProxy's start state): `show stat` says so.
    const stat = await hx.showStat();
    for (const n of CLIENTS) {
      const row = stat.find((r) => r.pxname === BACKEND && r.svname === `client${n}`);
      assert.ok(row, `no stat row for client${n}`);
      assert.equal(row.status, 'UP', `client${n}: ${JSON.stringify(row)}`);
      assert.match(row.agent_status ?? '', /L7OK/, `client${n} agent_status: ${JSON.stringify(row)}`);
      assert.match(row.check_status ?? '', /L7OK/, `client${n} check_status (tcp-check of the agent): ${JSON.stringify(row)}`);
      const alt = stat.find((r) => r.pxname === HTTPCHK_BACKEND && r.svname === `client${n}`);
      assert.ok(alt, `no stat row for ${HTTPCHK_BACKEND}/client${n}`);
      assert.equal(alt.status, 'UP', `${HTTPCHK_BACKEND}/client${n}: ${JSON.stringify(alt)}`);
      assert.match(alt.check_status ?? '', /L7OK/, `${HTTPCHK_BACKEND}/client${n} check_status: ${JSON.stringify(alt)}`);
    }
  });

  await t.test('stop client2: health checks on its ports do not start it again', async () => {
    const before = await s.show(clientUnit(2), TS);
    await box.systemctl('stop', clientUnit(2));
    // PartOf= on the sockets: the stop took them along, so nothing listens on the health ports any more.
    for (const u of [agentSocket(2), healthSocket(2)]) {
      const p = await s.show(u, ['ActiveState', 'SubState']);
      assert.equal(p.ActiveState, 'inactive', `${u} is ${p.ActiveState}/${p.SubState} after stopping its service`);
    }
    // What HAProxy and any monitoring do: connect to the health ports, again and again.
    const tries: string[] = [];
    for (let i = 0; i < 15; i++) {
      tries.push(await probeTcp(s.ports.agent(2)), await probeTcp(s.ports.health(2)));
      await sleep(100);
    }
    assert.deepEqual([...new Set(tries)], ['refused'], `connections to client2's health ports: ${tries.join(' ')}`);
    // Meanwhile HAProxy's own agent and TCP checks (every 200 ms) kept coming too.
    await hx.waitForState(BACKEND, 'client2', 'DOWN', { timeoutMs: 5000 });
    await hx.waitForState(HTTPCHK_BACKEND, 'client2', 'DOWN', { timeoutMs: 5000 });
    await sleep(1000);
    const after = await s.show(clientUnit(2), TS);
    assert.equal(after.ActiveState, 'inactive', `client2 is ${after.ActiveState}/${after.SubState}`);
    assert.equal(after.SubState, 'dead');
    assert.equal(after.ExecMainStartTimestampMonotonic, before.ExecMainStartTimestampMonotonic, 'client2 was started again');
    const journal = await box.journal(clientUnit(2));
    assert.equal((journal.match(/Starting .*client2/g) ?? []).length, 1, `client2 started more than once:\n${journal}`);
    for (const n of [1, 3]) {
      assert.equal((await s.show(clientUnit(n), ['ActiveState'])).ActiveState, 'active', `client${n}`);
      assert.equal(await hx.serverState(BACKEND, `client${n}`), 'UP', `client${n} in HAProxy`);
    }
    assert.equal(await hx.serverState(BACKEND, 'client2'), 'DOWN');
  });

  await t.test('start client2 again: its sockets come back with it (Sockets=), HAProxy sees it UP', async () => {
    await box.exec(['systemctl', 'start', clientUnit(2)], { timeoutMs: 60_000 });
    for (const u of [clientUnit(2), agentSocket(2), healthSocket(2)]) assert.equal((await s.show(u, ['ActiveState'])).ActiveState, 'active', u);
    // `systemctl start` returns at READY=1; the agent says up once the wrapper's BARRIER=1 after it is through.
    assert.equal(await until('client2\'s agent to say up', async () => { const a = await agentLine(s.ports.agent(2)); return a.startsWith('up') ? a : undefined; }, 5000, 50), 'up ready 100%\n');
    await hx.waitForState(BACKEND, 'client2', 'UP', { timeoutMs: 5000 });
    await hx.waitForState(HTTPCHK_BACKEND, 'client2', 'UP', { timeoutMs: 5000 });
  });

  await t.test('restarts that Restart= queues apart, the last client first, warm up one at a time (the warm-up slot)', async () => {
    // After= orders only jobs queued together: client3 and client2 killed half a second apart come back through
    // Restart= in that order, and client3's start job does not wait for client2's (it waits only for an earlier
    // client's job, and client2's comes later). Without the slot both instances warm up side by side.
    const KILLED = [3, 2];
    // The generated RestartSec=5s only delays both restarts alike: shortened here (one drop-in for every plone-*
    // unit, one daemon-reload), to keep the test short.
    await box.writeUnit(`${STACK}-.service.d/restart-soon.conf`, '[Service]\nRestartSec=100ms\n');
    const before = await Promise.all(KILLED.map((n) => s.show(clientUnit(n), ['NRestarts'])));
    for (const n of KILLED) {
      await box.exec(['systemctl', 'kill', '--signal=SIGKILL', clientUnit(n)]);
      await sleep(500);
    }
    const after = await until('both clients restarted and active', async () => {
      const ps = await Promise.all(KILLED.map((n) => s.show(clientUnit(n), ['NRestarts', 'ActiveState', 'ActiveEnterTimestampMonotonic'])));
      return ps.every((p, i) => p.ActiveState === 'active' && Number(p.NRestarts) > Number(before[i]!.NRestarts)) ? ps : undefined;
    }, 90_000, 200);
    // Each client's warm-up window: from its instance's start (the kernel's start time of the process, in clock
    // ticks since boot) to systemd's READY=1 (ActiveEnterTimestampMonotonic, in us). The slot is taken before the
    // instance is spawned and given back after systemd has READY=1, so each window must begin after the previous
    // one ended: floor() keeps that order at tick resolution.
    const tick = 1e6 / Number((await box.exec(['getconf', 'CLK_TCK'])).stdout.trim());
    const windows = await Promise.all(KILLED.map(async (n, i) => {
      const health = await (await fetch(`http://127.0.0.1:${s.ports.health(n)}/health`, { signal: AbortSignal.timeout(5000) })).json() as { pid: number };
      const stat = (await box.exec(['cat', `/proc/${health.pid}/stat`])).stdout;
      const startTick = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      return { n, startTick, readyTick: Math.floor(us(after[i]!.ActiveEnterTimestampMonotonic) / tick) };
    }));
    windows.sort((a, b) => a.startTick - b.startTick);
    t.diagnostic(`warm-up windows (ticks of ${tick / 1000} ms): ${windows.map((w) => `client${w.n} ${w.startTick}..${w.readyTick}`).join(', ')}`);
    for (let i = 1; i < windows.length; i++) {
      assert.ok(windows[i]!.startTick >= windows[i - 1]!.readyTick, `client${windows[i]!.n}'s instance started before client${windows[i - 1]!.n} was ready: ${JSON.stringify(windows)}`);
    }
    // The slot is what kept them apart: the later one waited for it, and said for whom.
    const journal = (await Promise.all(KILLED.map((n) => box.journal(clientUnit(n))))).join('\n');
    assert.match(journal, /waiting for the warm-up slot \(\/srv\/zsd-e2e\/var\/warmup\.slot\): client\d \(pid \d+\) is warming up/);
    assert.match(journal, /took the warm-up slot after [\d.]+ m?s: starting the instance/);
  });

  await t.test('stop plone.target: clients in reverse order, then ZEO; PostgreSQL is not part of the stack', async () => {
    const seen = (await pid1Events(box)).length;
    const t1 = Date.now();
    await box.exec(['systemctl', 'stop', TARGET], { timeoutMs: 60_000 });
    const returnedMs = Date.now() - t1;
    // systemctl waits for the target's own stop job only, and the target stops FIRST (it is ordered after its
    // members, and stop order is the reverse): the stack is still going down when systemctl returns. Wait for it.
    const members = [ZEO_UNIT, ...CLIENTS.map(clientUnit)];
    await until('the stack to be down', async () => {
      for (const u of members) if ((await s.show(u, ['ActiveState'])).ActiveState !== 'inactive') return undefined;
      return true;
    }, 30_000, 100);
    t.diagnostic(`systemctl stop ${TARGET} returned after ${returnedMs} ms; the stack was down after ${Date.now() - t1} ms`);
    for (const n of CLIENTS) for (const u of [agentSocket(n), healthSocket(n)]) assert.equal((await s.show(u, ['ActiveState'])).ActiveState, 'inactive', u);
    // Once down and unreferenced (the target is stopped, nothing is enabled) systemd unloads the units and their
    // timestamps with them: the order comes from PID 1's own "Stopping X..." / "Stopped X." journal entries.
    const events = (await pid1Events(box)).slice(seen);
    const at = (verb: 'Stopping' | 'Stopped', u: string): number => {
      const e = events.find((x) => x.message.startsWith(`${verb} ${u}`));
      assert.ok(e, `no "${verb} ${u}" in the journal`);
      return e.us;
    };
    // After= orders stops in reverse (systemd.unit(5)): each unit of the chain began to stop only once the one
    // after it was down: client3, client2, client1, ZEO.
    const chain = [...CLIENTS.map(clientUnit).reverse(), ZEO_UNIT];
    for (let i = 1; i < chain.length; i++) {
      assert.ok(at('Stopped', chain[i - 1]!) <= at('Stopping', chain[i]!), `${chain[i]} began to stop before ${chain[i - 1]} was down`);
    }
    assert.ok(!events.some((x) => x.message.startsWith(`Stopping ${PG_UNIT}`)), 'PostgreSQL was stopped with the stack');
    assert.equal((await s.show(PG_UNIT, ['ActiveState'])).ActiveState, 'active');
  });

  await t.test('a ZEO server that exits at once: its ExecStartPost= wait-tcp gives up at once and says the server exited, not the ready timeout', async () => {
    // The generated ZEO unit with a command that exits 2 at once (as when its program is missing). The stack's
    // ready-timeout is 30s; the journal says which of the two ended the wait: the exited server or the timeout.
    await box.writeUnit(`${ZEO_UNIT}.d/dies.conf`, "[Service]\nExecStart=\nExecStart=/bin/sh -c 'exit 2'\n");
    await box.exec(['systemctl', '--no-block', 'start', ZEO_UNIT]);
    try {
      const journal = await until('wait-tcp to end after the ZEO command exited', async () => {
        const j = await box.journal(ZEO_UNIT);
        return /the server exited|nothing accepted connections/.test(j) ? j : undefined;
      }, 60_000, 200);
      assert.match(journal, /Main process exited, code=exited, status=2/);
      assert.match(journal, /zunitgen: the server exited \(main pid \d+\) before it accepted connections on 127\.0\.0\.1:\d+/);
      assert.doesNotMatch(journal, /nothing accepted connections/);
      // A failure, which Restart=on-failure answers by trying again, each attempt ending the same way.
      assert.match(journal, /Failed with result 'exit-code'|Control process exited, code=exited, status=1/);
    } finally {
      await box.exec(['systemctl', 'stop', ZEO_UNIT], { timeoutMs: 30_000, allowFail: true });
    }
  });
});
