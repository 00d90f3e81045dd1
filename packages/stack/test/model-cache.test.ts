// The cache of parsed stack models (src/model-cache.ts) and the CommonJS bin that passes it the build key: an entry
// is served only for the same text, name and build, from a place only this user writes; anything else is a miss
// that costs the parse and changes nothing in the answer. Real files in a temp dir, the real parser, the built bin.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseStack } from '@zope-systemd/unitgen';
import { cachedModel, entryFile, modelCacheDir, storeModel, type ModelCache } from '../src/model-cache.js';
import { loadStack } from '../src/stack.js';
import { StackError } from '../src/errors.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/stack/plone.yaml', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const BUILD = 'a'.repeat(32);

function setUp(t: TestContext): { dir: string; file: string; cache: ModelCache } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-model-cache-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'plone.yaml');
  fs.copyFileSync(EXAMPLE, file);
  return { dir, file, cache: { dir: path.join(dir, 'run', 'model-cache'), build: BUILD } };
}

/** Rewrites the entry's model as `edit` says, keeping everything that makes it this run's entry. */
function tamper(cache: ModelCache, file: string, edit: (entry: { model: { stack: string } }) => void): void {
  const f = entryFile(cache, file);
  const e = JSON.parse(fs.readFileSync(f, 'utf8')) as { model: { stack: string } };
  edit(e);
  fs.writeFileSync(f, JSON.stringify(e));
}

test('a stored model comes back equal to a fresh parse, and it is what loadStack serves', (t) => {
  const { file, cache } = setUp(t);
  const parsed = loadStack(file, { cache });
  const entry = entryFile(cache, file);
  assert.equal(fs.statSync(entry).mode & 0o777, 0o600);
  assert.equal(fs.statSync(cache.dir).mode & 0o777, 0o700);
  assert.deepStrictEqual(cachedModel(cache, file, fs.readFileSync(file, 'utf8')), parseStack(fs.readFileSync(file, 'utf8'), { file }));
  assert.deepStrictEqual(loadStack(file, { cache }), parsed);
  // Served from the entry, not parsed again: an entry changed behind its back is what comes out.
  tamper(cache, file, (e) => { e.model.stack = 'from-the-cache'; });
  assert.equal(loadStack(file, { cache }).stack, 'from-the-cache');
  // Sizes (bigints) survive: MemoryHigh= of the clients.
  assert.equal(typeof parsed.clients[0]!.memoryHigh, 'bigint');
});

test('an edited file is parsed again even with the same size and mtime; another build or name misses', (t) => {
  const { file, cache } = setUp(t);
  loadStack(file, { cache });
  const st = fs.statSync(file);
  const text = fs.readFileSync(file, 'utf8');
  const edited = text.replace(/^stack: (\w)/m, (_m, c: string) => `stack: ${c === 'z' ? 'y' : 'z'}`);
  assert.equal(edited.length, text.length);
  fs.writeFileSync(file, edited);
  fs.utimesSync(file, st.atime, st.mtime);
  assert.deepStrictEqual(loadStack(file, { cache }).model, parseStack(edited, { file }));
  // The entry now holds the edited file's model; another build of the parser does not take it.
  assert.equal(cachedModel({ ...cache, build: 'b'.repeat(32) }, file, edited), undefined);
  // The same text under another name (the model names its file) is another entry.
  assert.equal(cachedModel(cache, path.relative(process.cwd(), file), edited), undefined);
});

test('a corrupt entry, one from another build, or one others may write is ignored and replaced', (t) => {
  const { file, cache } = setUp(t);
  const good = loadStack(file, { cache });
  const entry = entryFile(cache, file);
  for (const bad of ['{"format":1,"bu', '', 'null', '[]']) {
    fs.writeFileSync(entry, bad);
    assert.deepStrictEqual(loadStack(file, { cache }), good, `entry ${JSON.stringify(bad)}`);
  }
  tamper(cache, file, (e) => { e.model.stack = 'forged'; (e as unknown as { build: string }).build = 'c'.repeat(32); });
  assert.deepStrictEqual(loadStack(file, { cache }), good);
  // Written by someone else (group/other-writable entry or directory): never read.
  tamper(cache, file, (e) => { e.model.stack = 'forged'; });
  fs.chmodSync(entry, 0o666);
  assert.equal(loadStack(file, { cache }).stack, good.stack);
  tamper(cache, file, (e) => { e.model.stack = 'forged'; });
  fs.chmodSync(entry, 0o600);
  fs.chmodSync(cache.dir, 0o777);
  assert.equal(loadStack(file, { cache }).stack, good.stack);
  assert.equal(storeModel(cache, file, fs.readFileSync(file, 'utf8'), good.model), false, 'nothing is written into a directory others may write');
});

