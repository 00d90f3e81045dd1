// The exit statuses both CLIs share (docs/exit-codes.md), from the built executables: the same status for the
// same kind of failure, whichever tool it is.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { REPO_ROOT } from './harness/proc.js';

const ZNOTIFY = path.join(REPO_ROOT, 'packages/notify/dist/znotify/cli.js');
const ZUNITGEN = path.join(REPO_ROOT, 'packages/unitgen/dist/cli.js');
const run = (cli: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });

test('64 for a wrong command line, in both tools', () => {
  for (const [cli, args] of [[ZNOTIFY, ['--bogus']], [ZNOTIFY, ['nosuch']], [ZUNITGEN, ['--bogus']], [ZUNITGEN, ['nosuch']], [ZUNITGEN, ['wait-tcp', 'not-an-address']]] as const) {
    const r = run(cli, [...args]);
    assert.equal(r.status, 64, `${path.basename(path.dirname(cli))} ${args.join(' ')}: ${r.stderr}`);
    assert.notEqual(r.stderr, '');
  }
});

test('78 for an invalid config in both tools; a config that cannot be read: 78 for the wrapper, 66 for zunitgen', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-codes-'));
  const missing = path.join(dir, 'missing.yaml');
  // The wrapper runs under systemd: RestartPreventExitStatus=78 must end the restart loop for this too.
  const z = run(ZNOTIFY, ['check', '--config', missing]);
  assert.equal(z.status, 78, z.stderr);
  const u = run(ZUNITGEN, ['check', missing]);
  assert.equal(u.status, 66, u.stderr);
  assert.equal(u.stderr.split('\n')[0], `zunitgen: cannot read ${missing}: does not exist (ENOENT)`);
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'nmae: x\n');
  assert.equal(run(ZNOTIFY, ['check', '--config', bad]).status, 78);
  assert.equal(run(ZUNITGEN, ['check', bad]).status, 78);
});

test('73 when zunitgen cannot write its output; nothing is written', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-codes-'));
  const file = path.join(dir, 'a-file');
  writeFileSync(file, '');
  const r = run(ZUNITGEN, ['generate', path.join(REPO_ROOT, 'examples/stack/plone.yaml'), '--out', path.join(file, 'units')]);
  assert.equal(r.status, 73, r.stderr);
  assert.match(r.stderr, /^zunitgen: .*a-file\/units: .*\(ENOTDIR\)/);
});

test('--version and --help exit 0 in both tools', () => {
  for (const cli of [ZNOTIFY, ZUNITGEN]) {
    const v = run(cli, ['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.equal(run(cli, ['--help']).status, 0);
  }
});
