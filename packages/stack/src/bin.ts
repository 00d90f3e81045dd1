#!/usr/bin/env node
// The `zstack` program unbundled (dist/bin.js), for debugging: the same program as the installed executable
// (dist/cli.js, src/launcher.ts), which runs it bundled and from V8's code cache because status is meant to be
// watched and a fresh process mostly paid for loading and compiling modules (docs/benchmarks/stack.md).
import { main } from './commands.js';

process.exitCode = await main(process.argv);