test('a bad stack file gives the same errors with the cache, even after its good version was cached; errors are not stored', (t) => {
  const { file, cache } = setUp(t);
  loadStack(file, { cache });
  const entry = entryFile(cache, file);
  const stored = fs.readFileSync(entry, 'utf8');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^(\s+)count: \d+/m, '$1count: 0'));
  const errorOf = (f: () => unknown): StackError => { try { f(); } catch (e) { return e as StackError; } assert.fail('no error'); };
  const without = errorOf(() => loadStack(file));
  const withCache = errorOf(() => loadStack(file, { cache }));
  assert.ok(without instanceof StackError && without.code === 'ECONFIG' && without.exitCode === 78);
  assert.match(without.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
  assert.equal(withCache.message, without.message);
  assert.equal(withCache.hint, without.hint);
  assert.equal(fs.readFileSync(entry, 'utf8'), stored, 'the good version\'s entry stays, unused');
});

test('the cache lives under the run directory for root, in $XDG_RUNTIME_DIR for other users, nowhere without it', () => {
  assert.equal(modelCacheDir('/run/zope-systemd', {}, 0), '/run/zope-systemd/model-cache');
  assert.equal(modelCacheDir('/run/zope-systemd', { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/zstack-model-cache');
  assert.equal(modelCacheDir('/run/zope-systemd', {}, 1000), undefined);
  assert.equal(modelCacheDir('/run/zope-systemd', { XDG_RUNTIME_DIR: 'relative' }, 1000), undefined);
});

test('the bin is CommonJS (no ES module is loaded) and gives status its build key: the entry it stores is that build\'s', (t) => {
  const { dir, file } = setUp(t);
  const pkg = JSON.parse(fs.readFileSync(path.join(DIST, '../package.json'), 'utf8')) as { bin: { zstack: string } };
  assert.equal(pkg.bin.zstack, './dist/cli.cjs');
  const preload = path.join(dir, 'loaded.cjs');
  fs.writeFileSync(preload, `process.on('exit', () => require('node:fs').writeSync(2, '\\nloaded: ' + process.moduleLoadList.filter((m) => m.includes('esm/module_job')).join(' ') + '\\n'));\n`);
  const v = spawnSync(process.execPath, ['--require', preload, path.join(DIST, 'cli.cjs'), '--version'], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stderr, /^loaded: $/m, 'an ES module was loaded (node\'s module jobs ran)');
  // As root the entry goes under --run-dir (elsewhere under $XDG_RUNTIME_DIR); status itself fails here or not
  // depending on the machine's systemd, after the stack file was read.
  const runDir = path.join(dir, 'run');
  const env = { ...process.env, XDG_RUNTIME_DIR: runDir };
  spawnSync(process.execPath, [path.join(DIST, 'cli.cjs'), '--run-dir', runDir, 'status', '--json', file], { encoding: 'utf8', env, timeout: 60_000 });
  const cacheDir = modelCacheDir(runDir, env)!;
  const entries = fs.readdirSync(cacheDir);
  assert.equal(entries.length, 1);
  const key = fs.readFileSync(path.join(DIST, 'zstack.cjs'), 'utf8').trim().split('\n').pop()!.replace(/^\/\/# zstack-build=/, '');
  const e = JSON.parse(fs.readFileSync(path.join(cacheDir, entries[0]!), 'utf8')) as { build: string; file: string };
  assert.deepEqual({ build: e.build, file: e.file }, { build: key, file });
});

test('the bundled program loads zunitgen\'s parser (its own bundle) only when the model is not in the cache; a bad file gives the unbundled program\'s errors', (t) => {
  const { dir, file } = setUp(t);
  const runDir = path.join(dir, 'run');
  const env = { ...process.env, XDG_RUNTIME_DIR: runDir };
  const preload = path.join(dir, 'reads.cjs');
  fs.writeFileSync(preload, `const fs = require('node:fs'); const read = fs.readFileSync;
fs.readFileSync = function (p, ...a) { if (String(p).endsWith('zstack-parser.cjs')) fs.writeSync(2, '\\nparser loaded\\n'); return read.call(this, p, ...a); };\n`);
  const status = () => spawnSync(process.execPath, ['--require', preload, path.join(DIST, 'cli.cjs'), '--run-dir', runDir, 'status', '--json', file], { encoding: 'utf8', env, timeout: 60_000 });
  const first = status();
  assert.match(first.stderr, /^parser loaded$/m, 'a miss parses');
  const second = status();
  assert.doesNotMatch(second.stderr, /parser loaded/, 'a hit does not load the parser');
  assert.equal(second.status, first.status, second.stderr);
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^(\s+)count: \d+/m, '$1count: 0'));
  const bundled = spawnSync(process.execPath, [path.join(DIST, 'cli.cjs'), '--run-dir', runDir, 'status', file], { encoding: 'utf8', env });
  const unbundled = spawnSync(process.execPath, [path.join(DIST, 'bin.js'), '--run-dir', runDir, 'status', file], { encoding: 'utf8', env });
  assert.equal(bundled.status, 78);
  assert.match(bundled.stderr, new RegExp(`^zstack: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
  assert.deepEqual({ status: bundled.status, stderr: bundled.stderr }, { status: unbundled.status, stderr: unbundled.stderr });
});
