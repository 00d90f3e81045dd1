// restart: (RestartSec=, StartLimitIntervalSec=, StartLimitBurst=) of ZEO and the clients: the span follows the
// units' own timeouts, so that a unit failing at every start ends failed after restart.burst attempts whatever its
// warm-up budget; restart.* values reach the units; bad values are errors at file:line:col, a span too short for
// the units a warning naming the unit and the least span. The real systemd side: test/unitgen-e2e-failed.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, builtinTemplates, parseStack, renderWith, type ConfigIssue } from '../src/index.js';
import { parseUnitFile, values } from './unitfile.js';

const STACK = (extra = '', clients = '') => `stack: plone
user: plone
directory: /srv/plone
zeo: { command: bin/zeoserver fg, address: 127.0.0.1:8100, ready-timeout: 1min }
clients:
  count: 2
  command: bin/client{n} console
  http: 127.0.0.1:{8080+n}
  health: { agent: "127.0.0.1:{9080+n}" }
  warmup: { budget: 2min, urls: [/Plone] }
  stop: { drain: 5s, timeout: 20s }
${clients}${extra}`;

function units(text: string): Map<string, ReturnType<typeof parseUnitFile>> {
  const files = renderWith(parseStack(text, { file: 'stack.yaml' }), builtinTemplates(), { outDir: '/etc/systemd/system' });
  return new Map(files.filter((f) => f.kind === 'unit').map((f) => [f.name, parseUnitFile(f.content)]));
}
function unitText(text: string, unit: string): string {
  return renderWith(parseStack(text, { file: 'stack.yaml' }), builtinTemplates(), { outDir: '/etc/systemd/system' }).find((f) => f.name === unit)!.content;
}
const key = (u: Map<string, ReturnType<typeof parseUnitFile>>, unit: string, section: string, k: string) => values(u.get(unit)!, section, k);

function issuesOf(text: string): readonly ConfigIssue[] {
  try { parseStack(text, { file: 'stack.yaml' }); } catch (e) { assert.ok(e instanceof ConfigError, String(e)); return e.issues; }
  return assert.fail('accepted');
}

