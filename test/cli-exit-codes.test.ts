// The exit statuses the three CLIs share (docs/exit-codes.md), from the built executables: the same status for
// the same kind of failure, whichever tool it is.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { REPO_ROOT } from './harness/proc.js';
import { EXIT as ZNOTIFY_EXIT } from '../packages/notify/src/znotify/errors.js';

const ZNOTIFY = path.join(REPO_ROOT, 'packages/notify/dist/znotify/cli.js');
const ZUNITGEN = path.join(REPO_ROOT, 'packages/unitgen/dist/cli.js');
const ZSTACK = path.join(REPO_ROOT, 'packages/stack/dist/cli.js');
const run = (cli: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });

test('64 for a wrong command line, in all three tools', () => {
  for (const [cli, args] of [[ZNOTIFY, ['--bogus']], [ZNOTIFY, ['nosuch']], [ZUNITGEN, ['--bogus']], [ZUNITGEN, ['nosuch']], [ZUNITGEN, ['wait-tcp', 'not-an-address']], [ZSTACK, ['--bogus']], [ZSTACK, ['nosuch']]] as const) {
    const r = run(cli, [...args]);
    assert.equal(r.status, 64, `${path.basename(path.dirname(cli))} ${args.join(' ')}: ${r.stderr}`);
    assert.notEqual(r.stderr, '');
  }
});

test('66 in all three tools when the config file named cannot be read: missing, a directory, unreadable', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-codes-'));
  const missing = path.join(dir, 'missing.yaml');
  const directory = path.join(dir, 'a-directory.yaml');
  mkdirSync(directory);
  // Unreadable by its owner; root reads it all the same, so only a non-root run sees EACCES.
  const locked = path.join(dir, 'locked.yaml');
  writeFileSync(locked, 'name: x\n');
  chmodSync(locked, 0);
  const unreadable = process.getuid?.() === 0 ? [missing, directory] : [missing, directory, locked];
  for (const file of unreadable) {
    // Each tool's reading commands once; `run` and `generate` read through the same function, checked for one file.
    const runs = [
      ['znotify', run(ZNOTIFY, ['check', '--config', file])],
      ['zunitgen', run(ZUNITGEN, ['check', file])],
      ['zstack', run(ZSTACK, ['status', file])],
      ...(file === missing ? [
        ['znotify run', run(ZNOTIFY, ['run', '--name', 'x', '--config', file, '--', '/bin/true'])],
        ['zunitgen generate', run(ZUNITGEN, ['generate', file, '--out', path.join(dir, 'out'), '--dry-run'])],
      ] as const : []),
    ] as const;
    for (const [what, r] of runs) {
      assert.equal(r.status, 66, `${what} ${path.basename(file)}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(path.basename(file).replace('.', '\\.')), `${what} names the file`);
    }
  }
  const u = run(ZUNITGEN, ['check', missing]);
  assert.equal(u.stderr.split('\n')[0], `zunitgen: cannot read ${missing}: does not exist (ENOENT)`);
});

test('66 with the path and the fix, never a raw errno, for every other path zunitgen reads: verify DIR, --templates DIR', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-codes-'));
  const file = path.join(dir, 'a-file');
  writeFileSync(file, '');
  const example = path.join(REPO_ROOT, 'examples/stack/plone.yaml');
  for (const where of [path.join(dir, 'nonexist'), file, path.join(file, 'below')]) {
    const runs = [
      ['verify', run(ZUNITGEN, ['verify', where]), /give the directory zunitgen generate wrote the units into \(its --out\)/],
      ['generate --templates', run(ZUNITGEN, ['generate', example, '--out', path.join(dir, 'out'), '--templates', where]), /give --templates a directory of \.hbs files/],
      // deploy reads --templates through the same function: once is enough.
      ...(where === file ? [['deploy --templates', run(ZUNITGEN, ['deploy', path.join(REPO_ROOT, 'examples/stack/plone-hosts.yaml'), '--dry-run', '--templates', where]), /give --templates a directory/] as const] : []),
    ] as const;
    for (const [what, r, fix] of runs) {
      assert.equal(r.status, 66, `${what} ${where}: ${r.stderr}`);
      assert.equal(r.stderr.split('\n')[0]!.startsWith(`zunitgen: cannot read ${where}: `), true, r.stderr);
      assert.match(r.stderr, /\n {2}hint: /, r.stderr);
      assert.match(r.stderr, fix, r.stderr);
      assert.doesNotMatch(r.stderr, /scandir|--out at a directory/, r.stderr);
    }
  }
  assert.equal(existsSync(path.join(dir, 'out')), false, 'nothing written');
  // A directory its user may not read (root reads every directory, so the run drops to nobody).
  if (process.getuid?.() === 0) {
    const locked = path.join(dir, 'locked');
    mkdirSync(locked, { mode: 0o700 });
    chmodSync(dir, 0o755);
    const r = spawnSync(process.execPath, [ZUNITGEN, 'verify', locked], { encoding: 'utf8', timeout: 30_000, uid: 65534, gid: 65534 });
    assert.equal(r.status, 66, r.stderr);
    assert.match(r.stderr, /^zunitgen: cannot read .*locked: permission denied \(EACCES\)\n {2}hint: run as a user who may read it/);
  }
});

/** A path `name` below a regular file (.../a-file/name): no directory can be made there (ENOTDIR). */
function pathBelowAFile(name: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'exit-codes-')), 'a-file');
  writeFileSync(file, '');
  return path.join(file, name);
}

test('zstack --run-dir that cannot be a directory: the path, why in words and the fix, before anything is asked', () => {
  const runDir = pathBelowAFile('run');
  const r = run(ZSTACK, ['--run-dir', runDir, 'rollout', path.join(REPO_ROOT, 'examples/stack/plone.yaml')]);
  assert.equal(r.status, 69, r.stderr);
  assert.equal(r.stderr, `zstack: cannot create the lock directory ${runDir}: a component of the path is a file, not a directory (ENOTDIR)\n`
    + '  hint: pass --run-dir a directory (or a path where one can be created) on a writable file system\n');
});

test('zstack rollout: a command after `--` that cannot run is refused (69) before the lock is taken or anything drained', () => {
  // The run dir cannot be made: a rollout that got as far as its lock would say so instead.
  const runDir = pathBelowAFile('run');
  const plone = path.join(REPO_ROOT, 'examples/stack/plone.yaml');
  const plain = path.join(mkdtempSync(path.join(os.tmpdir(), 'exit-codes-')), 'ban');
  writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
  const cases: Array<[string, RegExp]> = [
    ['/nonexistent/varnishadm', /command not found: \/nonexistent\/varnishadm \(no such file\)/],
    ['no-such-varnishadm-xyz', /command not found: no-such-varnishadm-xyz \(searched PATH=[^)]*\)/],
    [plain, /command not executable: .*\/ban \(check its mode and the x bit\)/],
    ['/usr/bin', /command is a directory: \/usr\/bin \(give the path of a program, not a directory\)/],
  ];
  for (const [cmd, why] of cases) {
    const r = run(ZSTACK, ['--run-dir', runDir, 'rollout', plone, '--', cmd, 'ban', 'req.url', '~', '.']);
    assert.equal(r.status, 69, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^zstack: the command after \`--\` cannot be run: ${why.source}; nothing was drained or restarted\n  hint: `), r.stderr);
  }
  // A command PATH finds passes the check: the rollout goes on to its lock (which cannot be made here).
  const ok = run(ZSTACK, ['--run-dir', runDir, 'rollout', plone, '--', 'true']);
  assert.equal(ok.status, 69, ok.stderr);
  assert.match(ok.stderr, /^zstack: cannot create the lock directory /);
});

