// The output directory as zunitgen keeps it: the manifest is untrusted input (only the stack's own files inside
// the directory can ever be removed), an update is one transaction (a kill -9 at any step leaves the old set,
// and the next run recovers without --force), and one writer at a time per directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { generate, LockBusyError, LOCK_NAME, manifestName } from '../src/index.js';
import { CLI, REPO, tempDir, zunitgen } from './helpers.js';

const EXAMPLE = readFileSync(join(REPO, 'examples/stack/plone.yaml'), 'utf8');
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

function configs(dir: string): { old: string; next: string } {
  const old = join(dir, 'old.yaml'), next = join(dir, 'new.yaml');
  writeFileSync(old, EXAMPLE);
  writeFileSync(next, EXAMPLE.replace('count: 4', 'count: 2').replace(/^description: .*$/m, 'description: Plone, renewed'));
  return { old, next };
}

/** Every entry of the directory, name -> content ('<dir>' for directories). */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir, { withFileTypes: true }).map((e) => [e.name, e.isDirectory() ? '<dir>' : readFileSync(join(dir, e.name), 'utf8')]).sort());
}

test('a manifest listing files outside the stack or the directory: refused (73), nothing removed', (t) => {
  const dir = tempDir(t);
  const { old, next } = configs(dir);
  const out = join(dir, 'out');
  generate(old, { out });
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious\n');
  writeFileSync(join(out, 'sshd.service'), '[Service]\nExecStart=/usr/sbin/sshd\n');
  for (const name of ['../victim', 'sshd.service', `${join(dir, 'victim')}`, '.', 'plone/../sshd.service']) {
    const m = JSON.parse(readFileSync(join(out, manifestName('plone')), 'utf8'));
    const content = name.includes('sshd') ? readFileSync(join(out, 'sshd.service')) : readFileSync(victim);
    const tampered = { ...m, files: { ...m.files, [name]: sha(content) } };
    writeFileSync(join(out, manifestName('plone')), JSON.stringify(tampered));
    const r = zunitgen(['generate', next, '--out', out]);
    assert.equal(r.code, 73, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${manifestName('plone').replace(/\./g, '\\.')}: the manifest lists .* which is not a file of this stack`));
    assert.match(r.stderr, /hint: if you did not edit it, move it away and run again with --force/);
    writeFileSync(join(out, manifestName('plone')), JSON.stringify(m));
  }
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(existsSync(join(out, 'sshd.service')));
});

test('a corrupt or symlinked manifest: 73 naming it, its target\'s bytes never echoed', (t) => {
  const dir = tempDir(t);
  const { old } = configs(dir);
  const out = join(dir, 'out');
  generate(old, { out });
  const mpath = join(out, manifestName('plone'));
  writeFileSync(mpath, '{"version": 1, "files": ');
  let r = zunitgen(['generate', old, '--out', out]);
  assert.equal(r.code, 73);
  assert.match(r.stderr, new RegExp(`${mpath.replace(/\./g, '\\.')}: the manifest is not valid JSON`));
  const secret = join(dir, 'secret');
  writeFileSync(secret, 'root:$6$SECRET-HASH:19000:0:99999:7:::\n');
  spawnSync('rm', [mpath]);
  symlinkSync(secret, mpath);
  r = zunitgen(['generate', old, '--out', out]);
  assert.equal(r.code, 73);
  assert.match(r.stderr, /the manifest is a symbolic link/);
  assert.doesNotMatch(r.stderr + r.stdout, /SECRET/);
});

test('--out that cannot be used: one line naming the path and the fix, exit 73, nothing written', (t) => {
  const dir = tempDir(t);
  const { old } = configs(dir);
  writeFileSync(join(dir, 'file'), 'x');
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
  for (const [out, why] of [[join(dir, 'file', 'units'), /ENOTDIR/], [join(dir, 'file'), /exists and is not a directory/], [join(dir, 'dangling'), /dangling symbolic link/]] as const) {
    const r = zunitgen(['generate', old, '--out', out]);
    assert.equal(r.code, 73, `${out}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.match(r.stderr, /hint: /);
    assert.doesNotMatch(r.stderr, /    at /, 'a stack trace');
  }
  assert.deepEqual(readdirSync(dir).sort(), ['dangling', 'file', 'new.yaml', 'old.yaml']);
});

test('--out under /proc: exit 73 naming the directory that cannot be made, at once (no endless mkdir)', (t) => {
  const dir = tempDir(t);
  const { old } = configs(dir);
  for (const args of [['generate', old, '--out', '/proc/zunitgen-test/units'], ['install-generator', '--dir', '/proc/zunitgen-test/gen']]) {
    // A hang guard only: Node's recursive mkdir spins there for ever.
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.signal, null, `${args[0]}: still running after 30 s`);
    assert.equal(r.status, 73, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /\/proc\/zunitgen-test cannot be created: its file system makes no directories/);
    assert.match(r.stderr, /hint: point --(out|dir) at a directory on a disk file system/);
    assert.doesNotMatch(r.stderr, /    at /, 'a stack trace');
  }
});

