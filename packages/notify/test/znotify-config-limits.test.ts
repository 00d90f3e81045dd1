// znotify configuration at its limits: durations a timer cannot hold, alias bombs, huge files, thousands of
// checks, and secrets in refused values. Each is exit 78 (EX_CONFIG, so RestartPreventExitStatus=78 ends a
// restart loop) with `file:line:col` and a fix, checked through the built executable as systemd would run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_CHECKS, MAX_CONFIG_BYTES, parseConfig } from '../src/znotify/config.js';
import { MAX_TIMER_MS } from '@zope-systemd/common';
import { ConfigError } from '../src/znotify/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '..', 'dist', 'znotify', 'cli.js');

function check(t: import('node:test').TestContext, yaml: string): { status: number | null; stderr: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'znotify-limits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'client1.yaml');
  writeFileSync(file, yaml);
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, file };
}

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'c.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.where} ${p.key}: ${p.message}; ${p.fix ?? ''}`);
    throw err;
  }
  return [];
}

// Every duration key of the configuration, as YAML lines that set it to VALUE.
const DURATION_KEYS: Array<[string, string]> = [
  ['warmup.budget', 'warmup: { budget: VALUE }'],
  ['warmup.interval', 'warmup: { interval: VALUE }'],
  ['warmup.urls[0].timeout', 'warmup: { urls: [{ path: /, timeout: VALUE }] }'],
  ['checks[0].interval', 'checks: [{ name: root, type: http, interval: VALUE }]'],
  ['checks[0].timeout', 'checks: [{ name: root, type: http, timeout: VALUE }]'],
  ['checks[0].grace', 'checks: [{ name: root, type: http, grace: VALUE }]'],
  ['watchdog.database-grace', 'watchdog: { database-grace: VALUE }'],
  ['watchdog.hang-timeout', 'watchdog: { hang-timeout: VALUE }'],
  ['stop.drain', 'stop: { drain: VALUE }'],
  ['stop.timeout', 'stop: { timeout: VALUE }'],
];

test('every duration key refuses what a timer cannot hold (2^31 ms and more), and takes 24d', () => {
  for (const [key, line] of DURATION_KEYS) {
    for (const value of ['30d', '25d', `${MAX_TIMER_MS + 1}ms`, '1e400', '99999999999999999999999h']) {
      const ps = problems(`name: c\n${line.replace('VALUE', value)}\n`);
      assert.equal(ps.length, 1, `${key}: ${value}: ${ps.join(' | ')}`);
      assert.match(ps[0]!, new RegExp(`^c\\.yaml:2:\\d+ ${key.replace(/[[\].]/g, '\\$&')}: .* is longer than a timer can hold: at most 2147483647 ms, about 24\\.8 days; use a shorter`), `${key}: ${value}`);
    }
    assert.deepEqual(problems(`name: c\n${line.replace('VALUE', '24d')}\n`), [], `${key}: 24d`);
    assert.deepEqual(problems(`name: c\n${line.replace('VALUE', `${MAX_TIMER_MS}ms`)}\n`), [], `${key}: the limit itself`);
  }
});

test('1e400 is reported as Infinity, not as null', () => {
  const ps = problems('name: c\nstop: { timeout: 1e400 }\n');
  assert.match(ps[0]!, /stop\.timeout: Infinity is longer than a timer can hold/);
});

test('an alias bomb is exit 78 with file:line:col and a fix, not exit 1 without a position', (t) => {
  const yaml = [
    'name: client1',
    'a: &a [x, x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
    '',
  ].join('\n');
  const r = check(t, yaml);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, new RegExp(`^znotify: ${r.file.replace(/[.]/g, '\\.')}:3:8: YAML aliases expand to too many values \\(more than 100 expansions\\); write the values out`));
});

test('a file over the size limit is refused before it is parsed', (t) => {
  const filler = `# ${'x'.repeat(1000)}\n`.repeat(Math.ceil(MAX_CONFIG_BYTES / 1000) + 1);
  const r = check(t, `name: client1\n${filler}`);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /:1:1: the file is \d+ bytes, more than a wrapper configuration may be \(262144 bytes\); check that --config names/);
});

test('more checks than the limit: one problem naming the count and the limit, not one per check', (t) => {
  const many = Array.from({ length: 5000 }, (_, i) => `  - { name: c${i}, type: tcp }`).join('\n');
  const r = check(t, `name: client1\nchecks:\n${many}\n`);
  assert.equal(r.status, 78, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`:3:3: checks: lists 5000 checks, more than ${MAX_CHECKS}; configure at most ${MAX_CHECKS} checks`));
  const urls = Array.from({ length: 65 }, () => '    - /').join('\n');
  assert.match(problems(`name: c\nwarmup:\n  urls:\n${urls}\n`)[0]!, /warmup\.urls: lists 65 URLs, more than 64/);
});

test('a password in a refused value never reaches the message', (t) => {
  const r = check(t, 'name: client1\nwarmup: { urls: [{ path: /, host: "user:PW-s3cret@example.org" }] }\n');
  assert.equal(r.status, 78);
  assert.match(r.stderr, /warmup\.urls\[0\]\.host: "user:\*\*\*@example\.org" is not valid/);
  assert.doesNotMatch(r.stderr, /s3cret/);
  const ps = problems('name: c\nhaproxy: { stats-socket: "postgresql://zope:s3cret@db:5432 x", backend: b }\n');
  assert.ok(ps.length > 0 && ps.every((p) => !p.includes('s3cret')), ps.join('\n'));
});

test('a directory as the command is named as one, not as a missing file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'znotify-dircmd-'));
  try {
    const r = spawnSync(process.execPath, [CLI, 'run', '--name', 'c1', '--', dir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`command is a directory: ${dir.replace(/[.]/g, '\\.')} \\(give the path of a program, not a directory\\)$`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
