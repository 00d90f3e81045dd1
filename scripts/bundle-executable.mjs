// The one esbuild setup of the packages' executables (znotify, zstack): tsc's entry with its dependencies bundled
// into ONE minified ES module, `OUT.map` beside it (`node --enable-source-maps` turns a minified stack trace back
// into source file names and lines; the map carries no source text), mode 0755. koffi stays outside: a native addon, loaded from node_modules when first used.
// Each package's own script says why its executable is bundled and adds its own checks.
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Bundles `entry` into `out`; resolves with `out`.
 * - from: the calling script's import.meta.url: esbuild is resolved from there (a dev dependency of each package).
 * - hashbang: start the file with `#!/usr/bin/env node` (when the entry has none of its own).
 * - format: 'cjs' for a program run through vm.Script (V8's code cache takes classic scripts only): its
 *   import.meta.url and import.meta.resolve() are the bundle's own, as in the ES module.
 * - plugins: esbuild plugins (zstack puts a loader in the place of its parser, bundled apart).
 */
export async function bundleExecutable({ from, entry, out, hashbang = false, format = 'esm', plugins = [] }) {
  const esbuild = createRequire(from)('esbuild');
  const cjs = format === 'cjs';
  await esbuild.build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    minify: true,
    platform: 'node',
    format,
    target: 'node20',
    logLevel: 'error',
    plugins,
    external: ['koffi'],
    sourcemap: true,
    // The map names each source file and line, which is what a stack trace needs; the sources themselves (ours
    // and every bundled dependency's, commander, pino, yaml) would make it five times the bundle's size in every
    // installation, for a text anyone can read in the repository or the dependency's own package.
    sourcesContent: false,
    // The CommonJS packages inside (commander, pino) call require() for node's own modules, which an ES module
    // does not have: give them one.
    banner: { js: cjs
      ? "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;\nconst __bundleResolve = (s) => require('node:url').pathToFileURL(require.resolve(s)).href;"
      : `${hashbang ? '#!/usr/bin/env node\n' : ''}import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(import.meta.url);` },
    ...(cjs ? { define: { 'import.meta.url': '__bundleUrl', 'import.meta.resolve': '__bundleResolve' } } : {}),
  });
  chmodSync(out, 0o755);
  return out;
}
