// A stop during warm-up: the wrapper's own warm-up request is abandoned at once with a TCP reset, not a FIN.
// A server working on a request does not read its socket, so a FIN would sit unseen until the work is done;
// a reset ends the server's socket at once, so an instance can tell that nobody waits for that answer. Checked
// against a real TCP server that received the request and never answers.
import assert from 'node:assert/strict';
import net from 'node:net';
import test from 'node:test';
import { HttpProber } from '../src/znotify/checks.js';
import { warmUp } from '../src/znotify/warmup.js';

/** A server that reads a request and never answers; resolves with how the client's end arrived. */
async function silentServer(t: test.TestContext): Promise<{ port: number; requested: Promise<void>; ended: Promise<string> }> {
  let onRequest!: () => void;
  let onEnd!: (how: string) => void;
  const requested = new Promise<void>((r) => { onRequest = r; });
  const ended = new Promise<string>((r) => { onEnd = r; });
  const server = net.createServer((sock) => {
    let got = '';
    sock.on('data', (d) => { got += d.toString(); if (got.includes('\r\n\r\n')) onRequest(); });
    sock.on('end', () => onEnd('FIN'));
    sock.on('error', (err: NodeJS.ErrnoException) => onEnd(err.code ?? err.message));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.close(); });
  return { port: (server.address() as net.AddressInfo).port, requested, ended };
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
