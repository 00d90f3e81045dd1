// Stack dumps of an instance that registers nothing itself (sample/instance.py, like Zope 5), arranged from
// outside (stack-dump.ts), and the signal policy's configuration (signal-policy.ts, config.ts `signals:`).
// Real CPython, real waitress, real signals.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../../test/harness/net.js';
import { instanceArgv, peerEnv, sampleSkipReason, SAMPLE_PYTHON, startInstance, type Peer } from '../../../test/harness/proc.js';
import { parseConfig } from '../src/znotify/config.js';
import { ConfigError } from '../src/znotify/errors.js';
import { signalAction } from '../src/znotify/signal-policy.js';
import { createStackHook, pythonFlagProblems, stackDumpEnv } from '../src/znotify/stack-dump.js';

const skip = sampleSkipReason();

async function instance(t: TestContext, port: number, env: NodeJS.ProcessEnv, threads = 1): Promise<Peer> {
  const p = await startInstance({ port, threads }, { env });
  t.after(() => p.stop({ signal: 'SIGKILL' }));
  return p;
}

async function until<T>(what: string, fn: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('the startup hook: SIGUSR1 dumps every thread without stopping, and the project\'s own sitecustomize still runs', { skip }, async (t) => {
  const hook = createStackHook();
  t.after(() => hook.remove());
  // The project's own sitecustomize, on the PYTHONPATH the instance already had.
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'znotify-project-'));
  t.after(() => fs.rmSync(project, { recursive: true, force: true }));
  fs.writeFileSync(path.join(project, 'sitecustomize.py'), 'import sys\nsys.stderr.write("project sitecustomize loaded\\n")\n');
  const env = stackDumpEnv({ ...peerEnv(), PYTHONPATH: project }, { dumpBeforeKill: true, hookDir: hook.dir });
  assert.equal(env.PYTHONPATH, `${hook.dir}:${project}`);
  assert.equal(env.PYTHONFAULTHANDLER, '1');

  const port = await freePort();
  const p = await instance(t, port, env, 2);
  assert.match(p.stderr(), /project sitecustomize loaded/, 'the project\'s sitecustomize was shadowed');
  const [pid] = await until('the hook to register', () => (hook.registeredPids().length ? hook.registeredPids() : undefined));
  assert.equal(pid, p.pid);

  const mark = p.output().length;
  process.kill(pid!, 'SIGUSR1');
  // faulthandler writes the dump a line at a time: wait for the current thread's frames down to main().
  await p.waitForOutput(/Current thread[^\n]*\n(?:\s+File[^\n]*\n)*?\s+File[^\n]* in main\n/, { from: mark });
  // Alive and serving after the dump.
  const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200);
  assert.equal(p.exitInfo, undefined);
});

test('without the hook the same SIGUSR1 kills the instance (Zope 5): the wrapper must not forward it blindly', { skip }, async (t) => {
  const port = await freePort();
  const p = await instance(t, port, peerEnv());
  process.kill(p.pid, 'SIGUSR1');
  assert.deepEqual(await p.exited, { code: null, signal: 'SIGUSR1' });
});

