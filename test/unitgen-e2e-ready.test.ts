// Never UP before READY=1: clients restarted 20 times under a real systemd 252, behind a real HAProxy 2.6 fed both
// generated backends as they are (the agent one: tcp-check + agent-check on the wrapper's agent; the httpchk one:
// /health/ready on the wrapper's health port). HAProxy logs every server state change, with microsecond RFC 5424
// timestamps, to a unix datagram socket read here; systemd says when each stop began (ActiveExitTimestamp) and when
// READY=1 was taken (ActiveEnterTimestamp), on the same clock. Between the two, HAProxy must have taken the client
// out (DOWN or DRAIN) and never put it back UP; after READY=1 it comes back UP.
// Set-up: test/fixtures/unitgen/stack.ts (the sample ZEO stub and sample instances behind znotify).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDgramReceiver } from './harness/dgram-receiver.js';
import { BACKEND, clientUnit, HTTPCHK_BACKEND, setUpStack, stackSkipReason, TARGET } from './fixtures/unitgen/stack.js';
import type { Box } from './harness/box.js';

const skip = stackSkipReason();
const RESTARTS = 20;
// The restarts are spread over this many clients, each restarted in a loop of its own, all side by side: the same 20
// stop/READY windows to check, in about half the time of two loops of ten (a restart is mostly waiting: drain,
// process start, warm-up, the next check), and more ways for the runs to overlap.
const CLIENTS = 4;

interface ServerEvent { us: number; backend: string; server: string; text: string; up: boolean | undefined }

/** µs since the epoch of an RFC 5424 timestamp such as 2026-12-04T19:14:48.407971+00:00. */
function rfc5424Us(ts: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  assert.ok(m, `not an RFC 5424 timestamp: ${ts}`);
  return Date.parse(`${m[1]}${m[3]}`) * 1000 + Number((m[2] ?? '').padEnd(6, '0'));
}

/**
 * HAProxy's server state messages (srv_update_status): "Server B/S is UP", "... is DOWN", "... enters drain state",
 * "... is leaving forced drain" ... `up`: true when the server can take new sessions from then on, false when not,
 * undefined for other messages about it.
 */
function serverEvent(text: string): ServerEvent | undefined {
  const m = /^<\d+>1 (\S+) \S+ \S+ \S+ \S+ \S+ (.*)$/s.exec(text.trimEnd());
  if (!m) return undefined;
  const msg = m[2]!;
  const s = /Server ([^/\s]+)\/(\S+) (.*)$/s.exec(msg);
  if (!s) return undefined;
  const rest = s[3]!;
  const up = /^is UP\b|leaving (forced )?(drain|maintenance)|^is READY/.test(rest) && !/remains in forced drain/.test(rest)
    ? true : /^is DOWN|enters drain|going DOWN|remains in forced drain|MAINT/.test(rest) ? false : undefined;
  return { us: rfc5424Us(m[1]!), backend: s[1]!, server: s[2]!, text: msg, up };
}

/** The realtime timestamps (µs) systemd keeps for a unit, via `systemctl show --timestamp=us+utc`. */
async function timestamps(box: Box, unit: string): Promise<{ activeExit: number; activeEnter: number; invocation: string }> {
  const r = await box.exec(['systemctl', 'show', '--timestamp=us+utc', '-p', 'ActiveExitTimestamp,ActiveEnterTimestamp,InvocationID', unit]);
  const p = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const us = (v: string | undefined): number => {
    const m = /^\w{3} (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6}) UTC$/.exec(v ?? '');
    assert.ok(m, `${unit}: expected a timestamp like "Fri 2026-12-04 19:14:48.123456 UTC", got ${JSON.stringify(v)}`);
    return Date.parse(`${m[1]}T${m[2]}Z`) * 1000 + Number(m[3]);
  };
  return { activeExit: us(p.ActiveExitTimestamp), activeEnter: us(p.ActiveEnterTimestamp), invocation: p.InvocationID ?? '' };
}

