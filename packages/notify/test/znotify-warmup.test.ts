// Warm-up against a real HTTP server on port 0, and the child helpers (command resolution, exit status).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { HttpProber } from '../src/znotify/checks.js';
import { warmUp, warmupStatus, type WarmupEvent } from '../src/znotify/warmup.js';
import { Child, exitStatusOf, findSetpriv, resolveCommand } from '../src/znotify/child.js';
import { StartError } from '../src/znotify/errors.js';

async function server(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const s = http.createServer(handler);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    port: (s.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); }),
  };
}

test('warm-up: URLs in order, each retried until it passes; events carry what STATUS= shows', async (t) => {
  let plone = 0;
  const srv = await server((req, res) => {
    if (req.url === '/Plone') {
      plone++;
      res.statusCode = plone < 3 ? 500 : 200;
      res.end(plone < 3 ? 'error' : '<html>ok</html>');
      return;
    }
    res.end('root');
  });
  const prober = new HttpProber({ host: '127.0.0.1', port: srv.port });
  t.after(async () => { await prober.close(); await srv.close(); });
  const events: WarmupEvent[] = [];
  const out = await warmUp({
    urls: [{ path: '/', status: 200, timeoutMs: 1000 }, { path: '/Plone', status: 200, text: '</html>', timeoutMs: 1000 }],
    budgetMs: 5000, intervalMs: 30, prober, onEvent: (e) => events.push(e),
  }, new AbortController().signal);
  assert.equal(out.ok, true);
  const statuses = events.map(warmupStatus).map((s) => s.replace(/\d+ ms/g, 'N ms'));
  assert.deepEqual(statuses, [
    'warm-up 0/2: requesting /',
    'warm-up 1/2: / 200 in N ms',
    'warm-up 1/2: requesting /Plone',
    'warm-up 1/2: /Plone 500 (expected 200) in N ms, retrying in N ms',
    'warm-up 1/2: requesting /Plone (attempt 2)',
    'warm-up 1/2: /Plone 500 (expected 200) in N ms, retrying in N ms',
    'warm-up 1/2: requesting /Plone (attempt 3)',
    'warm-up 2/2: /Plone 200 in N ms',
  ]);
  assert.equal(events[2]!.nextStepMs, 1000, 'an attempt announces its timeout (for EXTEND_TIMEOUT_USEC)');
  assert.match(out.ok ? out.summary : '', /^\/ 200 in \d+ ms; \/Plone 200 in \d+ ms$/);
});

test('warm-up: over budget the reason names the URL, its answer, what passed and what was not tried', async (t) => {
  const srv = await server((req, res) => { res.statusCode = req.url === '/' ? 200 : 404; res.end(); });
  const prober = new HttpProber({ host: '127.0.0.1', port: srv.port });
  t.after(async () => { await prober.close(); await srv.close(); });
  const out = await warmUp({
    urls: [{ path: '/', status: 200, timeoutMs: 1000 }, { path: '/Plone', host: 'www.example.org', status: 200, timeoutMs: 1000 }, { path: '/news', status: 200, timeoutMs: 1000 }],
    budgetMs: 300, intervalMs: 50, prober,
  }, new AbortController().signal);
  assert.equal(out.ok, false);
  assert.match(!out.ok ? out.reason : '',
    /^warm-up budget of 300 ms exhausted: \/Plone \(Host: www\.example\.org\) answered 404 \(expected 200\) in \d+ ms \(\d+ attempts\); passed: \/ 200 in \d+ ms; not tried: \/news$/);
  // cancelled (the instance exited): says so, without the budget
  const ac = new AbortController();
  const p = warmUp({ urls: [{ path: '/x', status: 200, timeoutMs: 1000 }], budgetMs: 10_000, intervalMs: 50, prober }, ac.signal);
  setTimeout(() => ac.abort(), 120);
  const c = await p;
  assert.equal(!c.ok && c.cancelled, true);
  assert.match(!c.ok ? c.reason : '', /^\/x answered 404 \(expected 200\)/);
});

test('warm-up: connection refused is "failed:", not "answered"', async () => {
  const srv = await server((_q, r) => r.end());
  const port = srv.port;
  await srv.close();
  const prober = new HttpProber({ host: '127.0.0.1', port });
  const out = await warmUp({ urls: [{ path: '/', status: 200, timeoutMs: 500 }], budgetMs: 150, intervalMs: 50, prober }, new AbortController().signal);
  await prober.close();
  assert.match(!out.ok ? out.reason : '', /^warm-up budget of 150 ms exhausted: \/ failed: connection refused \(\d+ attempts\)$/);
});

test('child: exit statuses as a shell reports them; commands resolved like execvp', async () => {
  assert.equal(exitStatusOf({ code: 0, signal: null }), 0);
  assert.equal(exitStatusOf({ code: 3, signal: null }), 3);
  assert.equal(exitStatusOf({ code: null, signal: 'SIGTERM' }), 143);
  assert.equal(exitStatusOf({ code: null, signal: 'SIGKILL' }), 137);
  assert.equal(resolveCommand('sh', { PATH: '/nonexistent:/bin:/usr/bin' }), '/bin/sh');
  assert.throws(() => resolveCommand('no-such-cmd-xyz', { PATH: '/bin' }), (e: unknown) =>
    e instanceof StartError && e.code === 'ERR_ZNOTIFY_COMMAND_NOT_FOUND' && e.message === 'command not found: no-such-cmd-xyz (searched PATH=/bin)');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const plain = `${mkdtempSync(`${tmpdir()}/znotify-cmd-`)}/client1`;
  writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
  assert.throws(() => resolveCommand(plain, {}), (e: unknown) => e instanceof Error && e.message === `command not executable: ${plain} (check its mode and the x bit)`);
  assert.throws(() => resolveCommand('/nonexistent/x', {}), /command not found: \/nonexistent\/x \(no such file\)/);
});

test('child: started through setpriv --pdeathsig KILL (same pid, death signal set), env passed as given', { skip: findSetpriv() ? undefined : 'setpriv with --pdeathsig not available' }, async () => {
  const child = await Child.spawn(['/bin/sh', '-c', 'sleep 5'], { env: { PATH: '/bin:/usr/bin' } });
  assert.equal(child.pdeathsig, true);
  // /proc/PID/status has no PDeathSig line; the cmdline shows the exec'd command under the same pid
  const { readFileSync } = await import('node:fs');
  // Until the command runs under the same pid: setpriv execs a shell that checks its parent, which execs the command
  // (a loaded machine may take a while to get through both execs; a CI run caught the middle one).
  const cmdline = () => readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
  const command = /^\/bin\/sh\0-c\0sleep 5\0$/;
  for (let i = 0; i < 500 && !command.test(cmdline()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(cmdline(), command);
  assert.equal(child.signal('SIGTERM'), true);
  assert.deepEqual(await child.exited, { code: null, signal: 'SIGTERM' });
  assert.equal(child.alive, false);
  assert.equal(child.signal('SIGTERM'), false);
});