test('by default: 5 starts within 5 times a prompt failure (a minute, at most half the unit\'s wait) and the restart delay', () => {
  const u = units(STACK());
  // clients: min(60s, 2min budget / 2) + RestartSec=5s: 65s a cycle, x 5.
  assert.deepEqual(key(u, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['325s']);
  assert.deepEqual(key(u, 'plone-client2.service', 'Unit', 'StartLimitBurst'), ['5']);
  assert.deepEqual(key(u, 'plone-client2.service', 'Service', 'RestartSec'), ['5s']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Service', 'TimeoutStartSec'), ['70s']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Service', 'TimeoutStopSec'), ['1min']);
  // ZEO: min(60s, 1min ready-timeout / 2) + 5s: 35s a cycle, x 5.
  assert.deepEqual(key(u, 'plone-zeo.service', 'Unit', 'StartLimitIntervalSec'), ['175s']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Unit', 'StartLimitBurst'), ['5']);
  // The setup unit is started by every start of the others, which are limited: none of its own.
  assert.deepEqual(key(u, 'plone-setup.service', 'Unit', 'StartLimitIntervalSec'), ['0']);
  // Sockets and the recycle units keep systemd's defaults (they never restart by themselves).
  assert.deepEqual(key(u, 'plone-client1-agent.socket', 'Unit', 'StartLimitIntervalSec'), []);
});

test('a start that runs out its wait is retried every time, whatever the budget: the span\'s spacing stays below the wait', () => {
  // A longer budget makes failing waits slower, not more frequent: the span stays that of a prompt failure.
  const longer = units(STACK('', '  watchdog: {}\n').replace('budget: 2min', 'budget: 10min'));
  assert.deepEqual(key(longer, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['325s']);
  const comment = unitText(STACK(), 'plone-client1.service');
  assert.match(comment, /within 325s;/);
  assert.match(comment, /starts come more than\n# 65s apart/);
  // A short budget: a client waiting 20 s in vain for its database, then 1 s before the next start, must not be
  // given up on. Its cycle is 10 s + 1 s: starts 21 s apart never make 4 in 33 s.
  const short = units(STACK('restart: { delay: 1s, burst: 3 }\n').replace('budget: 2min', 'budget: 20s').replace('ready-timeout: 1min', 'ready-timeout: 10s'));
  assert.deepEqual(key(short, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['33s']);
  assert.ok(33 / 3 < 20 + 1);
  // ZEO waiting 10 s in vain for its port: 5 s + 1 s a cycle.
  assert.deepEqual(key(short, 'plone-zeo.service', 'Unit', 'StartLimitIntervalSec'), ['18s']);
  const delayed = units(STACK('restart: { delay: 1min, burst: 3 }\n'));
  assert.deepEqual(key(delayed, 'plone-client1.service', 'Service', 'RestartSec'), ['1min']);
  assert.deepEqual(key(delayed, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['6min']);
  assert.deepEqual(key(delayed, 'plone-zeo.service', 'Unit', 'StartLimitIntervalSec'), ['270s']);
  assert.deepEqual(key(delayed, 'plone-zeo.service', 'Unit', 'StartLimitBurst'), ['3']);
});

test('restart.interval given: every unit takes it; outside a unit\'s range it is a warning naming the unit and the bound', () => {
  const u = units(STACK('restart: { delay: 200ms, burst: 3, interval: 1h }\n'));
  assert.deepEqual(key(u, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['1h']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Unit', 'StartLimitIntervalSec'), ['1h']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Service', 'RestartSec'), ['200ms']);
  const warned = (extra: string): ConfigIssue[] => {
    const w: ConfigIssue[] = [];
    parseStack(STACK(extra), { file: 'stack.yaml', warn: (i) => w.push(i) });
    return w;
  };
  // Too short for the clients: 3 x (60s + 5s) = 195s > 2min (ZEO: 3 x 35s = 105s, fine).
  const short = warned('restart: { burst: 3, interval: 2min }\n');
  assert.equal(short.length, 1, JSON.stringify(short));
  assert.deepEqual([short[0]!.file, short[0]!.line, short[0]!.col, short[0]!.key], ['stack.yaml', 12, 32, 'restart.interval']);
  assert.match(short[0]!.message, /^restart\.interval: 2min is shorter than 3 failing starts of the clients can take \(3 x 65s = 195s\): .*restarted for ever$/);
  assert.match(short[0]!.fix ?? '', /at least 195s/);
  assert.deepEqual(warned('restart: { burst: 3, interval: 195s }\n'), []);
  // Too long: the clients' waits (3 x (2min + 5s) = 375s) and ZEO's (3 x (1min + 5s) = 195s) would be given up on.
  const long = warned('restart: { burst: 3, interval: 1h }\n');
  assert.deepEqual(long.map((w) => /of (the clients|the ZEO server)/.exec(w.message)?.[1]), ['the clients', 'the ZEO server']);
  assert.match(long[0]!.message, /^restart\.interval: 1h is longer than 3 starts of the clients that each wait out its warm-up budget for its database \(3 x 125s = 375s\): .*stay down when the outage ends$/);
  assert.match(long[0]!.fix ?? '', /at most 375s/);
});

test('bad restart values are errors at their place, with the fix', () => {
  const cases: Array<[string, RegExp, RegExp]> = [
    ['restart: { burst: 1 }', /restart\.burst: 1 allows no restart at all/, /use 2 or more/],
    ['restart: { burst: 0 }', /restart\.burst/, /(?:)/],
    ['restart: { burst: many }', /restart\.burst/, /(?:)/],
    ['restart: { delay: 10ms }', /restart\.delay: must be at least 100ms, got "10ms"/, /systemd's own least/],
    ['restart: { delay: "5s\\nRestart=no" }', /restart\.delay/, /(?:)/],
    ['restart: { interval: 500ms }', /restart\.interval: must be at least 1s/, /(?:)/],
    ['restart: { intervall: 1h }', /intervall/, /interval/],
    ['restart: 5s', /restart: expected a mapping/, /(?:)/],
  ];
  for (const [line, message, fix] of cases) {
    const issues = issuesOf(STACK(`${line}\n`));
    assert.equal(issues.length, 1, `${line}: ${JSON.stringify(issues)}`);
    const [i] = issues;
    assert.equal(i!.line, 12, line);
    assert.ok(i!.col > 1, line);
    assert.match(i!.message, message, line);
    assert.match(i!.fix ?? '', fix, line);
  }
});
