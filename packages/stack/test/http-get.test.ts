// The GET zstack reads the wrappers' /health with (node:net, HTTP/1.0), against real servers on port 0: node's own
// HTTP server as the wrapper runs it, and raw TCP servers for answers a wrapper would never give.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { getJson } from '../src/http-get.js';

async function listen(t: TestContext, server: net.Server): Promise<{ host: string; port: number; family: 4 }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, family: 4 };
}

/** A TCP server that reads the request and answers `answer` (then closes, unless `hold`). */
function raw(answer: string | Buffer, hold = false): { server: net.Server; requests: string[] } {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.once('data', (d) => { requests.push(d.toString('latin1')); s.write(answer); if (!hold) s.end(); });
  });
  server.on('close', () => { for (const s of sockets) s.destroy(); });
  return { server, requests };
}

test('a JSON answer from node:http is read whatever its status; the request is HTTP/1.0 with Host and Accept', async (t) => {
  const seen: Array<{ url?: string; version: string; host?: string; accept?: string }> = [];
  const a = await listen(t, http.createServer((req, res) => {
    seen.push({ url: req.url, version: req.httpVersion, host: req.headers.host, accept: req.headers.accept });
    res.statusCode = 503;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ state: 'starting', ready: false, text: 'ü'.repeat(40_000) }));
  }));
  const body = await getJson(a, '/health?memory', 1000) as { state: string; text: string };
  assert.equal(body.state, 'starting');
  assert.equal(body.text.length, 40_000, 'a body in many chunks, multi-byte characters across them');
  assert.deepEqual(seen, [{ url: '/health?memory', version: '1.0', host: `127.0.0.1:${a.port}`, accept: 'application/json' }]);
});

test('framing: Content-Length bounds the body; a body cut short, a non-HTTP answer and a non-JSON body are errors naming the address', async (t) => {
  const extra = raw('HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}trailing junk');
  assert.deepEqual(await getJson(await listen(t, extra.server), '/health', 1000), { ok: true });
  assert.match(extra.requests[0]!, /^GET \/health HTTP\/1\.0\r\n/);

  const cut = await listen(t, raw('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok":').server);
  await assert.rejects(getJson(cut, '/health', 1000), { code: 'EPROTO', message: `127.0.0.1:${cut.port}/health closed after 6 of 100 body bytes` });
  const ssh = await listen(t, raw('SSH-2.0-OpenSSH_9.2p1\r\n').server);
  await assert.rejects(getJson(ssh, '/health', 1000), { code: 'EPROTO', message: /answered no complete HTTP header/ });
  const notHttp = await listen(t, raw('hello\r\n\r\n{}').server);
  await assert.rejects(getJson(notHttp, '/health', 1000), { code: 'EPROTO', message: /without an HTTP status line: "hello"/ });
  const html = await listen(t, raw('HTTP/1.0 404 Not Found\r\n\r\n<html>').server);
  await assert.rejects(getJson(html, '/health', 1000), { message: `127.0.0.1:${html.port}/health answered 404 without JSON` });
});

test('a peer that stalls is given up after the timeout (ETIMEDOUT); one that floods after 1 MiB (EMSGSIZE); a closed port is ECONNREFUSED', async (t) => {
  const stall = await listen(t, raw('HTTP/1.0 200 OK\r\n', true).server);
  await assert.rejects(getJson(stall, '/health', 200), { code: 'ETIMEDOUT' });
  const flood = await listen(t, raw(Buffer.alloc((1 << 20) + 10, 'x'), true).server);
  await assert.rejects(getJson(flood, '/health', 5000), { code: 'EMSGSIZE' });
  const closed = net.createServer();
  const gone = await new Promise<number>((r) => closed.listen(0, '127.0.0.1', () => { const p = (closed.address() as net.AddressInfo).port; closed.close(() => r(p)); }));
  await assert.rejects(getJson({ host: '127.0.0.1', port: gone, family: 4 }, '/health', 1000), { code: 'ECONNREFUSED' });
});
