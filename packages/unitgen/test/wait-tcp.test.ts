// `zunitgen wait-tcp` (the ZEO unit's ExecStartPost=) against real servers on loopback: the sample ZEO server
// (which, like ZEO, sends its greeting first), a server that never speaks, and a port nobody listens on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { freePort } from '../../../test/harness/net.js';
import { SAMPLE_PYTHON, usePeer, zeoServerArgv } from '../../../test/harness/proc.js';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mainProcessAlive, waitTcp } from '../src/wait-tcp.js';
import { zunitgen } from './helpers.js';

const loopback = (port: number) => ({ host: '127.0.0.1', port }) as Parameters<typeof waitTcp>[0];

test('a ZEO server that greets first: accepted, and it logs no reset (the greeting is read before closing)', { skip: existsSync(SAMPLE_PYTHON) ? undefined : `${SAMPLE_PYTHON} is missing` }, async (t) => {
  const port = await freePort();
  // Ready by its log line, not by a TCP probe: the harness's probe closes without reading the greeting, and the
  // reset the server logs for it may come after \`from\` is taken (CI saw exactly that).
  const zeo = await usePeer(t, zeoServerArgv({ port }), { ready: { output: /zeo_server: listening on / } });
  const from = zeo.output().length;
  for (let i = 0; i < 20; i++) assert.equal(await waitTcp(loopback(port), 2000), 'accepted');
  // The server handles each connection on a thread: give the last one time to log what it saw.
  await new Promise((r) => setTimeout(r, 300));
  const log = zeo.output().slice(from);
  assert.doesNotMatch(log, /reset|Errno|unexpected/i, log);
});

test('a server that greets at once (in this process): no connection of the 20 ends in a reset', async (t) => {
  // Same shape as ZEO (a 4-byte length, then the protocol), written the moment the connection is accepted, so
  // that it is in the probe's receive buffer before the probe could close: closing then would send a reset.
  const errors: string[] = [];
  const server = net.createServer((s) => {
    s.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    s.write(Buffer.from([0, 0, 0, 2, 0x5a, 0x35]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  for (let i = 0; i < 20; i++) assert.equal(await waitTcp(loopback(port), 2000), 'accepted');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(errors, [], `the server saw: ${errors.join(', ')}`);
});

test('a server that never speaks nor closes: accepted, after at most the close grace', async (t) => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => { sockets.add(s); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
  const t0 = Date.now();
  assert.equal(await waitTcp(loopback((server.address() as net.AddressInfo).port), 2000), 'accepted');
  const took = Date.now() - t0;
  t.diagnostic(`returned after ${took} ms`);
  assert.equal(sockets.size, 1, 'exactly one connection');
});

test('nothing listening: false once the timeout has passed, after retries', async () => {
  const port = await freePort();
  const t0 = Date.now();
  assert.equal(await waitTcp(loopback(port), 500, 100), 'timeout');
  assert.ok(Date.now() - t0 >= 400, `gave up after ${Date.now() - t0} ms, before the timeout`);
});

test('the watched main process (systemd\'s $MAINPID) alive, then exited: the check follows it', async () => {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    const alive = mainProcessAlive(String(child.pid));
    assert.equal(alive(), true, 'a running sleep counts as alive');
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.equal(alive(), false, 'the killed (and reaped) sleep still counts as alive');
  } finally { child.kill('SIGKILL'); }
  assert.equal(mainProcessAlive(undefined)(), true, 'no MAINPID: nothing to watch');
});

test('wait-tcp with a MAINPID that has exited: gives up at once, says the server exited with its pid, exit 1', async () => {
  const port = await freePort();
  const child = spawn('true', [], { stdio: 'ignore' });
  await once(child, 'exit');
  // Nothing listens and the timeout is long: only the exited main process can end the wait before the hang guard.
  const r = zunitgen(['wait-tcp', `127.0.0.1:${port}`, '--timeout', '10min'], { MAINPID: String(child.pid) });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`the server exited \\(main pid ${child.pid}\\) before it accepted connections on 127\\.0\\.0\\.1:${port}`));
  assert.doesNotMatch(r.stderr, /within 10min/);
});
