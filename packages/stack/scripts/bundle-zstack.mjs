#!/usr/bin/env node
// Builds dist/cli.js, the `zstack` executable: dist/bin.js (tsc's output) with commander, yaml and
// @zope-systemd/unitgen's parser bundled into ONE minified ES module. koffi stays outside (a native addon,
// loaded only when an operation takes the stack's lock).
// Why (docs/benchmarks/stack.md): `zstack status` is meant to be run in a loop and watched; a fresh process
// spent most of its time resolving and loading ~100 module files. dist/bin.js remains the unbundled entry (same
// behaviour, for debugging). `zstack try` finds dist/box.js beside the bundle at run time.
// Runs as part of `pnpm build` (after tsc -b). esbuild is a dev dependency of this package.
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const ENTRY = here('../dist/bin.js');
export const OUT = here('../dist/cli.js');

export async function bundleZstack() {
  const esbuild = createRequire(import.meta.url)('esbuild');
  await esbuild.build({
    entryPoints: [ENTRY],
    outfile: OUT,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external: ['koffi'],
    // cli.js.map beside it: `node --enable-source-maps` turns a minified stack trace back into the sources.
    sourcemap: true,
    // The CommonJS packages inside (commander) call require() for node's own modules, which an ES module
    // does not have: give them one. (The hashbang comes from src/bin.ts.)
    banner: { js: "import { createRequire as __zstackRequire } from 'node:module';\nconst require = __zstackRequire(import.meta.url);" },
  });
  chmodSync(OUT, 0o755);
  return OUT;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${await bundleZstack()}`);
}
