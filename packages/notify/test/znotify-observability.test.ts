// `observability: ADDRESS` (config.ts): plone.observability's /startup, /ready and /live as the startup, readiness
// and liveness checks, in one line. The sample instance serves the same three probes on a port and thread of their
// own (--observability-port), the wrapper runs in this process (run.ts start()) with a real notify socket.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { freePort } from '../../../test/harness/net.js';
import { instanceArgv, peerEnv, sampleSkipReason, startZeoServer } from '../../../test/harness/proc.js';
import { parseConfig } from '../src/znotify/config.js';
import { ConfigError } from '../src/znotify/errors.js';
import { createLogger } from '../src/znotify/log.js';
import { start } from '../src/znotify/run.js';

test('observability: one line gives the startup, ready and live checks and replaces the default root check', () => {
  const c = parseConfig('name: c1\nobservability: 127.0.0.1:8089\n', 'c.yaml', { command: ['/bin/true'] });
  assert.deepEqual(c.checks.map((k) => [k.name, k.type, k.type === 'http' ? k.path : '', k.roles.join()]),
    [['startup', 'http', '/startup', 'startup'], ['ready', 'http', '/ready', 'readiness'], ['live', 'http', '/live', 'liveness']]);
  assert.deepEqual(c.observability, { host: '127.0.0.1', port: 8089 });
  // With checks of one's own, those stay and the three are added.
  const d = parseConfig('name: c1\nobservability: 8089\nchecks: [{ name: zeo, type: zeo, address: 8100 }]\n', 'c.yaml', { command: ['/bin/true'] });
  assert.deepEqual(d.checks.map((k) => k.name), ['zeo', 'startup', 'ready', 'live']);
  assert.throws(() => parseConfig('name: c1\nobservability: 8089\nchecks: [{ name: live, type: tcp }]\n', 'c.yaml', { command: ['/bin/true'] }),
    (e: unknown) => e instanceof ConfigError && /c\.yaml:3:\d+: checks\[0\]\.name: "live" is the name of a check that observability: adds; rename this check/.test(e.message));
  assert.throws(() => parseConfig('name: c1\nobservability: nowhere\n', 'c.yaml', { command: ['/bin/true'] }),
    (e: unknown) => e instanceof ConfigError && /c\.yaml:2:\d+: observability: "nowhere" is not an address/.test(e.message));
});

test('observability probes drive READY=1, readiness and liveness (real waitress, real ZEO stub)', { skip: sampleSkipReason() }, async (t) => {
  const [port, probes, zport, agentPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  let zeo = await startZeoServer({ port: zport });
  t.after(() => zeo.stop());
  const r = await startDgramReceiver();
  t.after(() => r.close());
  const config = parseConfig([
    'name: c1', `http: 127.0.0.1:${port}`, `observability: 127.0.0.1:${probes}`,
    `health: { agent: 127.0.0.1:${agentPort} }`, 'warmup: { interval: 100ms, urls: [/] }',
    'stop: { drain: 0, timeout: 5s }', '',
  ].join('\n'), 'c.yaml', { command: instanceArgv({ port, zeo: `127.0.0.1:${zport}`, observabilityPort: probes }) });
  // Faster checks than the defaults, so that the test does not wait on them.
  for (const c of config.checks) { c.intervalMs = 100; c.failureThreshold = 1; }
  const running = await start(config, createLogger({ level: 'silent' }), { env: r.env(peerEnv()), signals: new EventEmitter(), pdeathsig: false });
  t.after(async () => { running.kill(); await running.done; });

  await r.waitForCount(1);
  for (let i = 0; i < 200 && !r.received.some((d) => d.text.includes('READY=1')); i++) await sleep(50);
  assert.ok(r.received.some((d) => d.text.includes('READY=1')), r.received.map((d) => d.text).join(' | '));
  const startup = running.state.probes.find((p) => p.spec.name === 'startup')!;
  assert.equal(startup.status, 'pass', 'READY=1 came after the startup probe passed');

  // ZEO down: /ready says 503 on its own thread, the wrapper's readiness follows; /live stays 200.
  await zeo.stop();
  for (let i = 0; i < 100 && running.state.ready(); i++) await sleep(50);
  assert.equal(running.state.ready(), false);
  assert.match(running.state.notReadyReason() ?? '', /^ready: 503 \(expected 200\)/);
  assert.equal(running.state.live(performance.now()), true);
  zeo = await startZeoServer({ port: zport });
  for (let i = 0; i < 100 && !running.state.ready(); i++) await sleep(50);
  assert.equal(running.state.ready(), true);
});
