// Drain to zero (drain.ts) against a real HAProxy 2.6 with a real waitress instance behind it: the Runtime API,
// reached over a TCP stats socket (host:port), reports the request in flight, and the drain ends when it ends.
import assert from 'node:assert/strict';
import http from 'node:http';
import test from 'node:test';
import { freePort } from '../../../test/harness/net.js';
import { haproxyConfig, haproxySkipReason, useHaproxy } from '../../../test/harness/haproxy.js';
import { sampleSkipReason, startInstance } from '../../../test/harness/proc.js';
import { serverStat, setServerState } from '@zope-systemd/common';
import { describeDrain, drainToZero, type ServerSessions } from '../src/znotify/drain.js';

const skip = haproxySkipReason() ?? sampleSkipReason();

function get(port: number, p: string): Promise<{ status: number; at: number }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, at: performance.now() }));
    }).on('error', reject);
  });
}

/** The sessions the wrapper's stop reads (run.ts): `show stat` through the shared Runtime API client. */
async function serverSessions(t: { statsSocket: string; backend: string; server: string }, timeoutMs = 2000, signal?: AbortSignal): Promise<ServerSessions> {
  const { current, queued } = await serverStat(t.statsSocket, t.backend, t.server, { timeoutMs, ...(signal ? { signal } : {}) });
  return { current, queued };
}

test('drain to zero over a host:port stats socket: it ends when the request in flight has its answer', { skip }, async (t) => {
  const [port, fe, api] = [await freePort(), await freePort(), await freePort()];
  const inst = await startInstance({ port });
  t.after(() => inst.stop({ signal: 'SIGKILL' }));
  const base = haproxyConfig([{ name: 'plone', frontendPort: fe, servers: [{ name: 'client1', port, extra: 'maxconn 1' }] }]);
  // The harness talks to its own unix socket; the code under test uses a TCP one, as `host:port`.
  const hx = await useHaproxy(t, { config: base.replace(/^global$/m, `global\n  stats socket /tmp/znotify-drain-${process.pid}.sock mode 600 level admin\n  stats socket ipv4@127.0.0.1:${api} level admin`) });
  const target = { statsSocket: `127.0.0.1:${api}`, backend: 'plone', server: 'client1' };
  assert.deepEqual(await serverSessions(target), { current: 0, queued: 0 });

  const slow = get(fe, '/slow?seconds=1.5');
  for (let i = 0; i < 500 && (await serverSessions(target)).current === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await serverSessions(target), { current: 1, queued: 0 }, 'the request in flight shows as a session');
  assert.equal(await setServerState(target.statsSocket, target.backend, target.server, 'drain'), '');
  const d = await drainToZero({ boundMs: 30_000, pollMs: 50, signal: new AbortController().signal, sessions: (s) => serverSessions(target, 2000, s) });
  const doneAt = performance.now();
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(d.kind, 'zero', describeDrain(d, 'plone/client1'));
  assert.ok(r.at <= doneAt, 'the drain ended only after the answer was complete');
  assert.match(describeDrain(d, 'plone/client1'), /^plone\/client1: no session left after \d.* \(1 in flight and 0 queued when the drain began\)$/);
  assert.equal(hx.config.includes(`ipv4@127.0.0.1:${api}`), true);
});

test('drain: the bound, a cut, an unreachable socket (one line naming haproxy.stats-socket), an unknown server', { skip: haproxySkipReason() }, async (t) => {
  const api = await freePort();
  const never = async () => ({ current: 1, queued: 0 });
  const b = await drainToZero({ boundMs: 200, pollMs: 20, signal: new AbortController().signal, sessions: never });
  assert.equal(b.kind, 'bound');
  assert.match(describeDrain(b, 'plone/client1'), /^plone\/client1: still 1 session\(s\) and 0 queued after stop\.drain/);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  assert.equal((await drainToZero({ boundMs: 30_000, pollMs: 20, signal: ac.signal, sessions: never })).kind, 'cut');

  const gone = { statsSocket: `127.0.0.1:${api}`, backend: 'plone', server: 'client1' };
  const u = await drainToZero({ boundMs: 30_000, signal: new AbortController().signal, sessions: (s) => serverSessions(gone, 2000, s) });
  assert.equal(u.kind, 'unavailable');
  assert.match(describeDrain(u, 'plone/client1'), new RegExp(`^haproxy\\.stats-socket: cannot read the sessions of plone/client1 \\(HAProxy stats socket 127\\.0\\.0\\.1:${api}: ECONNREFUSED\\); waiting out the fixed stop\\.drain$`));

  const port = await freePort();
  const base = haproxyConfig([{ name: 'plone', servers: [{ name: 'client1', port }] }]);
  await useHaproxy(t, { config: base.replace(/^global$/m, `global\n  stats socket /tmp/znotify-drain2-${process.pid}.sock mode 600 level admin\n  stats socket ipv4@127.0.0.1:${api} level admin`) });
  await assert.rejects(serverSessions({ ...gone, server: 'client9' }), /HAProxy has no server plone\/client9/);
});
