// `zstack try`: the operator's own stack file in a disposable systemd, started, shown, rolled out, stopped and torn
// down, run as the operator runs it (the built CLI, as root, from the host). Also: without root it says so (77),
// and a stack whose port is taken on this host is refused before anything boots (69).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BOX_NODE } from './harness/box.js';
import { SAMPLE_PYTHON } from './harness/proc.js';
import { portBase, REPO } from './fixtures/unitgen/stack.js';
import { opsSkipReason } from './fixtures/stack/stack.js';

const CLI = path.join(REPO, 'packages/stack/dist/cli.js');

function zstack(args: string[], opts: { uid?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = opts.uid === undefined ? [BOX_NODE, CLI, ...args] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', BOX_NODE, CLI, ...args];
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
    let stdout = ''; let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** A stack of `count` sample clients behind ZEO; `instance` is the script each client runs (a missing one fails). */
async function stackFile(t: { after(fn: () => void): void }, o: { count?: number; checkInterval?: string; instance?: string; zeo?: string; directory?: string; comment?: string; hardening?: boolean; znotify?: string; extra?: string } = {}): Promise<{ file: string; http1: number }> {
  const count = o.count ?? 2;
  const taken = new Set<number>();
  const zeo = (await portBase(1, taken)) + 1;
  const http = await portBase(count, taken), agent = await portBase(count, taken), health = await portBase(count, taken);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-try-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'try.yaml');
  fs.writeFileSync(file, [
    ...(o.comment ? [`# ${o.comment}`] : []), 'stack: trial', 'user: daemon', `directory: ${o.directory ?? REPO}`, `hardening: ${o.hardening ?? false}`,
    `znotify: [${o.znotify ?? `${BOX_NODE}, ${REPO}/packages/notify/dist/znotify/cli.js`}]`, `zunitgen: [${BOX_NODE}, ${REPO}/packages/unitgen/dist/cli.js]`,
    'zeo:', `  command: [${SAMPLE_PYTHON}, ${o.zeo ?? 'sample/zeo_server.py'}, --host, 127.0.0.1, --port, "${zeo}"]`, `  address: 127.0.0.1:${zeo}`,
    'clients:', `  count: ${count}`,
    `  command: [${SAMPLE_PYTHON}, ${o.instance ?? 'sample/instance.py'}, --host, 127.0.0.1, --port, "{${http}+n}", --warmup-seconds, "0.5", --zeo, "127.0.0.1:${zeo}"]`,
    `  http: "127.0.0.1:{${http}+n}"`, `  health: { agent: "127.0.0.1:{${agent}+n}", http: "127.0.0.1:{${health}+n}" }`,
    '  warmup: { budget: 30s, interval: 200ms, urls: [/Plone] }', '  stop: { drain: 1s, timeout: 10s }',
    `haproxy: { backend: trial, check-interval: ${o.checkInterval ?? '200ms'} }`, ...(o.extra ? [o.extra] : []), '',
  ].join('\n'));
  return { file, http1: http + 1 };
}

// Three clients and HAProxy's default 2 s check interval, as operators run it: `systemctl start` returns at READY, up to
// one interval before HAProxy's agent check sees the last client UP, so try waits for HAProxy before status and rollout.
test('zstack try: the stack booted in a disposable systemd, start, every client UP, status, rollout, stop, torn down, in order', { skip: opsSkipReason(), timeout: 300_000 }, async (t) => {
  const { file, http1 } = await stackFile(t, { count: 3, checkInterval: '2s' });
  const r = await zstack(['try', file]);
  t.diagnostic(r.stdout.split('\n').filter((l) => l.startsWith('==') || l.startsWith('->')).join(' | '));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /== start trial\.target/);
  assert.match(r.stdout, /^every unit of stack trial is active: trial-zeo\.service trial-client1\.service trial-client2\.service trial-client3\.service$/m);
  assert.match(r.stdout, /== waiting until HAProxy shows every client UP[^]*-> every client UP in HAProxy in [\d.]+ s\n\n== status\n/);
  assert.match(r.stdout, /3\/3 clients serving/);
  assert.doesNotMatch(r.stdout, /DOWN \(agent\)/);
  assert.match(r.stdout, /rollout of trial done: client1, client2, client3 restarted/);
  assert.match(r.stdout, /stack trial stopped in .* every unit is inactive/);
  assert.match(r.stdout, /every step passed/);
  assert.match(r.stdout, /torn down/);
  // Each summary after the progress lines it sums up; HAProxy's own messages not in zstack's stderr.
  const at = (re: RegExp): number => { const m = [...r.stdout.matchAll(new RegExp(re, 'gm'))]; assert.ok(m.length, `${re} not in ${r.stdout}`); return m.at(-1)!.index!; };
  assert.ok(at(/^\S+ client3 UP$/) < at(/^rollout of trial done/), r.stdout);
  assert.ok(at(/^\S+ client1 (inactive|failed)$/) < at(/^stack trial stopped/), r.stdout);
  assert.doesNotMatch(r.stderr, /\[(WARNING|ALERT|NOTICE)\]/);
  // Nothing left on this host: the stack's port is free again.
  await new Promise<void>((resolve, reject) => { const s = net.createServer().once('error', reject).listen(http1, '127.0.0.1', () => s.close(() => resolve())); });
});

