// The warm-up slot (warmup-slot.ts): built `znotify run` wrappers that name the same lock file start and warm up
// their instances one at a time. Real flock(2) on a real file, real datagram receivers as NOTIFY_SOCKET, real
// waitress sample instances:
// - while one warms up, a second waits before spawning its instance (STATUS= names the holder, the agent says why),
//   a stop during the wait ends it with 0 and nothing started, and a SIGKILLed holder leaves no lock behind;
// - the slot is given back at READY=1: the next wrapper takes it at once while the first instance keeps running
//   (the instance never inherits the lock);
// - a slot file that cannot be opened is one warning naming warmup.slot, and the start goes on; a relative path is
//   refused in the config.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentLine, freePort, until, waitForTcp } from '../../../test/harness/net.js';
import { startDgramReceiver, type DgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { instanceArgv, peerEnv, REPO_ROOT, sampleSkipReason, usePeer, type Peer } from '../../../test/harness/proc.js';
import { parseConfig } from '../src/znotify/config.js';
import { realClock } from '../src/znotify/probe.js';
import { takeWarmupSlot, WarmupSlot } from '../src/znotify/warmup-slot.js';

const CLI = path.join(REPO_ROOT, 'packages/notify/dist/znotify/cli.js');
const skip = sampleSkipReason();

interface Wrapper { name: string; peer: Peer; r: DgramReceiver; http: number; agent: number }

/** A built `znotify run` named `name` with the sample instance, whose warm-up URL is `warmup`, on the slot `slot`. */
async function wrapper(t: TestContext, dir: string, name: string, slot: string, warmup: string): Promise<Wrapper> {
  const r = await startDgramReceiver();
  t.after(() => r.close());
  const [http, agent] = [await freePort(), await freePort()];
  const config = path.join(dir, `${name}.yaml`);
  writeFileSync(config, `
name: ${name}
http: 127.0.0.1:${http}
warmup: { budget: 2min, slot: ${JSON.stringify(slot)}, urls: [{ path: ${JSON.stringify(warmup)}, timeout: 2min }] }
health: { agent: 127.0.0.1:${agent} }
checks: []
stop: { drain: 0, timeout: 5s }
`);
  const peer = await usePeer(t, [process.execPath, CLI, 'run', '--config', config, '--', ...instanceArgv({ port: http })],
    { name, env: r.env(peerEnv()), stopTimeoutMs: 15_000 });
  return { name, peer, r, http, agent };
}

const texts = (w: Wrapper) => w.r.received.map((d) => d.text);
const ready = (w: Wrapper) => until(`${w.name}: READY=1`, () => texts(w).find((x) => x.includes('READY=1')), 30_000);

async function refused(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(false); });
    c.once('error', () => resolve(true));
  });
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'znotify-slot-'));
  t.after(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
  return dir;
}

test('while one wrapper warms up, the others wait before spawning; a stop ends the wait; a SIGKILLed holder leaves no lock', { skip }, async (t) => {
  const dir = tempDir(t);
  const slot = path.join(dir, 'warmup.slot');
  // client1's warm-up request takes a minute: it holds the slot for the whole test unless it dies.
  const a = await wrapper(t, dir, 'client1', slot, '/slow?seconds=60');
  await waitForTcp(a.http);
  const b = await wrapper(t, dir, 'client2', slot, '/Plone');
  const c = await wrapper(t, dir, 'client3', slot, '/Plone');
  for (const w of [b, c]) {
    const waiting = await until(`${w.name}: STATUS= waiting for the slot`, () => texts(w).find((x) => x.includes('waiting for the warm-up slot')));
    assert.equal(waiting, `EXTEND_TIMEOUT_USEC=10200000\nSTATUS=waiting for the warm-up slot (${slot}): client1 (pid ${a.peer.pid}) is warming up`);
  }
  // For a while: neither instance started, the agents say why, no READY=1.
  for (let i = 0; i < 5; i++) {
    for (const w of [b, c]) {
      assert.equal(await refused(w.http), true, `${w.name}'s instance was started while client1 held the slot`);
      assert.equal(await agentLine(w.agent), 'down #waiting for warm-up slot\n');
    }
    await sleep(100);
  }
  assert.ok(![a, b, c].some((w) => texts(w).some((x) => x.includes('READY=1'))));

  // A stop while waiting: exit 0, nothing was started.
  c.peer.signal('SIGTERM');
  assert.deepEqual(await c.peer.exited, { code: 0, signal: null });
  assert.equal(texts(c).at(-1), 'STATUS=stopped before the instance was started');
  assert.doesNotMatch(c.peer.output(), /instance: serving on/);

  // The holder dies without a word: the kernel drops its lock, client2 takes the slot and starts.
  a.peer.signal('SIGKILL');
  await ready(b);
  assert.match(b.peer.output(), /took the warm-up slot after \d+(\.\d+)? m?s: starting the instance/);
  await until('client2: the agent to say up (after the BARRIER=1 that follows READY=1)', async () => ((await agentLine(b.agent)) === 'up ready 100%\n' ? true : undefined), 5000);
});

test('the slot is given back at READY=1: the next wrapper takes it at once while the first instance keeps running', { skip }, async (t) => {
  const dir = tempDir(t);
  const slot = path.join(dir, 'warmup.slot');
  const a = await wrapper(t, dir, 'client1', slot, '/Plone');
  await ready(a);
  const b = await wrapper(t, dir, 'client2', slot, '/Plone');
  await ready(b);
  assert.ok(!texts(b).some((x) => x.includes('waiting for the warm-up slot')), `client2 waited for a slot client1 no longer needed:\n${texts(b).join('\n')}`);
  assert.doesNotMatch(b.peer.output(), /took the warm-up slot after/);
  // client1's instance still runs (it would hold the lock, had it inherited the descriptor).
  assert.equal(a.peer.exitInfo, undefined);
  assert.equal(await refused(a.http), false);
});

test('a slot file that cannot be opened: one warning naming warmup.slot, the start goes on; a relative path is refused', async () => {
  const slot = new WarmupSlot(path.join(os.tmpdir(), `znotify-no-such-dir-${process.pid}`, 'warmup.slot'));
  const warnings: string[] = [];
  const waiting: Array<string | undefined> = [];
  const r = await takeWarmupSlot({
    slot, holderName: 'client1 (pid 1)', budgetMs: 60_000, clock: realClock,
    notifier: { status: () => assert.fail('no STATUS= for a slot it cannot use') },
    log: { info: () => {}, warn: (_o: object, msg?: string) => { warnings.push(String(msg)); } },
    onWaiting: (reason) => waiting.push(reason),
  } as Parameters<typeof takeWarmupSlot>[0], new AbortController().signal);
  assert.equal(r.ok && r.taken, false);
  assert.ok(r.ok);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^warmup\.slot: cannot lock .*warmup\.slot \(ENOENT\): starting without the warm-up slot; make its directory writable for the service's user$/);
  assert.deepEqual(waiting, [undefined]);
  assert.throws(() => parseConfig('name: c1\nwarmup: { slot: var/warmup.slot }\n', 'c1.yaml'),
    (e: Error) => /c1\.yaml:2:\d+: warmup\.slot: .*var\/warmup\.slot/.test(e.message) && /absolute path of a file/.test(e.message));
});
