// `zstack try`: the operator's own stack file in a disposable systemd, started, shown, rolled out, stopped and torn
// down, run as the operator runs it (the built CLI, as root, from the host). Also: without root it says so (77),
// and a stack whose port is taken on this host is refused before anything boots (69).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BOX_NODE } from './harness/box.js';
import { SAMPLE_PYTHON } from './harness/proc.js';
import { portBase, REPO } from './fixtures/unitgen/stack.js';
import { opsSkipReason } from './fixtures/stack/stack.js';

const CLI = path.join(REPO, 'packages/stack/dist/cli.js');

function zstack(args: string[], opts: { uid?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = opts.uid === undefined ? [BOX_NODE, CLI, ...args] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', BOX_NODE, CLI, ...args];
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function stackFile(t: { after(fn: () => void): void }): Promise<{ file: string; http1: number }> {
  const taken = new Set<number>();
  const zeo = (await portBase(1, taken)) + 1;
  const http = await portBase(2, taken), agent = await portBase(2, taken), health = await portBase(2, taken);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-try-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'try.yaml');
  fs.writeFileSync(file, [
    'stack: trial', 'user: daemon', `directory: ${REPO}`, 'hardening: false',
    `znotify: [${BOX_NODE}, ${REPO}/packages/notify/dist/znotify/cli.js]`, `zunitgen: [${BOX_NODE}, ${REPO}/packages/unitgen/dist/cli.js]`,
    'zeo:', `  command: [${SAMPLE_PYTHON}, sample/zeo_server.py, --host, 127.0.0.1, --port, "${zeo}"]`, `  address: 127.0.0.1:${zeo}`,
    'clients:', '  count: 2',
    `  command: [${SAMPLE_PYTHON}, sample/instance.py, --host, 127.0.0.1, --port, "{${http}+n}", --warmup-seconds, "0.5", --zeo, "127.0.0.1:${zeo}"]`,
    `  http: "127.0.0.1:{${http}+n}"`, `  health: { agent: "127.0.0.1:{${agent}+n}", http: "127.0.0.1:{${health}+n}" }`,
    '  warmup: { budget: 30s, interval: 200ms, urls: [/Plone] }', '  stop: { drain: 1s, timeout: 10s }',
    'haproxy: { backend: trial, check-interval: 200ms }', '',
  ].join('\n'));
  return { file, http1: http + 1 };
}

test('zstack try: the stack booted in a disposable systemd, start, status, rollout, stop, torn down', { skip: opsSkipReason(), timeout: 300_000 }, async (t) => {
  const { file, http1 } = await stackFile(t);
  const r = await zstack(['try', file]);
  t.diagnostic(r.stdout.split('\n').filter((l) => l.startsWith('==') || l.startsWith('->')).join(' | '));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /== start trial\.target/);
  assert.match(r.stdout, /2\/2 clients serving/);
  assert.match(r.stdout, /rollout of trial done: client1, client2 restarted/);
  assert.match(r.stdout, /stack trial stopped in .* every unit is inactive/);
  assert.match(r.stdout, /every step passed/);
  assert.match(r.stdout, /torn down/);
  // Nothing left on this host: the stack's port is free again.
  await new Promise<void>((resolve, reject) => { const s = net.createServer().once('error', reject).listen(http1, '127.0.0.1', () => s.close(() => resolve())); });
});

test('zstack try refuses without root (77) and when a port of the stack is taken here (69), before booting anything', { skip: opsSkipReason(), timeout: 60_000 }, async (t) => {
  const { file, http1 } = await stackFile(t);
  const noRoot = await zstack(['try', file], { uid: 65534 });
  assert.equal(noRoot.code, 77, noRoot.stderr);
  assert.match(noRoot.stderr, /zstack try needs root/);
  const busy = net.createServer().listen(http1, '127.0.0.1');
  t.after(() => { busy.close(); });
  await new Promise((r) => busy.once('listening', r));
  const taken = await zstack(['try', file]);
  assert.equal(taken.code, 69, taken.stderr);
  assert.match(taken.stderr, new RegExp(`127\\.0\\.0\\.1:${http1} is in use on this host`));
  assert.doesNotMatch(taken.stdout, /booted/);
});
