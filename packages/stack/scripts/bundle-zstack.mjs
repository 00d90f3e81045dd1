#!/usr/bin/env node
// Builds dist/cli.js, the `zstack` executable: dist/bin.js (tsc's output) with commander, yaml and
// @zope-systemd/unitgen's parser bundled into ONE minified ES module. koffi stays outside (a native addon,
// loaded only when an operation takes the stack's lock).
// Why (docs/benchmarks/stack.md): `zstack status` is meant to be run in a loop and watched; a fresh process
// spent most of its time resolving and loading ~100 module files. dist/bin.js remains the unbundled entry (same
// behaviour, for debugging). `zstack try` finds dist/box.js beside the bundle at run time.
// Runs as part of `pnpm build` (after tsc -b); the esbuild setup is scripts/bundle-executable.mjs.
import { fileURLToPath } from 'node:url';
import { bundleExecutable } from '../../../scripts/bundle-executable.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const ENTRY = here('../dist/bin.js');
export const OUT = here('../dist/cli.js');

export async function bundleZstack() {
  // The hashbang comes from src/bin.ts.
  return await bundleExecutable({ from: import.meta.url, entry: ENTRY, out: OUT });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${await bundleZstack()}`);
}