const unshareSkip = process.getuid?.() !== 0 ? 'needs root (mounts in a private mount namespace)'
  : spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status !== 0 ? 'unshare -m does not work here' : false;

test('a read-only --out (a read-only mount, in a private mount namespace): exit 73 with EROFS and the fix, nothing written', { skip: unshareSkip }, (t) => {
  const dir = tempDir(t);
  const { old } = configs(dir);
  const ro = join(dir, 'ro');
  mkdirSync(join(ro, 'existing'), { recursive: true });
  // Inside its own mount namespace: ro/ becomes a read-only bind of itself, then zunitgen runs there. The
  // mount vanishes with the namespace when the command ends, whatever happens.
  const inRo = (out: string) => spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$3" generate "$4" --out "$5"', 'sh', ro, process.execPath, CLI, old, out],
  { encoding: 'utf8', timeout: 60_000 });
  for (const [out, what] of [[join(ro, 'new', 'units'), 'cannot use as output directory'], [join(ro, 'existing'), 'cannot create the lock']] as const) {
    const r = inRo(out);
    assert.equal(r.status, 73, `${out}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^zunitgen: ${out.replace(/[/.]/g, '\\$&')}.*: ${what}: the file system is read-only \\(EROFS\\)\n  hint: choose a writable --out, or remount it read-write\n$`));
  }
  assert.deepEqual(readdirSync(ro), ['existing']);
  assert.deepEqual(readdirSync(join(ro, 'existing')), []);
});

// Each step of the transaction (transaction.ts). After a kill -9 there, the next run of either config must
// succeed without --force and leave exactly that config's files. Each point is crashed once, alternating the
// direction (old -> new, new -> old) and which config the recovering run uses.
const POINTS = ['staged', 'journal', 'removed', 'rename:4', 'rename:1', 'manifest', 'complete']; // 'removed' goes old -> new (fewer clients)

test('kill -9 at every step of an update: the next run recovers to the old or the new set, without --force', (t) => {
  const dir = tempDir(t);
  const { old, next } = configs(dir);
  const out = join(dir, 'out');
  const run = (cfg: string) => zunitgen(['generate', cfg, '--out', out]);
  assert.equal(run(old).code, 0);
  const O = snapshot(out);
  assert.equal(run(next).code, 0);
  const N = snapshot(out);
  const sets = new Map([[old, O], [next, N]]);
  let current = next;
  for (const [i, point] of POINTS.entries()) {
    const target = current === old ? next : old;
    const crashed = spawnSync(process.execPath, [CLI, 'generate', target, '--out', out], { env: { ...process.env, ZUNITGEN_CRASH_AT: point }, encoding: 'utf8' });
    assert.equal(crashed.signal, 'SIGKILL', `${point}: the crash point was not reached (${crashed.stderr})`);
    assert.ok(readdirSync(out).includes(LOCK_NAME), `${point}: the killed run's lock is left behind, as after a real kill -9`);
    const recovering = i % 2 === 0 ? current : target;
    const r = run(recovering);
    assert.equal(r.code, 0, `${point}: ${r.stderr}`);
    assert.deepEqual(snapshot(out), sets.get(recovering), `${point}: the run after the crash did not leave exactly its config's set`);
    current = recovering;
  }
});

test('kill -9 during the first generation: no sibling left, the next run writes the complete set', (t) => {
  const dir = tempDir(t);
  const { old } = configs(dir);
  const out = join(dir, 'out');
  const crashed = spawnSync(process.execPath, [CLI, 'generate', old, '--out', out], { env: { ...process.env, ZUNITGEN_CRASH_AT: 'rename:3' } });
  assert.equal(crashed.signal, 'SIGKILL');
  assert.deepEqual(readdirSync(dir).sort(), ['new.yaml', 'old.yaml', 'out']);
  assert.equal(zunitgen(['generate', old, '--out', out]).code, 0);
  const clean = join(dir, 'clean');
  generate(old, { out: clean });
  const got = snapshot(out), want = snapshot(clean);
  assert.deepEqual(Object.keys(got), Object.keys(want));
});