test('python flags that defeat a stack-dump mode are one config error each, naming the setting', () => {
  const none = () => undefined;
  assert.deepEqual(pythonFlagProblems([SAMPLE_PYTHON, 'instance.py'], { dumpBeforeKill: true, mode: 'hook' }, none), []);
  const i = pythonFlagProblems([SAMPLE_PYTHON, '-I', 'x.py'], { dumpBeforeKill: true, mode: 'hook' }, none);
  assert.deepEqual(i.map(([k]) => k), ['watchdog.dump-stacks', 'signals.stack-dump']);
  assert.deepEqual(pythonFlagProblems(['/usr/bin/python3.11', '-sS', '-m', 'x'], { dumpBeforeKill: true, mode: 'hook' }, none).map(([k]) => k), ['signals.stack-dump']);
  // Flags after the script are the script's.
  assert.deepEqual(pythonFlagProblems([SAMPLE_PYTHON, 'x.py', '-I'], { dumpBeforeKill: true, mode: 'hook' }, none), []);
  // A script's #! line counts, `env -S` included.
  const head = (f: string) => (f === '/srv/plone/bin/instance' ? '#!/usr/bin/env -S python3 -E\nimport x\n' : undefined);
  const e = pythonFlagProblems(['/srv/plone/bin/instance', 'console'], { dumpBeforeKill: true, mode: 'off' }, head);
  assert.equal(e.length, 1);
  assert.match(e[0]![1], /-E \(the #! line of \/srv\/plone\/bin\/instance\), which ignores PYTHONFAULTHANDLER/);

  const err = (yaml: string, command: string[]) => {
    try { parseConfig(yaml, 'c.yaml', { command }); } catch (x) { if (x instanceof ConfigError) return x.message; throw x; }
    return '';
  };
  assert.equal(err('name: c1\nsignals: { stack-dump: hook }\n', [SAMPLE_PYTHON, '-I', 'x.py']).split('\n').length, 2);
  assert.match(err('name: c1\nsignals: { stack-dump: hook }\n', [SAMPLE_PYTHON, '-I', 'x.py']),
    /c\.yaml:2:\d+: signals\.stack-dump: "hook" needs PYTHONPATH and site's sitecustomize, which Python ignores with -I \(the command line\); drop -I, or set stack-dump: off/);
  assert.equal(err('name: c1\nwatchdog: { dump-stacks: false }\n', [SAMPLE_PYTHON, '-I', 'x.py']), '');
});

test('signals: nothing is forwarded unless listed; listing what cannot be forwarded is a config error', () => {
  const c = parseConfig('name: c1\n', 'c.yaml', { command: ['/bin/true'] });
  assert.deepEqual(c.signals, { forward: [], stackDump: 'off' });
  for (const s of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) assert.equal(signalAction(s, c.signals), 'ignore', s);
  assert.equal(signalAction('SIGINT', c.signals), 'stop');
  assert.equal(signalAction('SIGTERM', c.signals), 'stop');
  assert.equal(signalAction('SIGABRT', c.signals), 'watchdog-abort');

  const f = parseConfig('name: c1\nsignals: { forward: [HUP, SIGINT, sigusr2], stack-dump: hook }\n', 'c.yaml', { command: ['/bin/true'] });
  assert.deepEqual(f.signals, { forward: ['SIGHUP', 'SIGINT', 'SIGUSR2'], stackDump: 'hook' });
  assert.equal(signalAction('SIGHUP', f.signals), 'forward');
  assert.equal(signalAction('SIGINT', f.signals), 'forward');
  assert.equal(signalAction('SIGUSR1', f.signals), 'dump-stacks');

  const bad = (yaml: string) => {
    try { parseConfig(yaml, 'c.yaml', { command: ['/bin/true'] }); } catch (x) { if (x instanceof ConfigError) return x.message; throw x; }
    assert.fail('accepted');
  };
  assert.match(bad('name: c1\nsignals:\n  forward: [SIGTERM]\n'), /^c\.yaml:3:13: signals\.forward\[0\]: "SIGTERM": SIGTERM starts the wrapper's graceful stop; remove it; set stop\.signal/m);
  assert.match(bad('name: c1\nsignals:\n  forward: [SIGKILL]\n'), /signals\.forward\[0\]: "SIGKILL": SIGKILL cannot be caught/);
  assert.match(bad('name: c1\nsignals:\n  forward: [SIGWINCH]\n'), /the wrapper does not catch SIGWINCH; forward one of SIGHUP, SIGINT, SIGUSR1, SIGUSR2/);
  assert.match(bad('name: c1\nsignals:\n  forward: [SIGUSR1]\n  stack-dump: hook\n'), /SIGUSR1 already asks for a stack dump/);
  assert.match(bad('name: c1\nsignals:\n  forward: [SIGHUPP]\n'), /"SIGHUPP" is not a signal name; did you mean SIGHUP\?/);
  assert.match(bad('name: c1\nsignals:\n  stack-dump: faulthandler\n'), /signals\.stack-dump: "faulthandler" is not one of hook, off/);
  assert.match(bad('name: c1\nsignals:\n  forwrd: []\n'), /unknown key "forwrd"; did you mean "forward"\?/);
});

test('instanceArgv keeps the sample a plain command line (no signal options)', () => {
  assert.deepEqual(instanceArgv({ port: 1 }).slice(2), ['--host', '127.0.0.1', '--port', '1']);
});