// `systemctl start <stack>.target` exits 0 when its units fail (the target only Wants= them): try judges the start
// by the units and shows, for each that failed, its Result= and the reason from its journal. A client failing at every
// start makes its start job fail at once while systemd goes on restarting it: try waits until systemd gives up on it
// (the generated start limit, here 3 starts 2 s apart), not for its own bound, and says so.
test('zstack try: a stack whose clients cannot start is a failed start, with each unit\'s Result= and journal', { skip: opsSkipReason(), timeout: 300_000 }, async (t) => {
  // 2 s apart: the last client's restarts are still going on when try looks (200 ms apart, they were over before it
  // looked on a loaded machine, and there was nothing left to wait for).
  const { file } = await stackFile(t, { instance: 'sample/no-such-instance.py', extra: 'restart: { delay: 2s, burst: 3 }' });
  const r = await zstack(['try', file]);
  t.diagnostic(r.stdout.split('\n').filter((l) => l.startsWith('==') || l.startsWith('->')).join(' | '));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /== start trial\.target[^]*-> exit 0 /);
  assert.match(r.stdout, /\n== systemd restarts [^\n]*trial-client\d\.service[^\n]* by itself: waiting until each is active or systemd gives up on it[^\n]*\n-> settled\n/);
  for (const n of [1, 2]) {
    assert.match(r.stdout, new RegExp(`^== trial-client${n}\\.service did not start: failed/failed, Result=start-limit-hit \\(exit-code\\): systemd gave up on it \\(more than 3 starts within \\S[^)]*\\)\n\\$ journalctl -u trial-client${n}\\.service -n 20 --no-pager\n`, 'm'));
  }
  assert.match(r.stdout, /trial-client1\.service: Start request repeated too quickly\./);
  assert.match(r.stdout, /no-such-instance\.py.*No such file or directory/);
  assert.match(r.stdout, /-> the start failed: 2 of 3 units of stack trial not active \(trial-client1\.service, trial-client2\.service\)/);
  assert.doesNotMatch(r.stdout, /== status|== rollout/);
  assert.match(r.stdout, /the stack did not start/);
  assert.match(r.stdout, /torn down/);
});

// A start that does not end (ZEO's start job waits through restart after restart, and each client's behind it) is a
// failed start like one that ends with units not active: at the bound, try stops waiting, shows each unit not active
// with its state, Result= and journal, stops the stack, tears down and exits 1, with no internal error.
test('zstack try: a start that does not end within --start-timeout is a failed start, with each unit\'s state and journal', { skip: opsSkipReason(), timeout: 120_000 }, async (t) => {
  const { file } = await stackFile(t, { count: 1, zeo: 'sample/no-such-zeo.py' });
  const r = await zstack(['try', '--start-timeout', '6s', file]);
  t.diagnostic(r.stdout);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /== start trial\.target[^]*\n-> did not end within 6 s: stopped waiting \(killed\)\n/);
  assert.match(r.stdout, /^== trial-zeo\.service did not start: \w+\/[\w-]+, Result=[\w-]+\n\$ journalctl -u trial-zeo\.service -n 20 --no-pager\n/m);
  assert.match(r.stdout, /no-such-zeo\.py.*No such file or directory/);
  assert.match(r.stdout, /-> the start failed: 2 of 2 units of stack trial not active/);
  assert.match(r.stdout, /the stack did not start/);
  assert.match(r.stdout, /torn down/);
  assert.doesNotMatch(r.stderr, /internal error|BoxError|\n\s+at /);
});

