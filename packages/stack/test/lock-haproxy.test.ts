// The stack lock (flock) between real processes, and the HAProxy side of a drain against a real HAProxy 2.6:
// the agent cannot undo our drain while it is disabled, sessions in flight are counted, release gives back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { acquireLock, lockHeld, RuntimeApi } from '../src/index.js';
import { haproxySkipReason, useHaproxy } from '../../../test/harness/haproxy.js';
import { freePort, until } from '../../../test/harness/net.js';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-lock-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A node child that takes the lock and reports; `hold` keeps it holding until killed. */
function locker(dir: string, hold: boolean): { out: Promise<string>; pid: number; exited: Promise<number | null> } {
  const code = `import(${JSON.stringify(DIST)}).then((m) => { try { m.acquireLock(${JSON.stringify(dir)}, 'shop', 'test holder'); console.log('locked'); ${hold ? 'setInterval(() => {}, 1000);' : 'process.exit(0);'} } catch (e) { console.log(e.code + ' ' + e.message); process.exit(e.exitCode); } });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  const out = new Promise<string>((resolve) => child.stdout.setEncoding('utf8').on('data', (d: string) => { text += d; if (text.includes('\n')) resolve(text.trim()); }));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { out, pid: child.pid!, exited };
}

test('the lock: one holder at a time, the busy one names the holder, and a SIGKILLed holder leaves it free', async (t) => {
  const dir = tmp(t);
  const lock = acquireLock(dir, 'shop', 'rollout of shop');
  const other = locker(dir, false);
  assert.match(await other.out, new RegExp(`^EBUSY stack shop is busy: rollout of shop \\(pid ${process.pid}, `));
  assert.equal(await other.exited, 75);
  assert.equal(lockHeld(dir, 'shop')?.pid, process.pid);
  lock.release();
  assert.equal(lockHeld(dir, 'shop'), undefined);

  const crashing = locker(dir, true);
  assert.equal(await crashing.out, 'locked');
  assert.throws(() => acquireLock(dir, 'shop', 'recycle'), (e: Error & { code?: string }) => e.code === 'EBUSY' && /test holder/.test(e.message));
  process.kill(crashing.pid, 'SIGKILL');
  await crashing.exited;
  assert.match(fs.readFileSync(path.join(dir, 'shop.lock'), 'utf8'), /test holder/, 'the dead holder\'s line is still there');
  assert.equal(lockHeld(dir, 'shop'), undefined, 'but flock(2) says nobody holds it');
  const again = acquireLock(dir, 'shop', 'recycle'); // the kernel dropped the dead holder's lock
  again.release();
});

test('status\'s look at a released lock reads the emptied file and does not load the native flock binding', async (t) => {
  const dir = tmp(t);
  acquireLock(dir, 'shop', 'rollout of shop').release();
  assert.equal(fs.statSync(path.join(dir, 'shop.lock')).size, 0, 'a release empties the file');
  const code = `import(${JSON.stringify(DIST)}).then((m) => { const held = m.lockHeld(${JSON.stringify(dir)}, 'shop');` +
    ` const koffi = Object.keys(require('node:module').createRequire(${JSON.stringify(DIST)}).cache).some((k) => /koffi/.test(k)); console.log(JSON.stringify({ held: held ?? null, koffi })); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  await new Promise((resolve) => child.once('close', resolve));
  assert.deepEqual(JSON.parse(out), { held: null, koffi: false });
  // A holder that is alive: the same look asks the kernel and names it.
  const lock = acquireLock(dir, 'shop', 'stop of shop');
  t.after(() => lock.release());
  assert.equal(lockHeld(dir, 'shop')?.operation, 'stop of shop');
});

test('Runtime API: a drained server stays drained while its agent says "up ready", sessions are counted, release gives it back', { skip: haproxySkipReason(), timeout: 60_000 }, async (t) => {
  const agentPort = await freePort();
  const httpPort = await freePort();
  const front = await freePort();
  const agent = net.createServer((s) => { s.on('error', () => {}); s.end('up ready 100%\n'); }).listen(agentPort, '127.0.0.1');
  // /slow is answered when the test says so (not after a delay that a loaded machine could outlast).
  let answerSlow = (): void => {};
  const app = http.createServer((req, res) => {
    if (/slow/.test(req.url ?? '')) answerSlow = () => res.end('ok');
    else res.end('ok');
  }).listen(httpPort, '127.0.0.1');
  t.after(() => { agent.close(); app.closeAllConnections(); app.close(); });
  const hx = await useHaproxy(t, {
    backends: [{
      name: 'shop', frontendPort: front,
      servers: [
        { name: 'client1', port: httpPort, check: true, agentPort, interMs: 100, agentInterMs: 100 },
        { name: 'client2', port: httpPort, check: true, interMs: 100 },
      ],
    }],
  });
  const lb = new RuntimeApi(hx.statsSocket);
  await until('both servers UP', async () => {
    const s = await lb.servers('shop');
    return s.get('client1')?.state === 'UP' && s.get('client2')?.state === 'UP' ? true : undefined;
  });
  assert.equal((await lb.servers('shop')).get('client1')!.agent, 'on');
  assert.equal((await lb.servers('shop')).get('client2')!.agent, 'none');

  // A slow request in flight on client1 (leastconn is off: force it there by draining client2 first).
  await lb.drain('shop', 'client2');
  const inflight = fetch(`http://127.0.0.1:${front}/slow`).then((r) => r.status);
  await until('the slow request on client1', async () => ((await lb.servers('shop')).get('client1')!.sessions === 1 ? true : undefined));
  await lb.drain('shop', 'client1');
  let v = (await lb.servers('shop')).get('client1')!;
  assert.equal(v.state, 'DRAIN');
  assert.equal(v.agent, 'off');
  assert.equal(v.sessions, 1, 'the request in flight is still counted while draining');
  answerSlow();
  assert.equal(await inflight, 200, 'a drain lets the request in flight finish');
  // Many agent intervals later the drain still holds (an enabled agent saying "ready" would have cleared it).
  await sleep(600);
  v = (await lb.servers('shop')).get('client1')!;
  assert.equal(v.state, 'DRAIN');
  assert.equal(v.sessions, 0);

  await lb.release('shop', 'client1', { ready: false }); // agent back on: its "up ready" ends the drain
  await until('client1 UP through its agent', async () => ((await lb.servers('shop')).get('client1')!.state === 'UP' ? true : undefined));
  assert.equal((await lb.servers('shop')).get('client1')!.agent, 'on');
  await lb.release('shop', 'client2', { ready: false }); // no agent: set ready at once
  assert.equal((await lb.servers('shop')).get('client2')!.state, 'UP');

  await assert.rejects(lb.drain('shop', 'client9'), /no server shop\/client9/);
  await assert.rejects(new RuntimeApi(path.join(os.tmpdir(), 'nope.sock')).servers('shop'), (e: Error & { code?: string; hint?: string }) => e.code === 'EUNAVAILABLE' && /ENOENT/.test(e.message) && /stats socket/.test(e.hint ?? ''));
  await assert.rejects(lb.servers('nobackend'), (e: Error & { code?: string }) => e.code === 'ECONFIG');
});
