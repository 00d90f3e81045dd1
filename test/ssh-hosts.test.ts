// The several-hosts harness's own tests: each host is a real systemd with its own sshd on its own loopback
// address, reachable with `systemctl -H` and `systemd-run -H` through the test's ssh kit only; ~/.ssh is not
// touched; teardown leaves no listener and returns the address.
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
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
