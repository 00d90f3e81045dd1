// `zunitgen wait-tcp ADDR --timeout D`: used as ExecStartPost= of the ZEO unit, so that the ZEO server
// counts as started only once it accepts connections (ZEO has no sd_notify).

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Address } from './values.js';

export async function waitTcp(a: Address, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: a.host, port: a.port, timeout: Math.min(5000, timeoutMs) });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('timeout', () => { s.destroy(); resolve(false); });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    if (Date.now() + intervalMs > deadline) return false;
    await sleep(intervalMs);
  }
}
