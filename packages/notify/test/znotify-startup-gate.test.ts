// The startup gate (startup-gate.ts) alone: warm-up against a real HTTP server, startup probes whose results
// the test applies, STATUS= and EXTEND_TIMEOUT_USEC= on a real datagram receiver.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import test, { type TestContext } from 'node:test';
import { startDgramReceiver } from '../../../test/harness/dgram-receiver.js';
import { HttpProber } from '../src/znotify/checks.js';
import type { CheckSpec, Config } from '../src/znotify/config.js';
import type { Logger } from '../src/znotify/log.js';
import { Notifier } from '../src/znotify/notifier.js';
import { applyResult, newProbeState, realClock } from '../src/znotify/probe.js';
import { passStartupGate } from '../src/znotify/startup-gate.js';
import { ServiceState } from '../src/znotify/state.js';
import { recordingLog, until } from './helpers/parts.js';

const zeo: CheckSpec = {
  name: 'zeo', type: 'zeo', address: { host: '127.0.0.1', port: 8100 }, intervalMs: 1000, timeoutMs: 500,
  failureThreshold: 1, successThreshold: 1, roles: ['startup'], graceMs: 0, ruokEveryMs: 0,
};
const ctx = { now: 0, childAlive: true, hangTimeoutMs: 60_000 };

async function setup(t: TestContext, budgetMs: number) {
  const server = http.createServer((_req, res) => { res.end('ok'); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const prober = new HttpProber({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  t.after(() => prober.close());
  const r = await startDgramReceiver();
  t.after(() => r.close());
  const log = recordingLog();
  const state = new ServiceState('c1', 1, 0);
  const probe = newProbeState(zeo);
  state.addProbes(probe);
  const warmup: Config['warmup'] = { budgetMs, intervalMs: 100, urls: [{ path: '/', status: 200, timeoutMs: 2000 }] };
  const notifier = new Notifier(r.env(), log as unknown as Logger);
  const abort = new AbortController();
  const gate = passStartupGate({ warmup, prober, startupProbes: [probe], state, notifier, log, clock: realClock }, abort.signal);
  return { r, state, probe, gate, abort };
}

test('startup gate: warm-up first, then it waits for the startup checks and passes once they pass', async (t) => {
  const s = await setup(t, 60_000);
  await until('waiting for startup check zeo', () => s.r.received.some((d) => d.text.endsWith('STATUS=warm-up 1/1: waiting for startup check zeo')));
  assert.equal(s.state.answered, true, 'the instance answered HTTP');
  assert.equal(s.state.warmup.done, 1);
  assert.match(s.state.warmup.last ?? '', /^\/ 200 in \d+ ms$/);
  const texts = s.r.received.map((d) => d.text);
  assert.match(texts[0]!, /^EXTEND_TIMEOUT_USEC=12100000\nSTATUS=warm-up 0\/1: requesting \/$/);
  assert.match(texts.find((x) => x.includes('waiting'))!, /^EXTEND_TIMEOUT_USEC=15100000\nSTATUS=/);
  applyResult(s.probe, { ok: true, timedOut: false, detail: 'ok', durationMs: 1 }, ctx);
  const outcome = await s.gate;
  assert.equal(outcome.ok, true);
});

test('startup gate: a startup check that does not pass within the budget fails the gate, naming it and its last answer', async (t) => {
  const s = await setup(t, 400);
  applyResult(s.probe, { ok: false, timedOut: false, detail: 'connection refused', durationMs: 1 }, ctx);
  const outcome = await s.gate;
  assert.deepEqual(outcome.ok ? outcome : outcome.reason, 'startup check zeo did not pass within the warm-up budget: connection refused');
});

test('startup gate: an abort ends the wait for startup checks', async (t) => {
  const s = await setup(t, 600_000);
  await until('waiting for startup check zeo', () => s.r.received.some((d) => d.text.endsWith('waiting for startup check zeo')));
  s.abort.abort();
  const outcome = await s.gate;
  assert.equal(outcome.ok, true, 'the warm-up had passed; the caller sees the abort and ignores the outcome');
});
