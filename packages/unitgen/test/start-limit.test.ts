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

test('by default: 5 starts within 5 times a prompt failure (1 min) and the restart delay, the same for every unit', () => {
  const u = units(STACK());
  // 60s + RestartSec=5s: 65s a cycle, x 5.
  assert.deepEqual(key(u, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['325s']);
  assert.deepEqual(key(u, 'plone-client2.service', 'Unit', 'StartLimitBurst'), ['5']);
  assert.deepEqual(key(u, 'plone-client2.service', 'Service', 'RestartSec'), ['5s']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Service', 'TimeoutStartSec'), ['70s']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Service', 'TimeoutStopSec'), ['1min']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Unit', 'StartLimitIntervalSec'), ['325s']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Unit', 'StartLimitBurst'), ['5']);
  // The setup unit is started by every start of the others, which are limited: none of its own.
  assert.deepEqual(key(u, 'plone-setup.service', 'Unit', 'StartLimitIntervalSec'), ['0']);
  // Sockets and the recycle units keep systemd's defaults (they never restart by themselves).
  assert.deepEqual(key(u, 'plone-client1-agent.socket', 'Unit', 'StartLimitIntervalSec'), []);
});

test('the span follows the restart delay and burst, not the warm-up budget: a start that waits a whole budget in vain is retried every time', () => {
  // A longer budget makes failing waits slower, not more frequent: the span stays that of a prompt failure.
  const longer = units(STACK('', '  watchdog: {}\n').replace('budget: 2min', 'budget: 10min'));
  assert.deepEqual(key(longer, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['325s']);
  // Each failed wait for the database takes at least the budget (2min), more than the span's spacing (65s): no
  // burst+1 of them fit in one span, so the client keeps trying until its database is back.
  const comment = unitText(STACK(), 'plone-client1.service');
  assert.match(comment, /within 325s;/);
  assert.match(comment, /starts come more than\n# 65s apart/);
  const delayed = units(STACK('restart: { delay: 1min, burst: 3 }\n'));
  assert.deepEqual(key(delayed, 'plone-client1.service', 'Service', 'RestartSec'), ['1min']);
  assert.deepEqual(key(delayed, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['6min']);
  assert.deepEqual(key(delayed, 'plone-zeo.service', 'Unit', 'StartLimitIntervalSec'), ['6min']);
  assert.deepEqual(key(delayed, 'plone-zeo.service', 'Unit', 'StartLimitBurst'), ['3']);
});

test('restart.interval given: every unit takes it; shorter than burst prompt failures is a warning, with the least span', () => {
  const u = units(STACK('restart: { delay: 200ms, burst: 3, interval: 1h }\n'));
  assert.deepEqual(key(u, 'plone-client1.service', 'Unit', 'StartLimitIntervalSec'), ['1h']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Unit', 'StartLimitIntervalSec'), ['1h']);
  assert.deepEqual(key(u, 'plone-zeo.service', 'Service', 'RestartSec'), ['200ms']);
  const warnings: ConfigIssue[] = [];
  parseStack(STACK('restart: { burst: 3, interval: 2min }\n'), { file: 'stack.yaml', warn: (i) => warnings.push(i) });
  // 3 x (60s + 5s) = 195s > 2min.
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  const [w] = warnings;
  assert.deepEqual([w!.file, w!.line, w!.col, w!.key], ["stack.yaml", 12, 32, "restart.interval"]);
  assert.match(w!.message, /^restart\.interval: 2min is shorter than 3 failing starts of ZEO or a client can take \(3 x 65s = 195s\): .*restarted for ever$/);
  assert.match(w!.fix ?? '', /at least 195s/);
  const none: ConfigIssue[] = [];
  parseStack(STACK('restart: { burst: 3, interval: 195s }\n'), { file: 'stack.yaml', warn: (i) => none.push(i) });
  assert.deepEqual(none, []);
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
