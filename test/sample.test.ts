// The sample instance (sample/instance.py on real waitress) and the ZEO stub (sample/zeo_server.py),
// exercised the way the wrapper and its tests will use them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, waitForTcp } from './harness/net.js';
import {
  instanceArgv, peerEnv, sampleSkipReason, startInstance, startZeoServer, zeoServerArgv, type Peer,
} from './harness/proc.js';

const skip = sampleSkipReason();

interface Reply { status: number; body: string; ms: number }

/** One request on its own connection (no pooling: a hung keep-alive socket must not leak between tests). */
async function get(port: number, pathname: string, opts: { method?: string; timeoutMs?: number } = {}): Promise<Reply> {
  const started = performance.now();
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method: opts.method ?? 'GET', agent: false,
      timeout: opts.timeoutMs ?? 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 10_000} ms: ${pathname}`)));
    req.on('error', reject);
    req.end();
  });
}

async function instance(t: import('node:test').TestContext, a: Parameters<typeof startInstance>[0], env?: NodeJS.ProcessEnv): Promise<Peer> {
  const p = await startInstance(a, env ? { env: { ...peerEnv(), ...env } } : {});
  t.after(() => p.stop());
  return p;
}

/** An answer that does not wait for the warm-up or a busy worker; the slow paths below take >= 2500 ms. */
const FAST_MS = 2_000;

describe('sample instance on waitress', { skip }, () => {
  it('answers / at once; the first /Plone takes the warm-up, later ones are fast; one log line each', async (t) => {
    const port = await freePort();
    const p = await instance(t, { port, warmupSeconds: 3 });
    assert.match(p.stderr(), new RegExp(`instance: serving on http://127.0.0.1:${port} \\(threads=1, warmup=3s, zeo=none\\) pid ${p.pid}`));

    const root = await get(port, '/');
    assert.equal(root.status, 200);
    // "Fast" is under FAST_MS: the slow paths take >= 2900 ms (cold /Plone) and >= 2500 ms (behind /slow), so the
    // bound only has to tell the two apart, and leaves a loaded CI machine room.
    assert.ok(root.ms < FAST_MS, `/ took ${root.ms} ms`);

    const cold = await get(port, '/Plone');
    assert.equal(cold.status, 200);
    assert.match(cold.body, /<\/html>/);
    assert.ok(cold.ms >= 2_900, `cold /Plone took only ${cold.ms} ms`);

    const warm = await get(port, '/Plone');
    assert.equal(warm.status, 200);
    assert.ok(warm.ms < FAST_MS, `warm /Plone took ${warm.ms} ms`);

    // VirtualHostMonster paths reach the same site.
    const vhm = await get(port, '/VirtualHostBase/http/www.example.org:80/Plone/VirtualHostRoot/');
    assert.equal(vhm.status, 200);
    assert.equal((await get(port, '/nope')).status, 404);

    // The cold one's line: at least the 3 s warm-up (a loaded machine only adds to it).
    await p.waitForOutput(/"GET \/Plone HTTP\/1\.1" 200 \d+ (?:[3-9]|\d{2,})\.\d{3}s waitress-0/);
    assert.equal(p.stderr().match(/"GET \/Plone HTTP\/1\.1" 200/g)?.length, 2, p.stderr());
  });

  it('a slow request blocks a one-thread instance but not a two-thread one', async (t) => {
    const one = await freePort();
    const two = await freePort();
    const pOne = await instance(t, { port: one });
    const pTwo = await instance(t, { port: two, threads: 2 });
    for (const [port, p, blocked] of [[one, pOne, true], [two, pTwo, false]] as const) {
      const mark = p.output().length;
      let slowDone = false;
      const slow = get(port, '/slow?seconds=3').finally(() => { slowDone = true; });
      // Once a worker thread runs /slow (its log line), not after a guessed delay.
      await p.waitForOutput(/instance: slow request: 3 s/, { from: mark });
      const root = await get(port, '/');
      assert.equal(root.status, 200);
      // waitress's own word: a request that finds no idle thread is queued and logged with the queue's depth.
      if (blocked) {
        await p.waitForOutput(/Task queue depth is 1/, { from: mark });
      } else {
        assert.doesNotMatch(p.output().slice(mark), /Task queue depth/, '/ waited for a thread beside /slow on 2 threads');
        assert.ok(!slowDone, '/ beside /slow on 2 threads was answered only after /slow');
      }
      const s = await slow;
      assert.equal(s.status, 200);
      assert.equal(s.body, 'slept 3 s\n');
    }
  });

  it('/Plone answers 500 (fast) while the ZEO server is down and 200 again once it is back', async (t) => {
    const zport = await freePort();
    const port = await freePort();
    let zeo = await startZeoServer({ port: zport });
    t.after(() => zeo.stop());
    await instance(t, { port, zeo: `127.0.0.1:${zport}` });

    assert.equal((await get(port, '/Plone')).status, 200);
    await zeo.stop();
    const down = await get(port, '/Plone');
    assert.equal(down.status, 500);
    assert.match(down.body, new RegExp(`ZEO server 127.0.0.1:${zport} unreachable`));
    assert.ok(down.ms < 1_500, `a ZEO outage should fail fast, took ${down.ms} ms`);
    assert.equal((await get(port, '/')).status, 200, '/ does not need the database');

    zeo = await startZeoServer({ port: zport });
    const back = await get(port, '/Plone');
    assert.equal(back.status, 200, back.body);
  });

  it('an instance started while its ZEO server is down answers 500 until the server comes', async (t) => {
    const zport = await freePort();
    const port = await freePort();
    await instance(t, { port, zeo: `127.0.0.1:${zport}`, warmupSeconds: 0.5 });
    assert.equal((await get(port, '/Plone')).status, 500);
    const zeo = await startZeoServer({ port: zport });
    t.after(() => zeo.stop());
    const first = await get(port, '/Plone');
    assert.equal(first.status, 200);
    assert.ok(first.ms >= 400, 'the warm-up is paid by the first request that succeeds');
  });

  it('POST /hang hangs every worker (TCP still connects); PYTHONFAULTHANDLER=1 + SIGABRT dumps every thread from C', async (t) => {
    const port = await freePort();
    // The environment alone enables faulthandler: the instance registers nothing itself, as Zope 5 does not.
    const p = await instance(t, { port, threads: 2 }, { PYTHONFAULTHANDLER: '1' });
    assert.equal((await get(port, '/hang')).status, 405, 'GET /hang does nothing');
    assert.equal((await get(port, '/')).status, 200);
    const hang = await get(port, '/hang', { method: 'POST' });
    assert.equal(hang.status, 202);
    await p.waitForOutput(/hang requested: all 2 worker thread\(s\) hang/);
    await assert.rejects(get(port, '/', { timeoutMs: 1_000 }), /timeout after 1000 ms/);
    await waitForTcp(port); // busy-looking, not dead: the accept loop still runs

    const mark = p.output().length;
    assert.ok(p.signal('SIGABRT'));
    assert.deepEqual(await p.exited, { code: null, signal: 'SIGABRT' }, 'faulthandler dumps, then the process aborts');
    const dump = p.output().slice(mark);
    assert.equal(dump.match(/in hang_forever/g)?.length, 2, `both hung workers are in the dump:\n${dump}`);
    assert.match(dump, /Current thread[^\n]*\n(?:\s+File[^\n]*\n)+/);
  });

  it('Zope 5 signals: SIGHUP, SIGUSR1, SIGUSR2 and SIGTERM kill it at once, with nothing logged', async (t) => {
    for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTERM'] as const) {
      const port = await freePort();
      const p = await instance(t, { port });
      const mark = p.output().length;
      assert.ok(p.signal(sig));
      assert.deepEqual(await p.exited, { code: null, signal: sig }, `${sig}: default action`);
      assert.equal(p.output().slice(mark), '', `${sig}: nothing logged`);
    }
  });

  it('SIGTERM cuts a request in flight; SIGINT (waitress) lets it finish, cancels the queued one, exit 0', async (t) => {
    {
      const port = await freePort();
      const p = await instance(t, { port });
      const slow = get(port, '/slow?seconds=1');
      await p.waitForOutput(/instance: slow request: 1 s/);
      assert.ok(p.signal('SIGTERM'));
      await assert.rejects(slow, /socket hang up|ECONNRESET/, 'SIGTERM cut the request in flight');
      assert.deepEqual(await p.exited, { code: null, signal: 'SIGTERM' });
    }
    {
      const port = await freePort();
      const p = await instance(t, { port });
      const slow = get(port, '/slow?seconds=2');
      // In flight once the worker runs it: only then does / queue behind it (2 s: room to queue it meanwhile).
      await p.waitForOutput(/instance: slow request: 2 s/);
      const queued = get(port, '/');
      await p.waitForOutput(/Task queue depth is 1/);
      assert.ok(p.signal('SIGINT'));
      await p.waitForOutput(/instance: SIGINT: waitress stops/);
      assert.equal((await slow).status, 200, 'the request in flight finished');
      await assert.rejects(queued, /socket hang up|ECONNRESET/, 'the queued request was cancelled');
      assert.deepEqual(await p.exited, { code: 0, signal: null });
      assert.match(p.stderr(), /Canceling 1 pending task\(s\)/);
      assert.match(p.stderr(), /instance: stopped/);
      await assert.rejects(get(port, '/', { timeoutMs: 1_000 }), /ECONNREFUSED/);
    }
  });

  it('--graceful-sigterm (opt-in): SIGTERM lets a request whose client waits finish, exit 0', async (t) => {
    const port = await freePort();
    const p = await instance(t, { port, warmupSeconds: 1.5, gracefulSigterm: true });
    const cold = get(port, '/Plone');
    await p.waitForOutput(/instance: warm-up: loading the cache/);
    assert.ok(p.signal('SIGTERM'));
    await p.waitForOutput(/instance: SIGTERM: graceful stop/);
    await assert.rejects(get(port, '/', { timeoutMs: 1_000 }), /timeout|ECONNREFUSED|ECONNRESET|socket hang up/, 'no new request is taken');
    const r = await cold;
    assert.equal(r.status, 200, 'the request in flight finished');
    assert.match(r.body, /<\/html>/);
    assert.deepEqual(await p.exited, { code: 0, signal: null });
    assert.match(p.stderr(), /instance: stopped \(graceful\): no request left that a client waits for; 0 abandoned by their clients/);
  });

  it('--graceful-sigterm: a request whose client has gone (reset) is not waited for', async (t) => {
    // A warm-up far longer than the hang guard of `exited`: the exit can only come from the client being gone.
    const port = await freePort();
    const p = await instance(t, { port, warmupSeconds: 60, gracefulSigterm: true });
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /Plone HTTP/1.1\r\nHost: x\r\n\r\n');
    await p.waitForOutput(/instance: warm-up: loading the cache/);
    sock.resetAndDestroy();
    assert.ok(p.signal('SIGTERM'));
    const exit = await Promise.race([p.exited, sleep(20_000).then(() => 'still running after 20 s')]);
    assert.deepEqual(exit, { code: 0, signal: null }, p.stderr());
    assert.match(p.stderr(), /instance: stopped \(graceful\): no request left that a client waits for; 1 abandoned by their clients/);
    assert.doesNotMatch(p.stderr(), /"GET \/Plone/, 'the abandoned request did not run to its end');
  });

  it('a port already in use gives one clear line and exit status 1', async (t) => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => blocker.close(() => r())));
    const { port } = blocker.address() as net.AddressInfo;
    const [py, ...args] = instanceArgv({ port });
    const r = spawnSync(py!, args, { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `instance: cannot listen on 127.0.0.1:${port}: Address already in use\n`);
    const [zpy, ...zargs] = zeoServerArgv({ port });
    const z = spawnSync(zpy!, zargs, { encoding: 'utf8', timeout: 10_000 });
    assert.equal(z.status, 1);
    assert.equal(z.stderr, `zeo_server: cannot listen on 127.0.0.1:${port}: Address already in use\n`);
  });
});

