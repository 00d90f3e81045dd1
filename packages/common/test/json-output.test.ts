// toJson: the one serializer of the JSON the tools print; durations to the millisecond, at any depth.
import assert from 'node:assert/strict';
import test from 'node:test';
import { toJson } from '../src/json-output.js';

test('toJson: seconds keep at most 3 decimals, milliseconds none; other numbers and values as they are', () => {
  const now = 1733340007.404; // Date.now() / 1000 minus a whole-second timestamp gives float noise
  const uptime = now - 1733340000;
  assert.notEqual(String(uptime), '7.404');
  const out = JSON.parse(toJson({
    uptimeSeconds: uptime, watchdog: { intervalSeconds: 20, lastPingSecondsAgo: 2.00049999 },
    checks: [{ lastDurationMs: 0.4123, lastAgoSeconds: 0.0004, failingForSeconds: 1.2345 }],
    rssBytes: 1234567.5, ratio: 0.123456, pid: null, name: 'uptimeSeconds',
  })) as Record<string, unknown>;
  assert.deepEqual(out, {
    uptimeSeconds: 7.404, watchdog: { intervalSeconds: 20, lastPingSecondsAgo: 2 },
    checks: [{ lastDurationMs: 0, lastAgoSeconds: 0, failingForSeconds: 1.235 }],
    rssBytes: 1234567.5, ratio: 0.123456, pid: null, name: 'uptimeSeconds',
  });
});
