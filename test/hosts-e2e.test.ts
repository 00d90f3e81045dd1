// A stack over three hosts, end to end: three disposable systemd boxes with sshd on their own loopback addresses
// (test/harness/ssh-hosts.ts), the sample ZEO server on host1 ("db"), sample clients on host2 (2) and host3 (1) behind the
// built znotify, HAProxy on db (Debian's haproxy.service, loading /etc/haproxy/conf.d), wrk for load.
//   1. `zunitgen deploy --dry-run` shows each host's diff and HAProxy's, checked with haproxy -c, and installs
//      nothing; `zunitgen deploy` installs each host's set and reloads its systemd (the units are loaded there), and
//      puts the backend into db's conf.d (HAProxy is not running yet: it is not started).
//   2. Started with `systemctl -H`, app hosts first: the clients wait for the remote ZEO (STATUS= says so), become
//      active only after it, and HAProxy sees every client UP; load gets 0 failed requests.
//   2b. `zstack status` has a host per unit; `zstack rollout` restarts every client across the hosts (not ZEO) under
//      wrk load with 0 failed requests, holding the stack's lock on the database host.
//   3. A host torn down under load: its clients go DOWN in HAProxy, the clients left then serve with 0 failed
//      requests, nothing on the other hosts restarted; `zstack status` names the unreachable host, and a rollout
//      refuses (69) with the rest untouched.
//   4. A deploy while a host is unreachable fails (69) and installs nothing on the reachable hosts; so do an ssh
//      refusal (69) and a host address the machine does not have (78). A deploy of a changed stack (one client
//      more on app1) whose backend fails haproxy -c on db installs nothing anywhere and leaves HAProxy as it was;
//      once fixed, it touches only app1's units and HAProxy's file, and HAProxy reloads (same main pid).
import assert from 'node:assert/strict';
import { execFile as execFileCb, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseStack } from '@zope-systemd/unitgen';
import { sampleHostsStackConfig } from './harness/sample-stack.js';
import { haproxySkipReason, runtimeClient } from './harness/haproxy.js';
import { freePort, until } from './harness/net.js';
import { REPO_ROOT, sampleSkipReason } from './harness/proc.js';
import { sshHostsSkipReason, useSshHosts, type SshHost, type SshKit } from './harness/ssh-hosts.js';
import { REPO_IN_BOX } from './harness/box.js';
import { killOnProcessEnd } from './harness/teardown.js';

const execFile = promisify(execFileCb);
const skip = sshHostsSkipReason() ?? haproxySkipReason() ?? sampleSkipReason() ?? (fs.existsSync('/usr/bin/wrk') ? undefined : 'wrk not installed');
const ZUNITGEN = path.join(REPO_ROOT, 'packages/unitgen/dist/cli.js');
const ZSTACK = path.join(REPO_ROOT, 'packages/stack/dist/cli.js');
const STACK = 'sample';
const HAPROXY_FILE = `/etc/haproxy/conf.d/${STACK}.cfg`;

/** The sample stack's HAProxy line, with deploy installing the backend into db's conf.d. */
function withHaproxyInstall(text: string): string {
  const out = text.replace(/^haproxy: \{ (.*) \}$/m, `haproxy: { $1, install: { host: db, file: ${HAPROXY_FILE} } }`);
  assert.notEqual(out, text, 'the sample stack has no haproxy: line to extend');
  return out;
}

interface Wrk { requests: number; non2xx: number; socketErrors: number; text: string }

