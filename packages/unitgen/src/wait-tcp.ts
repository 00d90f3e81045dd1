// `zunitgen wait-tcp ADDR --timeout D`: used as ExecStartPost= of the ZEO unit, so that the ZEO server
// counts as started only once it accepts connections (ZEO has no sd_notify).
//
// A ZEO server speaks first: it sends its protocol greeting as soon as it accepts. Closing with that greeting
// unread makes the kernel answer with a reset, and the server logs "Connection reset by peer" on every start.
// So after the connect succeeds the probe half-closes (FIN), reads whatever the server sends until the server
// closes too, and only waits CLOSE_GRACE_MS for a server that neither speaks nor closes.
//
// systemd sets $MAINPID for ExecStartPost= (systemd.exec(5): the main process's pid, if known) and, while
// ExecStartPost= runs, it waits for it even when the main process has already exited (systemd.service(5): the
// unit is "activating" until the control process is done). So without a look at the main process, a ZEO
// server that dies at start holds the unit, and the whole stack after it, for the full ready timeout.
// The probe therefore also watches that pid and stops as soon as the process is gone (no /proc entry, a
// zombie, or a different process under the same pid).

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Address } from './values.js';

const CLOSE_GRACE_MS = 500;

/** 'accepted': something accepted; 'timeout': nothing did in time; 'exited': the watched process is gone. */
export type WaitResult = 'accepted' | 'timeout' | 'exited';

export async function waitTcp(a: Address, timeoutMs: number, intervalMs = 200, alive: () => boolean = () => true): Promise<WaitResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) return 'exited';
    if (await probe(a, Math.min(5000, timeoutMs))) return 'accepted';
    if (Date.now() + intervalMs > deadline) return 'timeout';
    await sleep(intervalMs);
  }
}

/** The start time (field 22 of /proc/PID/stat) of a live process, or undefined if it is gone or a zombie. */
function processStart(pid: number): string | undefined {
  let stat: string;
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
  // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  return rest[19];
}

/**
 * A check that the process `pid` (systemd's $MAINPID) still runs: false once it has exited, also when its pid
 * was taken by another process since the first look. No pid (not run by systemd, or main pid unknown): always true.
 */
export function mainProcessAlive(pid: string | undefined): () => boolean {
  if (pid === undefined || !/^[1-9]\d*$/.test(pid)) return () => true;
  const n = Number(pid);
  const started = processStart(n);
  return () => started !== undefined && processStart(n) === started;
}

/** One connection attempt; resolves once the connection is closed again (true if it was accepted). */
function probe(a: Address, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let accepted = false;
    const s = net.connect({ host: a.host, port: a.port, timeout: timeoutMs });
    const done = () => { clearTimeout(grace); s.destroy(); resolve(accepted); };
    let grace: NodeJS.Timeout | undefined;
    s.once('connect', () => {
      accepted = true;
      s.setTimeout(0);
      s.end();
      grace = setTimeout(done, CLOSE_GRACE_MS);
    });
    s.on('data', () => { /* the greeting: read, so that closing does not reset */ });
    s.once('timeout', done);
    s.once('error', done);
    s.once('close', done);
  });
}
