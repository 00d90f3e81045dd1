// `zunitgen wait-tcp ADDR --timeout D`: used as ExecStartPost= of the ZEO unit, so that the ZEO server
// counts as started only once it accepts connections (ZEO has no sd_notify).
//
// A ZEO server speaks first: it sends its protocol greeting as soon as it accepts. Closing with that greeting
// unread makes the kernel answer with a reset, and the server logs "Connection reset by peer" on every start.
// So after the connect succeeds the probe half-closes (FIN), reads whatever the server sends until the server
// closes too, and only waits CLOSE_GRACE_MS for a server that neither speaks nor closes.

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Address } from './values.js';

const CLOSE_GRACE_MS = 500;

export async function waitTcp(a: Address, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe(a, Math.min(5000, timeoutMs))) return true;
    if (Date.now() + intervalMs > deadline) return false;
    await sleep(intervalMs);
  }
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
