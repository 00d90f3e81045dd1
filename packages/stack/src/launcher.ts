#!/usr/bin/env node
// The `zstack` executable as installed (`pnpm build` bundles this into dist/cli.js): runs the program bundled
// into dist/zstack.cjs from V8's code cache (dist/zstack.cjs.cache, ./code-cache.ts), because status is meant
// to be run in a loop and watched and a fresh process mostly paid for compiling (docs/benchmarks/stack.md).
// dist/bin.js is the same program unbundled.
import { fileURLToPath } from 'node:url';
import { loadProgram } from './code-cache.js';

const program = fileURLToPath(new URL('./zstack.cjs', import.meta.url));
const { exports } = loadProgram(program, { cacheFile: `${program}.cache` });
(exports.setImporter as (f: (url: string) => Promise<unknown>) => void)((url) => import(url));
process.exitCode = await (exports.main as (argv: readonly string[]) => Promise<number>)(process.argv);
