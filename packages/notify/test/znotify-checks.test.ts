// Each check type against a real peer: node http on port 0, real TCP, the ZEO stub (sample/zeo_server.py),
// a throw-away PostgreSQL 15 cluster, real commands. Nothing is mocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { commandCheck, FrameReader, frame, HttpProber, postgresCheck, runCheck, tcpCheck, zeoCheck } from '../src/znotify/checks.js';
import type { CheckSpec } from '../src/znotify/config.js';
import { freePort } from '../../../test/harness/net.js';
import { sampleSkipReason, startInstance, startZeoServer } from '../../../test/harness/proc.js';
import { postgresSkipReason, usePostgres } from '../../../test/harness/postgres.js';

const loop = (port: number) => ({ host: '127.0.0.1', port });

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}
async function close(server: net.Server): Promise<void> {
  if (server instanceof http.Server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  } else {
    server.close(); // raw test servers: do not wait for peers' half-closed sockets
  }
}

test('http: status, expected text, Host header, one pooled connection, a timeout answers at its time', async (t) => {
  const seen: Array<{ url: string; host: string | undefined; port: number }> = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url!, host: req.headers.host, port: req.socket.remotePort! });
    if (req.url === '/slow') { setTimeout(() => res.end('late'), 1500); return; }
    if (req.url === '/Plone') { res.setHeader('content-type', 'text/html'); res.end('<html><body>Plone</body></html>'); return; }
    res.statusCode = req.url === '/' ? 200 : 404;
    res.end(req.url === '/' ? 'ok' : 'x'.repeat(100_000));
  });
  const port = await listen(server);
  const prober = new HttpProber(loop(port));
  t.after(async () => { await prober.close(); await close(server); });

  const a = await prober.get({ path: '/', status: 200, timeoutMs: 2000 });
  assert.equal(a.ok, true);
  assert.match(a.detail, /^200 in \d+ ms$/);
  const b = await prober.get({ path: '/Plone', status: 200, text: '</html>', host: 'www.example.org', timeoutMs: 2000 });
  assert.equal(b.ok, true, b.detail);
  assert.equal(seen[1]!.host, 'www.example.org');
  assert.equal(seen[0]!.host, `127.0.0.1:${port}`);
  for (let i = 0; i < 6; i++) await prober.get({ path: '/', status: 200, timeoutMs: 2000 });
  assert.ok(new Set(seen.map((s) => s.port)).size < seen.length, 'pooled connections are reused');
  const c = await prober.get({ path: '/Plone', status: 200, text: 'Zope', timeoutMs: 2000 });
  assert.equal(c.ok, false);
  assert.match(c.detail, /^200 without "Zope" in \d+ ms$/);
  const d = await prober.get({ path: '/nope', status: 200, timeoutMs: 2000 });
  assert.equal(d.ok, false);
  assert.match(d.detail, /^404 \(expected 200\) in /);
  const t0 = Date.now();
  const e = await prober.get({ path: '/slow', status: 200, timeoutMs: 200 });
  assert.ok(Date.now() - t0 < 1000, 'answered at the timeout');
  assert.equal(e.ok, false);
  assert.equal(e.timedOut, true);
  assert.equal(e.kept, true, 'the request stays open until answered');
  assert.equal(e.detail, 'timed out after 200 ms');
  const ac = new AbortController();
  const pending = prober.get({ path: '/slow', status: 200, timeoutMs: 5000 }, ac.signal);
  ac.abort();
  assert.equal((await pending).detail, 'cancelled');
});

test('http check that times out while TCP connects is marked tcpConnects (busy); refused is not', async (t) => {
  // A server that accepts but never answers: a one-thread instance with its thread occupied.
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => { sockets.push(s); });
  const port = await listen(server);
  const spec: CheckSpec = {
    name: 'root', type: 'http', address: loop(port), path: '/', status: 200, intervalMs: 1000, timeoutMs: 150,
    failureThreshold: 1, successThreshold: 1, roles: ['liveness'], graceMs: 0,
  };
  const probers = new Map<number, HttpProber>();
  const deps = { env: {}, http: (a: { host: string; port: number }) => { let p = probers.get(a.port); if (!p) { p = new HttpProber(a); probers.set(a.port, p); } return p; } };
  t.after(async () => { for (const p of probers.values()) await p.close(); for (const s of sockets) s.destroy(); await close(server); });
  const r = await runCheck(spec, deps);
  assert.equal(r.timedOut, true);
  assert.equal(r.tcpConnects, true);
  const free = await freePort();
  const r2 = await runCheck({ ...spec, address: loop(free) }, deps);
  assert.equal(r2.ok, false);
  assert.equal(r2.timedOut, false);
  assert.equal(r2.detail, 'connection refused');
  assert.equal(r2.tcpConnects, undefined);
});

