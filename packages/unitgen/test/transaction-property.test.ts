// Property tests of the output directory's transaction and lock (transaction.ts, output-lock.ts, io.ts write):
//  1. A kill at ANY file-system mutation of an update (not only at the named crash points): every mkdir, open for
//     writing, write, link, rename, remove and fsync is a place where the process may die. The fault injector lets
//     the first k mutations happen and kills the "process" at mutation k+1: that one and every later one fail, so
//     nothing of the dying run's cleanup happens (as after kill -9), and its lock is left naming a dead process.
//     For random old and new unit sets (a first generation among them), a random k and a foreign file beside them:
//     what the next run does first (recover, under the lock) leaves exactly the old set or exactly the new one,
//     with a manifest listing exactly its files; then a run of either config without --force leaves exactly that
//     config's set, no transaction and no lock; the foreign file is untouched.
//  2. Real processes: two `zunitgen generate` of random configs into one directory, started with a random offset,
//     one of them perhaps SIGKILLed at a random moment: both live ones exit 0, and a re-run without --force leaves
//     the directory holding exactly the files its manifest lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fsDefault, { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import fc from 'fast-check';
import { LOCK_NAME, lockOutput, manifestName, recover, txnDirName, write, type GeneratedFile } from '../src/index.js';
import { checkProperty, CLI, REPO, tempDir } from './helpers.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const PREFIX = 'site';

// ------------------------------------------------------------------------------------------ fault injection

/** The mutating calls of node:fs the IO layer uses; each is a point where a kill may land. */
const MUTATING = ['mkdirSync', 'openSync', 'writeSync', 'writeFileSync', 'linkSync', 'renameSync', 'rmSync', 'unlinkSync', 'fsyncSync'] as const;
const fsObj = fsDefault as unknown as Record<string, (...a: unknown[]) => unknown>;
const originals = Object.fromEntries(MUTATING.map((k) => [k, fsObj[k]!])) as Record<(typeof MUTATING)[number], (...a: unknown[]) => unknown>;
// fsync is a kill point, but a kill is not a power loss: what was written is in the page cache either way. Skipping
// the real call keeps a run at a few milliseconds on a busy disk.
originals.fsyncSync = () => undefined;
class Killed extends Error {}

/** Runs fn with the fault injector: mutations 1..allowed happen, then the process counts as dead. Returns how many mutations it attempted. */
function withKillAfter(allowed: number, fn: () => void): { attempted: number; killed: boolean } {
  let n = 0, dead = false;
  for (const k of MUTATING) {
    fsObj[k] = (...args: unknown[]) => {
      // Opening for reading is not a mutation (the lock and the manifest are read with openSync/readFileSync).
      if (k === 'openSync' && (args[1] === undefined || args[1] === 'r')) return originals[k](...args);
      if (dead || ++n > allowed) { dead = true; throw new Killed(`killed at mutation ${n} (${k})`); }
      return originals[k](...args);
    };
  }
  syncBuiltinESMExports();
  try {
    fn();
  } catch (e) {
    if (!dead) throw e;
  } finally {
    for (const k of MUTATING) fsObj[k] = originals[k];
    syncBuiltinESMExports();
  }
  return { attempted: n, killed: dead };
}

// ------------------------------------------------------------------------------------------------ the sets

/** A unit set of the stack: names that belong to it, random contents. */
const setArb = fc.uniqueArray(fc.record({
  name: fc.constantFrom(...['.target', '.slice', '-zeo.service', '-client1.service', '-client2.service', '-client3.service', '-client1-agent.socket', '-client2-agent.socket', '.sysusers.conf', '-client1.znotify.yaml'].map((s) => PREFIX + s), 'haproxy-site.cfg', 'haproxy-site-httpchk.cfg'),
  content: fc.string({ maxLength: 40 }).map((s) => `# generated\n${s}\n`),
}), { selector: (f) => f.name, minLength: 1, maxLength: 8 }).map((fs) => fs.map((f): GeneratedFile => ({ name: f.name, kind: 'unit', content: f.content })));

/** Every entry of the directory but the foreign file and the lock (checked apart): name -> content. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).filter((n) => n !== 'foreign.service' && n !== LOCK_NAME).sort().map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
}

/** Exactly `files` and a manifest listing exactly them with their hashes (nothing at all for an empty set). */
function assertExactly(dir: string, files: readonly GeneratedFile[], what: string): void {
  const snap = snapshot(dir);
  if (files.length === 0) { assert.deepEqual(snap, {}, `${what}: expected nothing of the stack`); return; }
  const manifest = JSON.parse(snap[manifestName(PREFIX)] ?? 'null') as { files: Record<string, string> } | null;
  assert.ok(manifest, `${what}: no manifest in ${JSON.stringify(Object.keys(snap))}`);
  assert.deepEqual(manifest.files, Object.fromEntries(files.map((f) => [f.name, sha(f.content)]).sort()), `${what}: the manifest does not list exactly the set`);
  const expected = Object.fromEntries([...files.map((f) => [f.name, f.content]), [manifestName(PREFIX), snap[manifestName(PREFIX)]!]].sort());
  assert.deepEqual(snap, expected, `${what}: the directory is not exactly the set`);
}

const matches = (dir: string, files: readonly GeneratedFile[]) => { try { assertExactly(dir, files, ''); return true; } catch { return false; } };
const meta = { stack: PREFIX, source: 'site.yaml' };
/** The lock a killed run leaves: it names a process that no longer exists (pids never reach 2^22 + 1 here). */
const deadLock = (dir: string) => { if (existsSync(join(dir, LOCK_NAME))) writeFileSync(join(dir, LOCK_NAME), '4194305 1\n'); };

