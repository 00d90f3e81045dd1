#!/usr/bin/env node
// The `zstack` executable as installed (`pnpm build` bundles this into dist/cli.cjs, the package's bin): runs the
// program bundled into dist/zstack.cjs from V8's code cache (dist/zstack.cjs.cache, ./code-cache.ts), because
// status is meant to be run in a loop and watched and a fresh process mostly paid for compiling
// (docs/benchmarks/stack.md). The bin is CommonJS: an ES module entry costs a fresh process about 10 ms of CPU more
// (node's ES module loader, and the facades of the node modules it imports), measured. dist/cli.js is the same bin
// for paths that name it; dist/bin.js is the same program unbundled.
import { fileURLToPath } from 'node:url';
import { loadProgram } from './code-cache.js';

const program = fileURLToPath(new URL('./zstack.cjs', import.meta.url));
const { exports, key } = loadProgram(program, { cacheFile: `${program}.cache`, importer: (url) => import(url) });
(exports.setImporter as (f: (url: string) => Promise<unknown>) => void)((url) => import(url));
// The build key names this build's entries in the cache of parsed stack files (./model-cache.ts).
void (exports.main as (argv: readonly string[], run: { build?: string }) => Promise<number>)(process.argv, key ? { build: key } : {})
  .then((code) => { process.exitCode = code; });