test('69 when verify\'s systemd-analyze is not there, with the fix', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-codes-'));
  const g = run(ZUNITGEN, ['generate', path.join(REPO_ROOT, 'examples/stack/plone.yaml'), '--out', dir]);
  assert.equal(g.status, 0, g.stderr);
  const r = run(ZUNITGEN, ['verify', dir, '--systemd-analyze', path.join(dir, 'no-such-systemd-analyze')]);
  assert.equal(r.status, 69, r.stderr);
  assert.match(r.stderr, /^zunitgen: cannot run .*no-such-systemd-analyze: no such program\n {2}hint: install systemd's systemd-analyze, or give its path with --systemd-analyze PATH\n$/);
});

test('78 in all three tools for a config that is read and invalid', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-codes-'));
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'nmae: x\n');
  assert.equal(run(ZNOTIFY, ['check', '--config', bad]).status, 78);
  assert.equal(run(ZUNITGEN, ['check', bad]).status, 78);
  assert.equal(run(ZSTACK, ['status', bad]).status, 78);
});

test('generated client units end the restart loop on 64, 66 and 78: each status the wrapper gives for what a restart cannot fix', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-codes-'));
  const r = run(ZUNITGEN, ['generate', path.join(REPO_ROOT, 'examples/stack/plone.yaml'), '--out', dir]);
  assert.equal(r.status, 0, r.stderr);
  const unit = readFileSync(path.join(dir, 'plone-client1.service'), 'utf8');
  const listed = /^RestartPreventExitStatus=(.*)$/m.exec(unit)?.[1]?.split(/\s+/).map(Number);
  assert.deepEqual(listed, [ZNOTIFY_EXIT.USAGE, ZNOTIFY_EXIT.NOINPUT, ZNOTIFY_EXIT.CONFIG]);
  assert.deepEqual(listed, [64, 66, 78]);
});

test('73 when zunitgen cannot write its output; nothing is written', () => {
  const r = run(ZUNITGEN, ['generate', path.join(REPO_ROOT, 'examples/stack/plone.yaml'), '--out', pathBelowAFile('units')]);
  assert.equal(r.status, 73, r.stderr);
  assert.match(r.stderr, /^zunitgen: .*a-file\/units: .*\(ENOTDIR\)/);
});

test('--version and --help exit 0 in all three tools', () => {
  for (const cli of [ZNOTIFY, ZUNITGEN, ZSTACK]) {
    const v = run(cli, ['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.equal(run(cli, ['--help']).status, 0);
  }
});
