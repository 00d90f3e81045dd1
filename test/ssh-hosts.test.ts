// The several-hosts harness's own tests: each host is a real systemd with its own sshd on its own loopback
// address, reachable with `systemctl -H` and `systemd-run -H` through the test's ssh kit only; ~/.ssh is not
// touched; teardown leaves no listener and returns the address, also when the test process is SIGTERMed mid-run
// (with an HAProxy started beside the hosts, as the multi-host e2e test does).
import assert from 'node:assert/strict';
import { execFile as execFileCb, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { haproxySkipReason } from './harness/haproxy.js';
import { leaseAddress, sshHostsSkipReason, useSshHosts } from './harness/ssh-hosts.js';

const execFile = promisify(execFileCb);
const skip = sshHostsSkipReason();

const refused = (host: string, port: number): Promise<boolean> => new Promise((resolve) => {
  const s = net.connect({ host, port });
  s.once('connect', () => { s.destroy(); resolve(false); });
  s.once('error', () => resolve(true));
});

function homeSsh(): string {
  const d = path.join(os.homedir(), '.ssh');
  try { return fs.readdirSync(d).sort().map((f) => `${f}:${fs.statSync(path.join(d, f)).mtimeMs}`).join(','); } catch { return '(none)'; }
}

test('two hosts: each a systemd behind its own sshd and address, driven by systemctl -H through the kit', { skip, timeout: 120_000 }, async (t) => {
  const before = homeSsh();
  const { kit, hosts } = await useSshHosts(t, 2);
  const [h1, h2] = hosts as [typeof hosts[0], typeof hosts[0]];
  assert.notEqual(h1.address, h2.address);
  assert.match(h1.address, /^127\.0\.0\.(\d+)$/);
  assert.notEqual(h1.address, '127.0.0.1');

  // systemctl -H goes over ssh to the right box: the sshd unit exists only inside the boxes, and its
  // invocation id (unique per start) is the one that box's own systemctl reports.
  for (const h of hosts) {
    const r = await execFile('systemctl', ['-H', h.destination, 'show', '--property=ActiveState,InvocationID', 'zsd-sshd.service'], { env: kit.env() });
    const local = await h.box.show('zsd-sshd.service', ['ActiveState', 'InvocationID']);
    assert.equal(local.ActiveState, 'active');
    assert.equal(r.stdout.trim(), `ActiveState=active\nInvocationID=${local.InvocationID}`);
  }
  // systemd-run -H starts a transient unit on that host only.
  await execFile('systemd-run', ['-H', h2.destination, '--unit=zsd-probe', '--', '/bin/sleep', '60'], { env: kit.env() });
  assert.equal((await h2.box.show('zsd-probe.service', ['ActiveState'])).ActiveState, 'active');
  assert.equal((await h1.box.show('zsd-probe.service', ['ActiveState'])).ActiveState, 'inactive');

  // sshd listens on its own address only; each host has a fresh key, not the machine's.
  for (const h of hosts) {
    const ss = await h.box.exec(['ss', '-Hltnp']);
    const mine = ss.stdout.split('\n').filter((l) => l.includes('"sshd"'));
    assert.equal(mine.length, 1, ss.stdout);
    assert.equal(mine[0]!.trim().split(/\s+/)[3], `${h.address}:22`);
  }
  assert.notEqual(h1.hostKey, h2.hostKey);
  for (const f of fs.readdirSync('/etc/ssh').filter((x) => x.endsWith('.pub'))) {
    const machine = fs.readFileSync(path.join('/etc/ssh', f), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    assert.notEqual(machine, h1.hostKey);
  }

  // Without the kit (no key, no known_hosts), the same destination is refused: nothing leaks through ~/.ssh.
  const bare = await execFile('/usr/bin/ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${kit.dir}/none`,
    '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityFile=/dev/null', h1.destination, 'true'])
    .then(() => 0, (e: { code: number }) => e.code);
  assert.equal(bare, 255);
  assert.equal(homeSsh(), before, '~/.ssh changed');

  // A lost host: its sshd goes with it, the address is free for the next lease.
  await h2.down();
  assert.ok(await refused(h2.address, 22));
  const r = await execFile('systemctl', ['-H', h2.destination, 'is-system-running'], { env: kit.env(), timeout: 30_000 })
    .then(() => 0, (e: { code: number }) => e.code);
  assert.notEqual(r, 0);
  const again = await leaseAddress();
  try {
    assert.ok(again.address !== h1.address);
  } finally { again.release(); }
});

// What a test that uses hosts and HAProxy gets when it is SIGTERMed in the middle (the runner forwards the signal to
// the test file's process, and a signal skips t.after()): the same teardown, synchronously, by pid.
test('SIGTERM mid-test: the hosts, HAProxy and the ssh kit are torn down and the address returned', { skip: skip ?? haproxySkipReason(), timeout: 120_000 }, async () => {
  const harness = fileURLToPath(new URL('./harness/', import.meta.url));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-sigterm-'));
  const file = path.join(dir, 'child.test.mts');
  fs.writeFileSync(file, `
import { test } from 'node:test';
import { useSshHosts } from ${JSON.stringify(path.join(harness, 'ssh-hosts.ts'))};
import { useHaproxy } from ${JSON.stringify(path.join(harness, 'haproxy.ts'))};
test('interrupted', async (t) => {
  const { kit, hosts } = await useSshHosts(t, 1);
  const hx = await useHaproxy(t, { config: 'defaults\\n  mode http\\n  timeout connect 1s\\n  timeout client 5s\\n  timeout server 5s\\n' });
  console.log('TRACE ' + JSON.stringify({ box: hosts[0].box.pid, address: hosts[0].address, haproxy: hx.pid, kit: kit.dir, me: process.pid }));
  await new Promise(() => {});
});
`);
  const proc = spawn(process.execPath, ['--import', 'tsx', '--test', file], {
    cwd: harness, stdio: ['ignore', 'pipe', 'pipe'],
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')),
  });
  let out = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    const tr = await new Promise<{ box: number; address: string; haproxy: number; kit: string; me: number }>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        out += d.toString();
        const m = /TRACE (\{.*\})/.exec(out);
        if (m) resolve(JSON.parse(m[1]!) as never);
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      void exited.then(() => reject(new Error(`the child ended before it was set up:\n${out}`)));
    });
    proc.kill('SIGTERM');
    await exited;
    const alive = (pid: number): boolean => {
      try { return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
    };
    const deadline = Date.now() + 10_000;
    while ((alive(tr.haproxy) || alive(tr.box) || alive(tr.me)) && Date.now() < deadline) await sleep(50);
    assert.equal(alive(tr.haproxy), false, `HAProxy (pid ${tr.haproxy}) was left running`);
    assert.equal(alive(tr.box), false, `the host's systemd (pid ${tr.box}) was left running`);
    assert.equal(fs.existsSync(tr.kit), false, `the ssh kit ${tr.kit} was left behind`);
    assert.ok(await refused(tr.address, 22), `sshd still listens on ${tr.address}`);
    assert.equal(fs.existsSync(path.join(os.tmpdir(), 'zsd-loopback', tr.address)) && fs.readFileSync(path.join(os.tmpdir(), 'zsd-loopback', tr.address), 'utf8') === String(tr.me), false,
      `the lease on ${tr.address} was not returned`);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
