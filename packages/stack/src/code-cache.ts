// The bundled zstack program run from V8's code cache. A fresh `zstack status` spent a fifth of its CPU time
// compiling its own 300 KB bundle (docs/benchmarks/stack.md); Node 20 has no compile cache for modules, but
// vm.Script takes V8's cached data. The build compiles the program once, evaluates it (module top levels only:
// no command runs) and stores the code V8 made beside it; each run hands that back to V8, which then skips
// compiling what is in it.
// The cache is used only with the exact program it was made from: the build appends a key (a digest of the
// program) as its last line and writes the same key at the head of the cache. V8 itself refuses a cache made by
// another V8 version or with other flags. Without a usable cache the program is compiled as usual: slower, never
// different.
// V8's cached data carries the name the script was compiled under, and a script taken from the cache keeps that
// name in its stack traces whatever name it is given then (Node 20, measured): a cache made under the builder's path
// would name the build machine's checkout on every installation. The build therefore compiles under a name without
// a directory (the package-relative one, `@zope-systemd/stack/dist/zstack.cjs`); a run without a usable cache
// shows the installed path.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';

const KEY_LINE = '\n//# zstack-build=';

/** What became of the cache: used by V8, refused by V8 (another V8, other flags), or none for this program. */
export type CacheUse = 'used' | 'rejected' | 'none';

/** `key`: the program's build key (its last line), when the build stamped one. */
export interface LoadedProgram { exports: Record<string, unknown>; cache: CacheUse; script: vm.Script; key?: string }

/** The program's key (its last line), or undefined for a program the build did not stamp. */
export function programKey(source: string): string | undefined {
  const i = source.lastIndexOf(KEY_LINE);
  return i < 0 ? undefined : source.slice(i + KEY_LINE.length).trim() || undefined;
}

/** The program with its key appended (the build does this once, before the cache is made). */
export function stampProgram(source: string, key: string): string {
  if (!/^[0-9a-f]{16,}$/.test(key)) throw new Error(`a program key is hex digits, got ${JSON.stringify(key)}`);
  return `${source}${KEY_LINE}${key}\n`;
}

/** The cache's V8 data when its head names this key; undefined when it is missing or belongs to another build. */
function cachedDataFor(cacheFile: string, key: string): Buffer | undefined {
  let buf: Buffer;
  try { buf = fs.readFileSync(cacheFile); } catch { return undefined; }
  const head = Buffer.from(`${key}\n`);
  return buf.length > head.length && buf.subarray(0, head.length).equals(head) ? buf.subarray(head.length) : undefined;
}

/**
 * Compiles the CommonJS program `file` (with the cache when it is this program's) and evaluates it as CommonJS
 * would; resolves with its exports.
 */
export function loadProgram(program: string, opts: { cacheFile?: string; importer?: (url: string) => Promise<unknown>; name?: string } = {}): LoadedProgram {
  const file = path.resolve(program);
  const source = fs.readFileSync(file, 'utf8');
  const key = programKey(source);
  const cachedData = key && opts.cacheFile ? cachedDataFor(opts.cacheFile, key) : undefined;
  const base = pathToFileURL(file);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: opts.name ?? file,
    ...(cachedData ? { cachedData } : {}),
    // import() in code compiled here, through the host's `importer` (a program that imports nothing needs none);
    // code V8 took out of the cache cannot reach it on Node 20 (it throws ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING):
    // the program imports through its host instead (src/import-module.ts).
    // (A namespace object is what import() gives; the typings only know vm.Module.)
    ...(opts.importer ? { importModuleDynamically: ((specifier: string) => opts.importer!(new URL(specifier, base).href)) as unknown as vm.ScriptOptions['importModuleDynamically'] } : {}),
  });
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...a: unknown[]) => void)(module.exports, createRequire(file), module, file, path.dirname(file));
  return { exports: module.exports, cache: !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'used', script, ...(key ? { key } : {}) };
}

/**
 * The build's step: compiles and evaluates the stamped program, lets `warmUp` run what every command runs (V8
 * compiles a function when it is first called, and the cache holds what was compiled), then writes the key and
 * V8's code to `cacheFile`. `name`: what stack traces call the program when it runs from this cache (default: the
 * file's base name), never the directory it was built in.
 */
export function writeCodeCache(file: string, cacheFile: string, warmUp: (exports: Record<string, unknown>) => void = () => {}, name = path.basename(file)): void {
  const key = programKey(fs.readFileSync(file, 'utf8'));
  if (!key) throw new Error(`${file} has no zstack-build key line: stamp it (stampProgram) before making its cache`);
  if (name.startsWith('/')) throw new Error(`a program's name in its code cache has no directory, got ${JSON.stringify(name)}`);
  const { script, exports } = loadProgram(file, { name });
  warmUp(exports);
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}\n`), script.createCachedData()]));
  fs.renameSync(tmp, cacheFile);
}
