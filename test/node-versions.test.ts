// The library's tests under every Node major the packages support beyond the default one: Node 22 and 24,
// installed by scripts/setup.sh from the npm packages node@22 / node@24 into .cache/node/<major>. Each
// runs the library's own test files (real sockets, real fds, inherited fds in child processes started
// with that same Node) and must pass them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const LIBRARY_TESTS = ['notify', 'listen-fds', 'watchdog', 'barrier', 'child-env'].map((n) => `packages/notify/test/${n}.test.ts`);

for (const major of [22, 24]) {
  const node = join(REPO, '.cache', 'node', String(major), 'node_modules', 'node', 'bin', 'node');
  const skip = existsSync(node) ? undefined : `Node ${major} is not installed (scripts/setup.sh puts it into .cache/node/${major})`;
  test(`the library's tests pass under Node ${major}`, { skip }, () => {
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    assert.match(version, new RegExp(`^v${major}\\.`), `${node} is ${version}`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    // NODE_TEST_CONTEXT would make that runner report to this one instead of running as a runner of its own.
    delete env.NODE_OPTIONS;
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(node, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...LIBRARY_TESTS], {
      cwd: REPO, env, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024,
    });
    const failed = r.stdout.split('\n').filter((l) => /^\s*not ok /.test(l));
    assert.equal(r.status, 0, `Node ${version}: the library's tests failed:\n${failed.join('\n')}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    const passed = Number(/^# pass (\d+)$/m.exec(r.stdout)?.[1]);
    assert.ok(passed >= 100 && /^# fail 0$/m.test(r.stdout), `Node ${version}: ran ${passed} tests:\n${r.stdout.slice(-2000)}`);
  });
}