/** waitress's "Task queue depth is N" lines so far: how many requests waited for a worker thread. */
function queueDepths(output: string): number[] {
  return [...output.matchAll(/Task queue depth is (\d+)/g)].map((m) => Number(m[1]));
}

test('http probes into a hung one-thread waitress: one in flight, later runs time out without sending', { skip: sampleSkipReason() }, async (t) => {
  const port = await freePort();
  const inst = await startInstance({ port });
  const prober = new HttpProber(loop(port));
  t.after(async () => { await prober.close(); await inst.stop(); });
  const spec: CheckSpec = {
    name: 'root', type: 'http', address: loop(port), path: '/', status: 200, intervalMs: 200, timeoutMs: 200,
    failureThreshold: 1, successThreshold: 1, roles: ['liveness'], graceMs: 0,
  };
  const deps = { env: {}, http: () => prober };
  // Answered before the hang: a hang guard, not the 200 ms the runs during the hang are given.
  assert.equal((await runCheck({ ...spec, timeoutMs: 10_000 }, deps)).ok, true);
  assert.equal((await fetch(`http://127.0.0.1:${port}/hang`, { method: 'POST', signal: AbortSignal.timeout(10_000) })).status, 202);
  const runs = [];
  for (let i = 0; i < 6; i++) runs.push(await runCheck(spec, deps));
  // Each run is a busy timeout (TCP still connects), as before: the hang detection is unchanged.
  for (const r of runs) assert.deepEqual([r.ok, r.timedOut, r.tcpConnects], [false, true, true], r.detail);
  assert.equal(runs[0]!.detail, 'timed out after 200 ms');
  for (const r of runs.slice(1)) assert.match(r.detail, /^timed out after 200 ms, GET \/ sent [\d.]+ m?s ago still unanswered \(none sent\)$/);
  // One probe reached waitress's queue during the hang (a closed connection would have left each run's task
  // queued: depth 1, 2, 3, ... one per run). Counted from the hang on: before it, a request that arrives while
  // the one thread is still finishing the previous one is logged as depth 1 too, on a loaded machine. The
  // first line after the hang is the sample's own HangTask, queued by POST /hang (depth 1); the probe's is 1, or 2
  // when it arrived before the thread, still finishing POST /hang after its 202 went out, took the HangTask.
  const sinceHang = () => inst.output().slice(inst.output().indexOf('hang requested'));
  await inst.waitForOutput(/hang requested[\s\S]*Task queue depth is \d+[\s\S]*Task queue depth is \d+/, { timeoutMs: 10_000 });
  const depths = queueDepths(sinceHang());
  assert.ok(depths.length === 2 && depths[0] === 1 && depths[1]! <= 2, inst.output());
  assert.ok(queueDepths(inst.output()).every((d) => d <= 2), inst.output());
});