test('property: a kill at any file-system mutation of an update; the next run finds the old or the new set, and recovers without --force', async (t) => {
  const root = tempDir(t);
  const realFsync = fsObj.fsyncSync!;
  fsObj.fsyncSync = originals.fsyncSync;
  syncBuiltinESMExports();
  t.after(() => { fsObj.fsyncSync = realFsync; syncBuiltinESMExports(); });
  let runs = 0;
  const killedAt = new Set<string>();
  await checkProperty(() => fc.assert(fc.property(fc.option(setArb, { nil: undefined }), setArb, fc.nat(), fc.boolean(), (oldSet, newSet, k, rerunOld) => {
    const dir = join(root, `r${runs++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'foreign.service'), '[Service]\nExecStart=/bin/true\n');
    if (oldSet) write(dir, PREFIX, oldSet, meta);
    const before = oldSet ?? [];
    // How many mutations the whole update takes, measured on a copy of the same state.
    const probe = join(root, `p${runs}`);
    mkdirSync(probe);
    if (oldSet) write(probe, PREFIX, oldSet, meta);
    const total = withKillAfter(Number.MAX_SAFE_INTEGER, () => write(probe, PREFIX, newSet, meta)).attempted;
    const allowed = k % (total + 1); // 0 .. total: from "killed before anything" to "killed after the last step"
    const r = withKillAfter(allowed, () => write(dir, PREFIX, newSet, meta, { lockTimeoutMs: 0 }));
    if (r.killed) killedAt.add(`${allowed}/${total}`);
    deadLock(dir);
    // What the next run does first: it takes the lock (breaking the dead run's), rolls back what was interrupted,
    // and sees the old set or the new one, nothing mixed.
    const lock = lockOutput(dir, { timeoutMs: 0 });
    let recovered: 'old' | 'new' | undefined;
    try {
      recover(dir, PREFIX);
      recovered = matches(dir, before) ? 'old' : matches(dir, newSet) ? 'new' : undefined;
    } finally { lock.release(); }
    assert.ok(recovered, `killed after ${allowed} of ${total} mutations: neither set after recovery: ${JSON.stringify(Object.keys(snapshot(dir)))}`);
    // A run of either config, without --force: exactly its set, no transaction, no lock, the foreign file as it was.
    const target = rerunOld && oldSet ? oldSet : newSet;
    write(dir, PREFIX, target, meta, { lockTimeoutMs: 0 });
    assertExactly(dir, target, `killed after ${allowed} of ${total} mutations, then a run of the ${target === newSet ? 'new' : 'old'} config`);
    assert.ok(!existsSync(join(dir, txnDirName(PREFIX))) && !existsSync(join(dir, LOCK_NAME)));
    assert.equal(readFileSync(join(dir, 'foreign.service'), 'utf8'), '[Service]\nExecStart=/bin/true\n');
  }), { numRuns: Number(process.env.FC_RUNS ?? 100) }));
  // The runs covered kills all through the update, not only at its start.
  assert.ok(killedAt.size > 20, `only ${killedAt.size} distinct kill points: ${[...killedAt].join(' ')}`);
});

// ------------------------------------------------------------------------------------- real processes

const EXAMPLE = readFileSync(join(REPO, 'examples/stack/plone.yaml'), 'utf8');

/** Resolves with the exit code (null when killed) of `zunitgen generate cfg --out out`; kills it after killMs if given. */
function generateProcess(cfg: string, out: string, delayMs: number, killMs?: number): Promise<number | null> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const ch = spawn(process.execPath, [CLI, 'generate', cfg, '--out', out, '--lock-timeout', '5min'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      ch.stderr.on('data', (d) => { err += d; });
      const timer = killMs === undefined ? undefined : setTimeout(() => ch.kill('SIGKILL'), killMs);
      ch.on('exit', (code) => { clearTimeout(timer); if (code) process.stderr.write(`${cfg}: ${err}`); resolve(code); });
    }, delayMs);
  });
}

test('property: two real generates into one directory, one perhaps killed at a random moment; a re-run leaves exactly what its manifest lists', async (t) => {
  const root = tempDir(t);
  const cfgs = [1, 2, 3, 4].map((count) => {
    const p = join(root, `plone-${count}.yaml`);
    writeFileSync(p, EXAMPLE.replace('count: 4', `count: ${count}`));
    return p;
  });
  let runs = 0;
  await checkProperty(() => fc.assert(fc.asyncProperty(fc.constantFrom(...cfgs), fc.constantFrom(...cfgs), fc.constantFrom(...cfgs), fc.integer({ min: 0, max: 400 }), fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
    async (a, b, last, offset, killMs) => {
      const out = join(root, `out${runs++}`);
      const [ca, cb] = await Promise.all([generateProcess(a, out, 0, killMs), generateProcess(b, out, offset)]);
      // The live one always succeeds (it waits for the other's lock, or breaks the dead one's).
      assert.equal(cb, 0);
      if (killMs === undefined) assert.equal(ca, 0);
      assert.equal(await generateProcess(last, out, 0), 0, 'the re-run without --force');
      const m = JSON.parse(readFileSync(join(out, manifestName('plone')), 'utf8')) as { files: Record<string, string> };
      for (const [name, hash] of Object.entries(m.files)) assert.equal(sha(readFileSync(join(out, name))), hash, name);
      assert.deepEqual(readdirSync(out).sort(), [...Object.keys(m.files), manifestName('plone')].sort(), 'files no manifest lists, a transaction or a lock left');
      assert.ok(Object.keys(m.files).includes(`plone-client${Number(/plone-(\d)/.exec(last)![1])}.service`), 'the re-run\'s set');
    }), { numRuns: Number(process.env.FC_RUNS_PROCESSES ?? 3) }));
});
