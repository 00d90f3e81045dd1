// zstack's program run from V8's code cache (src/code-cache.ts): used only with the build it was made from,
// refused by V8 under other flags, and in every case the same program runs. Small real programs in a temp dir,
// each loaded in a fresh node (a script V8 has seen in this process would be compiled from its own cache).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { programKey, stampProgram, writeCodeCache } from '../src/code-cache.js';

const CODE_CACHE = fileURLToPath(new URL('../dist/code-cache.js', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/**
 * Loads `program` with its cache in a fresh node (with `flags`); what loadProgram said and what `hello(importer)`
 * returned, the importer being this host's import(), as the launcher lends it to zstack.
 */
function load(program: string, flags: string[] = []): { cache: string; hello: string } {
  const script = `import { loadProgram } from ${JSON.stringify(CODE_CACHE)};
    const r = loadProgram(${JSON.stringify(program)}, { cacheFile: ${JSON.stringify(`${program}.cache`)} });
    console.log(JSON.stringify({ cache: r.cache, hello: await r.exports.hello((u) => import(u)) }));`;
  return JSON.parse(execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' })) as { cache: string; hello: string };
}

function program(dir: string, text: string, key: string): string {
  const file = path.join(dir, 'program.cjs');
  fs.writeFileSync(file, stampProgram(text, key));
  return file;
}

test('the cache is used with the program it was made from, not with another build; the program runs the same either way', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-code-cache-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'greeting.mjs'), 'export const word = "hello from an ES module";\n');
  const text = 'const greet = (n) => `${n} ${__filename.endsWith("program.cjs")}`;\n' +
    'exports.hello = async (load) => greet((await load(require("node:url").pathToFileURL(__dirname + "/greeting.mjs").href)).word);\n';
  const file = program(dir, text, 'a'.repeat(32));
  assert.equal(programKey(fs.readFileSync(file, 'utf8')), 'a'.repeat(32));
  let warmed = 0;
  writeCodeCache(file, `${file}.cache`, (exports) => { warmed += typeof exports.hello === 'function' ? 1 : 0; });
  assert.equal(warmed, 1, 'the warm-up got the program\'s exports');
  assert.deepEqual(load(file), { cache: 'used', hello: 'hello from an ES module true' });
  // V8 refuses code made under other flags; the program compiles as usual.
  assert.deepEqual(load(file, ['--stack-size=2000']), { cache: 'rejected', hello: 'hello from an ES module true' });
  // Another build of the program (same length, another text and key) never gets the old build's code.
  const other = program(dir, text.replace('hello from', 'HELLO FROM').replace('greet(', 'GREET(').replace('const greet', 'const GREET'), 'b'.repeat(32));
  assert.equal(fs.readFileSync(other, 'utf8').length, fs.readFileSync(`${file}`, 'utf8').length);
  assert.deepEqual(load(other), { cache: 'none', hello: 'hello from an ES module true' });
});

test('a program without its key line gets no cache made, with the fix named; keys are hex', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-code-cache-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'program.cjs');
  fs.writeFileSync(file, 'exports.hello = () => "x";\n');
  assert.throws(() => writeCodeCache(file, `${file}.cache`), /has no zstack-build key line: stamp it/);
  assert.equal(fs.existsSync(`${file}.cache`), false);
  assert.throws(() => stampProgram('', 'not hex!'), /a program key is hex digits, got "not hex!"/);
});

test('the build made zstack\'s cache from the program beside it, and V8 takes it; its one import() is the importer the launcher replaces', () => {
  const zstack = path.join(DIST, 'zstack.cjs');
  // import() in code from the cache throws on Node 20: load modules through src/import-module.ts instead.
  assert.equal(fs.readFileSync(zstack, 'utf8').match(/\bimport\(/g)?.length, 1, 'an import() in the program: use importModule()');
  const script = `import { loadProgram } from ${JSON.stringify(CODE_CACHE)};
    const r = loadProgram(${JSON.stringify(zstack)}, { cacheFile: ${JSON.stringify(`${zstack}.cache`)} });
    console.log(r.cache, typeof r.exports.main);`;
  assert.equal(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim(), 'used function');
});

// V8's cached data carries the name the program was compiled under and a script from the cache keeps it: made under
// the build directory, every installation's stack traces would name the builder's checkout. Built here, run from a
// copy elsewhere (as a tarball installs it): its traces name no build directory.
test('a program run from its cache elsewhere (installed) names no build directory in its stack traces', (t) => {
  const build = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-code-cache-build-'));
  const inst = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-code-cache-inst-'));
  t.after(() => { fs.rmSync(build, { recursive: true, force: true }); fs.rmSync(inst, { recursive: true, force: true }); });
  const file = program(build, 'exports.hello = async () => new Error("where").stack.split("\\n")[1].trim();\n', 'c'.repeat(32));
  writeCodeCache(file, `${file}.cache`, (exports) => { void (exports.hello as () => Promise<string>)(); });
  for (const f of ['program.cjs', 'program.cjs.cache']) fs.copyFileSync(path.join(build, f), path.join(inst, f));
  const r = load(path.join(inst, 'program.cjs'));
  assert.equal(r.cache, 'used');
  assert.doesNotMatch(r.hello, new RegExp(path.basename(build)), r.hello);
  assert.match(r.hello, /^at exports\.hello \(program\.cjs:1:\d+\)$/);
  // Without a usable cache, the installed path.
  const rejected = load(path.join(inst, 'program.cjs'), ['--stack-size=2000']);
  assert.equal(rejected.cache, 'rejected');
  assert.ok(rejected.hello.includes(path.join(inst, 'program.cjs')), rejected.hello);
  assert.throws(() => writeCodeCache(file, `${file}.cache`, () => {}, file), /has no directory/);
});
