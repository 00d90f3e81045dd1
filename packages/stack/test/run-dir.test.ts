// The run directory (--run-dir) against another user on the same machine: root takes the stack's lock, writes the
// rollout journal and caches models there, so a user who may add or rename entries in it (or above it) could plant
// a symbolic link where root writes and have root truncate a file of theirs choosing. Played for real: the test runs
// as root, the other user is nobody (setpriv), the planted link points at a root-only file that must stay intact.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { acquireLock, lockHeld } from '../src/lock.js';
import { readJournal, writeJournal, type RolloutJournal } from '../src/journal.js';
import { cachedModel, storeModel } from '../src/model-cache.js';
import { loadStack } from '../src/stack.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/stack/plone.yaml', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
const NOBODY = 65534;
const skip = process.getuid?.() !== 0 ? 'needs root (to be root against another user)' : spawnSync('setpriv', ['--version']).status !== 0 ? 'needs setpriv' : undefined;

/** Runs `script` with sh as nobody; its exit status. */
function asNobody(script: string, ...args: string[]): number {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'sh', '-c', script, 'sh', ...args], { encoding: 'utf8' });
  return r.status ?? 1;
}

/** A root-only file the other user would like root to overwrite, and a directory all may add entries to (mode `mode`). */
function scene(t: TestContext, mode: number): { victim: string; shared: string } {
  const safe = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-victim-'));
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-shared-'));
  t.after(() => { fs.rmSync(safe, { recursive: true, force: true }); fs.rmSync(shared, { recursive: true, force: true }); });
  fs.chmodSync(shared, mode);
  const victim = path.join(safe, 'precious');
  fs.writeFileSync(victim, 'precious\n', { mode: 0o600 });
  return { victim, shared };
}

const zstack = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
const refused = (why: RegExp) => (e: Error & { code?: string; exitCode?: number }): boolean => e.code === 'ECONFIG' && e.exitCode === 78 && why.test(e.message);

test('a run directory another user made: refused (78) with the path and the fix, and the link they planted is not followed', { skip }, (t) => {
  const { victim, shared } = scene(t, 0o1777);
  const run = path.join(shared, 'run');
  assert.equal(asNobody('mkdir "$1" && ln -s "$2" "$1/plone.lock" && ln -s "$2" "$1/plone.rollout.json"', run, victim), 0);
  assert.throws(() => acquireLock(run, 'plone', 'stop of plone'), refused(new RegExp(`the run directory ${run} is not safe .*: it belongs to uid ${NOBODY}, not to this user \\(uid 0\\)`)));
  // The command line says the same, with the fix, for an operation and for status (which reads the lock and journal).
  for (const args of [['stop', '--no-drain', EXAMPLE], ['status', EXAMPLE]]) {
    const r = zstack('--run-dir', run, '--haproxy-socket', path.join(shared, 'none.sock'), ...args);
    assert.equal(r.status, 78, `${args[0]}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`zstack: the run directory ${run} is not safe for the stack's lock, journal and cache: it belongs to uid ${NOBODY}`), r.stderr);
    assert.match(r.stderr, /hint: chown root:root .* && chmod go-w .*, or pass --run-dir a directory only this user can write/);
  }
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'root wrote through the planted link');
  // Root's model cache is not made there either: the other user could swap it for a link between check and write.
  const text = fs.readFileSync(EXAMPLE, 'utf8');
  assert.equal(storeModel({ dir: path.join(run, 'model-cache'), build: 'b' }, EXAMPLE, text, loadStack(EXAMPLE).model), false);
  assert.equal(fs.existsSync(path.join(run, 'model-cache')), false);
});

test('a run directory others may write, or one below a directory others may write without the sticky bit: refused', { skip }, (t) => {
  const { victim, shared } = scene(t, 0o1777);
  const open = path.join(shared, 'open');
  fs.mkdirSync(open, { mode: 0o755 });
  fs.chmodSync(open, 0o777);
  assert.equal(asNobody('ln -s "$2" "$1/plone.lock"', open, victim), 0, 'nobody could plant a link');
  assert.throws(() => acquireLock(open, 'plone', 'stop of plone'), refused(/: others may write it \(mode 0777\)/));
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');

  const { shared: loose } = scene(t, 0o777);
  const run = path.join(loose, 'run');
  fs.mkdirSync(run, { mode: 0o755 });
  assert.throws(() => acquireLock(run, 'plone', 'stop of plone'), refused(new RegExp(`: ${loose}, above it, may be written by others without the sticky bit \\(mode 0777\\)`)));
  // Why: root's own directory there is theirs to move away and replace.
  assert.equal(asNobody('mv "$1/run" "$1/gone" && mkdir "$1/run" && ln -s "$2" "$1/run/plone.lock"', loose, victim), 0, 'nobody could replace root\'s run directory');
  assert.throws(() => acquireLock(run, 'plone', 'stop of plone'), refused(/belongs to uid 65534|without the sticky bit/));
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
});

test('a run directory of root\'s in a sticky directory (like /tmp): lock, journal and cache work there, and nobody can plant anything', { skip }, (t) => {
  const { victim, shared } = scene(t, 0o1777);
  const run = path.join(shared, 'run');
  const lock = acquireLock(run, 'plone', 'rollout of plone');
  t.after(() => lock.release());
  assert.equal(fs.statSync(run).mode & 0o7777, 0o755);
  assert.equal(lockHeld(run, 'plone')?.operation, 'rollout of plone');
  assert.notEqual(asNobody('ln -s "$2" "$1/plone.rollout.json"', run, victim), 0, 'nobody planted a link in root\'s run directory');
  const journal: RolloutJournal = { stack: 'plone', file: EXAMPLE, startedAt: new Date().toISOString(), pid: process.pid, clients: ['client1'], done: [], current: {} };
  writeJournal(run, journal);
  assert.deepEqual(readJournal(run, 'plone'), journal);
  const cache = { dir: path.join(run, 'model-cache'), build: 'b' };
  const text = fs.readFileSync(EXAMPLE, 'utf8');
  const model = loadStack(EXAMPLE).model;
  assert.equal(storeModel(cache, EXAMPLE, text, model), true);
  assert.deepStrictEqual(cachedModel(cache, EXAMPLE, text), model);
  // Through a link on the way (here: a link to the sticky directory), the same directory is as good.
  const via = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-via-')), 'shared');
  t.after(() => fs.rmSync(path.dirname(via), { recursive: true, force: true }));
  fs.symlinkSync(shared, via);
  assert.equal(lockHeld(path.join(via, 'run'), 'plone')?.operation, 'rollout of plone');
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
});

test('a link in the run directory (whoever put it there) is never followed: the lock refuses it, status and the journal see nothing', { skip }, (t) => {
  const { victim, shared } = scene(t, 0o1777);
  const run = path.join(shared, 'run');
  fs.mkdirSync(run, { mode: 0o755 });
  fs.symlinkSync(victim, path.join(run, 'plone.lock'));
  fs.symlinkSync(victim, path.join(run, 'plone.rollout.json'));
  fs.writeFileSync(victim, JSON.stringify({ pid: 1, operation: 'planted', since: '', stack: 'plone', clients: [], done: [] }));
  assert.throws(() => acquireLock(run, 'plone', 'stop of plone'), (e: Error & { code?: string }) => e.code === 'EUNAVAILABLE' && /plone\.lock: it is a symbolic link, which zstack never follows there \(ELOOP\)/.test(e.message));
  assert.equal(lockHeld(run, 'plone'), undefined);
  assert.equal(readJournal(run, 'plone'), undefined);
  assert.match(fs.readFileSync(victim, 'utf8'), /planted/);
});