test('http probes: one that times out is kept until answered, and frees the way for the next', { skip: sampleSkipReason() }, async (t) => {
  const port = await freePort();
  const inst = await startInstance({ port });
  const prober = new HttpProber(loop(port));
  t.after(async () => { await prober.close(); await inst.stop(); });
  const slow = await prober.get({ path: '/slow?seconds=1', status: 200, timeoutMs: 100 });
  assert.deepEqual([slow.ok, slow.detail], [false, 'timed out after 100 ms']);
  const blocked = await prober.get({ path: '/', status: 200, timeoutMs: 100 });
  assert.match(blocked.detail, /still unanswered \(none sent\)$/);
  // Waits for the slow one's answer, then sends its own.
  const next = await prober.get({ path: '/', status: 200, timeoutMs: 10_000 });
  assert.equal(next.ok, true, next.detail);
  await inst.waitForOutput(/"GET \/ HTTP/, { timeoutMs: 5000 });
  const requests = inst.output().split('\n').filter((l) => / "GET /.test(l));
  assert.equal(requests.length, 2, inst.output());
  assert.match(requests[0]!, /"GET \/slow\?seconds=1 HTTP\/1\.1" 200 /);
  assert.match(requests[1]!, /"GET \/ HTTP\/1\.1" 200 /);
});

test('tcp: connects, refused', async (t) => {
  const server = net.createServer((s) => s.destroy());
  const port = await listen(server);
  t.after(() => close(server));
  const a = await tcpCheck(loop(port), 1000);
  assert.equal(a.ok, true);
  assert.match(a.detail, /^connected in /);
  const b = await tcpCheck(loop(await freePort()), 1000);
  assert.deepEqual([b.ok, b.detail], [false, 'connection refused']);
});

test('ZEO framing reader', () => {
  const r = new FrameReader(100);
  const whole = Buffer.concat([frame('Z5'), frame('{"1": {}}')]);
  assert.deepEqual(r.push(whole.subarray(0, 3)), []);
  assert.deepEqual(r.push(whole.subarray(3, 8)).map(String), ['Z5']);
  assert.deepEqual(r.push(whole.subarray(8)).map(String), ['{"1": {}}']);
  assert.throws(() => new FrameReader(10).push(frame('x'.repeat(11))), /exceeds 10/);
});

test('zeo: ruok against the ZEO stub; a non-ZEO server and a silent one fail clearly', { skip: sampleSkipReason() }, async (t) => {
  const port = await freePort();
  const zeo = await startZeoServer({ port, storage: 'main' });
  t.after(() => zeo.stop());
  const r = await zeoCheck(loop(port), 2000);
  assert.equal(r.ok, true, r.detail);
  assert.match(r.detail, /^ZEO Z5 ruok: 1 storage in /);
  const storages = r.info?.storages as Record<string, Record<string, unknown>>;
  assert.ok(storages.main && 'last-transaction' in storages.main, JSON.stringify(storages));

  const http1 = net.createServer((s) => { s.end('HTTP/1.0 400 Bad Request\r\n\r\n'); });
  const silent = net.createServer(() => {});
  const legacy = net.createServer((s) => { s.write(frame('Z4')); });
  const [hp, sp, lp] = [await listen(http1), await listen(silent), await listen(legacy)];
  t.after(async () => { await close(http1); silent.close(); legacy.close(); });
  const a = await zeoCheck(loop(hp), 1000);
  assert.equal(a.ok, false);
  assert.match(a.detail, /^not a ZEO server: frame of \d+ bytes exceeds/);
  const b = await zeoCheck(loop(sp), 200);
  assert.deepEqual([b.ok, b.timedOut, b.detail], [false, true, 'timed out after 200 ms']);
  const c = await zeoCheck(loop(lp), 1000);
  assert.equal(c.ok, true);
  assert.match(c.detail, /^ZEO Z4 greeted in .* \(no ruok before protocol 5\)$/);
  await zeo.stop();
  const d = await zeoCheck(loop(port), 1000);
  assert.deepEqual([d.ok, d.detail], [false, 'connection refused']);
});

test('postgresql: SSLRequest answered by a real PostgreSQL 15; refused when it is stopped', { skip: postgresSkipReason() }, async (t) => {
  const pg = await usePostgres(t);
  const r = await postgresCheck(loop(pg.port), 2000);
  assert.equal(r.ok, true, r.detail);
  assert.match(r.detail, /^SSLRequest answered '[SN]' in /);
  await pg.stop();
  const d = await postgresCheck(loop(pg.port), 2000);
  assert.deepEqual([d.ok, d.detail], [false, 'connection refused']);
  // something else on the port
  const other = net.createServer((s) => s.end('SSH-2.0-OpenSSH\r\n'));
  const op = await listen(other);
  t.after(() => { other.close(); });
  const o = await postgresCheck(loop(op), 1000);
  assert.equal(o.ok, false);
  assert.match(o.detail, /^not a PostgreSQL server: answered "SSH-2\.0/);
});

test('command: exit 0 passes, exit 1 fails with its last output line, a hang is killed at the timeout', async () => {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const a = await commandCheck(['/bin/sh', '-c', 'exit 0'], 2000, env);
  assert.equal(a.ok, true);
  const b = await commandCheck(['/bin/sh', '-c', 'echo disk full >&2; exit 3'], 2000, env);
  assert.deepEqual([b.ok, b.detail], [false, 'exit 3: disk full']);
  const t0 = Date.now();
  // the grandchild (sleep) must die too: the whole process group is killed
  const c = await commandCheck(['/bin/sh', '-c', 'sleep 30 & sleep 30; echo never'], 300, env);
  assert.ok(Date.now() - t0 < 2000);
  assert.deepEqual([c.ok, c.timedOut, c.detail], [false, true, 'timed out after 300 ms, killed']);
  const d = await commandCheck(['/nonexistent/check'], 1000, env);
  assert.deepEqual([d.ok, d.detail], [false, 'cannot run /nonexistent/check: ENOENT']);
  const sees = await commandCheck(['/bin/sh', '-c', 'test -z "$NOTIFY_SOCKET"'], 1000, env);
  assert.equal(sees.ok, true);
});

test('command: the result comes when the command exits, whatever it left holding its output pipes', async (t) => {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-cmdcheck-'));
  const pids: number[] = [];
  t.after(() => {
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const pidIn = async (file: string): Promise<number> => {
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    pids.push(pid);
    return pid;
  };
  const gone = async (pid: number): Promise<boolean> => {
    for (let i = 0; i < 100; i++) {
      let stat: string;
      try { stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return true; }
      if (/^\d+ \(.*\) Z/.test(stat)) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  };
  // A daemon in a session of its own keeps the pipes open: the check must still end, with the command's status.
  const daemonPid = path.join(dir, 'daemon.pid');
  // The command exits only once the daemon wrote its pid, i.e. after its setsid(): until then it is still in
  // the command's group, which the check kills when the command exits.
  const escaped = commandCheck(['/bin/sh', '-c', `setsid /bin/sh -c 'echo $$ > ${daemonPid}; exec sleep 30' & while [ ! -s ${daemonPid} ]; do sleep 0.01; done; echo started; exit 0`], 3000, env);
  const guard = new Promise<'hung'>((r) => { const h = setTimeout(() => r('hung'), 6000); h.unref(); });
  const a = await Promise.race([escaped, guard]);
  assert.notEqual(a, 'hung', 'the check never ended: it waited for pipes held by a process in another session');
  if (a === 'hung') return;
  assert.equal(a.ok, true, a.detail);
  assert.equal(a.timedOut, false);
  assert.match(a.detail, /^exit 0 in /);
  const daemon = await pidIn(daemonPid);
  assert.equal(await gone(daemon), false, 'a process in another session is out of the check\'s reach');

  // A helper left in the command's own group is killed with it, and does not turn an exit 0 into a timeout.
  const helperPid = path.join(dir, 'helper.pid');
  const b = await commandCheck(['/bin/sh', '-c', `sleep 30 & echo $! > ${helperPid}; exit 0`], 3000, env);
  assert.deepEqual([b.ok, b.timedOut], [true, false], b.detail);
  assert.equal(await gone(await pidIn(helperPid)), true, 'the helper left in the group still runs');

  // Output written just before the exit still names the failure.
  const c = await commandCheck(['/bin/sh', '-c', 'sleep 30 & echo replica lag 90s; exit 2'], 3000, env);
  assert.deepEqual([c.ok, c.detail], [false, 'exit 2: replica lag 90s']);
});

test('a check\'s detail is redacted: it reaches the agent reason, /health, STATUS= and the logs', async () => {
  const spec: CheckSpec = {
    name: 'db', type: 'command', command: ['/bin/sh', '-c', 'echo "cannot reach postgresql://zope:hunter2@db:5432/plone"; exit 2'],
    intervalMs: 1000, timeoutMs: 3000, failureThreshold: 1, successThreshold: 1, roles: ['readiness'], graceMs: 0,
  } as CheckSpec;
  const r = await runCheck(spec, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, http: () => { throw new Error('no http here'); } });
  assert.equal(r.ok, false);
  assert.equal(r.detail, 'exit 2: cannot reach postgresql://zope:***@db:5432/plone');
});

