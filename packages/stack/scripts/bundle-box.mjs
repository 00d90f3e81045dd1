#!/usr/bin/env node
// Builds dist/box.js, the disposable systemd `zstack try` boots, from the one implementation the tests use
// (test/harness/box.ts): bundled at build time rather than copied, so there is one place for it.
// Runs as part of `pnpm build` (after tsc -b). esbuild is a dev dependency of this package.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const esbuild = createRequire(import.meta.url)('esbuild');
await esbuild.build({
  entryPoints: [here('../../../test/harness/box.ts')],
  outfile: here('../dist/box.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  banner: { js: '// Bundled from test/harness/box.ts by packages/stack/scripts/bundle-box.mjs; do not edit.' },
});
