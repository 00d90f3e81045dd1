// Small network helpers shared by the integration tests: loopback only.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; we close and hand it out). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts a TCP connection on host:port now (the connection is closed at once). */
export async function connects(port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Resolves once something accepts TCP connections on host:port; rejects after timeoutMs. */
export async function waitForTcp(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await connects(port, host)) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on ${host}:${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** One HAProxy agent-check exchange: connect, read until the peer closes, return what it said. */
export async function agentLine(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = net.connect({ port, host });
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`agent ${host}:${port}: no answer within ${timeoutMs} ms`)); }, timeoutMs);
    s.setEncoding('utf8').on('data', (d: string) => { data += d; });
    s.once('close', () => { clearTimeout(timer); resolve(data); });
    s.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Polls fn until it returns something other than undefined; fails naming `what` (and the last error). */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) { lastErr = err; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}
