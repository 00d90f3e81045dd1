// haproxy.frontend: the complete configuration zunitgen writes (global with the wrappers' stats socket,
// defaults, frontend, backend) passes `haproxy -c` and runs as it is: a real HAProxy started from the generated
// file marks the clients UP and forwards a request through the frontend to a real HTTP server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinTemplates, parseStack, renderWith } from '@zope-systemd/unitgen';
import { HAPROXY_BIN, haproxySkipReason, startHaproxy } from './harness/haproxy.js';
import { freePort } from './harness/net.js';

const skip = haproxySkipReason();

test('the standalone HAProxy configuration is checked by haproxy -c and serves through its frontend', { skip, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zs-standalone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Three different ports (freePort may hand the same one out twice), each listener failing loudly, not hanging.
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [fe, h1, a1] = [...ports] as [number, number, number];
  const servers = await Promise.all([h1].map((port, i) => new Promise<http.Server>((resolve, reject) => {
    const s = http.createServer((_req, res) => { res.end(`client${i + 1}\n`); });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  })));
  // The agent the backend asks (the wrapper's, answered here by a plain TCP server with the words of a warm client).
  const agent = await new Promise<net.Server>((resolve, reject) => {
    // HAProxy resets the connection once it has read the line: that reset is expected, not an error.
    const s = net.createServer((c) => { c.on('error', () => {}); c.end('up ready 100%\n'); });
    s.once('error', reject);
    s.listen(a1, '127.0.0.1', () => resolve(s));
  });
  t.after(() => { for (const s of servers) s.close(); agent.close(); });
  const sock = join(dir, 'admin.sock');
  const text = `stack: site
user: plone
directory: /srv/site
clients:
  count: 1
  command: /srv/site/bin/client{n}
  http: 127.0.0.1:${h1}
  health: 127.0.0.1:${a1}
haproxy: { backend: site, stats-socket: ${sock}, check-interval: 200ms, frontend: "127.0.0.1:${fe}" }
`;
  const files = renderWith(parseStack(text, { file: 'site.yaml' }), builtinTemplates(), { outDir: '/etc/systemd/system' });
  const cfg = files.find((f) => f.name === 'haproxy-site-standalone.cfg');
  assert.ok(cfg, files.map((f) => f.name).join(' '));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg.content);
  const check = spawnSync(HAPROXY_BIN, ['-c', '-f', file], { encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}\n${cfg.content}`);
  assert.doesNotMatch(check.stdout + check.stderr, /\[WARNING\]/, `${check.stdout}${check.stderr}`);
  const hx = await startHaproxy({ config: cfg.content, statsSocket: sock });
  t.after(() => hx.stop());
  assert.equal(hx.statsSocket, sock, 'the stats socket is the one in the generated global section');
  for (const s of ['client1']) await hx.waitForState('site', s, 'UP', { timeoutMs: 20_000 });
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: fe, path: '/', timeout: 10_000, agent: false }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(`${res.statusCode} ${b}`)); }).on('error', reject).on('timeout', () => reject(new Error('no answer through the frontend within 10 s')));
  });
  assert.match(body, /^200 client1\n$/);
});
