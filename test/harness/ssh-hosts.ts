// Several "hosts" on one machine, for tests of a stack that spans hosts: each host is a disposable systemd
// (./box.ts) sharing the host's network namespace, with its own loopback address (127.0.0.2, 127.0.0.3, ...)
// and its own sshd listening only there. `systemctl -H root@127.0.0.N` and `systemd-run -H` reach it the way
// they reach a real remote machine: `ssh -xT root@127.0.0.N systemd-stdio-bridge`.
//
// What the harness sets up, and why:
// - An ssh kit per test (a 0700 temp dir on the host): a fresh ed25519 client key, an ssh_config naming it,
//   a known_hosts holding exactly the hosts' fresh keys (StrictHostKeyChecking yes, BatchMode yes: nothing
//   ever prompts), and a `bin/ssh` wrapper (`exec /usr/bin/ssh -F <kit>/ssh_config "$@"`). systemctl finds
//   `ssh` through PATH and offers no variable to change it; with kit.env() (PATH with bin/ first) it uses the
//   wrapper, so no test reads or writes ~/.ssh or /etc/ssh/ssh_config.
// - Per box: the host keys copied from the machine's /etc/ssh through the overlay are deleted and a fresh
//   ed25519 key made; sshd runs as a unit of the box (zsd-sshd.service, Type=notify as Debian builds it) with
//   its own config: ListenAddress <address>:22 only, key authentication only, the kit's public key as the one
//   authorized key (in /etc/zsd-sshd, not root's ~/.ssh). Nothing here starts sshd on the machine itself:
//   the unit exists only in the box's /etc/systemd/system.
// - Loopback addresses are leased through lock files under <tmpdir>/zsd-loopback (one per address, holding the
//   owner's pid; a dead owner's lease is taken over), so engineers running tests at the same time never get
//   the same address. 127.0.0.1 is never handed out: it is where everything else listens.
// - Connection sharing (ControlMaster, ControlPersist 60 s) makes the many short `systemctl -H` calls of a test
//   cheap. A master ends when its box goes down (its sshd is gone) and is also stopped by teardown.
//
// Usage:
//   const { kit, hosts } = await useSshHosts(t, 3);        // three boxes, sshd on each, torn down by t.after
//   await execFile('systemctl', ['-H', hosts[0].destination, 'is-system-running'], { env: kit.env() });
//   hosts[1].box.exec([...]);                               // the box itself (./box.ts), e.g. to read a file
import { execFile as execFileCb, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { bootBox, boxSkipReason, type Box } from './box.js';
import { onProcessEnd } from './teardown.js';

const execFile = promisify(execFileCb);
export const SSH_BIN = '/usr/bin/ssh';
export const SSHD_BIN = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const SSHD_UNIT = 'zsd-sshd.service';
const SSHD_DIR = '/etc/zsd-sshd';

/** Why ssh hosts cannot run here (one line), or undefined. */
export function sshHostsSkipReason(): string | undefined {
  const box = boxSkipReason();
  if (box) return box;
  for (const [bin, pkg] of [[SSH_BIN, 'openssh-client'], [SSH_KEYGEN, 'openssh-client'], [SSHD_BIN, 'openssh-server'],
    ['/usr/bin/systemd-stdio-bridge', 'systemd']] as const) {
    if (!fs.existsSync(bin)) return `${bin} not found (apt-get install ${pkg}; scripts/setup.sh installs it)`;
  }
  return undefined;
}

/** Client side: key, config, known_hosts and the `ssh` wrapper, all in one temp dir. */
export interface SshKit {
  readonly dir: string;
  /** Holds the `ssh` wrapper; put it first in PATH (env() does). */
  readonly binDir: string;
  readonly sshConfig: string;
  readonly publicKey: string;
  /** process.env (or `base`) with binDir first in PATH: `systemctl -H`, `systemd-run -H` and our CLIs use the kit. */
  env(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Runs `ssh <destination> <command>` (a remote shell line) through the kit; resolves with its output, rejects on a non-zero exit. */
  ssh(destination: string, command: string, opts?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
}

export interface SshHost {
  /** A short name for logs, e.g. "host2". */
  readonly name: string;
  /** Its own loopback address, where its sshd (and the services bound to "this host") listen. */
  readonly address: string;
  /** `root@<address>`, for `systemctl -H` and ssh. */
  readonly destination: string;
  readonly box: Box;
  /** The host's ssh host key line (`ssh-ed25519 AAAA...`), as in the kit's known_hosts. */
  readonly hostKey: string;
  /** Tears the host down (the box; its sshd with it) and returns its address lease. Idempotent. An orderly
   *  poweroff by default (a host that goes away); `{ poweroff: false }`: SIGKILL at once (Box.down). */
  down(opts?: { poweroff?: boolean }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Loopback address leases

const LEASE_DIR = path.join(os.tmpdir(), 'zsd-loopback');

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Something accepts TCP on address:port right now. */
async function listening(address: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Leases a loopback address 127.0.0.N (N >= 2) that no live process holds and where nothing listens on 22. */
export async function leaseAddress(): Promise<{ address: string; release(): void }> {
  fs.mkdirSync(LEASE_DIR, { recursive: true, mode: 0o755 });
  for (let n = 2; n < 255; n++) {
    const address = `127.0.0.${n}`;
    const file = path.join(LEASE_DIR, address);
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
    } catch {
      let owner = NaN;
      try { owner = Number(fs.readFileSync(file, 'utf8')); } catch { continue; }
      if (!Number.isInteger(owner) || alive(owner)) continue;
      // A dead owner's lease: take it over; rename makes only one of two racing takers win.
      const mine = `${file}.${process.pid}`;
      fs.writeFileSync(mine, String(process.pid));
      try { fs.renameSync(mine, file); } catch { fs.rmSync(mine, { force: true }); continue; }
      if (fs.readFileSync(file, 'utf8') !== String(process.pid)) continue; // the taken-over file holds our pid
    }
    const release = (): void => {
      try { if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file, { force: true }); } catch { /* gone */ }
    };
    if (await listening(address, 22)) { release(); continue; } // someone else's sshd, not leased through us
    return { address, release };
  }
  throw new Error(`no free loopback address 127.0.0.2-254 (leases in ${LEASE_DIR})`);
}

// ---------------------------------------------------------------------------------------------------------
// The client side

export async function makeSshKit(): Promise<SshKit & { addKnownHost(address: string, key: string): void; cleanup(): Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(fs.realpathSync(os.tmpdir()), 'zsd-ssh-'));
  await fsp.chmod(dir, 0o700);
  const key = path.join(dir, 'id_ed25519');
  await execFile(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'zope-systemd-test', '-f', key]);
  const publicKey = (await fsp.readFile(`${key}.pub`, 'utf8')).trim();
  const knownHosts = path.join(dir, 'known_hosts');
  await fsp.writeFile(knownHosts, '', { mode: 0o600 });
  const sshConfig = path.join(dir, 'ssh_config');
  await fsp.writeFile(sshConfig, [
    'Host *',
    '  User root',
    `  IdentityFile ${key}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${knownHosts}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  ConnectTimeout 5',
    // A lost host shows as a broken connection within seconds, not at the kernel's TCP timeout.
    '  ServerAliveInterval 2',
    '  ServerAliveCountMax 2',
    '  ControlMaster auto',
    `  ControlPath ${dir}/cm-%C`,
    '  ControlPersist 60',
    '  LogLevel ERROR',
    '',
  ].join('\n'));
  const binDir = path.join(dir, 'bin');
  await fsp.mkdir(binDir);
  await fsp.writeFile(path.join(binDir, 'ssh'), `#!/bin/sh\nexec ${SSH_BIN} -F '${sshConfig}' "$@"\n`, { mode: 0o755 });
  const destinations = new Set<string>();
  const cleanupSync = (): void => {
    // Stop the connection masters we started (they also end by themselves once their sshd is gone).
    for (const d of destinations) {
      spawnSync(SSH_BIN, ['-F', sshConfig, '-O', 'exit', `root@${d}`], { stdio: 'ignore', timeout: 5_000 });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Also when the test process is signalled or exits without its t.after() having run.
  const unregister = onProcessEnd(cleanupSync);
  const env = (base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv =>
    ({ ...base, PATH: `${binDir}:${base.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` });
  return {
    dir, binDir, sshConfig, publicKey, env,
    addKnownHost(address: string, hostKey: string): void {
      fs.appendFileSync(knownHosts, `${address} ${hostKey}\n`);
      destinations.add(address);
    },
    async ssh(destination, command, opts = {}) {
      return await execFile(SSH_BIN, ['-F', sshConfig, '--', destination, command], { timeout: opts.timeoutMs ?? 30_000, env: env() });
    },
    async cleanup(): Promise<void> {
      cleanupSync();
      unregister();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// A host

function sshdConfig(address: string): string {
  return [
    `ListenAddress ${address}:22`,
    `HostKey ${SSHD_DIR}/ssh_host_ed25519_key`,
    `AuthorizedKeysFile ${SSHD_DIR}/authorized_keys`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'X11Forwarding no',
    'AllowTcpForwarding yes',         // ssh -L to a Runtime API socket on this host
    'PrintMotd no',
    'PidFile none',
    'MaxStartups 64:30:128',          // a test may open many short `systemctl -H` sessions at once
    'MaxSessions 64',                 // ... multiplexed over one master connection
    '',
  ].join('\n');
}

const SSHD_SERVICE = [
  '[Unit]', 'Description=sshd of a test host', 'StartLimitIntervalSec=0',
  '[Service]', 'Type=notify', 'RuntimeDirectory=sshd', 'RuntimeDirectoryMode=0755',
  `ExecStartPre=${SSHD_BIN} -t -f ${SSHD_DIR}/sshd_config`,
  `ExecStart=${SSHD_BIN} -D -e -f ${SSHD_DIR}/sshd_config`,
  'KillMode=process', '',
].join('\n');

/** Boots one host: a box, fresh host key, sshd on the leased address, the kit's key authorized. */
export async function bootSshHost(kit: Awaited<ReturnType<typeof makeSshKit>>, name: string): Promise<SshHost> {
  const lease = await leaseAddress();
  const unregisterLease = onProcessEnd(lease.release);
  let box: Box | undefined;
  try {
    box = await bootBox();
    const b = box;
    // Fresh identity: the keys the overlay shows are the machine's own.
    await b.exec(['sh', '-ec', [
      'rm -f /etc/ssh/ssh_host_*',
      `mkdir -p ${SSHD_DIR}`,
      `${SSH_KEYGEN} -q -t ed25519 -N '' -C ${name} -f ${SSHD_DIR}/ssh_host_ed25519_key`,
      `cat > ${SSHD_DIR}/sshd_config`,
    ].join('\n')], { input: sshdConfig(lease.address) });
    await b.exec(['sh', '-ec', `umask 077; cat > ${SSHD_DIR}/authorized_keys`], { input: `${kit.publicKey}\n` });
    await b.writeUnit(SSHD_UNIT, SSHD_SERVICE);
    await b.systemctl('start', SSHD_UNIT);
    const pub = (await b.exec(['cat', `${SSHD_DIR}/ssh_host_ed25519_key.pub`])).stdout.trim().split(/\s+/).slice(0, 2).join(' ');
    kit.addKnownHost(lease.address, pub);
    let downP: Promise<void> | undefined;
    return {
      name, address: lease.address, destination: `root@${lease.address}`, box: b, hostKey: pub,
      down(opts?: { poweroff?: boolean }): Promise<void> {
        downP ??= b.down(opts).finally(() => { lease.release(); unregisterLease(); });
        return downP;
      },
    };
  } catch (err) {
    await box?.down();
    lease.release();
    unregisterLease();
    throw err;
  }
}

/** Waits until `ssh <destination> true` works through the kit (sshd answers, key and host key accepted). */
export async function waitForSsh(kit: SshKit, destination: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { await kit.ssh(destination, 'true', { timeoutMs: 10_000 }); return; } catch (err) {
      if (Date.now() > deadline) throw new Error(`ssh ${destination} did not work within ${timeoutMs} ms: ${(err as Error).message}`);
    }
    await sleep(100);
  }
}

/**
 * Boots `count` hosts (named host1..hostN) and an ssh kit for one test; t.after() tears all of it down, also when
 * the test failed (the failing boxes' journals are printed first).
 */
export async function useSshHosts(t: TestContext, count: number): Promise<{ kit: SshKit; hosts: SshHost[] }> {
  const kit = await makeSshKit();
  const hosts: SshHost[] = [];
  t.after(async () => {
    try {
      if ((t as unknown as { passed?: boolean }).passed === false) {
        for (const h of hosts) {
          const j = await h.box.journal().catch((e: unknown) => `(journal unavailable: ${String(e)})`);
          process.stderr.write(`\n----- journal of ${h.name} (${h.address}, box ${h.box.id}) -----\n${j}----- end -----\n`);
        }
      }
    } finally {
      // The test is over: no orderly poweroff (it would stop, and drain, whatever the test left running).
      await Promise.all(hosts.map((h) => h.down({ poweroff: false })));
      await kit.cleanup();
    }
  });
  // One at a time: each boot is mostly waiting for systemd, and the machine has few cores.
  for (let i = 1; i <= count; i++) hosts.push(await bootSshHost(kit, `host${i}`));
  for (const h of hosts) await waitForSsh(kit, h.destination);
  return { kit, hosts };
}
