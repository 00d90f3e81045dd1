#!/usr/bin/env node
// Builds the `zstack` executable:
// - dist/zstack-parser.cjs: zunitgen's parser as zstack calls it (dist/stack-parser.js) with yaml, bundled into one
//   minified CommonJS file, its last line the key of this build (a digest of it), and dist/zstack-parser.cjs.cache,
//   V8's code for it made here by parsing the example stack files (src/code-cache.ts);
// - dist/zstack.cjs: the program (dist/main.js, tsc's output) with commander and the rest bundled the same way, the
//   parser left out: in its place a loader of dist/zstack-parser.cjs (src/stack-parser-loader.ts), so a status whose
//   model comes from the cache (src/model-cache.ts) never loads it. Its key is a digest of it and of the parser's key:
//   the model cache names this key, and a model is only as good as the parser that made it;
// - dist/zstack.cjs.cache: V8's code for it, made by running the command line and reading the example stack files
//   through a model cache in a temporary directory (a miss, then a hit);
// - dist/cli.cjs: the bin, src/launcher.ts bundled as CommonJS: runs the program from that cache;
// - dist/cli.js: the same bin for the paths that name it (stack files' `zstack:`, scripts): loads dist/cli.cjs.
// koffi stays outside (a native addon, loaded only when an operation takes the stack's lock).
// Why (docs/benchmarks/stack.md): `zstack status` is meant to be run in a loop and watched; a fresh process spent
// most of its time first resolving and loading ~100 module files (hence one bundle), then compiling the bundle
// (hence the code cache), loading an ES module entry (hence a CommonJS bin), and reading, compiling and running the
// parser (hence the model cache, and the parser apart). dist/bin.js remains the unbundled entry (same behaviour, for
// debugging). `zstack try` finds dist/box.js and dist/cli.js beside the program at run time.
// Runs as part of `pnpm build` (after tsc -b); the esbuild setup is scripts/bundle-executable.mjs.
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleExecutable } from '../../../scripts/bundle-executable.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const ENTRY = here('../dist/launcher.js');
export const OUT = here('../dist/cli.cjs');
const ALIAS = here('../dist/cli.js');
export const PROGRAM = here('../dist/zstack.cjs');
const PARSER = here('../dist/zstack-parser.cjs');
// The stack files the caches are made on (src/main.ts warmUp): one on one host, one over several.
const EXAMPLES = [here('../../../examples/stack/plone.yaml'), here('../../../examples/stack/plone-hosts.yaml')];

/** In the program, the parser is its loader (src/stack-parser-loader.ts). */
const parserApart = {
  name: 'zstack-parser-apart',
  setup(build) {
    build.onResolve({ filter: /^\.\/stack-parser\.js$/ }, () => ({ path: here('../dist/stack-parser-loader.js') }));
  },
};

/**
 * The workspace's own packages (@zope-systemd/unitgen, @zope-systemd/common) have no side effects when imported:
 * said to esbuild, which then leaves out their modules the program uses nothing of (zunitgen's parser and yaml,
 * which the program's imports of unitgen's index would otherwise bring and run at every start).
 */
const workspaceWithoutSideEffects = {
  name: 'workspace-without-side-effects',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'resolved') return undefined;
      const ours = /^@zope-systemd\/(unitgen|common)$/.test(args.path) || (args.path.startsWith('.') && /\/packages\/(unitgen|common)\/dist\//.test(args.importer));
      if (!ours) return undefined;
      const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolved' });
      return r.errors.length ? { errors: r.errors } : { path: r.path, namespace: r.namespace, external: r.external, sideEffects: false };
    });
  },
};

/** Stamps `file` with a key (a digest of its text and of `also`); returns the key. */
function stamp(stampProgram, file, also = '') {
  const source = readFileSync(file, 'utf8');
  const key = createHash('sha256').update(source).update(also).digest('hex').slice(0, 32);
  writeFileSync(file, stampProgram(source, key));
  return key;
}

export async function bundleZstack() {
  const { stampProgram, writeCodeCache } = await import(here('../dist/code-cache.js'));
  await bundleExecutable({ from: import.meta.url, entry: here('../dist/stack-parser.js'), out: PARSER, format: 'cjs' });
  const parserKey = stamp(stampProgram, PARSER);
  // Each cache names its program as the package does (V8 keeps the name in the cache; src/code-cache.ts).
  writeCodeCache(PARSER, `${PARSER}.cache`, (parser) => { for (const f of EXAMPLES) parser.parseStackFile(readFileSync(f, 'utf8'), f); }, `@zope-systemd/stack/dist/${path.basename(PARSER)}`);
  await bundleExecutable({ from: import.meta.url, entry: here('../dist/main.js'), out: PROGRAM, format: 'cjs', plugins: [parserApart, workspaceWithoutSideEffects] });
  const key = stamp(stampProgram, PROGRAM, parserKey);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'zstack-build-'));
  try {
    writeCodeCache(PROGRAM, `${PROGRAM}.cache`, (program) => program.warmUp(EXAMPLES, { dir: path.join(tmp, 'model-cache'), build: key }), `@zope-systemd/stack/dist/${path.basename(PROGRAM)}`);
  } finally { rmSync(tmp, { recursive: true, force: true }); }
  // The hashbang comes from src/launcher.ts.
  await bundleExecutable({ from: import.meta.url, entry: ENTRY, out: OUT, format: 'cjs' });
  writeFileSync(ALIAS, "#!/usr/bin/env node\n// zstack's bin is dist/cli.cjs (CommonJS: a fresh process starts faster); this runs it for the paths that name cli.js.\nimport { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('./cli.cjs');\n");
  chmodSync(ALIAS, 0o755);
  return OUT;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${await bundleZstack()}`);
}