// HAProxy refusing to start ends the try (69) with what it said, once: in the error, not again at the end. What makes it
// refuse here is a frontend on a port this test holds, added to the configuration try writes (a `haproxy` first in
// PATH runs the real one with one more -f): a bind on a port already taken, as on a host where the port is in use.
test('zstack try: HAProxy that cannot start is reported once, with its own messages, and everything is torn down', { skip: opsSkipReason(), timeout: 120_000 }, async (t) => {
  const { file } = await stackFile(t);
  const held = net.createServer().listen(0, '127.0.0.1');
  t.after(() => { held.close(); });
  await new Promise((r) => held.once('listening', r));
  const port = (held.address() as net.AddressInfo).port;
  const dir = path.dirname(file);
  fs.writeFileSync(path.join(dir, 'taken.cfg'), `frontend taken\n  bind 127.0.0.1:${port}\n`);
  const real = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' }).stdout.trim();
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin/haproxy'), `#!/bin/sh\nexec ${real} "$@" -f ${dir}/taken.cfg\n`, { mode: 0o755 });
  const r = await zstack(['try', file], { env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` } });
  assert.equal(r.code, 69, r.stdout + r.stderr);
  assert.match(r.stderr, /HAProxy did not start with the generated backend \(exit \d+\):\n( {2}haproxy: .*\n)* {2}haproxy: .*cannot bind socket/);
  const said = `${r.stdout}${r.stderr}`.match(/haproxy: .*cannot bind socket.*/g) ?? [];
  assert.equal(said.length, 1, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /== HAProxy's own messages/);
  assert.match(r.stdout, /torn down/);
});

test('zstack try refuses without root (77) and when a port of the stack is taken here (69), before booting anything', { skip: opsSkipReason(), timeout: 60_000 }, async (t) => {
  const { file, http1 } = await stackFile(t);
  const noRoot = await zstack(['try', file], { uid: 65534 });
  assert.equal(noRoot.code, 77, noRoot.stderr);
  assert.match(noRoot.stderr, /zstack try needs root/);
  const busy = net.createServer().listen(http1, '127.0.0.1');
  t.after(() => { busy.close(); });
  await new Promise((r) => busy.once('listening', r));
  const taken = await zstack(['try', file]);
  assert.equal(taken.code, 69, taken.stderr);
  assert.match(taken.stderr, new RegExp(`127\\.0\\.0\\.1:${http1} is in use on this host`));
  assert.doesNotMatch(taken.stdout, /booted/);
});

// The box lays an empty /tmp over the host's: a stack directory there would be missing inside, so try refuses it
// before booting anything (78), naming the path, where the stack file has it (its key, not a comment with the same
// text above it), and the fix.
test('zstack try refuses a stack whose directory is under /tmp (78), naming it, file:line:col and the fix, before booting', { skip: opsSkipReason(), timeout: 60_000 }, async (t) => {
  const site = fs.mkdtempSync('/tmp/zstack-try-site-');
  t.after(() => fs.rmSync(site, { recursive: true, force: true }));
  const { file } = await stackFile(t, { directory: site, comment: `moved from ${site} to ${site}` });
  const r = await zstack(['try', file]);
  assert.equal(r.code, 78, r.stdout + r.stderr);
  const line = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.startsWith('directory:')) + 1;
  assert.ok(r.stderr.includes(`${file}:${line}:12: directory ${site} is under /tmp, which zstack try's disposable systemd replaces with an empty one`), r.stderr);
  assert.match(r.stderr, /hint: move the site out of \/tmp/);
  assert.doesNotMatch(r.stdout, /booted/);
});

// The box shows the host's paths outside /tmp, but the units' own sandbox hides more: with hardening, ProtectHome=yes
// hides /root (and PrivateTmp=yes /tmp, even where the box shows zstack's own directory). A tool there fails every unit
// with status=203/EXEC in the box, so try refuses it up front (78), at its key with the fix, as generate warns.
test('zstack try refuses a tool the units\' sandbox hides (78), at its key with the fix, before booting', { skip: opsSkipReason(), timeout: 60_000 }, async (t) => {
  const home = fs.mkdtempSync('/root/zstack-try-tool-');
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const tool = path.join(home, 'znotify');
  fs.writeFileSync(tool, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const { file } = await stackFile(t, { hardening: true, znotify: tool });
  const r = await zstack(['try', file]);
  assert.equal(r.code, 78, r.stdout + r.stderr);
  const line = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.startsWith('znotify:')) + 1;
  assert.ok(r.stderr.includes(`${file}:${line}:11: error: ${tool}: the units run it (znotify:), but ProtectHome=yes hides /home, /root and /run/user from the stack's services`), r.stderr);
  assert.match(r.stderr, /hint: install it elsewhere/);
  assert.doesNotMatch(r.stdout, /booted/);
});

// The same for the stack's own commands: ZEO's program under /root (python3 /root/site/zeo_server.py) would fail
// every start behind ProtectHome=yes; refused at the command word's own key, before booting.
test('zstack try refuses a ZEO program the units\' sandbox hides (78), at the command word\'s key with the fix, before booting', { skip: opsSkipReason(), timeout: 60_000 }, async (t) => {
  const home = fs.mkdtempSync('/root/zstack-try-cmd-');
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const script = path.join(home, 'zeo_server.py');
  fs.copyFileSync(path.join(REPO, 'sample/zeo_server.py'), script);
  const { file } = await stackFile(t, { hardening: true, zeo: script });
  const r = await zstack(['try', file]);
  assert.equal(r.code, 78, r.stdout + r.stderr);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const line = lines.findIndex((l) => l.includes(script)) + 1;
  const col = lines[line - 1]!.indexOf(script) + 1;
  assert.ok(r.stderr.includes(`${file}:${line}:${col}: error: ${script}: zeo.command names it, but ProtectHome=yes hides /home, /root and /run/user from the stack's services`), r.stderr);
  assert.match(r.stderr, /hint: move it out of \/home, \/root and \/run\/user \(for example under \/srv\) and point `zeo\.command` there/);
  assert.doesNotMatch(r.stdout, /booted/);
});

/** The pid of the `haproxy` process `parent` started (its child), or undefined. */
function haproxyChild(parent: number): number | undefined {
  for (const task of fs.readdirSync(`/proc/${parent}/task`)) {
    let kids: string[] = [];
    try { kids = fs.readFileSync(`/proc/${parent}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean); } catch { /* gone */ }
    for (const k of kids) { try { if (fs.readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'haproxy') return Number(k); } catch { /* gone */ } }
  }
  return undefined;
}

// Ctrl-C while the stack starts: HAProxy (killed by pid) and the box go, the port HAProxy listened on is free, and
// try exits 130 saying so, as the operator's Ctrl-C would leave it.
test('zstack try interrupted by SIGINT while the stack starts: HAProxy and the box are gone, its port is free, exit 130', { skip: opsSkipReason(), timeout: 120_000 }, async (t) => {
  const { file } = await stackFile(t);
  const c = spawn(BOX_NODE, [CLI, 'try', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  let stdout = ''; let stderr = '';
  c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const closed = new Promise<number | null>((resolve) => c.once('close', (code) => resolve(code)));
  const front = await new Promise<number>((resolve, reject) => {
    c.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /frontend 127\.0\.0\.1:(\d+)[^]*\$ systemctl start trial\.target\n/.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    void closed.then(() => reject(new Error(`try ended before the start: ${stdout}${stderr}`)));
  });
  const hx = haproxyChild(c.pid!);
  assert.ok(hx, 'HAProxy is a child of zstack try');
  const cmdline = fs.readFileSync(`/proc/${hx}/cmdline`, 'utf8');
  c.kill('SIGINT');
  const code = await closed;
  assert.equal(code, 130, stdout + stderr);
  assert.match(stdout, /== torn down/);
  assert.match(stderr, /zstack: interrupted by SIGINT/);
  assert.doesNotMatch(stderr, /internal error|\n\s+at /);
  let left = ''; try { left = fs.readFileSync(`/proc/${hx}/cmdline`, 'utf8'); } catch { /* gone */ }
  assert.notEqual(left, cmdline, `HAProxy (pid ${hx}) still runs`);
  await new Promise<void>((resolve, reject) => { const s = net.createServer().once('error', reject).listen(front, '127.0.0.1', () => s.close(() => resolve())); });
});
