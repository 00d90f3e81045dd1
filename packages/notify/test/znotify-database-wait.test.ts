// The databases first (database-wait.ts): the built `znotify run` with a startup-role zeo check does not start the
// instance until a real ZEO stub (sample/zeo_server.py) answers; it says what it waits for in STATUS= and to the
// agent; the budget running out is exit 69 naming the database; a stop during the wait is exit 0 with nothing
// started. Real datagram receiver as NOTIFY_SOCKET, real waitress sample instance.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentLine, freePort, until, waitForTcp } from '../../../test/harness/net.js';
import { startDgramReceiver, type DgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { instanceArgv, peerEnv, REPO_ROOT, sampleSkipReason, startZeoServer, usePeer, type Peer } from '../../../test/harness/proc.js';

const CLI = path.join(REPO_ROOT, 'packages/notify/dist/znotify/cli.js');
const skip = sampleSkipReason();

interface Setup { r: DgramReceiver; zeo: number; http: number; agent: number; config: string }

async function setup(t: TestContext, budget: string, roles = '[startup, readiness]'): Promise<Setup> {
  const r = await startDgramReceiver();
  t.after(() => r.close());
  const [zeo, http, agent] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(mkdtempSync(path.join(os.tmpdir(), 'znotify-dbwait-')), 'client1.yaml');
  writeFileSync(config, `
name: client1
http: 127.0.0.1:${http}
warmup: { budget: ${budget}, urls: [/Plone] }
health: { agent: 127.0.0.1:${agent} }
checks:
  - { name: zeo, type: zeo, address: "127.0.0.1:${zeo}", interval: 100ms, timeout: 1s, roles: ${roles} }
  - { name: root, type: http, path: /, interval: 100ms, timeout: 1s, roles: [liveness, readiness] }
stop: { drain: 0, timeout: 5s }
`);
  return { r, zeo, http, agent, config };
}

function znotify(t: TestContext, s: Setup): Promise<Peer> {
  const argv = [process.execPath, CLI, 'run', '--config', s.config, '--', ...instanceArgv({ port: s.http, zeo: `127.0.0.1:${s.zeo}` })];
  return usePeer(t, argv, { name: 'znotify', env: s.r.env(peerEnv()), stopTimeoutMs: 15_000 });
}

async function refused(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(false); });
    c.once('error', () => resolve(true));
  });
}

test('ZEO down: the instance is not started; the wrapper waits, says so, and starts it once ZEO answers', { skip }, async (t) => {
  const s = await setup(t, '2min');
  await znotify(t, s);
  const waiting = await until('STATUS= waiting for zeo', () => s.r.received.map((d) => d.text).find((x) => x.includes('waiting for zeo')));
  assert.match(waiting, new RegExp(`^EXTEND_TIMEOUT_USEC=\\d+\\nSTATUS=waiting for zeo \\(127\\.0\\.0\\.1:${s.zeo}\\) before starting the instance: connection refused$`));
  // For a while: no instance (its port refuses), the agent says why, no READY=1.
  for (let i = 0; i < 5; i++) {
    assert.equal(await refused(s.http), true, 'the instance was started while ZEO was down');
    assert.equal(await agentLine(s.agent), 'down #waiting for zeo\n');
    await sleep(100);
  }
  assert.ok(!s.r.received.some((d) => d.text.includes('READY=1')));
  const zeo = await startZeoServer({ port: s.zeo });
  t.after(() => zeo.stop());
  await until('READY=1', () => s.r.received.find((d) => d.text.includes('READY=1')), 30_000);
  await waitForTcp(s.http);
  await until('the agent to say up (after the BARRIER=1 that follows READY=1)', async () => ((await agentLine(s.agent)) === 'up ready 100%\n' ? true : undefined), 5000);
});

test('zeo as a startup check only: the instance still waits for ZEO, and a ZEO outage after READY leaves the client up (stale pages over a 503)', { skip }, async (t) => {
  const s = await setup(t, '2min', '[startup]');
  await znotify(t, s);
  await until('STATUS= waiting for zeo', () => s.r.received.map((d) => d.text).find((x) => x.includes('waiting for zeo')));
  assert.equal(await refused(s.http), true, 'the instance was started while ZEO was down');
  const zeo = await startZeoServer({ port: s.zeo });
  t.after(() => zeo.stop());
  await until('the agent to say up', async () => ((await agentLine(s.agent)) === 'up ready 100%\n' ? true : undefined), 30_000);
  await zeo.stop();
  await until('ZEO gone', async () => ((await refused(s.zeo)) ? true : undefined), 5000);
  // With the readiness role the client would be `down #zeo: ...` after three 100 ms runs; startup-only, the check
  // ended when it passed, and the instance's own check (/) keeps the client up.
  for (let i = 0; i < 10; i++) {
    assert.equal(await agentLine(s.agent), 'up ready 100%\n', `round ${i}`);
    await sleep(100);
  }
});

test('ZEO down for the whole warm-up budget: exit 69, naming the database and its last answer; no instance ran', { skip }, async (t) => {
  const s = await setup(t, '1s');
  const zn = await znotify(t, s);
  const exit = await zn.exited;
  assert.deepEqual(exit, { code: 69, signal: null });
  assert.match(zn.output(), new RegExp(`znotify: zeo \\(127\\.0\\.0\\.1:${s.zeo}\\) did not answer within the warm-up budget of 1\\.0 s: connection refused`));
  assert.match(s.r.received.at(-1)!.text, /^STATUS=start failed: zeo \(.*\) did not answer within the warm-up budget/);
  assert.doesNotMatch(zn.output(), /instance: serving on/);
});

test('a stop while waiting for ZEO ends the wrapper at once with 0; nothing was started', { skip }, async (t) => {
  const s = await setup(t, '2min');
  const zn = await znotify(t, s);
  await until('STATUS= waiting for zeo', () => s.r.received.find((d) => d.text.includes('waiting for zeo')));
  zn.signal('SIGTERM');
  assert.deepEqual(await zn.exited, { code: 0, signal: null });
  assert.match(s.r.received.at(-1)!.text, /^STATUS=stopped before the instance was started$/);
  assert.doesNotMatch(zn.output(), /instance: serving on/);
});
