// What the CLIs say about a config that is wrong, run as processes on real files: each problem once, at
// file:line:col, with a fix that is itself accepted.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { REPO_ROOT } from './harness/proc.js';

const ZNOTIFY = path.join(REPO_ROOT, 'packages/notify/dist/znotify/cli.js');
const ZUNITGEN = path.join(REPO_ROOT, 'packages/unitgen/dist/cli.js');
const WRAPPER_EXAMPLE = readFileSync(path.join(REPO_ROOT, 'examples/znotify/client1.yaml'), 'utf8');
const STACK_EXAMPLE = readFileSync(path.join(REPO_ROOT, 'examples/stack/plone.yaml'), 'utf8');
const run = (cli: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'config-diagnostics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The 1-based line of the first line of `text` that holds `needle`. */
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

test('signals.forward: a signal listed twice is refused at its place, in znotify\'s config and in the stack\'s', (t) => {
  const dir = tempDir(t);
  const wrapper = path.join(dir, 'client1.yaml');
  const wrapperText = `${WRAPPER_EXAMPLE}signals:\n  forward: [SIGHUP, SIGUSR2, SIGHUP]\n`;
  writeFileSync(wrapper, wrapperText);
  const z = run(ZNOTIFY, ['check', '--config', wrapper]);
  assert.equal(z.status, 78, z.stderr);
  assert.equal(z.stderr, `znotify: ${wrapper}:${lineOf(wrapperText, 'forward:')}:30: signals.forward[2]: "SIGHUP" is listed twice; list each signal once\n`);

  const stack = path.join(dir, 'plone.yaml');
  const stackText = STACK_EXAMPLE.replace(/^ {2}threads: 2$/m, '  threads: 2\n  signals: { forward: [SIGHUP, SIGHUP] }');
  writeFileSync(stack, stackText);
  const u = run(ZUNITGEN, ['check', stack]);
  assert.equal(u.status, 78, u.stderr);
  assert.match(u.stderr, new RegExp(`^${stack.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${lineOf(stackText, 'forward:')}:32: error: clients\\.signals\\.forward: SIGHUP is listed twice\\n  hint: list each signal once\\n`));
});

test('signals.forward: a did-you-mean only names signals the list accepts', (t) => {
  const dir = tempDir(t);
  const wrapper = path.join(dir, 'client1.yaml');
  writeFileSync(wrapper, `${WRAPPER_EXAMPLE}signals:\n  forward: [SIGFOO, SIGHUPP, SIGUSR3]\n`);
  const z = run(ZNOTIFY, ['check', '--config', wrapper]);
  assert.equal(z.status, 78, z.stderr);
  const lines = z.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 3, z.stderr);
  // SIGFOO is closest to SIGIOT, an alias of SIGABRT, which forward refuses: no suggestion, the list instead.
  assert.match(lines[0]!, /signals\.forward\[0\]: "SIGFOO" is not a signal name; forward one of SIGHUP, SIGINT, SIGUSR1, SIGUSR2$/);
  assert.match(lines[1]!, /signals\.forward\[1\]: "SIGHUPP" is not a signal name; did you mean SIGHUP\?$/);
  assert.match(lines[2]!, /signals\.forward\[2\]: "SIGUSR3" is not a signal name; did you mean SIGUSR(1|2)\?$/);
  assert.doesNotMatch(z.stderr, /SIGIOT|SIGABRT|SIGTERM/);
});

test('one tab-indented line: the first YAML syntax error with its fix, not the errors that follow from it', (t) => {
  const dir = tempDir(t);
  const stack = path.join(dir, 'plone.yaml');
  const stackText = STACK_EXAMPLE.replace(/^ {2}count: 4$/m, '\tcount: 4');
  writeFileSync(stack, stackText);
  const line = lineOf(stackText, '\tcount');
  const u = run(ZUNITGEN, ['check', stack]);
  assert.equal(u.status, 78, u.stderr);
  const [first, hint, total, ...rest] = u.stderr.split('\n');
  assert.equal(first, `${stack}:${line}:1: error: YAML: Tabs are not allowed as indentation`);
  assert.match(hint!, /^ {2}hint: indent with spaces: YAML refuses tabs \(this line starts with \\t\); fix this first: the \d+ YAML errors after it may all follow from it$/);
  // check writes nothing, so it does not say that nothing was written.
  assert.deepEqual([total, ...rest], ['1 error.', '']);
  const g = run(ZUNITGEN, ['generate', stack, '--out', path.join(dir, 'out')]);
  assert.equal(g.status, 78, g.stderr);
  assert.match(g.stderr, /\n1 error; nothing was written\.\n$/);

  const wrapper = path.join(dir, 'client1.yaml');
  const wrapperText = WRAPPER_EXAMPLE.replace(/^ {2}budget:/m, '\tbudget:');
  writeFileSync(wrapper, wrapperText);
  const z = run(ZNOTIFY, ['check', '--config', wrapper]);
  assert.equal(z.status, 78, z.stderr);
  assert.match(z.stderr, new RegExp(`^znotify: [^\\n]*:${lineOf(wrapperText, '\tbudget')}:1: YAML syntax error: Tabs are not allowed as indentation; indent with spaces: YAML refuses tabs; fix this first: the \\d+ YAML errors? after it may all follow from it\\n$`));
});

test('a duplicate key before the syntax error is reported too (it breaks nothing); nothing after the syntax error is', (t) => {
  const dir = tempDir(t);
  const stack = path.join(dir, 'plone.yaml');
  const stackText = STACK_EXAMPLE.replace(/^user: plone$/m, 'user: plone\nuser: zope').replace(/^watchdog: 30s$/m, 'watchdog: 30s\nwatchdog: 1min').replace(/^ {2}threads: 2$/m, '\tthreads: 2');
  writeFileSync(stack, stackText);
  const u = run(ZUNITGEN, ['check', stack]);
  assert.equal(u.status, 78, u.stderr);
  const located = u.stderr.split('\n').filter((l) => l.startsWith(stack)).map((l) => l.slice(stack.length + 1).replace(/:\d+: error: /, ' '));
  assert.deepEqual(located, [
    `${lineOf(stackText, 'user: zope')} YAML: Map keys must be unique`,
    `${lineOf(stackText, '\tthreads')} YAML: Tabs are not allowed as indentation`,
  ]);
});
