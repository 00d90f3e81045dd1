// The one esbuild setup of the packages' executables (znotify, zstack): tsc's entry with its dependencies bundled
// into ONE minified ES module, `OUT.map` beside it (`node --enable-source-maps` turns a minified stack trace back
// into the sources), mode 0755. koffi stays outside: a native addon, loaded from node_modules when first used.
// Each package's own script says why its executable is bundled and adds its own checks.
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Bundles `entry` into `out`; resolves with `out`.
 * - from: the calling script's import.meta.url: esbuild is resolved from there (a dev dependency of each package).
 * - hashbang: start the file with `#!/usr/bin/env node` (when the entry has none of its own).
 */
export async function bundleExecutable({ from, entry, out, hashbang = false }) {
  const esbuild = createRequire(from)('esbuild');
  await esbuild.build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external: ['koffi'],
    sourcemap: true,
    // The CommonJS packages inside (commander, pino) call require() for node's own modules, which an ES module
    // does not have: give them one.
    banner: { js: `${hashbang ? '#!/usr/bin/env node\n' : ''}import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(import.meta.url);` },
  });
  chmodSync(out, 0o755);
  return out;
}
