#!/usr/bin/env node
// Builds the `zstack` executable:
// - dist/zstack.cjs: the program (dist/main.js, tsc's output) with commander, yaml and @zope-systemd/unitgen's
//   parser bundled into ONE minified CommonJS file, its last line the key of this build (a digest of it);
// - dist/zstack.cjs.cache: V8's code for it, made here by compiling and evaluating it once (src/code-cache.ts);
// - dist/cli.cjs: the bin, src/launcher.ts bundled as CommonJS: runs the program from that cache;
// - dist/cli.js: the same bin for the paths that name it (stack files' `zstack:`, scripts): loads dist/cli.cjs.
// koffi stays outside (a native addon, loaded only when an operation takes the stack's lock).
// Why (docs/benchmarks/stack.md): `zstack status` is meant to be run in a loop and watched; a fresh process spent
// most of its time first resolving and loading ~100 module files (hence one bundle), then compiling the bundle
// (hence the code cache), and loading an ES module entry (hence a CommonJS bin). dist/bin.js remains the unbundled entry (same behaviour, for debugging). `zstack try`
// finds dist/box.js and dist/cli.js beside the program at run time.
// Runs as part of `pnpm build` (after tsc -b); the esbuild setup is scripts/bundle-executable.mjs.
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleExecutable } from '../../../scripts/bundle-executable.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const ENTRY = here('../dist/launcher.js');
export const OUT = here('../dist/cli.cjs');
const ALIAS = here('../dist/cli.js');
export const PROGRAM = here('../dist/zstack.cjs');
// The stack files the cache is made on (src/main.ts warmUp): one on one host, one over several.
const EXAMPLES = [here('../../../examples/stack/plone.yaml'), here('../../../examples/stack/plone-hosts.yaml')];

export async function bundleZstack() {
  await bundleExecutable({ from: import.meta.url, entry: here('../dist/main.js'), out: PROGRAM, format: 'cjs' });
  const { stampProgram, writeCodeCache } = await import(here('../dist/code-cache.js'));
  const source = readFileSync(PROGRAM, 'utf8');
  writeFileSync(PROGRAM, stampProgram(source, createHash('sha256').update(source).digest('hex').slice(0, 32)));
  writeCodeCache(PROGRAM, `${PROGRAM}.cache`, (program) => program.warmUp(EXAMPLES));
  // The hashbang comes from src/launcher.ts.
  await bundleExecutable({ from: import.meta.url, entry: ENTRY, out: OUT, format: 'cjs' });
  writeFileSync(ALIAS, "#!/usr/bin/env node\n// zstack's bin is dist/cli.cjs (CommonJS: a fresh process starts faster); this runs it for the paths that name cli.js.\nimport { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('./cli.cjs');\n");
  chmodSync(ALIAS, 0o755);
  return OUT;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${await bundleZstack()}`);
}