/** wrk against url for `seconds`; counts of requests, non-2xx/3xx answers and socket errors. */
async function wrk(url: string, seconds: number, connections = 4): Promise<Wrk> {
  const run = execFile('/usr/bin/wrk', ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', url], { timeout: (seconds + 30) * 1000 });
  killOnProcessEnd(run.child);
  const r = await run;
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
  return {
    requests: num(/(\d+) requests in/), non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: se ? se.slice(1).reduce((a, x) => a + Number(x), 0) : 0, text: r.stdout,
  };
}

function zunitgen(kit: SshKit, args: string[], cli = ZUNITGEN, env = kit.env()): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = killOnProcessEnd(spawn(process.execPath, [cli, ...args], { env }));
    let stdout = '', stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * An environment whose `ssh` (the one `systemctl -H` runs) holds each of the first `hosts` sessions to a host's
 * systemd (systemd-stdio-bridge) until all of them have started, then runs the kit's real ssh; later sessions pass
 * at once. Hosts asked one after the other never get there: the first session gives up after 60 s (a hang guard)
 * and fails, naming why, so its host reads unreachable. The proof that zstack asks the hosts at once.
 */
function barrierEnv(kit: SshKit, dir: string, hosts: number): NodeJS.ProcessEnv {
  const bin = fs.mkdtempSync(path.join(dir, 'barrier-'));
  fs.mkdirSync(path.join(bin, 'arrived'));
  fs.writeFileSync(path.join(bin, 'ssh'), [
    '#!/bin/sh',
    `case "$*" in *systemd-stdio-bridge*) ;; *) exec ${kit.binDir}/ssh "$@" ;; esac`,
    `i=1; while [ $i -le ${hosts} ]; do mkdir "${bin}/arrived/$i" 2>/dev/null && break; i=$((i+1)); done`,
    `if [ $i -le ${hosts} ]; then`,
    '  n=0',
    `  while [ "$(ls "${bin}/arrived" | wc -l)" -lt ${hosts} ]; do`,
    `    n=$((n+1)); if [ $n -gt 600 ]; then echo "barrier: session $i of ${hosts} waited 60 s for the others: the hosts were asked one after the other" >&2; exit 255; fi`,
    '    sleep 0.1',
    '  done',
    'fi',
    `exec ${kit.binDir}/ssh "$@"`, ''].join('\n'), { mode: 0o755 });
  const env = kit.env();
  return { ...env, PATH: `${bin}:${env.PATH ?? ''}` };
}

async function systemctlH(kit: SshKit, h: SshHost, ...args: string[]): Promise<string> {
  const run = execFile('systemctl', ['-H', h.destination, ...args], { env: kit.env(), timeout: 120_000 });
  killOnProcessEnd(run.child);
  return (await run).stdout;
}

async function props(kit: SshKit, h: SshHost, unit: string, names: string[]): Promise<Record<string, string>> {
  const out = await systemctlH(kit, h, 'show', `--property=${names.join(',')}`, '--', unit);
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** wrk until stop() (SIGINT: wrk prints its summary then). */
function wrkUntilStopped(url: string, connections = 4): { stop(): Promise<Wrk> } {
  const c = killOnProcessEnd(spawn('/usr/bin/wrk', ['-t', '1', '-c', String(connections), '-d', '300s', '--timeout', '10s', url]));
  let out = '';
  c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  return {
    async stop() {
      c.kill('SIGINT');
      await closed;
      const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
      const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      return { requests: num(/(\d+) requests in/), non2xx: num(/Non-2xx or 3xx responses: (\d+)/), socketErrors: se ? se.slice(1).reduce((a, x) => a + Number(x), 0) : 0, text: out };
    },
  };
}

/** The stack's unit files in a host's /etc/systemd/system, name -> inode:mtime (what a deploy touched). */
function installed(h: SshHost): Map<string, string> {
  const dir = h.box.hostPath('/etc/systemd/system');
  const out = new Map<string, string>();
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${STACK}`) || f.startsWith(`.zunitgen-${STACK}`)) {
    const st = fs.statSync(path.join(dir, f));
    out.set(f, `${st.ino}:${st.mtimeMs}`);
  }
  return out;
}

test('three hosts: deploy, start across hosts, a host lost under load, deploy while a host is down, deploy of a change', { skip, timeout: 600_000 }, async (t) => {
  const t0 = Date.now();
  const phases: string[] = [];
  const mark = (what: string) => phases.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.after(() => t.diagnostic(`phases: ${phases.join(', ')}`));
  const { kit, hosts } = await useSshHosts(t, 3);
  mark('hosts up');
  const [db, app1, app2] = hosts as [SshHost, SshHost, SshHost];
  const basePort = await freePort('0.0.0.0');
  const cfgText = (clients: Record<string, number>) => withHaproxyInstall(sampleHostsStackConfig({
    repo: REPO_IN_BOX, basePort, node: process.execPath, stack: STACK, zeoHost: 'db', clients, warmupSeconds: 1,
    hosts: [{ name: 'db', address: db.address }, { name: 'app1', address: app1.address }, { name: 'app2', address: app2.address }],
  }));
  // HAProxy on db as Debian runs it (haproxy.service, -f /etc/haproxy/haproxy.cfg), told to load conf.d as well; its
  // Runtime API socket in the box's shared directory, where this process reaches it. Not started before the deploy.
  const fePort = await freePort();
  const hx = runtimeClient(path.join(db.box.shared, 'haproxy-admin.sock'));
  await db.box.exec(['sh', '-ec', 'mkdir -p /etc/haproxy/conf.d; cat > /etc/haproxy/haproxy.cfg'], { input: [
    'global', `  stats socket ${hx.statsSocket} mode 666 level admin`, '',
    'defaults', '  mode http', '  timeout connect 1s', '  timeout client 30s', '  timeout server 30s', '  timeout check 1s', '',
    'frontend fe', `  bind 127.0.0.1:${fePort}`, `  default_backend ${STACK}`, ''].join('\n') });
  await db.box.exec(['sh', '-ec', 'cat > /etc/default/haproxy'], { input: 'EXTRAOPTS="-S /run/haproxy-master.sock -f /etc/haproxy/conf.d"\n' });
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(kit.dir), 'stack-'));
  const cfg = path.join(dir, 'stack.yaml');
  fs.writeFileSync(cfg, cfgText({ app1: 2, app2: 1 }));

  mark('config');
  // ------------------------------------------------------------------------ 1. deploy: dry run, then for real
  const dry = await zunitgen(kit, ['deploy', cfg, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  // Every host: its units, plus the setup unit with the sysusers.d and tmpfiles.d files it applies (3).
  assert.match(dry.stdout, /^db \(root@[\d.]+\): 6 to create, 0 to update, 0 to remove, 0 unchanged$/m);
  assert.match(dry.stdout, /^app1 \(root@[\d.]+\): 13 to create/m);
  assert.match(dry.stdout, /^=== app2 \(root@[\d.]+\) ===\n--- \/dev\/null\n\+\+\+ \/etc\/systemd\/system\//m);
  assert.match(dry.stdout, /\+ExecStart=.* run --name client3 /);
  assert.match(dry.stdout, /^HAProxy on db \(root@[\d.]+\): \/etc\/haproxy\/conf\.d\/sample\.cfg to create, haproxy -c passed$/m);
  assert.match(dry.stdout, /^=== HAProxy on db \(root@[\d.]+\) ===\n--- \/dev\/null\n\+\+\+ \/etc\/haproxy\/conf\.d\/sample\.cfg\n(.*\n)*\+\s+server app2-client3 /m);
  for (const h of hosts) assert.equal(installed(h).size, 0, `${h.name}: the dry run installed something`);
  assert.equal(fs.existsSync(db.box.hostPath(HAPROXY_FILE)), false, 'the dry run installed the HAProxy file');

  mark('dry run');
  const dep = await zunitgen(kit, ['deploy', cfg]);
  assert.equal(dep.code, 0, dep.stderr + dep.stdout);
  assert.match(dep.stdout, /^app2 \(root@[\d.]+\): installed 9 file\(s\), removed 0, systemctl daemon-reload$/m);
  assert.match(dep.stdout, /^HAProxy on db \(root@[\d.]+\): installed \/etc\/haproxy\/conf\.d\/sample\.cfg, not running: it reads the file when started$/m);
  assert.deepEqual([...installed(db).keys()].sort(), ['.zunitgen-sample.manifest.json', 'sample-setup.service', 'sample-zeo.service', 'sample.slice', 'sample.sysusers.conf', 'sample.target', 'sample.tmpfiles.conf']);
  assert.equal((await props(kit, app1, 'sample-client2.service', ['LoadState'])).LoadState, 'loaded');
  assert.equal((await props(kit, db, 'sample-client1.service', ['LoadState'])).LoadState, 'not-found');

  mark('deploy');
  // --------------------------------------------------------- 2. start: app hosts first, they wait for remote ZEO
  const model = parseStack(fs.readFileSync(cfg, 'utf8'), { file: cfg });
  await systemctlH(kit, db, 'start', 'haproxy.service');

  await systemctlH(kit, app1, 'start', '--no-block', `${STACK}.target`);
  await systemctlH(kit, app2, 'start', '--no-block', `${STACK}.target`);
  const waiting = await until('client1 to report that it waits for the remote ZEO', async () => {
    const p = await props(kit, app1, 'sample-client1.service', ['StatusText', 'ActiveState']);
    return /^waiting for zeo \([\d.]+:\d+\) before starting the instance/.test(p.StatusText ?? '') ? p : undefined;
  }, 60_000, 200);
  assert.equal(waiting.ActiveState, 'activating');
  mark('clients waiting');
  await systemctlH(kit, db, 'start', `${STACK}.target`);
  const zeoUp = Number((await props(kit, db, 'sample-zeo.service', ['ActiveEnterTimestampMonotonic'])).ActiveEnterTimestampMonotonic);
  for (const [h, n] of [[app1, 1], [app1, 2], [app2, 3]] as const) {
    const p = await until(`client${n} active`, async () => {
      const x = await props(kit, h, `sample-client${n}.service`, ['ActiveState', 'ActiveEnterTimestampMonotonic']);
      return x.ActiveState === 'active' ? x : undefined;
    }, 90_000, 250);
    // One kernel, one CLOCK_MONOTONIC: READY came after the remote ZEO was up.
    assert.ok(Number(p.ActiveEnterTimestampMonotonic) > zeoUp, `client${n} was ready before ZEO`);
  }
  mark('clients active');
  const servers = ['app1-client1', 'app1-client2', 'app2-client3'];
  for (const s of servers) await hx.waitForState(STACK, s, 'UP', { timeoutMs: 30_000 });
  mark('HAProxy UP');
  const warm = await wrk(`http://127.0.0.1:${fePort}/Plone`, 2);
  assert.ok(warm.requests > 0, warm.text);
  assert.equal(warm.non2xx + warm.socketErrors, 0, warm.text);

  // ------------------------------------------------ 2b. zstack across hosts: status, then a rollout under load
  const runDir = path.join(dir, 'run');
  const zs = (...args: string[]) => zunitgen(kit, ['--haproxy-socket', hx.statsSocket, '--run-dir', runDir, ...args], ZSTACK);
  // Status asks the three hosts' systemd at once: through ssh sessions that wait for each other.
  const st = await zunitgen(kit, ['--haproxy-socket', hx.statsSocket, '--run-dir', runDir, 'status', cfg, '--json'], ZSTACK, barrierEnv(kit, dir, 3));
  assert.equal(st.code, 0, st.stderr + st.stdout);
  const sj = JSON.parse(st.stdout) as { clients: Array<{ client: string; host: string; serving: boolean; mainPid: number; memory?: { pids: number[]; rssBytes: number; pssBytes: number } }>; servers: Array<{ unit: string; host: string }> };
  assert.deepEqual(sj.clients.map((c) => [c.client, c.host, c.serving]), [['client1', 'app1', true], ['client2', 'app1', true], ['client3', 'app2', true]]);
  // Memory of instances on other hosts, as their wrappers read it there: the instance (python), not the wrapper.
  for (const c of sj.clients) {
    assert.ok(c.memory && c.memory.rssBytes > 0 && c.memory.pssBytes <= c.memory.rssBytes && !c.memory.pids.includes(c.mainPid), JSON.stringify(c));
    const h = c.host === 'app1' ? app1 : app2;
    assert.equal((await kit.ssh(h.destination, `cat /proc/${c.memory.pids[0]}/comm`)).stdout.trim(), 'python3', `${c.client}: pid ${c.memory.pids[0]} on ${c.host}`);
  }
  assert.match((await zs('status', cfg)).stdout, /^sample-client3\.service\s+app2\s+active\/running\s+ready\s+UP\s+\d+\s+\d[\d.]*[KMG]\s+\d[\d.]*[KMG]\s/m);
  assert.deepEqual(sj.servers.map((x) => [x.unit, x.host]), [['sample-zeo.service', 'db']]);
  const invBefore = await Promise.all([[app1, 1], [app1, 2], [app2, 3]].map(([h, n]) => props(kit, h as SshHost, `sample-client${n}.service`, ['InvocationID'])));
  const zeoBefore = await props(kit, db, 'sample-zeo.service', ['InvocationID']);
  mark('zstack status');
  const rolling = wrkUntilStopped(`http://127.0.0.1:${fePort}/Plone`);
  // The rollout's check of every client asks the clients' two hosts at once too (its restarts come later, one by one).
  const ro = await zunitgen(kit, ['--haproxy-socket', hx.statsSocket, '--run-dir', runDir, 'rollout', cfg], ZSTACK, barrierEnv(kit, dir, 2));
  const underRollout = await rolling.stop();
  mark('zstack rollout');
  assert.equal(ro.code, 0, ro.stderr + ro.stdout);
  assert.match(ro.stdout, /rollout of sample done: client1, client2, client3 restarted/);
  t.diagnostic(`rollout across hosts under load: ${underRollout.requests} requests, ${underRollout.non2xx} non-2xx, ${underRollout.socketErrors} socket errors`);
  assert.ok(underRollout.requests > 0, underRollout.text);
  assert.equal(underRollout.non2xx + underRollout.socketErrors, 0, underRollout.text);
  const invAfter = await Promise.all([[app1, 1], [app1, 2], [app2, 3]].map(([h, n]) => props(kit, h as SshHost, `sample-client${n}.service`, ['InvocationID'])));
  invAfter.forEach((p, i) => assert.notEqual(p.InvocationID, invBefore[i]!.InvocationID, `client${i + 1} was not restarted`));
  assert.deepEqual(await props(kit, db, 'sample-zeo.service', ['InvocationID']), zeoBefore, 'the rollout restarted ZEO');
  // The lock is stack-wide: held on the database host while an operation runs (a second holder is refused there).
  const holder = (await kit.ssh(db.destination, 'cat /run/lock/zstack-sample.lock.holder')).stdout;
  assert.match(holder, /^rollout of sample from \S+ \(pid \d+\)$/m);
  for (const s of servers) await hx.waitForState(STACK, s, 'UP', { timeoutMs: 30_000 });

  // The agent port speaks only the agent protocol: an HTTP request gets the one agent line, no /health detail.
  const agentPort = model.clients[0]!.health.agent.port;
  const agentAnswer = await execFile('curl', ['-s', '--max-time', '3', '--http0.9', `http://${app1.address}:${agentPort}/health`]).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
  assert.match(agentAnswer, /^up ready 100%\s*$/);

  mark('load');
  // ----------------------------------------------------------------- 3. a host lost under load
  const before = await Promise.all([
    props(kit, app1, 'sample-client1.service', ['InvocationID', 'NRestarts']), props(kit, app1, 'sample-client2.service', ['InvocationID', 'NRestarts']),
    props(kit, db, 'sample-zeo.service', ['InvocationID', 'NRestarts']),
  ]);
  const load = wrk(`http://127.0.0.1:${fePort}/Plone`, 4);
  await new Promise((r) => setTimeout(r, 1000));
  await app2.down();
  mark('host down');
  const during = await load;
  for (const s of ['app2-client3']) await hx.waitForState(STACK, s, 'DOWN', { timeoutMs: 30_000 });
  for (const s of ['app1-client1', 'app1-client2']) assert.equal(await hx.serverState(STACK, s), 'UP');
  mark('DOWN in HAProxy');
  const after = await wrk(`http://127.0.0.1:${fePort}/Plone`, 2);
  t.diagnostic(`while host app2 went away: ${during.requests} requests, ${during.non2xx} non-2xx, ${during.socketErrors} socket errors; after HAProxy marked it DOWN: ${after.requests} requests, ${after.non2xx + after.socketErrors} failed`);
  assert.ok(after.requests > 0, after.text);
  assert.equal(after.non2xx + after.socketErrors, 0, after.text);
  const now = await Promise.all([
    props(kit, app1, 'sample-client1.service', ['InvocationID', 'NRestarts']), props(kit, app1, 'sample-client2.service', ['InvocationID', 'NRestarts']),
    props(kit, db, 'sample-zeo.service', ['InvocationID', 'NRestarts']),
  ]);
  assert.deepEqual(now, before, 'something on the other hosts restarted');
  // zstack says which host is unreachable, and a rollout refuses to start with the rest untouched.
  const lostStatus = await zs('status', cfg);
  assert.equal(lostStatus.code, 1, lostStatus.stderr);
  assert.match(lostStatus.stdout, new RegExp(`^host app2 unreachable: .+$`, 'm'));
  assert.match(lostStatus.stdout, /^sample-client1\.service\s+app1\s+active\/running\s+ready\s+UP/m);
  assert.match(lostStatus.stdout, /^sample-client3\.service\s+app2\s+unreachable\s/m);
  const lostRollout = await zs('rollout', cfg);
  assert.equal(lostRollout.code, 69, lostRollout.stderr);
  assert.match(lostRollout.stderr, /app2/);
  const untouched = await Promise.all([props(kit, app1, 'sample-client1.service', ['InvocationID', 'NRestarts']), props(kit, app1, 'sample-client2.service', ['InvocationID', 'NRestarts'])]);
  assert.deepEqual(untouched, now.slice(0, 2));
  mark('zstack with a host lost');

  mark('after load');
  // --------------------------------------- 4. deploy with a host down: nothing anywhere; then a change, app1 only
  const dbBefore = installed(db);
  const app1Before = installed(app1);
  fs.writeFileSync(cfg, cfgText({ app1: 3, app2: 1 }));
  const down = await zunitgen(kit, ['deploy', cfg]);
  assert.equal(down.code, 69, down.stderr);
  assert.match(down.stderr, new RegExp(`^zunitgen: host app2 \\(root@${app2.address.replaceAll('.', '\\.')}\\): ssh failed: .+\\n  hint: check that root@[\\d.]+ is reachable`, 'm'));
  assert.match(down.stderr, /nothing was installed on any host\.$/m);
  assert.deepEqual(installed(app1), app1Before);

  mark('deploy with host down');
  // The same change with app2 gone from the stack's hosts (its clients moved away): app1 gains client3.
  const withoutApp2 = (dbHost: { address: string; ssh?: string } = db, app1Host: { address: string; ssh?: string } = app1) => withHaproxyInstall(sampleHostsStackConfig({
    repo: REPO_IN_BOX, basePort, node: process.execPath, stack: STACK, zeoHost: 'db', clients: { app1: 3 }, warmupSeconds: 1,
    hosts: [{ name: 'db', address: dbHost.address, ...(dbHost.ssh ? { ssh: dbHost.ssh } : {}) }, { name: 'app1', address: app1Host.address, ...(app1Host.ssh ? { ssh: app1Host.ssh } : {}) }],
  }));
  const hxFile = () => fs.statSync(db.box.hostPath(HAPROXY_FILE)).ino;
  const hxBefore = hxFile();
  const refusedDeploy = async (text: string, code: number, errors: RegExp[]) => {
    fs.writeFileSync(cfg, text);
    const r = await zunitgen(kit, ['deploy', cfg]);
    assert.equal(r.code, code, r.stderr + r.stdout);
    for (const e of errors) assert.match(r.stderr, e);
    assert.match(r.stderr, /nothing was installed on any host\.$/m);
    assert.deepEqual([installed(db), installed(app1), hxFile()], [dbBefore, app1Before, hxBefore]);
  };
  // In one deploy: an ssh refusal on app1 (no such user there), an address db's machine does not have (TEST-NET-1).
  // The hint names the key at its place in the stack file (where its value is written).
  const wrongAddress = withoutApp2({ address: '192.0.2.11', ssh: db.destination }, { address: app1.address, ssh: `ghost@${app1.address}` });
  const addressLine = wrongAddress.split('\n').findIndex((l) => l.includes('192.0.2.11'));
  const addressCol = wrongAddress.split('\n')[addressLine]!.search(/"?192\.0\.2\.11/) + 1; // a quoted value: at its quote
  const addressAt = `${cfg}:${addressLine + 1}:${addressCol}`;
  await refusedDeploy(wrongAddress, 69, [
    /^zunitgen: host app1 \(ghost@[\d.]+\): ssh failed: .*Permission denied.*\n  hint: check that ghost@[\d.]+ is reachable and accepts your key/m,
    new RegExp(`^zunitgen: host db \\(root@[\\d.]+\\): 192\\.0\\.2\\.11 is not an address of that machine\\n  hint: set hosts\\[db\\]\\.address \\(${addressAt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) to an address`, 'm'),
  ]);
  // A backend that fails haproxy -c there (another file of conf.d defines the same backend): nothing anywhere.
  await db.box.exec(['sh', '-ec', `printf 'backend ${STACK}\\n' > /etc/haproxy/conf.d/00-clash.cfg`]);
  await refusedDeploy(withoutApp2(), 78,
    [/^zunitgen: HAProxy on db \(root@[\d.]+\): haproxy -c with the new \/etc\/haproxy\/conf\.d\/sample\.cfg failed, HAProxy and its file are as they were:\n    \[ALERT\].*sample/m,
      new RegExp(`  hint: check haproxy\\.install\\.config \\(${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `)]);
  assert.equal(await hx.serverState(STACK, 'app2-client3'), 'DOWN');
  await db.box.exec(['rm', '/etc/haproxy/conf.d/00-clash.cfg']);
  mark('refused deploys');

  const changed = await zunitgen(kit, ['deploy', cfg, '--dry-run']);
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stdout, /^db \(root@[\d.]+\): 0 to create, 0 to update, 0 to remove, 6 unchanged$/m);
  assert.match(changed.stdout, /^app1 \(root@[\d.]+\): 4 to create, 3 to update, 0 to remove, 10 unchanged$/m);
  assert.match(changed.stdout, /^HAProxy on db \(root@[\d.]+\): \/etc\/haproxy\/conf\.d\/sample\.cfg to update, haproxy -c passed$/m);
  assert.match(changed.stdout, /^-\s+server app2-client3 .*\n(.*\n)*\+\s+server app1-client3 /m);
  mark('dry run of change');
  const hxPid = (await props(kit, db, 'haproxy.service', ['MainPID'])).MainPID;
  const applied = await zunitgen(kit, ['deploy', cfg]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /^HAProxy on db \(root@[\d.]+\): installed \/etc\/haproxy\/conf\.d\/sample\.cfg, reloaded$/m);
  // Reloaded, not restarted: the same master, now with client3 on app1 and without app2's.
  await until('HAProxy to know app1-client3', async () => (await hx.runtime(`show servers state ${STACK}`)).includes(' app1-client3 ') || undefined, 30_000, 200);
  assert.doesNotMatch(await hx.runtime(`show servers state ${STACK}`), / app2-client3 /);
  assert.equal((await props(kit, db, 'haproxy.service', ['MainPID'])).MainPID, hxPid);
  mark('deploy of change');
  assert.deepEqual(installed(db), dbBefore, 'deploy touched db');
  const app1After = installed(app1);
  // The target gains client3; the wrappers' configs lose app2's address from health.detail-from (by default the
  // stack's own hosts get /health's full detail); nothing else of app1 is touched.
  const updated = ['sample.target', '.zunitgen-sample.manifest.json', 'sample-client1.znotify.yaml', 'sample-client2.znotify.yaml'];
  for (const [f, st] of app1Before) if (!updated.includes(f)) assert.equal(app1After.get(f), st, `deploy touched ${f} on app1`);
  assert.match(fs.readFileSync(app1.box.hostPath('/etc/systemd/system/sample-client1.znotify.yaml'), 'utf8'),
    new RegExp(`^  detail-from: \\["127\\.0\\.0\\.0/8","::1/128","${db.address.replaceAll('.', '\\.')}/32","${app1.address.replaceAll('.', '\\.')}/32"\\]$`, 'm'));
  assert.ok(app1After.has('sample-client3.service'));
  assert.equal((await props(kit, app1, 'sample-client3.service', ['LoadState'])).LoadState, 'loaded');
});
