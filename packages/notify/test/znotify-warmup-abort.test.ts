// A stop during warm-up: the wrapper's own warm-up request is abandoned at once with a TCP reset, not a FIN.
// A server working on a request does not read its socket, so a FIN would sit unseen until the work is done;
// a reset ends the server's socket at once, so an instance can tell that nobody waits for that answer. Checked
// against a real TCP server that received the request and never answers; also for a request that timed out and is
// kept open for its answer (one request in flight per instance).
import assert from 'node:assert/strict';
import net from 'node:net';
import test from 'node:test';
import { HttpProber } from '../src/znotify/checks.js';
import { warmUp } from '../src/znotify/warmup.js';

/** A server that reads a request and never answers; resolves with how the client's end arrived. */
async function silentServer(t: test.TestContext): Promise<{ port: number; requested: Promise<void>; ended: Promise<string>; connections: () => number }> {
  let onRequest!: () => void;
  let onEnd!: (how: string) => void;
  const requested = new Promise<void>((r) => { onRequest = r; });
  const ended = new Promise<string>((r) => { onEnd = r; });
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    let got = '';
    sock.on('data', (d) => { got += d.toString(); if (got.includes('\r\n\r\n')) onRequest(); });
    sock.on('end', () => onEnd('FIN'));
    sock.on('error', (err: NodeJS.ErrnoException) => onEnd(err.code ?? err.message));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.close(); });
  return { port: (server.address() as net.AddressInfo).port, requested, ended, connections: () => connections };
}

test('an aborted request resets its connection, and the result says cancelled', async (t) => {
  const s = await silentServer(t);
  const prober = new HttpProber({ host: '127.0.0.1', port: s.port });
  t.after(() => prober.close());
  const ac = new AbortController();
  const result = prober.get({ path: '/Plone', status: 200, timeoutMs: 60_000 }, ac.signal);
  await s.requested;
  ac.abort();
  assert.equal((await result).detail, 'cancelled');
  assert.equal(await s.ended, 'ECONNRESET');
});

test('a stop during warm-up (its signal aborts) resets the warm-up request at once', async (t) => {
  const s = await silentServer(t);
  const prober = new HttpProber({ host: '127.0.0.1', port: s.port });
  t.after(() => prober.close());
  const ac = new AbortController();
  const outcome = warmUp({ urls: [{ path: '/Plone', status: 200, timeoutMs: 300_000 }], budgetMs: 600_000, intervalMs: 1000, prober }, ac.signal);
  await s.requested;
  ac.abort();
  const o = await outcome;
  assert.equal(o.ok, false);
  assert.equal(o.ok === false && o.cancelled, true);
  assert.equal(await s.ended, 'ECONNRESET');
});

test('a stop during warm-up also resets a warm-up request that timed out and is still kept open', { timeout: 10_000 }, async (t) => {
  const s = await silentServer(t);
  const prober = new HttpProber({ host: '127.0.0.1', port: s.port });
  t.after(() => prober.close());
  const ac = new AbortController();
  const attempts: string[] = [];
  const outcome = warmUp({
    urls: [{ path: '/Plone', status: 200, timeoutMs: 100 }], budgetMs: 600_000, intervalMs: 20, prober,
    onEvent: (e) => { if (e.kind === 'attempt') attempts.push(e.waitingFor ? 'waits' : 'sends'); if (attempts.length === 3) ac.abort(); },
  }, ac.signal);
  const o = await outcome;
  assert.equal(o.ok === false && o.cancelled, true);
  // The first attempt sent the request; it timed out and stayed open, so the next ones waited for it.
  assert.deepEqual(attempts, ['sends', 'waits', 'waits']);
  assert.equal(await s.ended, 'ECONNRESET');
  assert.equal(s.connections(), 1, 'one request reached the server');
});
