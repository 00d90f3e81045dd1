#!/usr/bin/env node
// The `zstack` executable. `pnpm build` bundles it into dist/cli.js (the package's bin), one file with its
// dependencies inside, because status is meant to be watched and a fresh process mostly pays for loading
// modules (docs/benchmarks/stack.md). dist/bin.js is the same program unbundled.
import { main } from './commands.js';

process.exitCode = await main(process.argv);