/** Reads framed messages (4-byte big-endian length) from a socket. */
function frames(sock: net.Socket): { next(timeoutMs?: number): Promise<Buffer>; ended: Promise<void> } {
  let buf = Buffer.alloc(0);
  const waiters: (() => void)[] = [];
  let ended = false;
  sock.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); waiters.splice(0).forEach((w) => w()); });
  const endedP = new Promise<void>((r) => sock.once('end', () => { ended = true; waiters.splice(0).forEach((w) => w()); r(); }));
  return {
    ended: endedP,
    async next(timeoutMs = 2_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (buf.length >= 4) {
          const n = buf.readUInt32BE(0);
          if (buf.length >= 4 + n) {
            const msg = buf.subarray(4, 4 + n);
            buf = buf.subarray(4 + n);
            return msg;
          }
        }
        if (ended) throw new Error('connection ended before a complete message');
        if (Date.now() > deadline) throw new Error(`no complete message within ${timeoutMs} ms`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
      }
    },
  };
}

function frame(payload: string): Buffer {
  const b = Buffer.from(payload, 'latin1');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(b.length);
  return Buffer.concat([head, b]);
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
  return s;
}

describe('ZEO stub (sample/zeo_server.py)', { skip }, () => {
  it('greets with the framed Z5, answers ruok with one framed JSON object like ZEO 5/6, then closes', async (t) => {
    const port = await freePort();
    const zeo = await startZeoServer({ port });
    t.after(() => zeo.stop());

    const s = await connect(port);
    t.after(() => { s.destroy(); });
    const raw: Buffer[] = [];
    s.on('data', (d: Buffer) => raw.push(d));
    const f = frames(s);
    const greeting = await f.next();
    assert.deepEqual(Buffer.concat(raw).subarray(0, 6), Buffer.from([0, 0, 0, 2, 0x5a, 0x35]));
    assert.equal(greeting.toString('latin1'), 'Z5');

    s.write(frame('ruok'));
    const reply = await f.next();
    await f.ended; // the server closes after the status, as finish_connect does
    const status = JSON.parse(reply.toString('utf8')) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(status), ['1']);
    for (const key of ['connections', 'loads', 'stores', 'commits', 'aborts', 'active_txns', 'lock_time', 'conflicts',
      'conflicts_resolved', 'start', 'waiting', 'timeout-thread-is-alive', 'last-transaction']) {
      assert.ok(key in status['1']!, `ruok reply lacks ${key}: ${reply}`);
    }
    assert.match(String(status['1']!['last-transaction']), /^[0-9a-f]{16}$/);
    assert.equal(Buffer.concat(raw).length, 6 + 4 + reply.length, 'nothing but the greeting and one reply');
  });

  it('a client answering with a protocol version stays connected (echo round trips) and is counted', async (t) => {
    const port = await freePort();
    const zeo = await startZeoServer({ port, storage: 'main' });
    t.after(() => zeo.stop());
    const client = await connect(port);
    t.after(() => { client.destroy(); });
    const f = frames(client);
    assert.equal((await f.next()).toString(), 'Z5');
    client.write(Buffer.concat([frame('Z5'), frame('ping 1')]));
    assert.equal((await f.next()).toString(), 'ping 1');

    const probe = await connect(port);
    t.after(() => { probe.destroy(); });
    const pf = frames(probe);
    await pf.next();
    probe.write(frame('ruok'));
    const status = JSON.parse((await pf.next()).toString()) as Record<string, { connections: number; loads: number }>;
    assert.equal(status.main?.connections, 1);
    assert.equal(status.main?.loads, 1);

    // Stopping the server drops its clients at once (the sample instance relies on noticing that).
    await zeo.stop();
    await f.ended;
  });
});