/** A live process (killed when the test ends) and the line a lock it held would have: "pid starttime". */
function liveProcess(t: { after(fn: () => void): void }): { proc: ChildProcess; lockLine: string } {
  const proc = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => { proc.kill('SIGKILL'); });
  const stat = readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
  return { proc, lockLine: `${proc.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n` };
}

test('the lock: a live holder makes the next run wait, then exit 75; a dead holder\'s lock is broken', async (t) => {
  const dir = tempDir(t);
  const { old } = configs(dir);
  const out = join(dir, 'out');
  mkdirSync(out);
  const { proc: holder, lockLine } = liveProcess(t);
  writeFileSync(join(out, LOCK_NAME), lockLine);
  assert.throws(() => generate(old, { out, lockTimeoutMs: 200 }), (e: unknown) => e instanceof LockBusyError && e.holder === holder.pid && /another zunitgen \(pid \d+\) is writing this directory/.test(e.message));
  assert.deepEqual(readdirSync(out), [LOCK_NAME], 'nothing written while locked');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  generate(old, { out, lockTimeoutMs: 200 });
  assert.ok(!readdirSync(out).includes(LOCK_NAME), 'the lock is released');
});

test('the lock is linked into place whole, so one without its line is no run\'s: broken at once; what gone runs left beside it is swept, a live run\'s kept', (t) => {
  const dir = tempDir(t);
  const { old } = configs(dir);
  const out = join(dir, 'out');
  mkdirSync(out);
  const { proc: live, lockLine } = liveProcess(t);
  const gone = 4194305; // above the kernel's pid_max: no process has it
  writeFileSync(join(out, LOCK_NAME), '');
  writeFileSync(join(out, `${LOCK_NAME}.new-${gone}`), ''); // killed before writing its line
  writeFileSync(join(out, `${LOCK_NAME}.stale-${gone}`), '4194306 1\n'); // killed while breaking a stale lock
  writeFileSync(join(out, `${LOCK_NAME}.new-${live.pid}`), lockLine); // about to link its lock
  generate(old, { out, lockTimeoutMs: 0 });
  assert.deepEqual(readdirSync(out).filter((n) => n.startsWith(LOCK_NAME)), [`${LOCK_NAME}.new-${live.pid}`]);
});

test('concurrent runs into one directory are serialized: every file ends up in exactly one manifest', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'out');
  const cfgs = ['a', 'b', 'a', 'b', 'a'].map((s, i) => {
    const p = join(dir, `${s}${i}.yaml`);
    writeFileSync(p, EXAMPLE.replace('stack: plone', `stack: ${s}`).replace(/backend: plone/, `backend: ${s}`).replace('count: 4', `count: ${i + 1}`)
      .replace(/\{8080\+n\}/g, `{${8080 + (s === 'a' ? 0 : 500)}+n}`).replace(/\{9080\+n\}/g, `{${9080 + (s === 'a' ? 0 : 500)}+n}`).replace(/\{9180\+n\}/g, `{${9180 + (s === 'a' ? 0 : 500)}+n}`));
    return p;
  });
  const runs = cfgs.map((c) => new Promise<number>((resolve) => {
    const ch = spawn(process.execPath, [CLI, 'generate', c, '--out', out, '--lock-timeout', '10min'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    ch.stderr.on('data', (d) => { err += d; });
    ch.on('exit', (code) => { if (code !== 0) t.diagnostic(`${c}: ${err}`); resolve(code ?? -1); });
  }));
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0, 0]);
  const listed = new Set<string>();
  for (const s of ['a', 'b']) {
    const m = JSON.parse(readFileSync(join(out, manifestName(s)), 'utf8')) as { files: Record<string, string> };
    for (const [name, hash] of Object.entries(m.files)) { assert.ok(!listed.has(name)); listed.add(name); assert.equal(sha(readFileSync(join(out, name))), hash, name); }
    listed.add(manifestName(s));
  }
  assert.deepEqual(readdirSync(out).sort(), [...listed].sort(), 'files no manifest lists, or a lock/transaction left behind');
});