test(`${RESTARTS} restarts of ${CLIENTS} clients side by side: never UP in HAProxy between a stop and the next READY=1`, { skip, timeout: 240_000 }, async (t) => {
  const logs = await startDgramReceiver();
  t.after(() => logs.close());
  // Each client is started 1 + RESTARTS / CLIENTS times within minutes: past the default restart.burst of 5, systemd
  // would refuse the sixth start (docs/unitgen.md, "Restarts and the start limit"), so this stack allows more.
  const s = await setUpStack(t, { clients: CLIENTS, warmupSeconds: 0.3, haproxyLog: logs.path!, edit: (y) => `${y}restart: { burst: ${2 + RESTARTS / CLIENTS} }\n` });
  const { box } = s;
  const hx = s.hx!;
  await box.exec(['systemctl', 'start', TARGET], { timeoutMs: 60_000 });
  const servers = Array.from({ length: CLIENTS }, (_, i) => `client${i + 1}`);
  for (const b of [BACKEND, HTTPCHK_BACKEND]) for (const server of servers) await hx.waitForState(b, server, 'UP', { timeoutMs: 10_000 });

  // All clients, restarted side by side (their runs overlap in every way the order allows): RESTARTS in all.
  const windows = new Map<string, Array<{ from: number; to: number; invocation: string }>>(servers.map((server) => [server, []]));
  await Promise.all([...windows].map(async ([server, list]) => {
    const unit = clientUnit(Number(server.slice('client'.length)));
    for (let i = 0; i < RESTARTS / windows.size; i++) {
      // Type=notify: `systemctl restart` returns once the new run has sent READY=1.
      await box.exec(['systemctl', 'restart', unit], { timeoutMs: 60_000 });
      const ts = await timestamps(box, unit);
      assert.ok(ts.activeEnter > ts.activeExit, `${server} restart ${i + 1}: READY (${ts.activeEnter}) not after the stop (${ts.activeExit})`);
      list.push({ from: ts.activeExit, to: ts.activeEnter, invocation: ts.invocation });
      for (const b of [BACKEND, HTTPCHK_BACKEND]) await hx.waitForState(b, server, 'UP', { timeoutMs: 10_000 });
    }
  }));

  // Every state change HAProxy made, per backend and server, oldest first.
  const events = logs.received.map((d) => serverEvent(d.text)).filter((e): e is ServerEvent => e !== undefined && e.up !== undefined);
  for (const backend of [BACKEND, HTTPCHK_BACKEND]) {
    for (const [server, list] of windows) {
      assert.equal(new Set(list.map((w) => w.invocation)).size, RESTARTS / windows.size, `${server}: every restart is a new run`);
      const mine = events.filter((e) => e.backend === backend && e.server === server).sort((a, b) => a.us - b.us);
      for (const [i, w] of list.entries()) {
        const inside = mine.filter((e) => e.us >= w.from && e.us <= w.to);
        const up = inside.filter((e) => e.up);
        assert.deepEqual(up.map((e) => e.text), [], `${backend}/${server}, restart ${i + 1}: UP between the stop and READY=1 (READY at ${w.to}): ${JSON.stringify(up)}`);
        // The client really left: out of HAProxy before READY=1 (else "no UP" would prove nothing).
        assert.ok(inside.some((e) => e.up === false), `${backend}/${server}, restart ${i + 1}: HAProxy never took it out between ${w.from} and ${w.to}: ${JSON.stringify(mine.filter((e) => e.us >= w.from - 2e6 && e.us <= w.to + 2e6))}`);
      }
      // That it came back UP after each READY=1 is established above by the Runtime API (waitForState); the log
      // only gives the lag. A log datagram HAProxy could not hand over is counted, not treated as a state.
      const lags = list.flatMap((w, i) => {
        const next = list[i + 1]?.from ?? Infinity;
        const up = mine.find((e) => e.us > w.to && e.us < next && e.up);
        return up ? [(up.us - w.to) / 1000] : [];
      }).sort((a, b) => a - b);
      t.diagnostic(`${backend}/${server}: ${mine.length} state changes; READY=1 -> UP median ${lags[lags.length >> 1]?.toFixed(0)} ms (max ${lags.at(-1)?.toFixed(0)} ms); ${list.length - lags.length} of ${list.length} comebacks not in the log`);
    }
  }
});
